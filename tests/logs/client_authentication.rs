//! Client authentication without a shared secret (RFC 7523, OIDC Core §9):
//! `private_key_jwt` with an RSA or EC key from a PEM file or an inline JWK,
//! and `client_secret_jwt`. Every client-authenticated call carries a fresh
//! assertion: `iss` = `sub` = the client id, `aud` the provider's issuer
//! (or, with `client_assertion_audience = "endpoint"`, the endpoint it is
//! sent to), a unique `jti`, a short `exp`.

use rocket::http::Status;
use serde_json::{Value, json};

use crate::support::lifecycle::*;
use crate::support::provider::ClientAuth;
use crate::support::*;
use rocket_openidconnect::DefaultProvider;

const RSA_PEM: &str = "tests/data/client-rsa.pem";
const EC_PEM: &str = "tests/data/client-ec.pem";

use crate::support::jwt::{b64, client_rsa_public_jwk as rsa_public_jwk};

/// The EC test key: its private JWK (no `kid`) and its public JWK.
fn ec_jwks() -> (Value, Value) {
    let pem = std::fs::read_to_string(EC_PEM).expect("the test key");
    let key = rocket_openidconnect::testing::jose::Key::from_pem(&pem).expect("a P-256 key");
    let rocket_openidconnect::testing::jose::Key::P256(secret) = &key else {
        panic!("{EC_PEM} is a P-256 key")
    };
    let public = Value::Object(key.public_members());
    let mut private = public.clone();
    private["d"] = json!(b64(&secret.to_bytes()));
    (private, public)
}

/// The `oidc` table with the default provider authenticating by `method`
/// and `extra` keys, and no client secret unless `client_secret_jwt`.
fn config_with(provider: &TestProvider, method: &str, extra: Value) -> Value {
    let mut config = oidc_config(provider);
    let table = &mut config["providers"]["default"];
    table["token_endpoint_auth_method"] = json!(method);
    if method == "private_key_jwt" {
        table.as_object_mut().map(|t| t.remove("client_secret"));
    }
    if let (Some(table), Some(extra)) = (table.as_object_mut(), extra.as_object()) {
        table.extend(extra.clone());
    }
    config
}

fn assert_well_formed(provider: &TestProvider, header: &Value, claims: &Value, alg: &str) {
    assert_eq!(header["alg"], alg, "{header}");
    assert_eq!(claims["iss"], provider::CLIENT_ID);
    assert_eq!(claims["sub"], provider::CLIENT_ID);
    // draft-ietf-oauth-rfc7523bis: the issuer identifier, one string,
    // whatever the endpoint the assertion goes to.
    assert_eq!(claims["aud"], provider.issuer.as_str(), "aud is the provider's issuer");
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    assert!(exp > iat && exp - iat <= 60, "a short-lived assertion: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 20), "{claims}");
}

#[rocket::async_test]
async fn private_key_jwt_with_an_rsa_pem_authenticates_every_client_call_with_a_fresh_assertion() {
    logs::capture();
    let provider = TestProvider::start().await;
    provider.behave(|b| b.client_auth = ClientAuth::Assertion(Some(rsa_public_jwk())));
    let mut browser = lifecycle_browser(config_with(
        &provider,
        "private_key_jwt",
        json!({ "private_key_path": RSA_PEM }),
    ))
    .await;

    // The code exchange, then a refresh.
    browser.login_ok(&provider, "/profile").await;
    let refreshed = browser.token_ok(true).await;
    assert_eq!(refreshed["refreshed"], true);
    // Logout revokes the refresh and access tokens: two more authenticated calls.
    let logout = browser.post_form("/logout", &[]).await;
    assert_eq!(logout.status, Status::SeeOther, "{logout:#?}");
    provider.revocations_once(2).await;

    let assertions = provider.assertions();
    assert!(
        assertions.len() >= 4,
        "token, refresh and revocations each authenticated: {assertions:#?}"
    );
    let mut jtis: Vec<&str> = assertions.iter().filter_map(|(_, c)| c["jti"].as_str()).collect();
    for (header, claims) in &assertions {
        assert_well_formed(&provider, header, claims, "RS256");
        assert!(
            header["kid"].as_str().is_some_and(|kid| kid.len() == 43),
            "kid: the RFC 7638 thumbprint: {header}"
        );
    }
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), assertions.len(), "every assertion has its own jti");
    assert_eq!(provider.revocation_requests().len(), 2, "the revocations were accepted");
}

