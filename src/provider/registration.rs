//! The client the app is at a provider: configured statically
//! (`client_id`, `client_secret`) or registered dynamically on first use
//! (RFC 7591, the provider's `registration` table), then reused for the
//! life of the process and, with `persist_path`, across restarts.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use crate::config::{OidcConfig, ProviderConfig, TokenEndpointAuthMethod};
use crate::error::OidcError;
use crate::owner_file::{self, Refused};
use crate::provider::{Provider, http};
use crate::secret::ClientSecret;
use crate::telemetry::{Call, Endpoint};

/// How the app identifies and authenticates itself at one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RegisteredClient {
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) client_secret: Option<ClientSecret>,
    #[serde(default)]
    pub(crate) token_endpoint_auth_method: TokenEndpointAuthMethod,
}

impl RegisteredClient {
    /// The statically configured client, if the configuration has one.
    pub(crate) fn configured(config: &ProviderConfig) -> Option<RegisteredClient> {
        Some(RegisteredClient {
            client_id: config.client_id.clone()?,
            client_secret: config.client_secret.clone(),
            token_endpoint_auth_method: config.token_endpoint_auth_method,
        })
    }
}

/// What `persist_path` holds: the client, and what it was registered for
/// (a different issuer or redirect URIs mean registering again).
#[derive(Serialize, Deserialize)]
struct Persisted {
    issuer: String,
    redirect_uris: Vec<Url>,
    client: RegisteredClient,
}

/// The answer of a registration endpoint (RFC 7591 §3.2.1).
#[derive(Deserialize)]
struct RegistrationResponse {
    client_id: String,
    #[serde(default)]
    client_secret: Option<ClientSecret>,
    #[serde(default)]
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    #[serde(default)]
    client_secret_expires_at: Option<i64>,
}

/// What a dynamic registration asks for, computed once from the
/// configuration when the app is built.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegistrationInputs {
    redirect_uris: Vec<Url>,
    post_logout_redirect_uris: Vec<Url>,
}

impl RegistrationInputs {
    /// The inputs for `provider` of the app configured by `oidc`.
    pub(crate) fn new(oidc: &OidcConfig, provider: &ProviderConfig) -> RegistrationInputs {
        let Some(registration) = &provider.registration else {
            return RegistrationInputs::default();
        };
        let redirect_uris = if registration.redirect_uris.is_empty() {
            vec![
                provider
                    .redirect_uri
                    .clone()
                    .unwrap_or_else(|| oidc.redirect_uri.clone()),
            ]
        } else {
            registration.redirect_uris.clone()
        };
        let post_logout_redirect_uris = if !registration.post_logout_redirect_uris.is_empty() {
            registration.post_logout_redirect_uris.clone()
        } else if !provider.post_logout_redirect_uris.is_empty() {
            provider.post_logout_redirect_uris.clone()
        } else {
            vec![oidc.post_logout_redirect_uri()]
        };
        RegistrationInputs {
            redirect_uris,
            post_logout_redirect_uris,
        }
    }
}

/// The client registered at `provider`: read back from `persist_path` when
/// it was registered there for the same issuer and redirect URIs, else
/// registered now (and saved).
pub(crate) async fn register(provider: &Provider, inputs: &RegistrationInputs) -> Result<RegisteredClient, OidcError> {
    let Some(registration) = &provider.config.registration else {
        return Err(provider.unavailable("no client_id and no registration configured"));
    };
    let metadata = provider.metadata().await?;
    let redirect_uris = &inputs.redirect_uris;
    if let Some(path) = &registration.persist_path
        && let Some(client) = read_persisted(path, &metadata.issuer, redirect_uris)
    {
        event!(
            info,
            "oidc: provider `{}`: reusing the client registered in {}",
            provider.name,
            path.display()
        );
        return Ok(client);
    }
    let endpoint = metadata.registration_endpoint.clone().ok_or_else(|| {
        provider.unavailable("dynamic registration is configured but the provider has no registration_endpoint")
    })?;
    let post_logout_redirect_uris = &inputs.post_logout_redirect_uris;
    let body = json!({
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout_redirect_uris,
        "response_types": ["code"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        "application_type": "web",
        "client_name": "rocket_openidconnect",
    });
    let mut request = provider.http().post(endpoint).json(&body);
    if let Some(token) = &registration.initial_access_token {
        request = request.bearer_auth(token.secret());
    }
    let call = Call {
        provider: &provider.name,
        endpoint: Endpoint::Registration,
    };
    let response: RegistrationResponse = http::json(call, request)
        .await
        .map_err(|e| provider.call_failed("registration endpoint", e))?;
    // RFC 7591 §3.2.1: the client is its `client_id`; an empty one is no
    // registration (and every such client would be the same one).
    if response.client_id.trim().is_empty() {
        return Err(provider.unavailable("the registration endpoint answered an empty `client_id`"));
    }
    let client = RegisteredClient {
        client_id: response.client_id,
        client_secret: response.client_secret,
        token_endpoint_auth_method: response.token_endpoint_auth_method.unwrap_or_default(),
    };
    event!(
        info,
        "oidc: provider `{}`: registered client `{}`",
        provider.name,
        client.client_id
    );
    if let Some(path) = &registration.persist_path {
        let expires = response.client_secret_expires_at.unwrap_or(0);
        if expires == 0 {
            let persisted = Persisted {
                issuer: metadata.issuer.clone(),
                redirect_uris: redirect_uris.clone(),
                client: client.clone(),
            };
            if let Err(error) = write_persisted(path, &persisted) {
                event!(
                    warn,
                    "oidc: cannot keep the registered client in {}: {error}",
                    path.display()
                );
            }
        }
    }
    Ok(client)
}

/// The most a persisted client file may hold.
const MAX_PERSISTED_BYTES: u64 = 64 * 1024;

/// The client persisted at `path`, if it is a regular file (a symlink is
/// not followed) readable by its owner only; anything else is not reused:
/// the client registers again and the file is written anew, mode 0600.
fn read_persisted(path: &Path, issuer: &str, redirect_uris: &[Url]) -> Option<RegisteredClient> {
    let bytes = match owner_file::read(path, MAX_PERSISTED_BYTES) {
        Ok(bytes) => bytes,
        Err(Refused::Missing) => return None,
        Err(why) => {
            event!(
                warn,
                "oidc: {} is not reused ({why}): its client secret could be another's; registering again and \
                 writing it owner-only",
                path.display()
            );
            return None;
        }
    };
    let persisted: Persisted = serde_json::from_slice(&bytes).ok()?;
    (persisted.issuer == issuer && persisted.redirect_uris == redirect_uris).then_some(persisted.client)
}

/// Writes the client (its secret included) readable by the owner only
/// (see [`owner_file::replace`]).
fn write_persisted(path: &Path, persisted: &Persisted) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(persisted).map_err(std::io::Error::other)?;
    owner_file::replace(path, text.as_bytes()).map(drop)
}
