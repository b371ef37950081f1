//! Logout at `logout_path`: the local session always ends, the refresh
//! token is revoked (RFC 7009), and the browser goes to the provider's
//! `end_session_endpoint` (OpenID Connect RP-Initiated Logout 1.0) and comes
//! back to `post_logout_redirect_uri`.

use rocket::http::{ContentType, Method, Status};
use serde_json::{Value, json};

use crate::support::lifecycle::*;
use crate::support::provider::{CLIENT_ID, CLIENT_SECRET, ClientAuth};
use crate::support::*;

/// The default `post_logout_redirect_uri`: the site root of `redirect_uri`.
const SITE_ROOT: &str = "http://127.0.0.1:8000/";

async fn logged_in(oidc: impl FnOnce(&TestProvider) -> Value) -> (TestProvider, Browser, Value) {
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    let profile = browser.profile().await.expect("logged in");
    (provider, browser, profile)
}

/// Asserts that the browser is logged out: no session cookie left, a
/// script gets 401 and a navigation is sent to the provider.
async fn assert_logged_out(provider: &TestProvider, browser: &mut Browser) {
    assert!(
        session_cookies(browser).is_empty(),
        "no session cookie is left: {:?}",
        browser.jar
    );
    assert_no_session(browser).await;
    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    assert_eq!(
        AuthRequest::parse(resp.location()).endpoint,
        provider.authorization_endpoint()
    );
}

/// The `state` of the logout redirect in `resp`.
fn logout_state(resp: &Resp) -> String {
    AuthRequest::parse(resp.location())
        .param("state")
        .expect("the logout redirect has a state")
        .to_string()
}

#[rocket::async_test]
async fn get_logout_ends_the_session_and_sends_the_browser_to_the_end_session_endpoint() {
    let (provider, mut browser, profile) = logged_in(oidc_config).await;

    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(resp.header("Cache-Control"), Some("no-store"), "{resp:#?}");
    let redirect = AuthRequest::parse(resp.location());
    assert_eq!(redirect.endpoint, provider.end_session_endpoint());
    assert_eq!(
        redirect.param("id_token_hint"),
        profile["id_token_jwt"].as_str(),
        "id_token_hint is the session's ID token"
    );
    assert_eq!(redirect.param("client_id"), Some(CLIENT_ID));
    assert_eq!(redirect.param("post_logout_redirect_uri"), Some(SITE_ROOT));
    let state = redirect.param("state").expect("a state");
    assert!(state.len() >= 16, "the state carries enough entropy: {state:?}");
    for name in ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"] {
        assert_eq!(
            redirect.count(name),
            1,
            "`{name}` appears once in {}",
            redirect.location
        );
    }
    assert_eq!(
        resp.cookies_set_with_prefix("oidc_logout").len(),
        1,
        "the pending logout is remembered in `oidc_logout`: {resp:#?}"
    );

    assert_logged_out(&provider, &mut browser).await;
    assert_eq!(
        provider.counts().end_session,
        0,
        "only the browser visits the end_session_endpoint"
    );

    // A second redirect for the next logout carries a fresh state.
    browser.login_ok(&provider, "/profile").await;
    let again = browser.logout(Method::Get).await;
    assert_ne!(logout_state(&again), state);
}

#[rocket::async_test]
async fn post_logout_ends_the_session_too() {
    let (provider, mut browser, _) = logged_in(oidc_config).await;

    let resp = browser.logout(Method::Post).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(
        AuthRequest::parse(resp.location()).endpoint,
        provider.end_session_endpoint()
    );
    assert_logged_out(&provider, &mut browser).await;
}

