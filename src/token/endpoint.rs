//! Requests to the token endpoint (RFC 6749 §4.1.3, §3.2.1) and the
//! userinfo endpoint (OpenID Connect Core §5.3).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::client_key::{self, AssertionKey};
use crate::config::{ClientAssertionAudience, ProviderMetadata, TokenEndpointAuthMethod, UserinfoMethod};
use crate::error::OidcError;
use crate::error::printable;
use crate::jose::Alg;
use crate::jose::unique_json::UniqueObject;
use crate::provider::Provider;
use crate::provider::http::{self, HttpError};
use crate::provider::registration::RegisteredClient;
use crate::secret::{AccessToken, IdTokenJwt, RefreshToken};
use crate::telemetry::{Call, Endpoint};
use crate::token::claims;

/// A successful token endpoint answer (RFC 6749 §5.1).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: AccessToken,
    pub(crate) token_type: String,
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
    #[serde(default)]
    pub(crate) refresh_token: Option<RefreshToken>,
    #[serde(default)]
    pub(crate) id_token: Option<IdTokenJwt>,
    #[serde(default)]
    pub(crate) scope: Option<String>,
}

/// An OAuth error answer (RFC 6749 §5.2).
#[derive(Debug, Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A fresh client assertion for one request to `endpoint` (RFC 7523 §3):
/// signed with the private key (`private_key_jwt`) or the client secret
/// (`client_secret_jwt`). Its `aud` is the provider's issuer identifier,
/// one string, whatever the endpoint (draft-ietf-oauth-rfc7523bis, and the
/// OpenID specifications since CVE-2025-27370): an assertion naming a
/// token endpoint could be sent by us to another provider whose metadata
/// names that endpoint, and replayed there. `client_assertion_audience =
/// "endpoint"` names the URL it is sent to instead.
async fn client_assertion(
    provider: &Provider,
    client: &RegisteredClient,
    secret: &str,
    endpoint: &url::Url,
) -> Result<String, HttpError> {
    let metadata = provider
        .metadata()
        .await
        .map_err(|e| HttpError::Unreachable(e.to_string()))?;
    let configured = provider
        .config
        .token_endpoint_auth_signing_alg
        .as_deref()
        .and_then(Alg::named);
    let (key, alg) = match (client.token_endpoint_auth_method, &provider.config.private_key) {
        (TokenEndpointAuthMethod::PrivateKeyJwt, Some(key)) => (
            AssertionKey::Private(key),
            key.alg(configured, &metadata.token_endpoint_auth_signing_alg_values_supported),
        ),
        (TokenEndpointAuthMethod::PrivateKeyJwt, None) => {
            return Err(HttpError::Malformed("private_key_jwt without a private key".into()));
        }
        _ => (AssertionKey::Secret(secret), Alg::Hs256),
    };
    let audience = match provider.config.client_assertion_audience {
        ClientAssertionAudience::Issuer => metadata.issuer.as_str(),
        ClientAssertionAudience::Endpoint => endpoint.as_str(),
    };
    client_key::assertion(key, alg, &client.client_id, audience, provider.clock.now())
        .map_err(|why| HttpError::Malformed(format!("the client assertion could not be signed: {why}")))
}

/// Posts `params` to `url` with the client authentication of
/// `token_endpoint_auth_method` (RFC 6749 §2.3; also RFC 7662 §2.1 and
/// RFC 7009 §2.1, which authenticate the same way).
pub(crate) async fn post_authenticated(
    provider: &Provider,
    client: &RegisteredClient,
    endpoint: Endpoint,
    url: url::Url,
    params: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), HttpError> {
    let config = client;
    let mut form: Vec<(&str, &str)> = params.to_vec();
    let assertion: String;
    let mut request = provider.http().post(url.clone());
    let secret = config.client_secret.as_ref().map(|s| s.secret()).unwrap_or("");
    match config.token_endpoint_auth_method {
        TokenEndpointAuthMethod::ClientSecretBasic => {
            // RFC 6749 §2.3.1: both parts are form-encoded before Basic.
            request = request.basic_auth(form_encode(&config.client_id), Some(form_encode(secret)));
        }
        TokenEndpointAuthMethod::ClientSecretPost => {
            form.push(("client_id", &config.client_id));
            form.push(("client_secret", secret));
        }
        TokenEndpointAuthMethod::None => form.push(("client_id", &config.client_id)),
        TokenEndpointAuthMethod::ClientSecretJwt | TokenEndpointAuthMethod::PrivateKeyJwt => {
            assertion = client_assertion(provider, client, secret, &url).await?;
            form.push(("client_id", &config.client_id));
            form.push(("client_assertion_type", JWT_BEARER));
            form.push(("client_assertion", &assertion));
        }
    }
    let call = Call {
        provider: &provider.name,
        endpoint,
    };
    http::send(call, request.form(&form)).await
}

