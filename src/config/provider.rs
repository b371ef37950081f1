//! A `[default.oidc.providers.<name>]` table: one OpenID Provider and this
//! app's client at it.

use super::claim_path::ClaimPath;
use super::tenants::{TENANT_PLACEHOLDER, Tenants};
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use url::Url;

use super::error::Problems;
use super::{BearerConfig, ProviderMetadata, metadata};
use crate::client_key::PrivateKey;
use crate::secret::{ClientSecret, PrivateKeyJwk};
/// One `[default.oidc.providers.<name>]` table.
///
/// Exactly one of `issuer` (discovery at `{issuer}/.well-known/openid-configuration`),
/// `discovery_url` or `metadata` locates the provider; `issuer` may be given
/// together with either of the others and must then match them.
///
/// ```rust
/// use rocket_openidconnect::{config::{OidcConfig, TokenEndpointAuthMethod}};
///
/// let figment = rocket::figment::Figment::new().merge(("oidc", rocket::serde::json::json!({
///     "redirect_uri": "http://127.0.0.1:8000/redirect_uri",
///     "providers": { "default": {
///         "issuer": "http://127.0.0.1:9000", "client_id": "demo",
///         "client_secret": "demo-secret", "token_endpoint_auth_method": "client_secret_post"
///     } }
/// })));
/// let config = OidcConfig::from_figment(&figment).unwrap();
/// let provider = &config.providers["default"];
/// assert_eq!(provider.token_endpoint_auth_method, TokenEndpointAuthMethod::ClientSecretPost);
/// assert_eq!(provider.scopes, ["openid"]);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// `redirect_uri` (default: the shared `oidc.redirect_uri`): this
    /// provider's own callback URL, mounted at its path. Responses for this
    /// provider are accepted there only, which proves which provider sent
    /// them (RFC 9700 §4.4.2, mix-up attacks) even when it does not send
    /// RFC 9207 `iss`. Providers sharing a callback must send `iss`.
    #[serde(default)]
    pub redirect_uri: Option<Url>,
    /// `issuer`: the provider's Issuer Identifier; discovery happens at
    /// `{issuer}/.well-known/openid-configuration` unless `discovery_url` or
    /// `metadata` is given. The discovered `issuer` must equal it exactly.
    #[serde(default)]
    pub issuer: Option<String>,
    /// `discovery_url`: an explicit discovery document URL.
    #[serde(default)]
    pub discovery_url: Option<Url>,
    /// `metadata`: static provider metadata instead of discovery.
    #[serde(default)]
    pub metadata: Option<ProviderMetadata>,
    /// `client_id`: the client registered at the provider; required unless
    /// a `registration` table asks for dynamic registration.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `[oidc.providers.<name>.registration]`: register the client
    /// dynamically (RFC 7591) on first use instead of `client_id`.
    #[serde(default)]
    pub registration: Option<RegistrationConfig>,
    /// `client_secret`: required unless `token_endpoint_auth_method = "none"`.
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
    /// `client_secret_file`: a file holding the client secret (a mounted
    /// secret), read at launch, instead of `client_secret`; a trailing
    /// newline is not part of it. After [`OidcConfig::from_figment`](super::OidcConfig::from_figment),
    /// `client_secret` holds what it read.
    #[serde(default)]
    pub client_secret_file: Option<std::path::PathBuf>,
    /// `token_endpoint_auth_method` (default `"client_secret_basic"`):
    /// also `"client_secret_post"`, `"client_secret_jwt"`,
    /// `"private_key_jwt"` or `"none"`. Every client-authenticated call
    /// uses it: token, refresh, introspection, revocation, client
    /// credentials.
    #[serde(default)]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// `private_key_path` (with `private_key_jwt`): a PEM file of the
    /// client's private key, PKCS#8 (`BEGIN PRIVATE KEY`, RSA or EC P-256),
    /// PKCS#1 or SEC1; read at launch. Its `kid` is the RFC 7638 thumbprint.
    #[serde(default)]
    pub private_key_path: Option<std::path::PathBuf>,
    /// `private_key_jwk` (with `private_key_jwt`, instead of
    /// `private_key_path`): the private key as an inline JWK; `kid` taken
    /// from it or the RFC 7638 thumbprint.
    #[serde(default)]
    pub private_key_jwk: Option<PrivateKeyJwk>,
    /// `token_endpoint_auth_signing_alg` (default: the JWK's `alg`, else
    /// `ES256` for an EC key, and for RSA `RS256`, or `PS256` when the
    /// provider only advertises that): the client assertion's algorithm.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// The key of `private_key_path` or `private_key_jwk`, read by
    /// [`OidcConfig::from_figment`].
    #[serde(skip)]
    pub(crate) private_key: Option<std::sync::Arc<PrivateKey>>,
    /// `scopes` (default `["openid"]`): must contain `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// `auth_request_params` (default none): extra authorization request
    /// parameters such as `prompt` or `acr_values`. The parameters the
    /// library sets itself (`state`, `nonce`, PKCE...) cannot be overridden.
    #[serde(default)]
    pub auth_request_params: BTreeMap<String, String>,
    /// `userinfo_http_method` (default `"GET"`): `"GET"`, `"POST"`, or
    /// `"none"` to never call the userinfo endpoint.
    #[serde(default)]
    pub userinfo_http_method: UserinfoMethod,
    /// `session_refresh_interval_seconds` (default `0`, off): after this
    /// long, a browser navigation is silently re-authenticated with
    /// `prompt=none`; if the provider says the user is no longer logged in,
    /// the session ends and an interactive login starts.
    #[serde(default)]
    pub session_refresh_interval_seconds: u64,
    /// `userinfo_refresh_seconds` (default `0`, off): userinfo is read
    /// again, on use, once this long has passed since it was last read,
    /// so that a role or group removed at the provider stops counting
    /// within this time. See [who may do
    /// what](crate#who-may-do-what-roles-groups-and-claims).
    #[serde(default)]
    pub userinfo_refresh_seconds: u64,
    /// `refresh_before_expiry_seconds` (default `0`, off): when the access
    /// token expires within this many seconds, [`OidcUser`](crate::OidcUser)
    /// refreshes it first; if that fails, the session ends.
    #[serde(default)]
    pub refresh_before_expiry_seconds: u64,
    /// `post_logout_redirect_uris` (default none): post-logout URIs allowed
    /// besides the site's own, and registered with dynamic registration.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<Url>,
    /// `[oidc.providers.<name>.bearer]`: how [`BearerToken`](crate::BearerToken)
    /// validates access tokens from this provider.
    #[serde(default)]
    pub bearer: BearerConfig,
    /// `[oidc.providers.<name>.session]`: which of this provider's claims
    /// a session keeps.
    #[serde(default)]
    pub session: ProviderSessionConfig,
    /// `pushed_authorization_requests` (default `"auto"`): whether logins
    /// push their authorization request to the provider first (RFC 9126),
    /// so the browser's redirect carries only `client_id` and `request_uri`.
    #[serde(default)]
    pub pushed_authorization_requests: PushedAuthorizationRequests,
    /// `client_assertion_audience` (default `"issuer"`): the `aud` of the
    /// client assertions (`private_key_jwt`, `client_secret_jwt`).
    /// `"issuer"` is the provider's issuer identifier, one string, for
    /// every endpoint, as the OpenID specifications and
    /// draft-ietf-oauth-rfc7523bis now require: an assertion addressed to
    /// one provider is worthless at another. `"endpoint"` is the URL of
    /// the endpoint the assertion is sent to, for servers that insist on
    /// it.
    #[serde(default)]
    pub client_assertion_audience: ClientAssertionAudience,
    /// `allowed_endpoint_origins` (default none): origins
    /// (`https://host[:port]`) other than the issuer's where this
    /// provider's metadata may put endpoints. Metadata naming an endpoint
    /// elsewhere is refused (at launch for static `metadata`, at discovery
    /// otherwise): it could send a code or a client assertion meant for
    /// this provider to another one. Google, for one, serves its token
    /// endpoint on `https://oauth2.googleapis.com`.
    #[serde(default)]
    pub allowed_endpoint_origins: Vec<Url>,
    /// `roles_claim` (default `"roles"`): where this provider puts a
    /// user's roles, a dotted path into the ID token's and userinfo's
    /// claims (or a token's): `realm_access.roles` for Keycloak's realm
    /// roles, `resource_access.<client>.roles` for a client's.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: ClaimPath,
    /// `groups_claim` (default `"groups"`): where this provider puts a
    /// user's groups, a dotted path as for `roles_claim`.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: ClaimPath,
    /// `tenants` (with an `issuer` template holding `{tenantid}`): the
    /// tenants whose tokens are accepted, or `"any"`. See
    /// [multi-tenant issuers](crate#multi-tenant-issuers).
    #[serde(default)]
    pub tenants: Option<Tenants>,
    /// `claim_sources` (default none, at most 20): where aggregated and
    /// distributed claims (OIDC Core §5.6.2) may come from. An aggregated
    /// claims JWT is used only when its `iss` is listed (its keys are
    /// discovered at `{iss}/.well-known/openid-configuration`); a
    /// distributed claims endpoint is called (with an access token) only
    /// when it is on a listed URL's origin, under its path. Sources not
    /// listed are never contacted, and their claims stay unresolved.
    #[serde(default)]
    pub claim_sources: Vec<String>,
}