/// RFC 7009: logout revokes the session's refresh token, then its access
/// token (a provider that does not cascade, §2.1, would keep the access
/// token active after the logout otherwise), in the background.
#[rocket::async_test]
async fn logout_revokes_the_refresh_token_and_the_access_token_at_the_revocation_endpoint() {
    let (provider, mut browser, profile) = logged_in(oidc_config).await;
    let refresh_token = profile["refresh_token"].as_str().expect("a refresh token").to_string();
    let access_token = profile["access_token"].as_str().expect("an access token").to_string();
    assert!(provider.refresh_token_is_active(&refresh_token));

    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");

    let revocations = provider.revocations_once(2).await;
    assert_eq!(revocations.len(), 2, "{revocations:#?}");
    let access = &revocations[1];
    assert_eq!(access.param("token"), Some(access_token.as_str()));
    assert_eq!(access.param("token_type_hint"), Some("access_token"));
    assert!(
        !provider.access_token_is_active(&access_token),
        "the provider accepted the access token's revocation"
    );
    let request = &revocations[0];
    assert_eq!(request.param("token"), Some(refresh_token.as_str()));
    assert_eq!(request.param("token_type_hint"), Some("refresh_token"));
    assert!(
        request
            .content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded")),
        "{request:#?}"
    );
    assert!(
        request
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "the client authenticates as at the token endpoint: {request:#?}"
    );
    assert!(
        !provider.refresh_token_is_active(&refresh_token),
        "the provider accepted the revocation"
    );
}

#[rocket::async_test]
async fn the_revocation_authenticates_the_client_as_configured() {
    let (provider, mut browser, profile) = logged_in(|provider| {
        provider.behave(|b| b.client_auth = ClientAuth::Post);
        let mut config = oidc_config(provider);
        config["providers"]["default"]["token_endpoint_auth_method"] = json!("client_secret_post");
        config
    })
    .await;

    browser.logout(Method::Get).await;
    let revocations = provider.revocations_once(2).await;
    assert_eq!(revocations.len(), 2, "refresh and access token: {revocations:#?}");
    assert_eq!(revocations[0].authorization, None);
    assert_eq!(revocations[0].param("client_id"), Some(CLIENT_ID));
    assert_eq!(revocations[0].param("client_secret"), Some(CLIENT_SECRET));
    assert!(!provider.refresh_token_is_active(profile["refresh_token"].as_str().unwrap()));
}

#[rocket::async_test]
async fn without_an_end_session_endpoint_logout_goes_to_the_post_logout_redirect_uri() {
    let (provider, mut browser, _) = logged_in(|provider| {
        provider.behave(|b| {
            b.discovery.insert("end_session_endpoint".into(), Value::Null);
        });
        oidc_config(provider)
    })
    .await;

    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(resp.location(), SITE_ROOT);
    assert!(resp.cookies_set_with_prefix("oidc_logout").is_empty(), "{resp:#?}");
    assert_eq!(provider.revocations_once(2).await.len(), 2, "still revoked");
    assert_logged_out(&provider, &mut browser).await;
}

#[rocket::async_test]
async fn a_configured_post_logout_redirect_uri_is_where_the_browser_returns() {
    let (provider, mut browser, _) = logged_in(|provider| {
        let mut config = oidc_config(provider);
        config["post_logout_redirect_uri"] = json!("http://127.0.0.1:8000/goodbye");
        config
    })
    .await;

    let resp = browser.logout(Method::Get).await;
    assert_eq!(
        AuthRequest::parse(resp.location()).param("post_logout_redirect_uri"),
        Some("http://127.0.0.1:8000/goodbye")
    );

    let (provider2, mut browser2, _) = logged_in(|provider| {
        provider.behave(|b| {
            b.discovery.insert("end_session_endpoint".into(), Value::Null);
        });
        let mut config = oidc_config(provider);
        config["post_logout_redirect_uri"] = json!("http://127.0.0.1:8000/goodbye");
        config
    })
    .await;
    let resp = browser2.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(resp.location(), "http://127.0.0.1:8000/goodbye");
    drop((provider, provider2));
}