/// Posts `params` to the token endpoint, authenticating the client as configured.
pub(crate) async fn request(
    provider: &Provider,
    metadata: &ProviderMetadata,
    params: &[(&str, &str)],
) -> Result<TokenResponse, OidcError> {
    let client = provider.client().await?;
    let (status, body) = post_authenticated(
        provider,
        &client,
        Endpoint::Token,
        metadata.token_endpoint.clone(),
        params,
    )
    .await
    .map_err(|e| provider.call_failed("token endpoint", e))?;
    if (200..300).contains(&status) {
        let mut response: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| provider.call_failed("token endpoint", HttpError::malformed(&e)))?;
        // RFC 6749 §5.1: a token that is the empty string is no token. An
        // empty access token is a broken answer; an empty refresh token is
        // none (redeeming it could only fail, and end the session).
        if !claims::meaningful(response.access_token.secret()) {
            return Err(provider.unavailable("token endpoint issued an empty access token"));
        }
        if response
            .refresh_token
            .as_ref()
            .is_some_and(|token| !claims::meaningful(token.secret()))
        {
            response.refresh_token = None;
        }
        if !response.token_type.eq_ignore_ascii_case("bearer") {
            return Err(provider.unavailable(format!(
                "token endpoint issued a `{}` token, not Bearer",
                printable(&response.token_type, 32)
            )));
        }
        return Ok(response);
    }
    // A 4xx with an OAuth error is the provider refusing us (invalid_grant...):
    // the user's login failed. A 5xx, or anything else, is the provider failing.
    // Its description stays in the log (sanitised): it is the provider's
    // internals, not for whoever made the request.
    match serde_json::from_slice::<ErrorResponse>(&body) {
        // Too many requests, or the provider saying it is struggling
        // (RFC 6749 §5.2 has no such codes, but providers send them with a
        // 4xx): its trouble, not a refusal. Nothing ends over it.
        Ok(error) if status == 429 || TRANSIENT_ERRORS.contains(&error.error.as_str()) => {
            let code = printable(&error.error, 64);
            Err(provider.unavailable(format!("token endpoint answered {status} `{code}`")))
        }
        Ok(error) if (400..500).contains(&status) => {
            let code = printable(&error.error, 64);
            event!(
                info,
                "oidc: the token endpoint of provider `{}` answered `{code}`: {}",
                provider.name,
                printable(error.error_description.as_deref().unwrap_or(""), 300)
            );
            Err(OidcError::Provider {
                error: code,
                description: None,
            })
        }
        _ => Err(provider.call_failed("token endpoint", HttpError::Status(status))),
    }
}

/// OAuth error codes that say "try again later" (RFC 6749 §4.1.2.1 for the
/// authorization endpoint, and what providers also send from their token
/// endpoint); `slow_down` is RFC 8628's.
pub(crate) const TRANSIENT_ERRORS: [&str; 3] = ["temporarily_unavailable", "server_error", "slow_down"];

/// Fetches the userinfo claims with `access_token`, or `None` when the
/// provider has no userinfo endpoint or the configuration says not to.
pub(crate) async fn userinfo(
    provider: &Provider,
    metadata: &ProviderMetadata,
    access_token: &AccessToken,
    expected_subject: &str,
) -> Result<Option<Map<String, Value>>, OidcError> {
    let Some(endpoint) = metadata.userinfo_endpoint.clone() else {
        return Ok(None);
    };
    let request = match provider.config.userinfo_http_method {
        UserinfoMethod::None => return Ok(None),
        UserinfoMethod::Get => provider.http().get(endpoint),
        UserinfoMethod::Post => provider.http().post(endpoint).form(&[("", ""); 0]),
    };
    let call = Call {
        provider: &provider.name,
        endpoint: Endpoint::Userinfo,
    };
    // Claims about the user, each once (two `sub`s, two `email`s: which
    // counts must not be guessed).
    let UniqueObject(claims) = http::json(call, request.bearer_auth(access_token.secret()))
        .await
        .map_err(|e| provider.call_failed("userinfo endpoint", e))?;
    // Core §5.3.2: the sub in the userinfo response MUST equal the ID token's,
    // or the response may be substituted.
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == expected_subject => Ok(Some(claims)),
        Some(_) => Err(OidcError::InvalidUserinfo(
            "userinfo `sub` differs from the ID token's".into(),
        )),
        None => Err(OidcError::InvalidUserinfo("userinfo has no `sub`".into())),
    }
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(crate::test_fuzz::cases(512))]

        /// Any answer of a token endpoint is a token response or an error.
        #[test]
        fn fuzz_token_endpoint_answers_parse_or_are_refused(
            answer in crate::test_fuzz::claims_like(&[
                "access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope", "error",
            ]),
        ) {
            let _ = serde_json::from_value::<TokenResponse>(serde_json::Value::Object(answer.clone()));
            let _ = serde_json::from_value::<ErrorResponse>(serde_json::Value::Object(answer));
        }
    }

    #[test]
    fn debug_shows_no_token() {
        let response: TokenResponse = serde_json::from_value(serde_json::json!({
            "access_token": "acc3ss-s3cret", "token_type": "Bearer", "refresh_token": "r3fresh-s3cret",
            "id_token": "eyJ.id-s3cret.sig", "expires_in": 60
        }))
        .unwrap();
        let shown = format!("{response:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
