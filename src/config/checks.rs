//! The checks of the whole configuration that serde cannot make: each
//! problem names its key.

use url::Url;

use super::error::Problems;
use super::{ConfigError, MAX_PREVIOUS_KEYS, OidcConfig, SessionStoreKind};
use crate::secret::key_bytes;

impl OidcConfig {
    pub(super) fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        // Each table's own checks live beside its fields; what spans
        // tables is checked here.
        self.session.problems(&mut Problems::of("oidc.session", &mut problems));
        if let Some(redis) = &self.redis {
            redis.problems(&mut Problems::of("oidc.redis", &mut problems));
        }
        self.limits.problems(&mut Problems::of("oidc.limits", &mut problems));
        if let Some(resource) = &self.resource {
            resource.problems(&mut Problems::of("oidc.resource", &mut problems));
        }
        let mut problem = |key: String, message: &str| {
            problems.push(ConfigError {
                key,
                message: message.to_string(),
            })
        };
        if !matches!(self.redirect_uri.scheme(), "http" | "https") {
            problem("oidc.redirect_uri".into(), "must be an http or https URL");
        }
        if self.redirect_uri.fragment().is_some() || self.redirect_uri.query().is_some() {
            problem("oidc.redirect_uri".into(), "must not have a query or fragment");
        }
        for (key, path) in [
            ("logout_path", &self.logout_path),
            ("backchannel_logout_path", &self.backchannel_logout_path),
        ] {
            if !is_plain_path(path) {
                problem(format!("oidc.{key}"), "must be a path such as `/logout`");
            } else if path == self.callback_path() {
                problem(format!("oidc.{key}"), "must differ from the path of `redirect_uri`");
            }
        }
        if self.logout_path == self.backchannel_logout_path {
            problem("oidc.backchannel_logout_path".into(), "must differ from `logout_path`");
        }
        if let Some(url) = &self.post_logout_redirect_uri {
            let listed = self
                .providers
                .values()
                .all(|p| p.post_logout_redirect_uris.contains(url));
            if url.origin() != self.redirect_uri.origin() && !listed {
                problem(
                    "oidc.post_logout_redirect_uri".into(),
                    "must be on the site of `redirect_uri` or listed in every provider's `post_logout_redirect_uris`",
                );
            }
        }
        if self.clock_skew_seconds > 86_400 {
            problem("oidc.clock_skew_seconds".into(), "must be at most 86400 (a day)");
        }
        if self.http_timeout_seconds == 0 || self.http_timeout_seconds > 300 {
            problem("oidc.http_timeout_seconds".into(), "must be between 1 and 300");
        }
        if self.redis.is_some() && self.session.logout_records_path.is_some() {
            problem(
                "oidc.session.logout_records_path".into(),
                "is for an app without `[oidc.redis]`: with Redis, logouts are kept there",
            );
        } else if self.session.store == SessionStoreKind::Memory && self.session.logout_records_path.is_some() {
            problem(
                "oidc.session.logout_records_path".into(),
                "is for the `cookie` store: `memory` sessions end with the process, and nothing a restart forgets could bring one back",
            );
        }
        match (&self.session.store, &self.redis) {
            (SessionStoreKind::Redis, None) => problem(
                "oidc.redis.url".into(),
                "is missing (`session.store = \"redis\"` needs the `[oidc.redis]` table)",
            ),
            (SessionStoreKind::Memory, Some(_)) => problem(
                "oidc.session.store".into(),
                "\"memory\" keeps sessions in one instance, which the other instances sharing `[oidc.redis]` cannot see: use \"redis\" or \"cookie\"",
            ),
            _ => {}
        }
        if self.providers.is_empty() {
            problem("oidc.providers".into(), "at least one provider must be configured");
        }
        if self.previous_secret_keys.len() > MAX_PREVIOUS_KEYS {
            problem(
                "oidc.previous_secret_keys".into(),
                &format!("lists at most {MAX_PREVIOUS_KEYS} keys"),
            );
        }
        for (index, previous) in self.previous_secret_keys.iter().enumerate() {
            if key_bytes(previous.secret()).is_none() {
                problem(
                    format!("oidc.previous_secret_keys[{index}]"),
                    "must be written like `secret_key`: 256 or 512 bits in base64 (44 or 88 characters) or hex (64)",
                );
            }
        }
        // Each provider's own checks live beside its fields
        // (`ProviderConfig::problems`); what depends on the other
        // providers or the paths is checked here.
        let mut providers = Vec::new();
        for (name, provider) in &self.providers {
            let key = |k: &str| format!("oidc.providers.{name}.{k}");
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                problem(
                    format!("oidc.providers.{name}"),
                    "provider names use only A-Z, a-z, 0-9, `_` and `-`",
                );
            }
            if let Some(own) = &provider.redirect_uri {
                if !matches!(own.scheme(), "http" | "https") || own.query().is_some() || own.fragment().is_some() {
                    problem(
                        key("redirect_uri"),
                        "must be an http or https URL without query or fragment",
                    );
                } else if own.path() == self.callback_path() {
                    problem(
                        key("redirect_uri"),
                        "must have a path of its own (or be left out to share `oidc.redirect_uri`)",
                    );
                } else if own.path() == self.logout_path || own.path() == self.backchannel_logout_path {
                    problem(key("redirect_uri"), "must differ from the logout paths");
                } else if self
                    .providers
                    .iter()
                    .any(|(other, p)| other != name && p.redirect_uri.as_ref().map(Url::path) == Some(own.path()))
                {
                    problem(key("redirect_uri"), "is the path of another provider's `redirect_uri`");
                }
            }
            // RFC 9207 §4, RFC 9700 §4.4.2: where two providers share a
            // callback, only `iss` tells their responses apart; two that
            // claim one issuer could not be told apart at all.
            let path = self.redirect_uri_of(name).path();
            if let Some(issuer) = provider.static_issuer() {
                let twin = self
                    .providers
                    .iter()
                    .take_while(|(other, _)| *other != name)
                    .find(|(other, p)| self.redirect_uri_of(other).path() == path && p.static_issuer() == Some(issuer));
                if let Some((twin, _)) = twin {
                    problem(
                        key("issuer"),
                        &format!(
                            "is also provider `{twin}`'s issuer, and both answer at `{path}`: responses of the one \
                             could not be told from the other's (mix-up, RFC 9207 §4); give one of them a \
                             `redirect_uri` of its own"
                        ),
                    );
                }
            }
            let table = format!("oidc.providers.{name}");
            provider.problems(&mut Problems::of(&table, &mut providers));
        }
        problems.extend(providers);
        problems
    }
}

/// A path a route can be mounted at: `/` then unreserved characters.
fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() > 1
        && !path.contains("//")
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b))
}
