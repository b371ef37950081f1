//! This app as an OAuth 2.0 protected resource (issue "Who may do what",
//! part 3): `[oidc.resource]` publishes RFC 9728 metadata at the
//! well-known path (and its path-suffixed form, §3.1), every bearer
//! challenge points to it (§5.1), and tokens must name the resource in
//! `aud` (RFC 8707 §2, RFC 9068 §4).

use rocket::http::Status;
use serde_json::{Value, json};

use crate::support::api::*;
use crate::support::*;

const RESOURCE: &str = "https://api.example.com/mcp";
const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource/mcp";

/// The API app with `[oidc.resource]` set to `resource` and the default
/// provider's `bearer` table to `bearer`.
async fn app(provider: &TestProvider, resource: Value, bearer: Value) -> Browser {
    let mut config = bearer_config(provider, bearer);
    config["resource"] = resource;
    Browser::new(api_app(config)).await
}

#[rocket::async_test]
async fn the_metadata_names_the_resource_its_issuers_and_how_to_send_tokens() {
    let provider = TestProvider::start().await;
    let mut browser = app(
        &provider,
        json!({
            "identifier": RESOURCE,
            "scopes_supported": ["tools:read", "tools:call"],
            "resource_name": "Example MCP server",
            "resource_documentation": "https://api.example.com/docs",
        }),
        json!({}),
    )
    .await;
    // RFC 9728 §3.1: the well-known path goes between host and path; the
    // plain well-known path answers too.
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let resp = browser.api(path).await;
        assert_eq!(resp.status, Status::Ok, "{path}: {resp:#?}");
        assert_eq!(resp.header("Content-Type"), Some("application/json"));
        assert_eq!(resp.header("Access-Control-Allow-Origin"), Some("*"));
        let metadata = resp.json();
        // §3.3: exactly the identifier the URL was formed from.
        assert_eq!(metadata["resource"], RESOURCE);
        assert_eq!(metadata["authorization_servers"], json!([provider.issuer]));
        assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
        assert_eq!(metadata["scopes_supported"], json!(["tools:read", "tools:call"]));
        assert_eq!(metadata["resource_name"], "Example MCP server");
        assert_eq!(metadata["resource_documentation"], "https://api.example.com/docs");
        assert!(
            metadata["dpop_signing_alg_values_supported"]
                .as_array()
                .is_some_and(|algs| algs.contains(&json!("ES256"))),
            "DPoP is allowed by default: {metadata:#}"
        );
        assert!(metadata.get("dpop_bound_access_tokens_required").is_none());
    }
}

#[rocket::async_test]
async fn a_resource_without_a_path_has_one_well_known_url_and_dpop_only_apis_say_so() {
    let provider = TestProvider::start().await;
    let mut browser = app(
        &provider,
        json!({ "identifier": "https://api.example.com", "authorization_servers": ["https://login.example.com/tenant"] }),
        json!({ "dpop": "required" }),
    )
    .await;
    let metadata = browser.api("/.well-known/oauth-protected-resource").await.json();
    assert_eq!(metadata["resource"], "https://api.example.com");
    assert_eq!(
        metadata["authorization_servers"],
        json!(["https://login.example.com/tenant"])
    );
    assert_eq!(metadata["dpop_bound_access_tokens_required"], true);
    assert!(metadata.get("scopes_supported").is_none());
    assert_eq!(
        browser.api("/.well-known/oauth-protected-resource/mcp").await.status,
        Status::NotFound
    );
}

#[rocket::async_test]
async fn without_a_resource_table_there_is_no_metadata_and_no_pointer() {
    let provider = TestProvider::start().await;
    let mut browser = api_browser(&provider, json!({})).await;
    assert_eq!(
        browser.api("/.well-known/oauth-protected-resource").await.status,
        Status::NotFound
    );
    let resp = browser.api("/api").await;
    assert_eq!(resp.status, Status::Unauthorized);
    for challenge in resp.headers_named("WWW-Authenticate") {
        assert!(!challenge.contains("resource_metadata"), "{challenge}");
    }
}

#[rocket::async_test]
async fn every_bearer_refusal_points_to_the_metadata() {
    let provider = TestProvider::start().await;
    let mut browser = app(&provider, json!({ "identifier": RESOURCE }), json!({ "dpop": "off" })).await;

    // No token: the 401 an MCP client starts from.
    let resp = browser.api("/api").await;
    assert_eq!(resp.status, Status::Unauthorized, "{resp:#?}");
    assert_eq!(challenge(&resp).param("resource_metadata"), Some(METADATA_URL));

    // A bad token, a token without the scope.
    let resp = browser.bearer("/api", "not-a-token").await;
    assert_invalid_token(&resp);
    assert_eq!(challenge(&resp).param("resource_metadata"), Some(METADATA_URL));
    let reader = provider.at_jwt(json!({ "aud": RESOURCE, "scope": "read" }));
    let resp = browser.bearer("/api/write", &reader).await;
    assert_bearer_error(&resp, Status::Forbidden, "insufficient_scope");
    assert_eq!(challenge(&resp).param("resource_metadata"), Some(METADATA_URL));
}