fn default_roles_claim() -> ClaimPath {
    ClaimPath::top("roles")
}

fn default_groups_claim() -> ClaimPath {
    ClaimPath::top("groups")
}

/// `client_assertion_audience`: what a client assertion names as its `aud`.
///
/// ```rust
/// use rocket_openidconnect::config::ClientAssertionAudience;
///
/// assert_eq!(ClientAssertionAudience::default(), ClientAssertionAudience::Issuer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAssertionAudience {
    /// The provider's issuer identifier, whatever the endpoint.
    #[default]
    Issuer,
    /// The URL of the endpoint the assertion is sent to.
    Endpoint,
}

impl ProviderConfig {
    /// The issuer template and the tenants it is filled with, for a
    /// multi-tenant provider.
    pub(crate) fn tenancy(&self) -> Option<(&str, &Tenants)> {
        let template = self.issuer.as_deref().filter(|i| i.contains(TENANT_PLACEHOLDER))?;
        Some((template, self.tenants.as_ref()?))
    }

    /// Whether `iss` names this provider, whose metadata says `issuer`:
    /// that issuer exactly, or for a multi-tenant provider the template
    /// with an allowed tenant in it (never the bare template).
    pub(crate) fn is_issuer(&self, issuer: &str, iss: &str) -> bool {
        match self.tenancy() {
            Some((template, tenants)) => tenants.tenant_in(template, iss).is_some(),
            None => iss == issuer,
        }
    }

