//! DPoP-bound access tokens at the resource server (RFC 9449), per
//! provider `bearer.dpop = "off" | "allowed" | "required"`: a bound token
//! comes as `Authorization: DPoP <token>` with a `DPoP` proof signed by the
//! key the token names in `cnf.jkt`; the proof matches the request's
//! method and URL and the token's hash, is recent and single-use (on every
//! instance), and refusals carry RFC 9449 §7.1 challenges.

use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use serde_json::{Value, json};

use crate::support::api::*;
use crate::support::dpop::*;
use crate::support::provider::now;
use crate::support::*;

async fn dpop_get(browser: &mut Browser, path: &str, token: &str, proofs: &[&str]) -> Resp {
    let authorization = format!("DPoP {token}");
    let mut headers = vec![
        ("Authorization", authorization.as_str()),
        ("Accept", "application/json"),
    ];
    headers.extend(proofs.iter().map(|p| ("DPoP", *p)));
    browser.send(Method::Get, path, &headers, None).await
}

async fn dpop_browser(provider: &TestProvider, bearer: Value) -> Browser {
    api_browser(provider, bearer).await
}

fn challenges(resp: &Resp) -> Vec<&str> {
    resp.headers_named("WWW-Authenticate")
}

#[track_caller]
fn assert_dpop_refusal(resp: &Resp, error: &str) {
    assert_eq!(resp.status, Status::Unauthorized, "{resp:#?}");
    assert_eq!(resp.json()["error"], error, "{resp:#?}");
    let challenge = challenges(resp).join(" | ");
    assert!(challenge.starts_with("DPoP "), "a DPoP challenge: {challenge}");
    assert!(challenge.contains(&format!("error=\"{error}\"")), "{challenge}");
    assert!(
        challenge.contains("algs=\"") && challenge.contains("ES256"),
        "{challenge}"
    );
}

#[rocket::async_test]
async fn a_bound_opaque_token_with_a_proof_of_its_key_is_accepted() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(1);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut browser = dpop_browser(&provider, json!({})).await;
    let resp = dpop_get(&mut browser, "/api", &token, &[&holder.proof("GET", "/api", &token)]).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["claims"]["cnf"]["jkt"], holder.jkt());
}

