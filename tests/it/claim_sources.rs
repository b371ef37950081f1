//! Aggregated and distributed claims (OIDC Core §5.6.2; issue "Who may do
//! what", part 1): when the ID token says some claims are elsewhere, as
//! Entra ID does for a user in too many groups, the crate resolves them
//! from the sources `claim_sources` lists, and only from those: a source
//! the token alone names is never contacted (SSRF, and the session's
//! access token sent to a stranger).

use rocket::get;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket_openidconnect::{DefaultProvider, NoRequirement, OidcUser, authorization};
use serde_json::{Value, json};

use crate::support::faulty::{Fault, FaultyEndpoint};
use crate::support::*;

authorization!(StaffEngineers { groups: all ["staff", "eng"] });

#[get("/staff")]
fn staff(user: OidcUser<DefaultProvider, NoRequirement, StaffEngineers>) -> Json<Value> {
    Json(json!({ "groups": user.groups(), "roles": user.roles(), "sourced": user.sourced_claims() }))
}

/// A browser logged in at `provider`, whose ID token points to `sources`
/// for `groups`, at an app listing `listed` in `claim_sources`.
async fn logged_in(provider: &TestProvider, sources: Value, listed: Value) -> Browser {
    provider.behave(|b| {
        b.claims.insert("hasgroups".into(), json!(true));
        b.claims.insert("_claim_names".into(), json!({ "groups": "src1" }));
        b.claims.insert("_claim_sources".into(), sources.clone());
    });
    let mut config = oidc_config(provider);
    config["providers"]["default"]["claim_sources"] = listed;
    let mut routes = rocket::routes![staff];
    routes.extend(default_routes());
    let mut browser = Browser::new(rp(config, routes)).await;
    browser.login_ok(provider, "/profile").await;
    browser
}

#[rocket::async_test]
async fn groups_at_a_listed_endpoint_are_fetched_with_the_session_s_token_and_count() {
    let graph = FaultyEndpoint::start(Fault::json(
        200,
        &json!({ "groups": ["staff", "eng"], "roles": ["admin"] }),
    ))
    .await;
    let provider = TestProvider::start().await;
    let endpoint = format!("{}/v1.0/me/claims", graph.url());
    let mut browser = logged_in(
        &provider,
        json!({ "src1": { "endpoint": endpoint } }),
        json!([format!("{}/v1.0/", graph.url())]),
    )
    .await;
    let resp = browser.api("/staff").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["groups"], json!(["staff", "eng"]));
    // Only what the reference names: the source cannot add roles.
    assert_eq!(resp.json()["roles"], json!([]));
    let heads = graph.request_heads();
    assert!(!heads.is_empty(), "the endpoint was called");
    assert!(heads[0].starts_with("GET /v1.0/me/claims "), "{}", heads[0]);
    assert!(
        heads[0].to_ascii_lowercase().contains("\r\nauthorization: bearer "),
        "with the session's access token: {}",
        heads[0]
    );
}

#[rocket::async_test]
async fn an_endpoint_not_listed_is_never_contacted_and_grants_nothing() {
    let graph = FaultyEndpoint::start(Fault::json(200, &json!({ "groups": ["staff", "eng"] }))).await;
    let provider = TestProvider::start().await;
    for listed in [
        json!([]),
        // The same origin under another path, and another port.
        json!([format!("{}/allowed/", graph.url())]),
        json!(["http://127.0.0.1:1/v1.0/"]),
    ] {
        let mut browser = logged_in(
            &provider,
            json!({ "src1": { "endpoint": format!("{}/v1.0/me/claims", graph.url()) } }),
            listed.clone(),
        )
        .await;
        assert_error(&browser.api("/staff").await, Status::Forbidden, "access_denied");
        assert_eq!(graph.connections(), 0, "{listed}: the endpoint was contacted");
    }
}

#[rocket::async_test]
async fn an_endpoint_that_fails_leaves_the_claims_unresolved_and_the_login_done() {
    let graph = FaultyEndpoint::start(Fault::json(500, &json!({ "error": "down" }))).await;
    let provider = TestProvider::start().await;
    let mut browser = logged_in(
        &provider,
        json!({ "src1": { "endpoint": format!("{}/v1.0/me", graph.url()) } }),
        json!([graph.url()]),
    )
    .await;
    assert!(browser.profile().await.is_some(), "logged in");
    assert_error(&browser.api("/staff").await, Status::Forbidden, "access_denied");
}