    /// The issuer identifier this configuration names itself: `issuer`, or
    /// that of the static `metadata` (`None` until discovery otherwise).
    pub(crate) fn static_issuer(&self) -> Option<&str> {
        self.issuer
            .as_deref()
            .or_else(|| self.metadata.as_ref().map(|m| m.issuer.as_str()))
    }
}

/// `pushed_authorization_requests` (RFC 9126).
///
/// ```rust
/// use rocket_openidconnect::config::PushedAuthorizationRequests;
///
/// assert_eq!(PushedAuthorizationRequests::default(), PushedAuthorizationRequests::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PushedAuthorizationRequests {
    /// When the provider advertises `pushed_authorization_request_endpoint`.
    #[default]
    Auto,
    /// Always; a login fails (502) when the provider has no PAR endpoint.
    Always,
    /// Never; a login fails (502) when the provider sets
    /// `require_pushed_authorization_requests`, rather than sending a
    /// request the provider will refuse.
    Never,
}

/// The `[default.oidc.providers.<name>.session]` table: which claims of the
/// ID token and of userinfo a session keeps, to keep it small. The claims
/// the protocol needs (`iss`, `sub`, `aud`, `azp`, `exp`, `iat`, `nbf`,
/// `sid`, `nonce`, `auth_time`, `acr`, `amr`) are always kept, and so is
/// the raw ID token (logout sends it back as `id_token_hint`).
///
/// ```rust
/// use rocket_openidconnect::config::ProviderSessionConfig;
///
/// let session: ProviderSessionConfig =
///     rocket::serde::json::from_str(r#"{ "drop_claims": ["picture", "groups"] }"#).unwrap();
/// assert_eq!(session.drop_claims, ["picture", "groups"]);
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderSessionConfig {
    /// `keep_claims` (default: all): keep only these claims (and those the
    /// protocol needs). Cannot be combined with `drop_claims`. Routes that
    /// ask for roles or groups need the claim `roles_claim` or
    /// `groups_claim` starts at in the list: a session without it has no
    /// roles, and such routes refuse.
    #[serde(default)]
    pub keep_claims: Vec<String>,
    /// `drop_claims` (default none): keep every claim but these. Dropping
    /// the claim `roles_claim` or `groups_claim` reads from leaves sessions
    /// without roles or groups: routes that ask for them refuse.
    #[serde(default)]
    pub drop_claims: Vec<String>,
}

