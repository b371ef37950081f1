//! Provider metadata: the schema of a discovery document, or of a
//! provider's static `metadata` table.

use serde::{Deserialize, Serialize};
#[cfg(test)]
use serde_json::Value;
use url::Url;

/// Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414), either
/// discovered or given statically under `[oidc.providers.<name>.metadata]`.
///
/// ```rust
/// use rocket_openidconnect::config::ProviderMetadata;
///
/// let metadata: ProviderMetadata = rocket::serde::json::from_str(r#"{
///     "issuer": "https://op.example",
///     "authorization_endpoint": "https://op.example/auth",
///     "token_endpoint": "https://op.example/token",
///     "jwks_uri": "https://op.example/jwks"
/// }"#).unwrap();
/// assert_eq!(metadata.id_token_signing_alg_values_supported, ["RS256"]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// `issuer`: the Issuer Identifier.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Url,
    /// `token_endpoint`.
    pub token_endpoint: Url,
    /// `jwks_uri`: the provider's signing keys.
    pub jwks_uri: Url,
    /// `userinfo_endpoint`.
    #[serde(default)]
    pub userinfo_endpoint: Option<Url>,
    /// `introspection_endpoint` (RFC 7662).
    #[serde(default)]
    pub introspection_endpoint: Option<Url>,
    /// `revocation_endpoint` (RFC 7009).
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
    /// `end_session_endpoint` (RP-Initiated Logout).
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
    /// `registration_endpoint` (RFC 7591).
    #[serde(default)]
    pub registration_endpoint: Option<Url>,
    /// `id_token_signing_alg_values_supported` (default `["RS256"]`).
    #[serde(default = "default_id_token_algs")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207, default
    /// `false`): when true, an authorization response without `iss` is refused.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// `scopes_supported` (default: not said).
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// `response_modes_supported` (default: not said).
    #[serde(default)]
    pub response_modes_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported` (default: not said).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `token_endpoint_auth_signing_alg_values_supported` (default: not
    /// said): what a client assertion may be signed with.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// `pushed_authorization_request_endpoint` (RFC 9126).
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<Url>,
    /// `require_pushed_authorization_requests` (RFC 9126, default `false`):
    /// the provider takes authorization requests only through PAR.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
}

fn default_id_token_algs() -> Vec<String> {
    vec!["RS256".to_string()]
}

impl ProviderMetadata {
    /// Every endpoint the metadata names, with its field.
    fn endpoints(&self) -> impl Iterator<Item = (&'static str, &Url)> {
        [
            ("authorization_endpoint", Some(&self.authorization_endpoint)),
            ("token_endpoint", Some(&self.token_endpoint)),
            ("jwks_uri", Some(&self.jwks_uri)),
            ("userinfo_endpoint", self.userinfo_endpoint.as_ref()),
            ("introspection_endpoint", self.introspection_endpoint.as_ref()),
            ("revocation_endpoint", self.revocation_endpoint.as_ref()),
            ("end_session_endpoint", self.end_session_endpoint.as_ref()),
            ("registration_endpoint", self.registration_endpoint.as_ref()),
            (
                "pushed_authorization_request_endpoint",
                self.pushed_authorization_request_endpoint.as_ref(),
            ),
        ]
        .into_iter()
        .filter_map(|(field, url)| url.map(|url| (field, url)))
    }

    /// The endpoints served elsewhere than at the issuer's own origin
    /// (scheme, host and port), and not on an origin of `allowed`, as
    /// (field, the endpoint's origin).
    ///
    /// A provider's metadata could name another provider's endpoints: its
    /// `token_endpoint` could be another provider's, so that a client
    /// assertion or a code meant for one is sent to the other, or received
    /// by one and replayed at the other (the private_key_jwt audience
    /// injection, CVE-2025-27370). Where a provider really serves
    /// endpoints on other hosts (Google's `oauth2.googleapis.com`), the
    /// configuration says so (`allowed_endpoint_origins`).
    pub(crate) fn foreign_endpoints(&self, allowed: &[Url]) -> Vec<(&'static str, String)> {
        // An issuer that is no URL has no origin: every endpoint is foreign.
        let home = Url::parse(&self.issuer).ok().map(|issuer| issuer.origin());
        self.endpoints()
            .filter(|(_, url)| {
                home.as_ref() != Some(&url.origin()) && !allowed.iter().any(|origin| origin.origin() == url.origin())
            })
            .map(|(field, url)| (field, url.origin().ascii_serialization()))
            .collect()
    }

    /// Fields whose values cannot be used safely, as (field, message).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        // An https issuer's endpoints are https too: a token, a code or a
        // client secret never travels in clear (loopback excepted, for
        // development).
        let https_issuer = self.issuer.starts_with("https://");
        for (field, url) in self.endpoints() {
            if !matches!(url.scheme(), "http" | "https") {
                problems.push((field, "must be an http or https URL".to_string()));
            } else if https_issuer && url.scheme() == "http" && !is_loopback(url) {
                problems.push((field, "must be https, as the issuer is (or on loopback)".to_string()));
            }
        }
        if self.issuer.is_empty() {
            problems.push(("issuer", "must not be empty".to_string()));
        }
        problems
    }
}

/// Whether `url` points at this machine.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // A URL of a scheme the URL standard does not know (`redis://`)
        // keeps an IP address as text.
        Some(url::Host::Domain(name)) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::test_fuzz::{cases, claims_like, json_value};

    const FIELDS: &[&str] = &[
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "introspection_endpoint",
        "end_session_endpoint",
        "id_token_signing_alg_values_supported",
        "authorization_response_iss_parameter_supported",
    ];

    #[test]
    fn endpoints_off_the_issuers_origin_are_foreign_unless_allowed() {
        let metadata: ProviderMetadata = serde_json::from_value(serde_json::json!({
            "issuer": "https://b.example/tenant",
            "authorization_endpoint": "https://b.example/auth",
            "token_endpoint": "https://a.example/token",
            "jwks_uri": "https://b.example:8443/jwks",
            "userinfo_endpoint": "http://b.example/userinfo",
        }))
        .expect("metadata");
        let foreign: Vec<&str> = metadata.foreign_endpoints(&[]).into_iter().map(|(f, _)| f).collect();
        // Another host, another port, another scheme: each another origin.
        assert_eq!(foreign, ["token_endpoint", "jwks_uri", "userinfo_endpoint"]);
        let allowed = [Url::parse("https://a.example").expect("a URL")];
        let foreign: Vec<&str> = metadata
            .foreign_endpoints(&allowed)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(foreign, ["jwks_uri", "userinfo_endpoint"]);
    }

    proptest! {
        #![proptest_config(cases(512))]

        /// Any discovery document is metadata (then checked) or refused.
        #[test]
        fn fuzz_discovery_documents_parse_or_are_refused(document in claims_like(FIELDS)) {
            if let Ok(metadata) = serde_json::from_value::<ProviderMetadata>(Value::Object(document)) {
                let _ = metadata.problems();
            }
        }

        /// Any key set document is keys or refused.
        #[test]
        fn fuzz_jwks_documents_parse_or_are_refused(
            keys in proptest::collection::vec(claims_like(&["kty", "kid", "alg", "use", "n", "e", "crv", "x", "y", "k"]), 0..4),
            other in json_value(),
        ) {
            let keys: Vec<Value> = keys.into_iter().map(Value::Object).collect();
            let _ = serde_json::from_value::<openidconnect::core::CoreJsonWebKeySet>(serde_json::json!({ "keys": keys }));
            let _ = serde_json::from_value::<openidconnect::core::CoreJsonWebKeySet>(other);
        }
    }
}