#[rocket::async_test]
async fn introspection_and_client_credentials_authenticate_with_the_key_too() {
    logs::capture();
    let provider = TestProvider::start().await;
    provider.behave(|b| b.client_auth = ClientAuth::Assertion(Some(rsa_public_jwk())));
    let config = config_with(&provider, "private_key_jwt", json!({ "private_key_path": RSA_PEM }));
    let mut browser = Browser::new(api::api_app(config)).await;
    let token = provider.opaque_token(json!({ "scope": "read" }));
    let answer = browser.bearer("/api", &token).await;
    assert_eq!(answer.status, Status::Ok, "{answer:#?}");
    let oidc = api::oidc_of(&browser);
    let service = oidc
        .client_credentials::<DefaultProvider>()
        .scopes(["read"])
        .send()
        .await
        .expect("a service token");
    assert!(!service.access_token().secret().is_empty());
    let assertions = provider.assertions();
    assert_eq!(
        assertions.len(),
        2,
        "introspection and client credentials: {assertions:#?}"
    );
    for (header, claims) in &assertions {
        assert_well_formed(&provider, header, claims, "RS256");
    }
}

/// A server that insists on the URL of the endpoint as `aud` refuses the
/// issuer; `client_assertion_audience = "endpoint"` names, in each
/// assertion, the endpoint it is sent to (so an assertion sent to the
/// introspection endpoint is still worthless at the token endpoint).
#[rocket::async_test]
async fn client_assertion_audience_endpoint_names_the_url_each_assertion_is_sent_to() {
    logs::capture();
    let provider = TestProvider::start().await;
    let endpoints = vec![provider.token_endpoint(), provider.introspection_endpoint()];
    provider.behave(|b| {
        b.client_auth = ClientAuth::Assertion(Some(rsa_public_jwk()));
        b.assertion_audiences = Some(endpoints.clone());
    });
    // With the issuer as audience, this server refuses the client.
    let mut browser = lifecycle_browser(config_with(
        &provider,
        "private_key_jwt",
        json!({ "private_key_path": RSA_PEM }),
    ))
    .await;
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_eq!(resp.status, Status::Unauthorized, "{resp:#?}");
    assert!(provider.assertions().is_empty());

    let config = config_with(
        &provider,
        "private_key_jwt",
        json!({ "private_key_path": RSA_PEM, "client_assertion_audience": "endpoint" }),
    );
    let mut browser = Browser::new(api::api_app(config)).await;
    browser.login_ok(&provider, "/profile").await;
    let token = provider.opaque_token(json!({ "scope": "read" }));
    assert_eq!(browser.bearer("/api", &token).await.status, Status::Ok);
    let audiences: Vec<Value> = provider
        .assertions()
        .into_iter()
        .map(|(_, claims)| claims["aud"].clone())
        .collect();
    assert_eq!(audiences, [json!(endpoints[0]), json!(endpoints[1])]);
}

#[rocket::async_test]
async fn an_rsa_key_signs_ps256_when_the_provider_accepts_only_that() {
    logs::capture();
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.client_auth = ClientAuth::Assertion(Some(rsa_public_jwk()));
        b.discovery.insert(
            "token_endpoint_auth_signing_alg_values_supported".into(),
            json!(["PS256"]),
        );
    });
    let mut browser = lifecycle_browser(config_with(
        &provider,
        "private_key_jwt",
        json!({ "private_key_path": RSA_PEM }),
    ))
    .await;
    browser.login_ok(&provider, "/profile").await;
    let (header, _) = provider.assertions().pop().expect("an assertion");
    assert_eq!(header["alg"], "PS256");
}

#[rocket::async_test]
async fn an_ec_key_given_as_an_inline_jwk_signs_es256_with_its_kid() {
    logs::capture();
    let provider = TestProvider::start().await;
    let (mut private, public) = ec_jwks();
    private["kid"] = json!("client-key-1");
    provider.behave(|b| b.client_auth = ClientAuth::Assertion(Some(public)));
    let mut browser = lifecycle_browser(config_with(
        &provider,
        "private_key_jwt",
        json!({ "private_key_jwk": private }),
    ))
    .await;
    browser.login_ok(&provider, "/profile").await;
    let (header, claims) = provider.assertions().pop().expect("an assertion");
    assert_well_formed(&provider, &header, &claims, "ES256");
    assert_eq!(header["kid"], "client-key-1");
}