#[rocket::async_test]
async fn a_bound_jwt_with_a_proof_of_its_key_is_accepted() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(2);
    let token = provider.at_jwt(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut browser = dpop_browser(&provider, json!({ "mode": "jwt" })).await;
    let resp = dpop_get(&mut browser, "/api", &token, &[&holder.proof("GET", "/api", &token)]).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

#[rocket::async_test]
async fn proofs_that_do_not_match_the_request_or_the_token_are_refused() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(3);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut browser = dpop_browser(&provider, json!({})).await;
    let stale = now() - 300;
    let cases: Vec<(&str, String)> = vec![
        ("another method", holder.proof("POST", "/api", &token)),
        ("another path", holder.proof("GET", "/api/write", &token)),
        (
            "another origin",
            holder.proof_with("GET", "/api", &token, json!({}), json!({ "htu": "http://evil.example/api" })),
        ),
        ("another token's hash", holder.proof("GET", "/api", "another-token")),
        ("no ath", holder.proof_with("GET", "/api", &token, json!({}), json!({ "ath": null }))),
        ("a stale iat", holder.proof_with("GET", "/api", &token, json!({}), json!({ "iat": stale }))),
        ("an iat in the future", holder.proof_with("GET", "/api", &token, json!({}), json!({ "iat": now() + 300 }))),
        ("no jti", holder.proof_with("GET", "/api", &token, json!({}), json!({ "jti": null }))),
        ("typ JWT", holder.proof_with("GET", "/api", &token, json!({ "typ": "JWT" }), json!({}))),
        ("no jwk", holder.proof_with("GET", "/api", &token, json!({ "jwk": null }), json!({}))),
        (
            "a private key in the jwk",
            holder.proof_with("GET", "/api", &token, json!({ "jwk": { "kty": "EC", "crv": "P-256", "x": holder.jwk["x"], "y": holder.jwk["y"], "d": "AAAA" } }), json!({})),
        ),
        ("alg none", {
            let signed = holder.proof_with("GET", "/api", &token, json!({ "alg": "none" }), json!({}));
            let (input, _) = signed.rsplit_once('.').expect("a JWS");
            format!("{input}.")
        }),
        ("alg HS256", holder.proof_with("GET", "/api", &token, json!({ "alg": "HS256" }), json!({}))),
        ("a bad signature", {
            let signed = holder.proof("GET", "/api", &token);
            let (input, signature) = signed.rsplit_once('.').expect("a JWS");
            let mut bytes = crate::support::jwt::b64_decode(signature);
            bytes[0] ^= 1;
            format!("{input}.{}", b64(&bytes))
        }),
        ("not a JWS", "garbage".to_string()),
    ];
    for (what, proof) in cases {
        let resp = dpop_get(&mut browser, "/api", &token, &[&proof]).await;
        assert_dpop_refusal(&resp, "invalid_dpop_proof");
        let _ = what;
    }
    // A proof of another key than the token's.
    let other = Holder::new(4);
    let resp = dpop_get(&mut browser, "/api", &token, &[&other.proof("GET", "/api", &token)]).await;
    assert_dpop_refusal(&resp, "invalid_dpop_proof");
    // No proof, or two.
    let resp = dpop_get(&mut browser, "/api", &token, &[]).await;
    assert_dpop_refusal(&resp, "invalid_dpop_proof");
    let proof = holder.proof("GET", "/api", &token);
    let resp = dpop_get(&mut browser, "/api", &token, &[&proof, &proof]).await;
    assert_dpop_refusal(&resp, "invalid_dpop_proof");
    // After all that, a good proof still works.
    let resp = dpop_get(&mut browser, "/api", &token, &[&holder.proof("GET", "/api", &token)]).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

/// RFC 9449 §4.3 check 9 and §11.1: the URL a proof must name is this
/// app's, whatever the path looks like. A path beginning with `//` is
/// still a path of this origin, never another host: a proof made for
/// `evil.example` is refused here.
#[rocket::async_test]
async fn a_proof_for_another_host_is_refused_even_on_a_path_that_begins_with_two_slashes() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(11);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut browser = dpop_browser(&provider, json!({})).await;
    let path = "//evil.example/orders";
    for htu in ["http://evil.example/orders", "https://evil.example/orders"] {
        let proof = holder.proof_with("GET", path, &token, json!({}), json!({ "htu": htu }));
        let resp = dpop_get(&mut browser, path, &token, &[&proof]).await;
        assert_dpop_refusal(&resp, "invalid_dpop_proof");
    }
    assert_eq!(browser.handler_runs(), 0);
    // The proof of this very URL (this origin, that path) is good.
    let resp = dpop_get(&mut browser, path, &token, &[&holder.proof("GET", path, &token)]).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["tenant"], "evil.example");
}

/// The router does not remove dot segments (`/../orders` reaches the
/// tenant route, tenant `..`), while a URL parser would (`/orders`): a
/// proof made for one URL must not be accepted at another handler. A
/// request path with a dot segment, plain or percent-encoded, is refused.
#[rocket::async_test]
async fn a_request_path_with_dot_segments_is_refused() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(14);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut browser = dpop_browser(&provider, json!({})).await;
    for path in ["/../orders", "/%2e%2e/orders", "/./orders"] {
        let proof = holder.proof("GET", "/orders", &token);
        let resp = dpop_get(&mut browser, path, &token, &[&proof]).await;
        assert_dpop_refusal(&resp, "invalid_dpop_proof");
        let proof = holder.proof("GET", path, &token);
        let resp = dpop_get(&mut browser, path, &token, &[&proof]).await;
        assert_dpop_refusal(&resp, "invalid_dpop_proof");
    }
    assert_eq!(browser.handler_runs(), 0);
}

