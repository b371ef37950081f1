//! Multi-tenant issuers (issue "Who may do what", part 2), with the test
//! kit playing Microsoft Entra ID's `organizations` endpoint: one
//! discovery document whose `issuer` is the template
//! `<base>/{tenantid}/v2.0`, one set of keys for every tenant. A token is
//! accepted only when its `tid` is allowed and its `iss` is the template
//! with that same `tid`; the keys alone prove nothing about the tenant.

use rocket::get;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket_openidconnect::{BearerToken, DefaultProvider, NoRequirement, OidcUser, authorization};
use serde_json::{Value, json};

use crate::support::api::*;
use crate::support::*;

const A: &str = "11111111-aaaa-4aaa-8aaa-111111111111";
const B: &str = "22222222-bbbb-4bbb-8bbb-222222222222";
const C: &str = "33333333-cccc-4ccc-8ccc-333333333333";

authorization!(
    /// Tenant A only.
    TenantA { claims: { "tid" = "11111111-aaaa-4aaa-8aaa-111111111111" } }
);

#[get("/whoami")]
fn whoami(user: OidcUser) -> Json<Value> {
    Json(json!({ "sub": user.subject(), "tenant": user.tenant() }))
}

#[get("/tenant-a")]
fn tenant_a(user: OidcUser<DefaultProvider, NoRequirement, TenantA>) -> Json<Value> {
    Json(json!({ "tenant": user.tenant() }))
}

#[get("/api/tenant")]
fn api_tenant(token: BearerToken) -> Json<Value> {
    Json(json!({ "sub": token.subject(), "tenant": token.tenant() }))
}

/// The issuer template of the kit playing a multi-tenant provider.
fn template(provider: &TestProvider) -> String {
    format!("{}/{{tenantid}}/v2.0", provider.issuer)
}

/// The issuer of tenant `tid`.
fn issuer_of(provider: &TestProvider, tid: &str) -> String {
    format!("{}/{tid}/v2.0", provider.issuer)
}

/// The kit as a multi-tenant provider, and an app accepting `tenants`.
async fn entra(tenants: Value) -> (TestProvider, Browser) {
    let provider = TestProvider::start().await;
    let template = template(&provider);
    provider.behave(|b| {
        b.discovery.insert("issuer".into(), json!(template));
    });
    let mut config = bearer_config(&provider, json!({}));
    let table = &mut config["providers"]["default"];
    table["issuer"] = json!(template);
    table["discovery_url"] = json!(format!("{}/.well-known/openid-configuration", provider.issuer));
    table["tenants"] = tenants;
    let mut routes = rocket::routes![whoami, tenant_a, api_tenant];
    routes.extend(api_routes());
    let browser = Browser::new(api_app_with_routes(config, routes)).await;
    (provider, browser)
}

/// A login whose ID token says `tid` and `iss`, answered with `response_iss`
/// as the authorization response's `iss` (RFC 9207).
async fn login(provider: &TestProvider, browser: &mut Browser, tid: &str, iss: &str, response_iss: &str) -> Resp {
    provider.behave(|b| {
        b.claims.insert("tid".into(), json!(tid));
        b.claims.insert("iss".into(), json!(iss));
    });
    let auth = browser.start_login("/whoami").await;
    let code = provider.issue_code(&auth);
    browser
        .callback(
            &[("code", &code), ("state", auth.state()), ("iss", response_iss)],
            Mode::Navigate,
        )
        .await
}

#[rocket::async_test]
async fn a_user_of_an_allowed_tenant_logs_in_and_the_app_knows_the_tenant() {
    let (provider, mut browser) = entra(json!([A, B])).await;
    let iss = issuer_of(&provider, A);
    let resp = login(&provider, &mut browser, A, &iss, &iss).await;
    assert_callback_completed(&resp, &provider);
    let me = browser.api("/whoami").await;
    assert_eq!(me.status, Status::Ok, "{me:#?}");
    assert_eq!(me.json()["tenant"], A);
    assert_eq!(browser.api("/tenant-a").await.status, Status::Ok);

    // A user of tenant B is welcome, but not on tenant A's route.
    let mut other = browser.other_browser();
    let iss = issuer_of(&provider, B);
    assert_callback_completed(&login(&provider, &mut other, B, &iss, &iss).await, &provider);
    assert_eq!(other.api("/whoami").await.json()["tenant"], B);
    assert_error(&other.api("/tenant-a").await, Status::Forbidden, "access_denied");
}

#[rocket::async_test]
async fn a_tenant_not_allowed_is_refused_though_the_same_keys_signed_its_token() {
    let (provider, mut browser) = entra(json!([A, B])).await;
    let iss = issuer_of(&provider, C);
    // The authorization response of tenant C is refused first (RFC 9207)...
    let resp = login(&provider, &mut browser, C, &iss, &iss).await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    // ...and its ID token on its own, whatever the response said.
    let resp = login(&provider, &mut browser, C, &iss, &issuer_of(&provider, A)).await;
    assert_error(&resp, Status::Unauthorized, "invalid_id_token");
    assert!(browser.profile().await.is_none(), "no session");
}

