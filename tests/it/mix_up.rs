//! Mix-up defence with several providers (RFC 9700 §4.4.2): a malicious
//! configured provider must not receive an honest provider's code and PKCE
//! verifier. A response is accepted only when it provably comes from the
//! provider its `state` was issued for: by RFC 9207 `iss` where several
//! providers share one `redirect_uri` (required there), or by the
//! provider's own `redirect_uri`.

use rocket::http::Status;
use serde_json::{Value, json};

use crate::support::*;

/// Routes for both providers.
fn routes() -> Vec<rocket::Route> {
    rocket::routes![app::profile, app::second, app::public]
}

/// Makes `provider` one that does not advertise RFC 9207 (so it may
/// answer without `iss`).
fn without_rfc9207(provider: &TestProvider) {
    provider.behave(|b| {
        b.discovery
            .insert("authorization_response_iss_parameter_supported".into(), json!(false));
    });
}

/// The callback for `auth` (a login at `provider`) at `path`, without `iss`.
async fn answer_without_iss(browser: &mut Browser, provider: &TestProvider, auth: &AuthRequest, path: &str) -> Resp {
    let code = provider.issue_code(auth);
    let query = form_encode(&[("code", &code), ("state", auth.state())]);
    browser.navigate(&format!("{path}?{query}")).await
}

#[rocket::async_test]
async fn with_one_provider_a_response_without_iss_is_accepted() {
    let provider = TestProvider::start().await;
    without_rfc9207(&provider);
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let auth = browser.start_login("/profile").await;
    let resp = answer_without_iss(&mut browser, &provider, &auth, CALLBACK_PATH).await;
    assert_callback_completed(&resp, &provider);
}

#[rocket::async_test]
async fn providers_sharing_the_redirect_uri_must_send_iss() {
    let (first, second) = (TestProvider::start().await, TestProvider::start().await);
    without_rfc9207(&first);
    without_rfc9207(&second);
    let mut browser = Browser::new(rp(oidc_config_with_second(&first, &second), routes())).await;
    for (provider, path) in [(&first, "/profile"), (&second, "/second")] {
        let auth = browser.start_login(path).await;
        let resp = answer_without_iss(&mut browser, provider, &auth, CALLBACK_PATH).await;
        assert_error(&resp, Status::Unauthorized, "invalid_issuer");
        assert!(resp.body.contains("of its own"), "the error says what to do: {resp:#?}");
        assert_eq!(provider.token_requests().len(), 0, "the code went nowhere");
    }
    // With `iss`, as RFC 9207 providers send it, logins work.
    browser.login_ok(&second, "/second").await;
    assert_eq!(second.token_requests().len(), 1);
}

/// Two providers, `second` with a `redirect_uri` of its own.
fn own_redirect_config(first: &TestProvider, second: &TestProvider) -> Value {
    let mut config = oidc_config_with_second(first, second);
    config["providers"]["second"]["redirect_uri"] = json!("http://127.0.0.1:8000/callback/second");
    config
}

#[rocket::async_test]
async fn a_provider_with_its_own_redirect_uri_needs_no_iss_and_is_accepted_there_only() {
    let (first, second) = (TestProvider::start().await, TestProvider::start().await);
    without_rfc9207(&first);
    without_rfc9207(&second);
    let mut browser = Browser::new(rp(own_redirect_config(&first, &second), routes())).await;

    // The mix-up: second's response delivered to the shared redirect URI.
    let auth = browser.start_login("/second").await;
    assert_eq!(
        auth.param("redirect_uri"),
        Some("http://127.0.0.1:8000/callback/second")
    );
    let resp = answer_without_iss(&mut browser, &second, &auth, CALLBACK_PATH).await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    assert_eq!(second.token_requests().len(), 0);

    // At its own redirect URI, without `iss`: accepted.
    let auth = browser.start_login("/second").await;
    let resp = answer_without_iss(&mut browser, &second, &auth, "/callback/second").await;
    assert_callback_completed(&resp, &second);
    let request = &second.token_requests()[0];
    assert_eq!(
        request.param("redirect_uri"),
        Some("http://127.0.0.1:8000/callback/second")
    );
    assert_eq!(browser.api("/second").await.status, Status::Ok);

    // The first provider alone at the shared redirect URI: no `iss` needed.
    let auth = browser.start_login("/profile").await;
    let resp = answer_without_iss(&mut browser, &first, &auth, CALLBACK_PATH).await;
    assert_callback_completed(&resp, &first);
}

