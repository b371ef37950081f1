//! Property tests through HTTP: whatever a browser, an API client or a
//! provider sends (random callback parameters, cookies, headers, logout
//! tokens, introspection answers, token responses, discovery and key
//! documents, userinfo), the app answers without a `500`.
//!
//! Case counts fit CI; `PROPTEST_CASES=100000 cargo test --release --test
//! fuzz_requests` runs more.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::Config;
use rocket::http::{ContentType, Header, Method, Status};
use rocket::local::asynchronous::Client;
use rocket::tokio::runtime::Runtime;
use serde_json::{Map, Value};

use crate::support::api::api_routes;
use crate::support::*;

fn cases(default: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config.failure_persistence = None;
    config
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,30}",
        "[=&;:,.\"'\\\\/ %+_~a-zA-Z0-9-]{0,30}",
        "[a-zA-Z0-9_-]{20,200}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object whose members named in `names` are likely, of any type.
fn object_like(names: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(names), json_value()), 0..names.len() + 2)
        .prop_map(|members| members.into_iter().map(|(n, v)| (n.to_string(), v)).collect())
}

/// A provider and the app (every route the tests know), on a runtime of
/// their own that the cases drive.
struct World {
    runtime: Runtime,
    provider: TestProvider,
    client: Arc<Client>,
}

impl World {
    fn new() -> World {
        let runtime = rocket::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (provider, client) = runtime.block_on(async {
            let provider = TestProvider::start().await;
            let mut routes = api_routes();
            routes.extend(rocket::routes![app::token, app::index]);
            let app = crate::support::api::api_app_with_routes(oidc_config(&provider), routes);
            let client = Client::untracked(app).await.expect("the app launches");
            (provider, Arc::new(client))
        });
        World {
            runtime,
            provider,
            client,
        }
    }

    fn browser(&self) -> Browser {
        Browser {
            client: self.client.clone(),
            jar: Default::default(),
        }
    }

    fn send(&self, method: Method, uri: &str, headers: &[(String, String)], body: Option<String>) -> Status {
        self.runtime.block_on(async {
            let mut request = self.client.req(method, uri.to_string());
            for (name, value) in headers {
                request = request.header(Header::new(name.clone(), value.clone()));
            }
            if let Some(body) = body {
                request = request.header(ContentType::Form).body(body);
            }
            request.dispatch().await.status()
        })
    }
}

#[track_caller]
fn assert_no_500(status: Status, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(status != Status::InternalServerError, "{what}: 500");
    prop_assert!(status.code < 600, "{what}: {status}");
    Ok(())
}

#[test]
fn fuzz_callback_parameters_cookies_and_headers() {
    let world = World::new();
    proptest!(cases(96), |(
        params in prop::collection::vec((prop::sample::select(&["code", "state", "iss", "error", "error_description", "x"][..]), text()), 0..6),
        cookies in prop::collection::vec((prop::sample::select(&["oidc_session_0", "oidc_session_1", "oidc_sid", "oidc_logout", "oidc_auth_0123456789abcdef", "__Host-oidc_sid"][..]), text()), 0..4),
        authorization in prop::collection::vec(text(), 0..2),
        uri in prop::sample::select(&["/profile", "/token", "/logout", "/api", "/either", "/redirect_uri", "/"][..]),
        method in prop::sample::select(&[Method::Get, Method::Post][..]),
    )| {
        let query: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let uri = if uri == "/redirect_uri" { format!("/redirect_uri?{}", form_encode(&query)) } else { uri.to_string() };
        let mut headers: Vec<(String, String)> = vec![("Accept".into(), ACCEPT_HTML.into())];
        let cookie: Vec<String> = cookies.iter().map(|(n, v)| format!("{n}={}", v.replace([';', ' ', ','], ""))).collect();
        if !cookie.is_empty() {
            headers.push(("Cookie".into(), cookie.join("; ")));
        }
        for value in &authorization {
            headers.push(("Authorization".into(), format!("Bearer {value}")));
        }
        let body = (method == Method::Post).then(|| form_encode(&query));
        assert_no_500(world.send(method, &uri, &headers, body), &uri)?;
    });
}

#[test]
fn fuzz_logout_tokens() {
    let world = World::new();
    proptest!(cases(96), |(
        claims in object_like(&["iss", "aud", "iat", "exp", "jti", "events", "sub", "sid", "nonce"]),
        header in object_like(&["alg", "kid", "typ", "crit"]),
        raw in prop::option::of(text()),
    )| {
        let token = match raw {
            Some(raw) => raw,
            None => world.provider.logout_token_with(crate::support::provider::LogoutToken {
                claims,
                header,
                ..Default::default()
            }),
        };
        let body = form_encode(&[("logout_token", &token)]);
        assert_no_500(world.send(Method::Post, "/backchannel_logout", &[], Some(body)), "back-channel logout")?;
    });
}