/// Claims a session always keeps: its checks and logout need them.
pub(crate) const PROTOCOL_CLAIMS: [&str; 15] = [
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "nbf",
    "sid",
    "nonce",
    "auth_time",
    "acr",
    "amr",
    // A multi-tenant provider's sessions are told apart by it.
    "tid",
    // Where claims kept elsewhere are (Core §5.6.2): read again at each
    // userinfo refresh.
    "_claim_names",
    "_claim_sources",
];

impl ProviderSessionConfig {
    /// Removes from `claims` what the session is not to keep.
    pub(crate) fn retain(&self, claims: &mut serde_json::Map<String, serde_json::Value>) {
        if self.keep_claims.is_empty() && self.drop_claims.is_empty() {
            return;
        }
        claims.retain(|name, _| {
            PROTOCOL_CLAIMS.contains(&name.as_str())
                || if self.keep_claims.is_empty() {
                    !self.drop_claims.contains(name)
                } else {
                    self.keep_claims.contains(name)
                }
        });
    }
}

/// The `[default.oidc.providers.<name>.registration]` table: dynamic client
/// registration (RFC 7591) on first use.
///
/// ```rust
/// use rocket_openidconnect::config::RegistrationConfig;
///
/// let registration: RegistrationConfig = rocket::serde::json::from_str(
///     r#"{ "persist_path": "/var/lib/app/oidc-client.json" }"#,
/// ).unwrap();
/// assert!(registration.redirect_uris.is_empty()); // meaning: [redirect_uri]
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RegistrationConfig {
    /// `redirect_uris` (default `[redirect_uri]`).
    #[serde(default)]
    pub redirect_uris: Vec<Url>,
    /// `post_logout_redirect_uris` (default: the provider's
    /// `post_logout_redirect_uris`, else `[post_logout_redirect_uri]`).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<Url>,
    /// `initial_access_token`: sent as a Bearer token when the provider
    /// requires one for registration.
    #[serde(default)]
    pub initial_access_token: Option<ClientSecret>,
    /// `initial_access_token_file`: a file holding `initial_access_token`,
    /// read at launch, instead of the value itself.
    #[serde(default)]
    pub initial_access_token_file: Option<std::path::PathBuf>,
    /// `persist_path`: a file where the registered client is kept and
    /// reused after a restart, instead of registering again.
    #[serde(default)]
    pub persist_path: Option<std::path::PathBuf>,
}

