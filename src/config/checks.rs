//! The checks of the whole configuration that serde cannot make: each
//! problem names its key.

use url::Url;

use super::error::Problems;
use super::{
    metadata, ConfigError, OidcConfig, SessionStoreKind, TokenEndpointAuthMethod, MAX_CACHE_ENTRIES, MAX_PREVIOUS_KEYS,
};
use crate::secret::key_bytes;
/// Authorization request parameters the library sets itself.
const RESERVED_AUTH_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

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
            if provider.issuer.is_none() && provider.discovery_url.is_none() && provider.metadata.is_none() {
                problem(
                    key("issuer"),
                    "one of `issuer`, `discovery_url` or `metadata` is required",
                );
            }
            if let Some(issuer) = &provider.issuer {
                match Url::parse(issuer) {
                    Ok(url)
                        if matches!(url.scheme(), "http" | "https")
                            && url.query().is_none()
                            && url.fragment().is_none() => {}
                    _ => problem(key("issuer"), "must be an http or https URL without query or fragment"),
                }
                if let Some(metadata) = &provider.metadata {
                    if &metadata.issuer != issuer {
                        problem(key("metadata.issuer"), "must equal `issuer`");
                    }
                }
            }
            if let Some(url) = &provider.discovery_url {
                let https_issuer = provider.issuer.as_deref().is_some_and(|i| i.starts_with("https://"));
                if !matches!(url.scheme(), "http" | "https") {
                    problem(key("discovery_url"), "must be an http or https URL");
                } else if https_issuer && url.scheme() == "http" && !metadata::is_loopback(url) {
                    // The document names the keys and the token endpoint: in
                    // clear, it would let the network choose them.
                    problem(key("discovery_url"), "must be https, as the issuer is (or on loopback)");
                }
            }
            for (index, origin) in provider.allowed_endpoint_origins.iter().enumerate() {
                let bare = matches!(origin.scheme(), "http" | "https")
                    && origin.has_host()
                    && origin.username().is_empty()
                    && origin.password().is_none()
                    && origin.path() == "/"
                    && origin.query().is_none()
                    && origin.fragment().is_none();
                if !bare {
                    problem(
                        key(&format!("allowed_endpoint_origins[{index}]")),
                        "must be an origin such as `https://oauth2.googleapis.com` (no path, query or user)",
                    );
                }
            }
            if let Some(metadata) = &provider.metadata {
                for (field, message) in metadata.problems() {
                    problem(key(&format!("metadata.{field}")), &message);
                }
                for (field, origin) in metadata.foreign_endpoints(&provider.allowed_endpoint_origins) {
                    problem(
                        key(&format!("metadata.{field}")),
                        &format!(
                            "is on `{origin}`, not on the issuer's origin: list `{origin}` in \
                             `allowed_endpoint_origins` if the provider really serves it there"
                        ),
                    );
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
            match (&provider.client_id, &provider.registration) {
                (Some(id), None) if id.is_empty() => problem(key("client_id"), "must not be empty"),
                (None, None) => problem(
                    key("client_id"),
                    "is missing (or give a `registration` table to register dynamically)",
                ),
                (Some(_), Some(_)) => problem(key("registration"), "cannot be combined with `client_id`"),
                _ => {}
            }
            let needs_secret = provider.registration.is_none()
                && !matches!(
                    provider.token_endpoint_auth_method,
                    TokenEndpointAuthMethod::None | TokenEndpointAuthMethod::PrivateKeyJwt
                );
            if needs_secret && provider.client_secret.as_ref().is_none_or(|s| s.secret().is_empty()) {
                problem(
                    key("client_secret"),
                    "is required unless `token_endpoint_auth_method` is \"none\" or \"private_key_jwt\"",
                );
            }
            if !provider.scopes.iter().any(|s| s == "openid") {
                problem(key("scopes"), "must contain \"openid\"");
            }
            if provider
                .scopes
                .iter()
                .any(|s| s.is_empty() || s.contains(char::is_whitespace))
            {
                problem(key("scopes"), "scopes are non-empty and contain no spaces");
            }
            if provider.bearer.introspection_cache_seconds > 86_400 {
                problem(
                    key("bearer.introspection_cache_seconds"),
                    "must be at most 86400 (a day)",
                );
            }
            if !provider.session.keep_claims.is_empty() && !provider.session.drop_claims.is_empty() {
                problem(
                    key("session.drop_claims"),
                    "cannot be combined with `keep_claims`: give one of the two",
                );
            }
            if provider.bearer.cache_entries == 0 || provider.bearer.cache_entries > MAX_CACHE_ENTRIES {
                problem(key("bearer.cache_entries"), "must be between 1 and 10000000");
            }
            // OIDC Core §3.1.2.1: `max_age` is a number of seconds; one that
            // is not could not be checked against `auth_time` (§3.1.3.7).
            if let Some(max_age) = provider.auth_request_params.get("max_age") {
                if max_age.parse::<u64>().is_err() {
                    problem(key("auth_request_params.max_age"), "must be a whole number of seconds");
                }
            }
            if provider
                .auth_request_params
                .get("acr_values")
                .is_some_and(|v| v.trim().is_empty())
            {
                problem(key("auth_request_params.acr_values"), "must name at least one value");
            }
            for param in provider.auth_request_params.keys() {
                if RESERVED_AUTH_PARAMS.contains(&param.as_str()) {
                    problem(
                        key(&format!("auth_request_params.{param}")),
                        "is set by the library and cannot be overridden",
                    );
                }
            }
        }
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