rocket_openidconnect::authorization!(Admins { roles: any["admin"] });

#[rocket::get("/api/admin")]
fn api_admin(
    token: rocket_openidconnect::BearerToken<
        rocket_openidconnect::DefaultProvider,
        rocket_openidconnect::NoScopes,
        Admins,
    >,
) -> String {
    token.subject().unwrap_or_default().to_string()
}

#[rocket::async_test]
async fn an_access_denied_refusal_points_to_the_metadata_too() {
    let provider = TestProvider::start().await;
    let mut config = bearer_config(&provider, json!({}));
    config["resource"] = json!({ "identifier": RESOURCE });
    let mut routes = rocket::routes![api_admin];
    routes.extend(api_routes());
    let mut browser = Browser::new(api_app_with_routes(config, routes)).await;
    let user = provider.at_jwt(json!({ "aud": RESOURCE, "roles": ["user"] }));
    let resp = browser.bearer("/api/admin", &user).await;
    assert_bearer_error(&resp, Status::Forbidden, "access_denied");
    assert_eq!(challenge(&resp).param("resource_metadata"), Some(METADATA_URL));
}

#[rocket::async_test]
async fn a_token_must_name_this_resource_in_its_audience() {
    let provider = TestProvider::start().await;
    let mut browser = app(&provider, json!({ "identifier": RESOURCE }), json!({})).await;

    let for_us = provider.at_jwt(json!({ "aud": RESOURCE }));
    assert_eq!(browser.bearer("/api", &for_us).await.status, Status::Ok);
    let among_others = provider.at_jwt(json!({ "aud": ["https://other.example.com", RESOURCE] }));
    assert_eq!(browser.bearer("/api", &among_others).await.status, Status::Ok);

    // The provider's token for the app itself, for another resource, for
    // nobody in particular, or for the identifier written otherwise.
    for aud in [
        json!(provider.client_id()),
        json!("https://other.example.com/mcp"),
        json!(format!("{RESOURCE}/")),
        Value::Null, // no `aud` at all
    ] {
        let token = provider.at_jwt(json!({ "aud": aud }));
        assert_invalid_token(&browser.bearer("/api", &token).await);
    }

    // The same by introspection: the answer's `aud` decides, and an answer
    // without one is for no resource in particular.
    let introspected = provider.opaque_token(json!({ "aud": RESOURCE }));
    assert_eq!(browser.bearer("/api", &introspected).await.status, Status::Ok);
    let without = provider.opaque_token(json!({ "aud": null }));
    assert_invalid_token(&browser.bearer("/api", &without).await);
    assert_eq!(browser.handler_runs(), 3);
}

#[rocket::async_test]
async fn require_audience_false_leaves_the_audience_to_the_bearer_table() {
    let provider = TestProvider::start().await;
    let mut browser = app(
        &provider,
        json!({ "identifier": RESOURCE, "require_audience": false }),
        json!({ "audiences": [provider.client_id()] }),
    )
    .await;
    let for_the_client = provider.at_jwt(json!({ "aud": provider.client_id() }));
    assert_eq!(browser.bearer("/api", &for_the_client).await.status, Status::Ok);
    let for_us = provider.at_jwt(json!({ "aud": RESOURCE }));
    assert_invalid_token(&browser.bearer("/api", &for_us).await);
}

#[rocket::async_test]
async fn the_authorization_servers_are_the_providers_issuers_and_trusted_issuers_never_a_template() {
    let provider = TestProvider::start().await;
    let mut config = bearer_config(&provider, json!({ "trusted_issuers": ["https://partner.example.com"] }));
    config["resource"] = json!({ "identifier": RESOURCE });
    // A second provider, multi-tenant: its template is no server.
    config["providers"]["entra"] = json!({
        "issuer": "https://login.example.com/{tenantid}/v2.0",
        "discovery_url": "https://login.example.com/organizations/v2.0/.well-known/openid-configuration",
        "tenants": "any",
        "client_id": "entra-client",
        "client_secret": "entra-secret",
        "redirect_uri": "http://127.0.0.1:8000/callback/entra",
    });
    let mut browser = Browser::new(api_app(config)).await;
    let metadata = browser.api("/.well-known/oauth-protected-resource/mcp").await.json();
    assert_eq!(
        metadata["authorization_servers"],
        json!([provider.issuer, "https://partner.example.com"]),
        "{metadata:#}"
    );
}