#[rocket::async_test]
async fn without_a_revocation_endpoint_logout_still_works() {
    let (provider, mut browser, _) = logged_in(|provider| {
        provider.behave(|b| {
            b.discovery.insert("revocation_endpoint".into(), Value::Null);
        });
        oidc_config(provider)
    })
    .await;

    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(provider.counts().revocation, 0);
    assert_logged_out(&provider, &mut browser).await;
}

#[rocket::async_test]
async fn a_failing_revocation_endpoint_does_not_keep_the_user_logged_in() {
    let (provider, mut browser, _) = logged_in(oidc_config).await;
    provider.behave(|b| b.revocation_failure = Some(TokenFailure::ServerError));

    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(
        AuthRequest::parse(resp.location()).endpoint,
        provider.end_session_endpoint()
    );
    assert_eq!(provider.revocations_once(2).await.len(), 2, "both tried");
    assert_logged_out(&provider, &mut browser).await;
}

#[rocket::async_test]
async fn a_provider_that_is_down_at_logout_does_not_keep_the_user_logged_in() {
    let (provider, mut browser, _) = logged_in(oidc_config).await;
    let authorization_endpoint = provider.authorization_endpoint();
    provider.stop().await;

    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert!(
        session_cookies(&browser).is_empty(),
        "the session cookies are removed: {resp:#?}"
    );
    assert_no_session(&mut browser).await;
    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    assert_eq!(AuthRequest::parse(resp.location()).endpoint, authorization_endpoint);
}

#[rocket::async_test]
async fn logout_without_a_session_goes_to_the_post_logout_redirect_uri() {
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;

    for method in [Method::Get, Method::Post] {
        let resp = browser.logout(method).await;
        assert_eq!(resp.status, Status::SeeOther, "{method}: {resp:#?}");
        assert_eq!(resp.location(), SITE_ROOT);
    }
    assert_eq!(provider.counts().revocation, 0);
}

/// Logs in and out: the browser is on its way to the provider with the
/// `oidc_logout` cookie; returns the state of the redirect.
async fn logged_out_at_the_provider() -> (TestProvider, Browser, String) {
    let (provider, mut browser, _) = logged_in(oidc_config).await;
    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert!(browser.jar.contains_key("oidc_logout"), "{resp:#?}");
    let state = logout_state(&resp);
    (provider, browser, state)
}

/// The provider sends the browser back to the site root with `query`.
async fn come_back(browser: &mut Browser, query: &str) -> Resp {
    let resp = browser.navigate(&format!("/{query}")).await;
    assert_eq!(resp.status, Status::Ok, "the return never fails: {resp:#?}");
    assert_eq!(resp.body, "home");
    resp
}

#[rocket::async_test]
async fn the_return_with_the_logout_state_lands_logged_out_and_consumes_the_cookie() {
    let (provider, mut browser, state) = logged_out_at_the_provider().await;

    come_back(&mut browser, &format!("?state={state}")).await;
    assert!(!browser.jar.contains_key("oidc_logout"), "{:?}", browser.jar);
    assert_logged_out(&provider, &mut browser).await;
}

#[rocket::async_test]
async fn a_return_with_a_foreign_state_changes_nothing() {
    let (provider, mut browser, _) = logged_out_at_the_provider().await;

    come_back(&mut browser, "?state=forged-by-an-attacker").await;
    assert!(
        !browser.jar.contains_key("oidc_logout"),
        "the pending logout is consumed anyway: {:?}",
        browser.jar
    );
    assert_logged_out(&provider, &mut browser).await;
}

#[rocket::async_test]
async fn a_return_without_a_state_changes_nothing() {
    let (provider, mut browser, _) = logged_out_at_the_provider().await;

    come_back(&mut browser, "").await;
    assert!(!browser.jar.contains_key("oidc_logout"), "{:?}", browser.jar);
    assert_logged_out(&provider, &mut browser).await;
}