#[rocket::async_test]
async fn client_secret_jwt_macs_the_assertion_with_the_client_secret() {
    logs::capture();
    let provider = TestProvider::start().await;
    provider.behave(|b| b.client_auth = ClientAuth::Assertion(None));
    let mut browser = lifecycle_browser(config_with(&provider, "client_secret_jwt", json!({}))).await;
    browser.login_ok(&provider, "/profile").await;
    let (header, claims) = provider.assertions().pop().expect("an assertion");
    assert_well_formed(&provider, &header, &claims, "HS256");
    for request in provider.token_requests() {
        assert!(
            request.param("client_secret").is_none(),
            "the secret itself never travels"
        );
        assert!(request.authorization.is_none());
    }
}

#[rocket::async_test]
async fn an_assertion_the_provider_refuses_fails_the_login_and_creates_no_session() {
    logs::capture();
    let provider = TestProvider::start().await;
    // The provider knows another key for this client.
    let (_, ec_public) = ec_jwks();
    provider.behave(|b| b.client_auth = ClientAuth::Assertion(Some(ec_public)));
    let mut browser = lifecycle_browser(config_with(
        &provider,
        "private_key_jwt",
        json!({ "private_key_path": RSA_PEM }),
    ))
    .await;
    let auth = browser.start_login("/profile").await;
    let callback = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_error(&callback, Status::Unauthorized, "invalid_client");
    assert_no_session(&mut browser).await;
    assert!(provider.assertions().is_empty(), "the provider accepted none");
}

fn launch_error(config: Value) -> String {
    let figment = figment(config);
    match rocket_openidconnect::config::OidcConfig::from_figment(&figment) {
        Ok(_) => panic!("the configuration should be refused"),
        Err(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.key, e.message))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[rocket::async_test]
async fn a_private_key_configuration_that_cannot_work_aborts_launch_naming_the_key() {
    logs::capture();
    let provider = TestProvider::start().await;
    let (private, _) = ec_jwks();
    let key = "oidc.providers.default.";
    let cases = [
        (json!({}), "private_key_path", "is required"),
        (
            json!({ "private_key_path": "/nonexistent/key.pem" }),
            "private_key_path",
            "cannot be read",
        ),
        (
            json!({ "private_key_path": "Cargo.toml" }),
            "private_key_path",
            "not a PEM private key",
        ),
        (
            json!({ "private_key_path": RSA_PEM, "private_key_jwk": private.clone() }),
            "private_key_jwk",
            "cannot be combined",
        ),
        (
            json!({ "private_key_jwk": { "kty": "EC", "crv": "P-256", "d": "AAAA" } }),
            "private_key_jwk",
            "P-256",
        ),
        (
            json!({ "private_key_path": RSA_PEM, "token_endpoint_auth_signing_alg": "ES256" }),
            "token_endpoint_auth_signing_alg",
            "does not fit",
        ),
    ];
    for (extra, named, says) in cases {
        let message = launch_error(config_with(&provider, "private_key_jwt", extra.clone()));
        assert!(
            message.contains(&format!("{key}{named}: ")) && message.contains(says),
            "{extra}: {message}"
        );
    }
    let message = launch_error(config_with(
        &provider,
        "client_secret_basic",
        json!({ "private_key_path": RSA_PEM }),
    ));
    assert!(message.contains("private_key_path: is used only with"), "{message}");

    // The key read never shows in `Debug`.
    let config = rocket_openidconnect::config::OidcConfig::from_figment(&figment(config_with(
        &provider,
        "private_key_jwt",
        json!({ "private_key_jwk": private.clone() }),
    )))
    .expect("a valid configuration");
    let shown = format!("{config:?}");
    let d = private["d"].as_str().unwrap_or_default();
    assert!(!shown.contains(d), "the private key is redacted: {shown}");
    assert!(shown.contains("[redacted]"));
}

#[rocket::async_test]
async fn the_public_jwk_is_logged_at_launch_and_the_private_key_never() {
    logs::capture();
    let provider = TestProvider::start().await;
    let (private, public) = ec_jwks();
    provider.behave(|b| b.client_auth = ClientAuth::Assertion(Some(public.clone())));
    let mut browser = lifecycle_browser(config_with(
        &provider,
        "private_key_jwt",
        json!({ "private_key_jwk": private.clone() }),
    ))
    .await;
    browser.login_ok(&provider, "/profile").await;
    let lines = logs::crate_lines();
    let d = private["d"].as_str().unwrap_or_default();
    assert!(
        lines.iter().all(|line| !line.contains(d)),
        "the private key is never logged"
    );
    let x = public["x"].as_str().unwrap_or_default();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("private_key_jwt") && line.contains(x)),
        "the public JWK to register is logged: {lines:#?}"
    );
}