/// How the client authenticates at the token endpoint
/// (`token_endpoint_auth_method`).
///
/// ```rust
/// use rocket_openidconnect::config::TokenEndpointAuthMethod;
///
/// assert_eq!(TokenEndpointAuthMethod::default(), TokenEndpointAuthMethod::ClientSecretBasic);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
    /// A public client: only `client_id` is sent (PKCE protects the code).
    None,
    /// A client assertion signed with the client secret, HS256 (RFC 7523,
    /// OIDC Core §9).
    ClientSecretJwt,
    /// A client assertion signed with the client's private key
    /// (`private_key_path` or `private_key_jwk`; RS256, PS256 or ES256):
    /// no shared secret at all (RFC 7523, OIDC Core §9).
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    /// The method's name in configuration and provider metadata.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::None => "none",
            TokenEndpointAuthMethod::ClientSecretJwt => "client_secret_jwt",
            TokenEndpointAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// How the userinfo endpoint is called (`userinfo_http_method`).
///
/// ```rust
/// use rocket_openidconnect::config::UserinfoMethod;
///
/// assert_eq!(UserinfoMethod::default(), UserinfoMethod::Get);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UserinfoMethod {
    /// `GET` with the access token in the `Authorization` header.
    #[default]
    Get,
    /// `POST` with the access token in the `Authorization` header.
    Post,
    /// Never call the userinfo endpoint.
    None,
}

impl<'de> Deserialize<'de> for UserinfoMethod {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let value = String::deserialize(de)?;
        match value.to_ascii_lowercase().as_str() {
            "get" => Ok(UserinfoMethod::Get),
            "post" => Ok(UserinfoMethod::Post),
            "none" => Ok(UserinfoMethod::None),
            _ => Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&value),
                &"\"GET\", \"POST\" or \"none\"",
            )),
        }
    }
}

fn default_scopes() -> Vec<String> {
    vec!["openid".to_string()]
}

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