#[rocket::async_test]
async fn a_replayed_return_changes_nothing() {
    let (provider, mut browser, state) = logged_out_at_the_provider().await;
    let with_pending_logout = browser.jar.clone();
    let query = format!("?state={state}");

    come_back(&mut browser, &query).await;
    // Again without the cookie, then again with the cookie replayed.
    come_back(&mut browser, &query).await;
    let mut replaying = browser.with_jar(with_pending_logout);
    come_back(&mut replaying, &query).await;
    assert!(!replaying.jar.contains_key("oidc_logout"));
    assert_logged_out(&provider, &mut browser).await;
    assert_logged_out(&provider, &mut replaying).await;
}

#[rocket::async_test]
async fn a_stale_logout_return_does_not_end_a_newer_session() {
    let (provider, mut browser, _) = logged_out_at_the_provider().await;
    browser.login_ok(&provider, "/profile").await;
    assert!(
        browser.jar.contains_key("oidc_logout"),
        "still pending: {:?}",
        browser.jar
    );

    come_back(&mut browser, "?state=forged-by-an-attacker").await;
    assert!(
        browser.profile().await.is_some(),
        "a logout return is no logout: the new session stays"
    );
}

#[rocket::async_test]
async fn an_off_site_post_logout_redirect_uri_aborts_launch() {
    let provider = TestProvider::start().await;
    let mut config = oidc_config(&provider);
    config["post_logout_redirect_uri"] = json!("https://elsewhere.example/bye");

    assert_launch_refused(rp(config, lifecycle_routes()), "an off-site post_logout_redirect_uri").await;
}

/// Igniting `rocket` fails in the fairing (the configuration is refused).
async fn assert_launch_refused(rocket: rocket::Rocket<rocket::Build>, what: &str) {
    match rocket::local::asynchronous::Client::untracked(rocket).await {
        Ok(_) => panic!("{what}: launch should have been refused"),
        // Reading the kind marks the error handled (else it panics on drop).
        Err(e) => assert!(
            matches!(e.kind(), rocket::error::ErrorKind::FailedFairings(_)),
            "{what}: {:?}",
            e.kind()
        ),
    }
}

#[rocket::async_test]
async fn an_off_site_post_logout_redirect_uri_needs_every_provider_to_list_it() {
    let provider = TestProvider::start().await;
    let second = TestProvider::start().await;
    let off_site = "https://elsewhere.example/bye";
    let mut config = oidc_config(&provider);
    config["post_logout_redirect_uri"] = json!(off_site);
    config["providers"]["default"]["post_logout_redirect_uris"] = json!([off_site]);
    config["providers"]["second"] = second.rp_provider_config();

    assert_launch_refused(rp(config.clone(), lifecycle_routes()), "`second` does not list it").await;

    config["providers"]["second"]["post_logout_redirect_uris"] = json!([off_site]);
    let mut browser = lifecycle_browser(config).await;
    browser.login_ok(&provider, "/profile").await;
    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(
        AuthRequest::parse(resp.location()).param("post_logout_redirect_uri"),
        Some(off_site)
    );
}

#[rocket::async_test]
async fn logout_of_a_session_of_another_provider_goes_to_that_provider() {
    let provider = TestProvider::start().await;
    let second = TestProvider::start().await;
    second.behave(|b| {
        b.client_id = "rp-at-second".into();
        b.client_secret = "second-secret".into();
    });
    let config = oidc_config_with_second(&provider, &second);
    let mut routes = lifecycle_routes();
    routes.extend(rocket::routes![app::second]);
    let mut browser = Browser::new(rp(config, routes)).await;
    browser.login_ok(&second, "/second").await;

    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    let redirect = AuthRequest::parse(resp.location());
    assert_eq!(redirect.endpoint, second.end_session_endpoint());
    assert_eq!(redirect.param("client_id"), Some("rp-at-second"));
    assert_eq!(second.revocations_once(2).await.len(), 2);
    assert_eq!(provider.counts().revocation, 0);
    let resp = browser.api("/second").await;
    assert_error(&resp, Status::Unauthorized, "login_required");
}