/// RFC 9449 §4.3 check 9 recommends RFC 3986 §6.2.2 normalisation of both
/// URLs: a client that writes `%61pi` for `api`, or the host in capitals,
/// names the same URL.
#[rocket::async_test]
async fn a_proof_naming_the_url_in_another_equivalent_spelling_is_accepted() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(12);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut browser = dpop_browser(&provider, json!({})).await;
    for htu in [
        format!("{ORIGIN}/%61pi"),
        format!("{ORIGIN}/%61%70%69"),
        "HTTP://127.0.0.1:8000/api".to_string(),
        format!("{ORIGIN}/./api"),
    ] {
        let proof = holder.proof_with("GET", "/api", &token, json!({}), json!({ "htu": htu }));
        let resp = dpop_get(&mut browser, "/api", &token, &[&proof]).await;
        assert_eq!(resp.status, Status::Ok, "htu {htu}: {resp:#?}");
    }
    // And the other way round: the request spells it `%61pi`.
    let resp = dpop_get(&mut browser, "/%61pi", &token, &[&holder.proof("GET", "/api", &token)]).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    // An encoded slash is not a slash.
    let proof = holder.proof_with(
        "GET",
        "/api",
        &token,
        json!({}),
        json!({ "htu": format!("{ORIGIN}/api%2F") }),
    );
    assert_dpop_refusal(
        &dpop_get(&mut browser, "/api", &token, &[&proof]).await,
        "invalid_dpop_proof",
    );
}

/// A proof is a JWS: RFC 7515 §4.1.11 holds for it as for every token. A
/// proof that needs an extension understood (`crit`) is refused.
#[rocket::async_test]
async fn a_proof_that_needs_an_extension_understood_is_refused() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(13);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut browser = dpop_browser(&provider, json!({})).await;
    let proof = holder.proof_with(
        "GET",
        "/api",
        &token,
        json!({ "crit": ["exp"], "exp": now() + 60 }),
        json!({}),
    );
    assert_dpop_refusal(
        &dpop_get(&mut browser, "/api", &token, &[&proof]).await,
        "invalid_dpop_proof",
    );
    // A header member named twice is no JWS either.
    let proof = holder.proof("GET", "/api", &token);
    let (_, rest) = proof.split_once('.').expect("a JWS");
    let twice = format!(
        r#"{{"typ":"dpop+jwt","alg":"ES256","alg":"none","jwk":{}}}"#,
        holder.jwk
    );
    let forged = format!("{}.{rest}", b64(twice.as_bytes()));
    assert_dpop_refusal(
        &dpop_get(&mut browser, "/api", &token, &[&forged]).await,
        "invalid_dpop_proof",
    );
}

#[rocket::async_test]
async fn a_proof_is_single_use() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(5);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut browser = dpop_browser(&provider, json!({})).await;
    let proof = holder.proof("GET", "/api", &token);
    assert_eq!(
        dpop_get(&mut browser, "/api", &token, &[&proof]).await.status,
        Status::Ok
    );
    let replay = dpop_get(&mut browser, "/api", &token, &[&proof]).await;
    assert_dpop_refusal(&replay, "invalid_dpop_proof");
    assert!(replay.body.contains("used before"), "{}", replay.body);
}