#[rocket::async_test]
async fn a_response_for_the_shared_redirect_uri_is_refused_at_a_providers_own() {
    let (first, second) = (TestProvider::start().await, TestProvider::start().await);
    without_rfc9207(&first);
    let mut browser = Browser::new(rp(own_redirect_config(&first, &second), routes())).await;
    let auth = browser.start_login("/profile").await;
    let resp = answer_without_iss(&mut browser, &first, &auth, "/callback/second").await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    assert_eq!(first.token_requests().len(), 0);
}

/// The private_key_jwt audience injection (CVE-2025-27370/27371): one key
/// and one `client_id` at two configured providers. Provider B publishes
/// provider A's token endpoint as its own. Its discovery is refused (an
/// endpoint off its issuer's origin), and even where the configuration
/// allows that origin, every assertion B receives names B's issuer: A
/// refuses it when B replays it at A's token endpoint.
#[rocket::async_test]
async fn a_client_assertion_one_provider_received_is_worthless_at_another() {
    use crate::support::jwt::client_rsa_public_jwk;
    use crate::support::provider::{CLIENT_ID, ClientAuth};

    let a = TestProvider::start().await;
    let b = TestProvider::start().await;
    for provider in [&a, &b] {
        provider.behave(|x| x.client_auth = ClientAuth::Assertion(Some(client_rsa_public_jwk())));
    }
    let a_token_endpoint = a.token_endpoint();
    b.behave(|x| {
        x.discovery.insert("token_endpoint".into(), json!(a_token_endpoint));
    });
    let key =
        json!({ "token_endpoint_auth_method": "private_key_jwt", "private_key_path": "tests/data/client-rsa.pem" });
    let config = |allowed: Value| {
        let mut config = oidc_config_with_second(&a, &b);
        for name in ["default", "second"] {
            let table = config["providers"][name].as_object_mut().expect("a table");
            table.remove("client_secret");
            table.extend(key.as_object().expect("an object").clone());
        }
        config["providers"]["second"]["allowed_endpoint_origins"] = allowed;
        config
    };
    let mut routes = rocket::routes![crate::support::api::api_second];
    routes.extend(default_routes());
    let opaque = b.opaque_token(json!({ "scope": "read" }));

    // B's metadata names an endpoint on A's origin: refused at discovery,
    // and nothing reaches B.
    let mut browser = Browser::new(crate::support::api::api_app_with_routes(
        config(json!([])),
        routes.clone(),
    ))
    .await;
    let resp = browser.bearer("/api/second", &opaque).await;
    assert_eq!(resp.status, Status::ServiceUnavailable, "{resp:#?}");
    assert!(b.raw_assertions().is_empty(), "no assertion went to B");

    // The operator allows A's origin for B (as for a provider that really
    // serves its token endpoint elsewhere): B now receives an assertion at
    // its introspection endpoint...
    let a_origin = url::Url::parse(&a.issuer)
        .expect("a URL")
        .origin()
        .ascii_serialization();
    let mut browser = Browser::new(crate::support::api::api_app_with_routes(
        config(json!([a_origin])),
        routes,
    ))
    .await;
    let resp = browser.bearer("/api/second", &opaque).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let received = b.raw_assertions();
    assert_eq!(received.len(), 1, "B's introspection was authenticated");
    assert_eq!(
        crate::support::jwt::decode_claims(&received[0])["aud"],
        b.issuer.as_str(),
        "the assertion names B, the provider it is for"
    );

    // ...and replays it at A's token endpoint: A refuses it.
    let replay = reqwest::Client::new()
        .post(a.token_endpoint())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", received[0].as_str()),
        ])
        .send()
        .await
        .expect("A answers");
    assert_eq!(replay.status().as_u16(), 401, "A refuses B's assertion");
    assert!(a.assertions().is_empty(), "A accepted no assertion");
}

