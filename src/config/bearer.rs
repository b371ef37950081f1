//! A provider's `bearer` table: how `BearerToken` checks access tokens.

use serde::Deserialize;

use super::MAX_CACHE_ENTRIES;
use super::error::Problems;

/// The most issuers `bearer.trusted_issuers` may list.
const MAX_TRUSTED_ISSUERS: usize = 20;
/// The `[default.oidc.providers.<name>.bearer]` table.
///
/// ```rust
/// use rocket_openidconnect::{config::{BearerConfig, BearerMode}};
///
/// let bearer = BearerConfig::default();
/// assert_eq!(bearer.mode, BearerMode::Auto);
/// assert!(bearer.audiences.is_empty()); // meaning: the client_id
/// assert_eq!(bearer.introspection_cache_seconds, 60);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BearerConfig {
    /// `mode` (default `"auto"`): `"introspection"`, `"jwt"`, or `"auto"`
    /// (local validation for RFC 9068 JWTs, introspection otherwise).
    #[serde(default)]
    pub mode: BearerMode,
    /// `audiences` (default: the provider's `client_id`): a token's `aud`
    /// must contain one of these.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// `introspection_cache_seconds` (default `60`, at most `86400`): how
    /// long an active introspection result is reused, never past the
    /// token's `exp`; `0` disables the cache. Refusals are remembered for at
    /// most 5 seconds, apart from the valid tokens.
    #[serde(default = "default_introspection_cache")]
    pub introspection_cache_seconds: u64,
    /// `require_audience` (default `true`): an introspection answer must
    /// carry an `aud` in `audiences`; `false` for providers that never send
    /// one (then only an `aud` that is present is checked).
    #[serde(default = "super::default_true")]
    pub require_audience: bool,
    /// `cache_entries` (default `10000`, 1 to `10000000`): how many valid
    /// tokens' checks are kept; the least recently used goes first.
    #[serde(default = "default_bearer_cache_entries")]
    pub cache_entries: usize,
    /// `dpop` (default `"allowed"`): DPoP-bound access tokens (RFC 9449).
    /// `"allowed"`: `Authorization: DPoP` with a `DPoP` proof is accepted
    /// besides `Bearer`, and a DPoP-bound token must come that way;
    /// `"required"`: only DPoP; `"off"`: only `Bearer`.
    #[serde(default)]
    pub dpop: DpopMode,
    /// `dpop_nonce` (default `false`): DPoP proofs must carry a nonce this
    /// app issued (`DPoP-Nonce`, RFC 9449 §9); a proof without a current one
    /// gets `401 use_dpop_nonce` with a fresh nonce. Nonces are derived from
    /// the secret key, so every instance accepts every instance's.
    #[serde(default)]
    pub dpop_nonce: bool,
    /// `trusted_issuers` (default none, at most 20): further issuers whose
    /// RFC 9068 JWT access tokens this provider's `BearerToken` accepts
    /// (Spring's issuer resolver), each discovered at
    /// `{issuer}/.well-known/openid-configuration` on its first token and
    /// held to this table's rules. A token naming any other issuer is
    /// refused before any network call.
    #[serde(default)]
    pub trusted_issuers: Vec<String>,
}

impl Default for BearerConfig {
    fn default() -> Self {
        BearerConfig {
            mode: BearerMode::default(),
            audiences: Vec::new(),
            introspection_cache_seconds: default_introspection_cache(),
            require_audience: true,
            cache_entries: default_bearer_cache_entries(),
            dpop: DpopMode::default(),
            dpop_nonce: false,
            trusted_issuers: Vec::new(),
        }
    }
}

/// Whether DPoP-bound tokens are accepted (`bearer.dpop`, RFC 9449).
///
/// ```rust
/// use rocket_openidconnect::config::DpopMode;
///
/// assert_eq!(DpopMode::default(), DpopMode::Allowed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DpopMode {
    /// Only `Authorization: Bearer`; DPoP-bound tokens are refused.
    Off,
    /// `Bearer` for plain tokens, `DPoP` with a proof for bound ones.
    #[default]
    Allowed,
    /// Only `Authorization: DPoP` with a proof, and bound tokens.
    Required,
}

/// How bearer tokens are validated (`bearer.mode`).
///
/// ```rust
/// use rocket_openidconnect::config::BearerMode;
///
/// assert_eq!(BearerMode::default(), BearerMode::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BearerMode {
    /// RFC 7662 token introspection at the provider for every (uncached) token.
    Introspection,
    /// Local validation of RFC 9068 JWT access tokens with the provider's keys.
    Jwt,
    /// JWT validation when the token is a JWT typed `at+jwt`, introspection otherwise.
    #[default]
    Auto,
}

fn default_introspection_cache() -> u64 {
    60
}

fn default_bearer_cache_entries() -> usize {
    10_000
}

impl BearerConfig {
    /// What serde cannot check of this table (keys named from the
    /// provider's table).
    pub(super) fn problems(&self, problems: &mut Problems<'_>) {
        if self.introspection_cache_seconds > 86_400 {
            problems.add("bearer.introspection_cache_seconds", "must be at most 86400 (a day)");
        }
        if self.cache_entries == 0 || self.cache_entries > MAX_CACHE_ENTRIES {
            problems.add("bearer.cache_entries", "must be between 1 and 10000000");
        }
        if self.trusted_issuers.len() > MAX_TRUSTED_ISSUERS {
            problems.add("bearer.trusted_issuers", "lists at most 20 issuers");
        }
        if !self.trusted_issuers.is_empty() && self.mode == BearerMode::Introspection {
            problems.add(
                "bearer.trusted_issuers",
                "are checked as RFC 9068 JWTs: use `mode = \"auto\"` or `\"jwt\"`",
            );
        }
        for (index, issuer) in self.trusted_issuers.iter().enumerate() {
            // Their documents name the keys: never in clear off loopback.
            let fine = url::Url::parse(issuer).is_ok_and(|url| {
                (url.scheme() == "https" || (url.scheme() == "http" && super::is_loopback(&url)))
                    && url.query().is_none()
                    && url.fragment().is_none()
                    && !issuer.contains(super::TENANT_PLACEHOLDER)
            });
            if !fine {
                problems.add(
                    &format!("bearer.trusted_issuers[{index}]"),
                    "must be an issuer: an https URL (http on loopback) without query or fragment",
                );
            }
        }
    }
}