#[rocket::async_test]
async fn a_proof_used_on_one_instance_is_refused_on_another() {
    let provider = TestProvider::start().await;
    let redis = crate::support::redis::RedisServer::start();
    let holder = Holder::new(6);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut config = bearer_config(&provider, json!({}));
    config["redis"] = redis.config();
    let a = Client::untracked(api_app(config.clone())).await.expect("instance a");
    let b = Client::untracked(api_app(config)).await.expect("instance b");
    let proof = holder.proof("GET", "/api", &token);
    for (client, expected) in [(&a, Status::Ok), (&b, Status::Unauthorized)] {
        let response = client
            .get("/api")
            .header(rocket::http::Header::new("Authorization", format!("DPoP {token}")))
            .header(rocket::http::Header::new("DPoP", proof.clone()))
            .header(rocket::http::Accept::JSON)
            .dispatch()
            .await;
        assert_eq!(
            response.status(),
            expected,
            "the second use is a replay on the other instance"
        );
    }
}

#[rocket::async_test]
async fn a_bound_token_sent_as_bearer_and_a_plain_token_sent_as_dpop_are_refused() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(7);
    let bound = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let plain = provider.opaque_token(json!({}));
    let mut browser = dpop_browser(&provider, json!({})).await;
    let resp = browser.bearer("/api", &bound).await;
    assert_bearer_error(&resp, Status::Unauthorized, "invalid_token");
    assert!(resp.body.contains("DPoP-bound"), "{}", resp.body);
    let resp = dpop_get(&mut browser, "/api", &plain, &[&holder.proof("GET", "/api", &plain)]).await;
    assert_eq!(resp.status, Status::Unauthorized);
    assert_eq!(resp.json()["error"], "invalid_token");
    // A plain token as Bearer is still fine with `allowed`.
    assert_eq!(browser.bearer("/api", &plain).await.status, Status::Ok);
}

#[rocket::async_test]
async fn the_challenges_follow_the_mode() {
    let provider = TestProvider::start().await;
    let plain = provider.opaque_token(json!({}));

    // allowed: no token gets both challenges.
    let mut allowed = dpop_browser(&provider, json!({})).await;
    let resp = allowed.api("/api").await;
    let said = challenges(&resp);
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[0].starts_with("Bearer realm=") && said[1].starts_with("DPoP algs="),
        "{said:?}"
    );

    // required: only DPoP, and a Bearer token is refused with a DPoP challenge.
    let mut required = dpop_browser(&provider, json!({ "dpop": "required" })).await;
    let resp = required.api("/api").await;
    assert_eq!(
        challenges(&resp),
        [format!(
            "DPoP algs=\"{}\"",
            "ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA"
        )]
    );
    let resp = required.bearer("/api", &plain).await;
    assert_eq!(resp.status, Status::Unauthorized);
    assert!(challenges(&resp)[0].starts_with("DPoP algs="), "{resp:#?}");

    // off: the DPoP scheme is a bad request.
    let holder = Holder::new(8);
    let mut off = dpop_browser(&provider, json!({ "dpop": "off" })).await;
    let resp = dpop_get(&mut off, "/api", &plain, &[&holder.proof("GET", "/api", &plain)]).await;
    assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
    assert_eq!(challenges(&off.api("/api").await).len(), 1, "only Bearer");
}

#[rocket::async_test]
async fn with_server_nonces_a_proof_without_the_current_nonce_gets_one() {
    let provider = TestProvider::start().await;
    let holder = Holder::new(9);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let mut browser = dpop_browser(&provider, json!({ "dpop_nonce": true })).await;
    let first = dpop_get(&mut browser, "/api", &token, &[&holder.proof("GET", "/api", &token)]).await;
    assert_dpop_refusal(&first, "use_dpop_nonce");
    let nonce = first.header("DPoP-Nonce").expect("a fresh nonce").to_string();
    let made_up = holder.proof_with("GET", "/api", &token, json!({}), json!({ "nonce": "12.made-up" }));
    assert_dpop_refusal(
        &dpop_get(&mut browser, "/api", &token, &[&made_up]).await,
        "use_dpop_nonce",
    );
    let with_nonce = holder.proof_with("GET", "/api", &token, json!({}), json!({ "nonce": nonce }));
    let resp = dpop_get(&mut browser, "/api", &token, &[&with_nonce]).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}