#[rocket::async_test]
async fn an_aggregated_claims_jwt_counts_only_from_a_listed_issuer_and_with_its_keys() {
    let provider = TestProvider::start().await;
    let claims_provider = TestProvider::start().await;
    let jwt = claims_provider.at_jwt(json!({ "groups": ["staff", "eng"] }));

    let mut browser = logged_in(
        &provider,
        json!({ "src1": { "JWT": jwt } }),
        json!([claims_provider.issuer]),
    )
    .await;
    let resp = browser.api("/staff").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["sourced"], json!({ "groups": ["staff", "eng"] }));

    // Signed by a key its issuer never published.
    let forged = claims_provider
        .access_token()
        .claim("groups", json!(["staff", "eng"]))
        .signed_by_unknown_key()
        .jwt();
    let mut browser = logged_in(
        &provider,
        json!({ "src1": { "JWT": forged } }),
        json!([claims_provider.issuer]),
    )
    .await;
    assert_error(&browser.api("/staff").await, Status::Forbidden, "access_denied");

    // From an issuer not listed: its keys are never fetched.
    let stranger = TestProvider::start().await;
    let foreign = stranger.at_jwt(json!({ "groups": ["staff", "eng"] }));
    let mut browser = logged_in(
        &provider,
        json!({ "src1": { "JWT": foreign } }),
        json!([claims_provider.issuer]),
    )
    .await;
    assert_error(&browser.api("/staff").await, Status::Forbidden, "access_denied");
    assert_eq!(stranger.counts().discovery, 0);
    assert_eq!(stranger.counts().jwks, 0);
}

#[rocket::async_test]
async fn a_source_with_its_own_token_gets_that_token_and_never_the_session_s() {
    let graph = FaultyEndpoint::start(Fault::json(200, &json!({ "groups": ["staff", "eng"] }))).await;
    let provider = TestProvider::start().await;
    let mut browser = logged_in(
        &provider,
        json!({ "src1": { "endpoint": format!("{}/claims", graph.url()), "access_token": "token-for-the-source" } }),
        json!([graph.url()]),
    )
    .await;
    assert_eq!(browser.api("/staff").await.status, Status::Ok);
    let heads = graph.request_heads();
    assert!(
        heads[0].contains("Bearer token-for-the-source\r\n"),
        "the source's own token: {}",
        heads[0]
    );
}

#[rocket::async_test]
async fn a_source_cannot_speak_for_the_tenant_the_subject_or_the_login() {
    let graph = FaultyEndpoint::start(Fault::json(
        200,
        &json!({ "tid": "other", "acr": "mfa", "groups": ["staff", "eng"] }),
    ))
    .await;
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.claims.insert(
            "_claim_names".into(),
            json!({ "tid": "src1", "acr": "src1", "groups": "src1" }),
        );
    });
    let mut config = oidc_config(&provider);
    config["providers"]["default"]["claim_sources"] = json!([graph.url()]);
    provider.behave(|b| {
        b.claims.insert(
            "_claim_sources".into(),
            json!({ "src1": { "endpoint": format!("{}/c", graph.url()) } }),
        );
    });
    let mut routes = rocket::routes![staff];
    routes.extend(default_routes());
    let mut browser = Browser::new(rp(config, routes)).await;
    browser.login_ok(&provider, "/profile").await;
    let resp = browser.api("/staff").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(
        resp.json()["sourced"],
        json!({ "groups": ["staff", "eng"] }),
        "only the groups"
    );
}

#[rocket::async_test]
async fn an_overage_reference_to_get_member_objects_is_posted_and_its_ids_are_the_groups() {
    // Microsoft Graph's answer to `getMemberObjects`, at a listed URL.
    let graph = FaultyEndpoint::start(Fault::json(200, &json!({ "value": ["staff", "eng"] }))).await;
    let provider = TestProvider::start().await;
    let endpoint = format!("{}/v1.0/users/6c2f-41ab/getMemberObjects", graph.url());
    let mut browser = logged_in(
        &provider,
        json!({ "src1": { "endpoint": endpoint } }),
        json!([format!("{}/v1.0/", graph.url())]),
    )
    .await;
    let resp = browser.api("/staff").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["groups"], json!(["staff", "eng"]));
    let head = graph.request_heads().first().cloned().unwrap_or_default();
    assert!(
        head.starts_with("POST /v1.0/users/6c2f-41ab/getMemberObjects "),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("content-type: application/json"),
        "{head}"
    );

    // An answer of another shape resolves nothing.
    graph.set(Fault::json(200, &json!({ "value": [1, 2] })));
    let mut browser = logged_in(
        &provider,
        json!({ "src1": { "endpoint": format!("{}/v1.0/users/6c2f-41ab/getMemberObjects", graph.url()) } }),
        json!([format!("{}/v1.0/", graph.url())]),
    )
    .await;
    assert_error(&browser.api("/staff").await, Status::Forbidden, "access_denied");
}