impl ProviderConfig {
    /// What serde cannot check of this provider's table (what depends on
    /// the other providers is checked with the whole configuration).
    pub(super) fn problems(&self, problems: &mut Problems<'_>) {
        if self.issuer.is_none() && self.discovery_url.is_none() && self.metadata.is_none() {
            problems.add("issuer", "one of `issuer`, `discovery_url` or `metadata` is required");
        }
        if let Some(issuer) = &self.issuer {
            match Url::parse(issuer) {
                Ok(url)
                    if matches!(url.scheme(), "http" | "https")
                        && url.query().is_none()
                        && url.fragment().is_none() => {}
                _ => problems.add("issuer", "must be an http or https URL without query or fragment"),
            }
            if let Some(metadata) = &self.metadata
                && &metadata.issuer != issuer
            {
                problems.add("metadata.issuer", "must equal `issuer`");
            }
        }
        if self.userinfo_refresh_seconds > 0 && self.userinfo_http_method == UserinfoMethod::None {
            problems.add(
                "userinfo_refresh_seconds",
                "needs userinfo: `userinfo_http_method` is \"none\"",
            );
        }
        if self.claim_sources.len() > 20 {
            problems.add("claim_sources", "lists at most 20 sources");
        }
        for (index, source) in self.claim_sources.iter().enumerate() {
            // They receive access tokens and name keys: never in clear off
            // loopback.
            let fine = Url::parse(source).is_ok_and(|url| {
                (url.scheme() == "https" || (url.scheme() == "http" && metadata::is_loopback(&url)))
                    && url.has_host()
                    && url.query().is_none()
                    && url.fragment().is_none()
            });
            if !fine {
                problems.add(
                    &format!("claim_sources[{index}]"),
                    "must be an https URL (http on loopback) without query or fragment",
                );
            }
        }
        let template = self.issuer.as_deref().filter(|i| i.contains(TENANT_PLACEHOLDER));
        match (template, &self.tenants) {
            (Some(template), Some(_)) => {
                if template.matches(TENANT_PLACEHOLDER).count() != 1 {
                    problems.add("issuer", "names `{tenantid}` once at most");
                }
                // `{issuer}/.well-known/openid-configuration` of a template
                // is no document: Entra's is at `common` or `organizations`.
                if self.discovery_url.is_none() && self.metadata.is_none() {
                    problems.add(
                        "discovery_url",
                        "is required with an issuer template (e.g. https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration)",
                    );
                }
            }
            (Some(_), None) => problems.add(
                "tenants",
                "is required with an issuer holding `{tenantid}`: the tenants to accept, or \"any\"",
            ),
            (None, Some(_)) => problems.add("tenants", "needs an `issuer` holding `{tenantid}`"),
            (None, None) => {}
        }
        if let Some(url) = &self.discovery_url {
            let https_issuer = self.issuer.as_deref().is_some_and(|i| i.starts_with("https://"));
            if !matches!(url.scheme(), "http" | "https") {
                problems.add("discovery_url", "must be an http or https URL");
            } else if https_issuer && url.scheme() == "http" && !metadata::is_loopback(url) {
                // The document names the keys and the token endpoint: in
                // clear, it would let the network choose them.
                problems.add("discovery_url", "must be https, as the issuer is (or on loopback)");
            }
        }
        for (index, origin) in self.allowed_endpoint_origins.iter().enumerate() {
            let bare = matches!(origin.scheme(), "http" | "https")
                && origin.has_host()
                && origin.username().is_empty()
                && origin.password().is_none()
                && origin.path() == "/"
                && origin.query().is_none()
                && origin.fragment().is_none();
            if !bare {
                problems.add(
                    &format!("allowed_endpoint_origins[{index}]"),
                    "must be an origin such as `https://oauth2.googleapis.com` (no path, query or user)",
                );
            }
        }
        if let Some(metadata) = &self.metadata {
            for (field, message) in metadata.problems() {
                problems.add(&format!("metadata.{field}"), &message);
            }
            for (field, origin) in metadata.foreign_endpoints(&self.allowed_endpoint_origins) {
                problems.add(
                    &format!("metadata.{field}"),
                    &format!(
                        "is on `{origin}`, not on the issuer's origin: list `{origin}` in \
                         `allowed_endpoint_origins` if the provider really serves it there"
                    ),
                );
            }
        }
        match (&self.client_id, &self.registration) {
            (Some(id), None) if id.is_empty() => problems.add("client_id", "must not be empty"),
            (None, None) => problems.add(
                "client_id",
                "is missing (or give a `registration` table to register dynamically)",
            ),
            (Some(_), Some(_)) => problems.add("registration", "cannot be combined with `client_id`"),
            _ => {}
        }
        let needs_secret = self.registration.is_none()
            && !matches!(
                self.token_endpoint_auth_method,
                TokenEndpointAuthMethod::None | TokenEndpointAuthMethod::PrivateKeyJwt
            );
        if needs_secret && self.client_secret.as_ref().is_none_or(|s| s.secret().is_empty()) {
            problems.add(
                "client_secret",
                "is required unless `token_endpoint_auth_method` is \"none\" or \"private_key_jwt\"",
            );
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            problems.add("scopes", "must contain \"openid\"");
        }
        if self
            .scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            problems.add("scopes", "scopes are non-empty and contain no spaces");
        }
        if !self.session.keep_claims.is_empty() && !self.session.drop_claims.is_empty() {
            problems.add(
                "session.drop_claims",
                "cannot be combined with `keep_claims`: give one of the two",
            );
        }
        // OIDC Core §3.1.2.1: `max_age` is a number of seconds; one that
        // is not could not be checked against `auth_time` (§3.1.3.7).
        if let Some(max_age) = self.auth_request_params.get("max_age")
            && max_age.parse::<u64>().is_err()
        {
            problems.add("auth_request_params.max_age", "must be a whole number of seconds");
        }
        if self
            .auth_request_params
            .get("acr_values")
            .is_some_and(|v| v.trim().is_empty())
        {
            problems.add("auth_request_params.acr_values", "must name at least one value");
        }
        for param in self.auth_request_params.keys() {
            if RESERVED_AUTH_PARAMS.contains(&param.as_str()) {
                problems.add(
                    &format!("auth_request_params.{param}"),
                    "is set by the library and cannot be overridden",
                );
            }
        }
        self.bearer.problems(problems);
    }
}