#[rocket::async_test]
async fn the_iss_of_one_tenant_with_the_tid_of_another_is_refused() {
    let (provider, mut browser) = entra(json!([A, B])).await;
    let (iss_a, iss_b) = (issuer_of(&provider, A), issuer_of(&provider, B));
    let resp = login(&provider, &mut browser, B, &iss_a, &iss_a).await;
    assert_error(&resp, Status::Unauthorized, "invalid_id_token");
    let resp = login(&provider, &mut browser, A, &iss_b, &iss_b).await;
    assert_error(&resp, Status::Unauthorized, "invalid_id_token");
    // The bare template is no tenant's issuer.
    let template = template(&provider);
    assert_error(
        &login(&provider, &mut browser, A, &template, &iss_a).await,
        Status::Unauthorized,
        "invalid_id_token",
    );
    assert_error(
        &login(&provider, &mut browser, A, &iss_a, &template).await,
        Status::Unauthorized,
        "invalid_issuer",
    );
    // A `tid` that would change the issuer's path is no tenant at all.
    let sneaky = format!("{}/{A}/v2.0/../{A}", provider.issuer);
    assert_error(
        &login(&provider, &mut browser, &format!("{A}/v2.0/../{A}"), &sneaky, &iss_a).await,
        Status::Unauthorized,
        "invalid_id_token",
    );
    assert!(browser.profile().await.is_none(), "no session");
}

#[rocket::async_test]
async fn any_tenant_is_accepted_with_any_and_still_held_to_its_own_issuer() {
    let (provider, mut browser) = entra(json!("any")).await;
    let iss = issuer_of(&provider, C);
    assert_callback_completed(&login(&provider, &mut browser, C, &iss, &iss).await, &provider);
    assert_eq!(browser.api("/whoami").await.json()["tenant"], C);
    let mut other = browser.other_browser();
    let iss_a = issuer_of(&provider, A);
    assert_error(
        &login(&provider, &mut other, C, &iss_a, &iss_a).await,
        Status::Unauthorized,
        "invalid_id_token",
    );
}

#[rocket::async_test]
async fn access_tokens_of_a_multi_tenant_provider_are_held_to_the_same_rules() {
    let (provider, mut browser) = entra(json!([A])).await;
    let good = provider.at_jwt(json!({ "tid": A, "iss": issuer_of(&provider, A) }));
    let resp = browser.bearer("/api/tenant", &good).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["tenant"], A);
    for claims in [
        json!({ "tid": B, "iss": issuer_of(&provider, B) }),
        json!({ "tid": A, "iss": issuer_of(&provider, B) }),
        json!({ "tid": B, "iss": issuer_of(&provider, A) }),
        json!({ "tid": A, "iss": template(&provider) }),
        json!({ "iss": issuer_of(&provider, A) }),
    ] {
        let token = provider.at_jwt(claims.clone());
        let resp = browser.bearer("/api/tenant", &token).await;
        assert_eq!(resp.status, Status::Unauthorized, "{claims}: {resp:#?}");
        assert_invalid_token(&resp);
    }
}

#[rocket::async_test]
async fn a_tenant_s_logout_token_ends_only_the_session_it_names() {
    let (provider, mut alice_a) = entra(json!([A, B])).await;
    let (iss_a, iss_b) = (issuer_of(&provider, A), issuer_of(&provider, B));
    // One `sub` in two tenants (nothing in a template provider makes a
    // subject unique across tenants).
    provider.behave(|b| {
        b.claims.insert("sid".into(), json!("sid-of-a"));
    });
    assert_callback_completed(&login(&provider, &mut alice_a, A, &iss_a, &iss_a).await, &provider);
    let mut alice_b = alice_a.other_browser();
    provider.behave(|b| {
        b.claims.insert("sid".into(), json!("sid-of-b"));
    });
    assert_callback_completed(&login(&provider, &mut alice_b, B, &iss_b, &iss_b).await, &provider);

    // By `sub` alone, or with another tenant's `tid`: refused, nothing ends.
    for claims in [
        json!({ "iss": iss_a }),
        json!({ "iss": iss_a, "sid": "sid-of-b", "tid": B }),
    ] {
        let resp = alice_a.backchannel_logout(&provider.logout_token(claims.clone())).await;
        assert_error(&resp, Status::BadRequest, "invalid_request");
        assert_eq!(alice_a.api("/whoami").await.status, Status::Ok, "{claims}");
        assert_eq!(alice_b.api("/whoami").await.status, Status::Ok, "{claims}");
    }
    // Tenant A's logout of its own session ends that one only.
    let token = provider.logout_token(json!({ "iss": iss_a, "sid": "sid-of-a", "tid": A }));
    assert_eq!(alice_a.backchannel_logout(&token).await.status, Status::Ok);
    assert_error(&alice_a.api("/whoami").await, Status::Unauthorized, "login_required");
    assert_eq!(
        alice_b.api("/whoami").await.status,
        Status::Ok,
        "tenant B's session lives on"
    );
}

#[rocket::async_test]
async fn userinfo_cannot_speak_for_another_tenant() {
    let (provider, mut browser) = entra(json!([A, B])).await;
    provider.behave(|b| {
        b.userinfo_claims.insert("tid".into(), json!(A));
    });
    let iss_b = issuer_of(&provider, B);
    assert_callback_completed(&login(&provider, &mut browser, B, &iss_b, &iss_b).await, &provider);
    assert_eq!(browser.api("/whoami").await.json()["tenant"], B);
    assert_error(&browser.api("/tenant-a").await, Status::Forbidden, "access_denied");
}

#[rocket::async_test]
async fn a_response_of_one_tenant_with_the_id_token_of_another_is_refused() {
    let (provider, mut browser) = entra(json!([A, B])).await;
    let (iss_a, iss_b) = (issuer_of(&provider, A), issuer_of(&provider, B));
    assert_error(
        &login(&provider, &mut browser, B, &iss_b, &iss_a).await,
        Status::Unauthorized,
        "invalid_issuer",
    );
    assert!(browser.profile().await.is_none(), "no session");
}
