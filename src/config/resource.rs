//! The `[default.oidc.resource]` table: this app as an OAuth 2.0 protected
//! resource, described to clients by RFC 9728 metadata and named in the
//! `aud` of the tokens meant for it (RFC 8707).

use serde::Deserialize;
use url::Url;

use super::error::Problems;
use super::metadata::is_loopback;

/// The `[default.oidc.resource]` table (optional): the resource identifier
/// and what [`/.well-known/oauth-protected-resource`](https://www.rfc-editor.org/rfc/rfc9728#section-3)
/// tells clients about this API. MCP servers need it: the MCP
/// authorization specification requires RFC 9728 metadata.
///
/// ```rust
/// use rocket_openidconnect::config::ResourceConfig;
///
/// let resource: ResourceConfig = rocket::serde::json::from_str(
///     r#"{ "identifier": "https://api.example.com/mcp", "scopes_supported": ["tools:read"] }"#,
/// )
/// .unwrap();
/// assert!(resource.require_audience);
/// assert_eq!(
///     resource.metadata_url().map(String::from).as_deref(),
///     Some("https://api.example.com/.well-known/oauth-protected-resource/mcp")
/// );
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ResourceConfig {
    /// `identifier` (required): the resource identifier, an https URL (http
    /// only on loopback) without fragment or query: what clients send as
    /// `resource` (RFC 8707) and what tokens for this API name in `aud`,
    /// compared as written (`https://api.example.com` is not
    /// `https://api.example.com/`).
    pub identifier: String,
    /// `authorization_servers` (default: every configured provider's
    /// issuer and trusted issuer, multi-tenant templates left out): the
    /// issuers whose tokens this API accepts.
    /// Written as configured (an issuer is compared exactly: Auth0's ends
    /// with `/`).
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// `scopes_supported` (default none): the scopes this API understands.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// `resource_name` (default none): a name for people.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// `resource_documentation` (default none): a page for developers.
    #[serde(default)]
    pub resource_documentation: Option<Url>,
    /// `resource_policy_uri` (default none).
    #[serde(default)]
    pub resource_policy_uri: Option<Url>,
    /// `resource_tos_uri` (default none).
    #[serde(default)]
    pub resource_tos_uri: Option<Url>,
    /// `require_audience` (default `true`): a bearer token's `aud` (a JWT's,
    /// or the introspection answer's) must contain `identifier` (RFC 8707
    /// §2, RFC 9068 §4), and a token without `aud` is refused. `false`
    /// leaves audiences to each provider's `bearer.audiences`.
    #[serde(default = "super::default_true")]
    pub require_audience: bool,
}

impl ResourceConfig {
    /// Where the metadata is (RFC 9728 §3.1): the well-known path inserted
    /// between the identifier's host and its path.
    /// `None` when `identifier` is no URL (which launch refuses).
    pub fn metadata_url(&self) -> Option<Url> {
        let mut url = Url::parse(&self.identifier).ok()?;
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{WELL_KNOWN}{path}"));
        Some(url)
    }

    /// The paths the fairing serves the metadata at: the §3.1 path, and the
    /// plain well-known path when the identifier has a path of its own.
    pub(crate) fn metadata_paths(&self) -> Vec<String> {
        let Some(own) = self.metadata_url().map(|url| url.path().to_string()) else {
            return Vec::new();
        };
        if own == WELL_KNOWN {
            vec![own]
        } else {
            vec![own, WELL_KNOWN.to_string()]
        }
    }

    pub(super) fn problems(&self, problems: &mut Problems<'_>) {
        let Ok(id) = Url::parse(&self.identifier) else {
            problems.add("identifier", "must be an absolute https URL");
            return;
        };
        let id = &id;
        let secure = id.scheme() == "https" || (id.scheme() == "http" && is_loopback(id));
        if !secure {
            problems.add("identifier", "must be an https URL (http only on loopback)");
        }
        // RFC 8707 §2: an absolute URI without a fragment, and (§2 again,
        // RFC 9728 §1.2) best without a query: one the metadata path of
        // §3.1 could not carry.
        if id.fragment().is_some() || id.query().is_some() {
            problems.add("identifier", "must not have a query or fragment");
        }
        if id.host_str().is_none() {
            problems.add("identifier", "must name a host");
        }
        for (index, server) in self.authorization_servers.iter().enumerate() {
            let issuer = Url::parse(server).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https") && url.fragment().is_none() && url.query().is_none()
            });
            if !issuer {
                problems.add(
                    &format!("authorization_servers[{index}]"),
                    "must be an issuer: an http(s) URL without query or fragment",
                );
            }
        }
        if self
            .scopes_supported
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            problems.add("scopes_supported", "scopes are non-empty and contain no spaces");
        }
    }
}

/// The well-known path of RFC 9728 §3.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";