/// A provider configured by `discovery_url` alone learns its issuer at
/// discovery. When another provider answering at the same callback holds
/// that issuer, the discovered one is refused (`502`): their responses
/// could not be told apart. With a callback of its own it works.
#[rocket::async_test]
async fn a_discovered_issuer_another_provider_holds_at_the_same_callback_is_refused() {
    let provider = TestProvider::start().await;
    provider.accept_client("second-client", "second-secret");
    let second = |own_callback: bool| {
        let mut config = oidc_config(&provider);
        config["providers"]["second"] = json!({
            "discovery_url": format!("{}/.well-known/openid-configuration", provider.issuer),
            "client_id": "second-client",
            "client_secret": "second-secret",
        });
        if own_callback {
            config["providers"]["second"]["redirect_uri"] = json!("http://127.0.0.1:8000/callback/second");
        }
        config
    };
    let mut browser = Browser::new(rp(second(false), routes())).await;
    let resp = browser.navigate("/second").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    // The first provider is not affected.
    assert_eq!(browser.navigate("/profile").await.status, Status::Found);

    let mut browser = Browser::new(rp(second(true), routes())).await;
    let auth = browser.start_login("/second").await;
    assert_eq!(
        auth.param("redirect_uri"),
        Some("http://127.0.0.1:8000/callback/second")
    );
}

/// Client assertions name the issuer as `aud`: a provider known by its
/// `discovery_url` alone whose document names another provider's issuer
/// (of another origin than the document's) would receive assertions good
/// at that provider. Refused at discovery (`502`), even at a callback of
/// its own and with its origins allowed; naming the issuer in the
/// configuration is how an operator says it really is that one.
#[rocket::async_test]
async fn a_document_found_by_discovery_url_alone_may_not_name_an_issuer_of_another_origin() {
    let a = TestProvider::start().await;
    let b = TestProvider::start().await;
    b.accept_client("second-client", "second-secret");
    let a_issuer = a.issuer.clone();
    b.behave(|x| {
        x.discovery.insert("issuer".into(), json!(a_issuer));
    });
    let b_origin = url::Url::parse(&b.issuer)
        .expect("a URL")
        .origin()
        .ascii_serialization();
    let mut config = oidc_config(&a);
    config["providers"]["second"] = json!({
        "discovery_url": format!("{}/.well-known/openid-configuration", b.issuer),
        "client_id": "second-client",
        "client_secret": "second-secret",
        "redirect_uri": "http://127.0.0.1:8000/callback/second",
        "allowed_endpoint_origins": [b_origin],
    });
    let mut browser = Browser::new(rp(config, routes())).await;
    let resp = browser.navigate("/second").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert_eq!(browser.navigate("/profile").await.status, Status::Found, "A works");
}

/// A discovered document whose endpoints are on another origin than its
/// issuer's is refused (`502`), unless `allowed_endpoint_origins` lists it.
#[rocket::async_test]
async fn a_discovered_endpoint_off_the_issuers_origin_is_refused_unless_allowed() {
    let provider = TestProvider::start().await;
    let other = TestProvider::start().await;
    let elsewhere = format!("{}/authorize", other.issuer);
    provider.behave(|b| {
        b.discovery.insert("authorization_endpoint".into(), json!(elsewhere));
    });
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let resp = browser.navigate("/profile").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");

    let mut config = oidc_config(&provider);
    let origin = url::Url::parse(&other.issuer)
        .expect("a URL")
        .origin()
        .ascii_serialization();
    config["providers"]["default"]["allowed_endpoint_origins"] = json!([origin]);
    let mut browser = Browser::new(rp(config, default_routes())).await;
    let auth = browser.start_login("/profile").await;
    assert_eq!(auth.endpoint, elsewhere);
}