/// Values of the right JSON type that name nothing.
fn meaningless() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from("")),
        Just(Value::from(" ")),
        Just(Value::from("\t")),
        Just(serde_json::json!([])),
        Just(serde_json::json!([""])),
    ]
}

/// A validly signed logout token whose `sub`, `sid`, `jti` or `aud` is of
/// the right type but names nothing is refused: an empty `sub` would end
/// the sessions of every user whose `sub` is empty too, an empty `jti`
/// would be one id for every token. The same token with that claim
/// meaningful is accepted.
#[test]
fn fuzz_logout_tokens_that_name_nobody_are_refused() {
    let world = World::new();
    proptest!(cases(64), |(
        name in prop::sample::select(&["sub", "sid", "jti", "aud", "iss"][..]),
        blank in meaningless(),
        with_sid in any::<bool>(),
    )| {
        let mut claims = serde_json::json!({});
        if with_sid {
            claims["sid"] = Value::from(crate::support::provider::random_token("sid"));
        }
        claims[name] = blank.clone();
        let token = world.provider.logout_token(claims);
        let body = form_encode(&[("logout_token", &token)]);
        let refused = world.send(Method::Post, "/backchannel_logout", &[], Some(body));
        prop_assert!(
            refused == Status::BadRequest,
            "a logout token with `{}` = {} must be refused, got {}", name, blank, refused
        );
        let token = world.provider.logout_token(serde_json::json!({ "sid": crate::support::provider::random_token("sid") }));
        let body = form_encode(&[("logout_token", &token)]);
        prop_assert_eq!(world.send(Method::Post, "/backchannel_logout", &[], Some(body)), Status::Ok);
    });
}

#[test]
fn fuzz_introspection_answers() {
    let world = World::new();
    proptest!(cases(96), |(
        answer in object_like(&["active", "exp", "iat", "nbf", "iss", "aud", "scope", "scp", "sub", "client_id", "token_type", "typ", "token_use"]),
        whole in prop::option::of(json_value()),
    )| {
        let answer = whole.unwrap_or(Value::Object(answer));
        let token = world.provider.token_answering(answer);
        let headers = [("Authorization".to_string(), format!("Bearer {token}"))];
        assert_no_500(world.send(Method::Get, "/api", &headers, None), "introspection")?;
    });
}

#[test]
fn fuzz_provider_documents_at_login() {
    let world = World::new();
    proptest!(cases(64), |(
        token_response in object_like(&["access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope"]),
        userinfo in prop::option::of(json_value()),
        jwks in prop::option::of(object_like(&["keys", "kty"])),
    )| {
        world.provider.behave(|b| {
            b.token_response = token_response.clone();
            b.userinfo_body = userinfo.clone();
            b.jwks_body = jwks.clone().map(Value::Object);
        });
        let provider = &world.provider;
        let mut browser = world.browser();
        let resp = world.runtime.block_on(async {
            let auth = browser.start_login("/profile").await;
            browser.approve(provider, &auth, Mode::Api).await
        });
        assert_no_500(resp.status, "login")?;
    });
}

#[test]
fn fuzz_discovery_documents() {
    let world = World::new();
    let issuer = world.provider.issuer.clone();
    proptest!(cases(64), |(
        document in object_like(&["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "id_token_signing_alg_values_supported"]),
    )| {
        // A fresh app for each document: discovery happens once per app.
        let provider = &world.provider;
        let status = world.runtime.block_on(async {
            provider.behave(|b| b.discovery = document.clone());
            let config = oidc_config_for_issuer(&issuer);
            let mut browser = Browser::new(rp(config, default_routes())).await;
            browser.navigate("/profile").await.status
        });
        assert_no_500(status, "discovery")?;
    });
}

/// The answer to a login this browser really started (its `state` and
/// pending-login cookie are real), with anything else in it: what the
/// callback does after the state check, fuzzed.
#[test]
fn fuzz_callback_responses_to_a_real_login() {
    let world = World::new();
    proptest!(cases(48), |(
        params in prop::collection::vec((prop::sample::select(&["code", "iss", "error", "error_description", "error_uri", "session_state", "x"][..]), text()), 0..6),
        real_code in any::<bool>(),
        real_iss in any::<bool>(),
    )| {
        let status = world.runtime.block_on(async {
            let mut browser = world.browser();
            let auth = browser.start_login("/profile").await;
            let mut query: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            if real_code {
                query.push(("code".into(), world.provider.issue_code(&auth)));
            }
            if real_iss {
                query.push(("iss".into(), world.provider.issuer.clone()));
            }
            query.push(("state".into(), auth.state().to_string()));
            let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            browser.callback(&pairs, Mode::Navigate).await.status
        });
        assert_no_500(status, "callback")?;
    });
}