#[rocket::async_test]
async fn a_cross_site_get_of_the_logout_route_only_shows_a_button_that_posts() {
    let (provider, mut browser, _) = logged_in(oidc_config).await;
    // A link or an image on another site, or on a sibling subdomain.
    for site in ["cross-site", "same-site"] {
        let resp = browser
            .send(
                Method::Get,
                "/logout",
                &[
                    ("Accept", ACCEPT_HTML),
                    ("Sec-Fetch-Site", site),
                    ("Sec-Fetch-Mode", "navigate"),
                ],
                None,
            )
            .await;
        assert_eq!(resp.status, Status::Ok, "{site}: {resp:#?}");
        assert!(resp.is_html(), "{resp:#?}");
        assert!(
            resp.body.contains(r#"<form method="post" action="/logout">"#),
            "{}",
            resp.body
        );
        assert!(
            resp.set_cookie_headers().is_empty(),
            "{site}: nothing changes: {resp:#?}"
        );
        assert!(browser.profile().await.is_some(), "{site}: still logged in");
        assert_eq!(provider.counts().end_session, 0);
    }

    // Same-origin GETs, typed URLs, and the button's POST, log out.
    for site in ["same-origin", "none"] {
        let mut copy = browser.with_jar(browser.jar.clone());
        let resp = copy
            .send(
                Method::Get,
                "/logout",
                &[("Accept", ACCEPT_HTML), ("Sec-Fetch-Site", site)],
                None,
            )
            .await;
        assert_eq!(resp.status, Status::SeeOther, "{site}: {resp:#?}");
    }
    let resp = browser.logout(Method::Post).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_logged_out(&provider, &mut browser).await;
}

/// A form on a sibling subdomain POSTs to `/logout` (SameSite=Lax cookies
/// go along: the sibling is the same site). The same origin rule holds
/// for POST as for GET: only this origin's pages, a typed URL or a browser
/// without Fetch Metadata, with a matching or absent `Origin`, log out.
/// Anything else gets the page whose button POSTs, and ends nothing.
#[rocket::async_test]
async fn a_post_of_the_logout_route_from_another_site_or_origin_ends_nothing() {
    let (provider, mut browser, _) = logged_in(oidc_config).await;
    let sibling = "http://evil.127.0.0.1.nip.example:8000";
    let cases: [&[(&str, &str)]; 5] = [
        &[("Sec-Fetch-Site", "same-site"), ("Origin", sibling)],
        &[("Sec-Fetch-Site", "cross-site"), ("Origin", "https://evil.example")],
        // A browser without Fetch Metadata still says where the form was.
        &[("Origin", sibling)],
        &[("Origin", "null")],
        // A same-origin claim whose Origin says otherwise.
        &[("Sec-Fetch-Site", "same-origin"), ("Origin", "https://evil.example")],
    ];
    for headers in cases {
        let mut sent = vec![("Accept", ACCEPT_HTML)];
        sent.extend_from_slice(headers);
        let resp = browser
            .send(Method::Post, "/logout", &sent, Some((ContentType::Form, String::new())))
            .await;
        assert_eq!(resp.status, Status::Ok, "{headers:?}: {resp:#?}");
        assert!(
            resp.body.contains(r#"<form method="post" action="/logout">"#),
            "{headers:?}: {}",
            resp.body
        );
        assert!(resp.set_cookie_headers().is_empty(), "{headers:?}: {resp:#?}");
        assert!(browser.profile().await.is_some(), "{headers:?}: still logged in");
    }
    assert_eq!(provider.counts().end_session, 0);
    assert_eq!(provider.counts().revocation, 0);

    // The app's own page: same-origin, with its own Origin.
    let resp = browser
        .send(
            Method::Post,
            "/logout",
            &[
                ("Accept", ACCEPT_HTML),
                ("Sec-Fetch-Site", "same-origin"),
                ("Origin", "http://127.0.0.1:8000"),
            ],
            Some((ContentType::Form, String::new())),
        )
        .await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_logged_out(&provider, &mut browser).await;
}
