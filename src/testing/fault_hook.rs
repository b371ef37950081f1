//! The fault hook on [`TestIssuer`]: hidden methods the crate's own tests
//! drive the issuer with (its knobs, what it was sent, tokens minted to
//! order). Not part of the API.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::TestIssuer;
use super::faults::{Behaviour, Counts, FormRequest, JwtSpec, Key, RegistrationRequest, TokenRequest, UserinfoRequest};
use super::issuer::SUBJECT;
use super::signer::random_token;

#[doc(hidden)]
impl TestIssuer {
    /// Changes the issuer's behaviour from now on.
    pub fn behave(&self, change: impl FnOnce(&mut Behaviour)) {
        self.core.behave(change);
    }

    /// The behaviour now.
    pub fn behaviour(&self) -> Behaviour {
        self.core.behaviour()
    }

    /// Publishes only the rotated RSA key and signs with it from now on.
    pub fn rotate_keys(&self) {
        self.behave(|b| {
            b.jwks = vec![Key::Rotated];
            b.signing_key = Key::Rotated;
        });
    }

    /// Requests received, per endpoint.
    pub fn counts(&self) -> Counts {
        self.core.journal().counts
    }

    /// The token endpoint calls.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.core.journal().token.clone()
    }

    /// The token endpoint calls with `grant_type=refresh_token`.
    pub fn refresh_requests(&self) -> Vec<TokenRequest> {
        let mut requests = self.token_requests();
        requests.retain(|r| r.param("grant_type") == Some("refresh_token"));
        requests
    }

    /// The userinfo calls.
    pub fn userinfo_requests(&self) -> Vec<UserinfoRequest> {
        self.core.journal().userinfo.clone()
    }

    /// The introspection calls.
    pub fn introspection_requests(&self) -> Vec<FormRequest> {
        self.core.journal().introspection.clone()
    }

    /// The revocation calls, recorded once answered.
    pub fn revocation_requests(&self) -> Vec<FormRequest> {
        self.core.journal().revocation.clone()
    }

    /// The revocation calls, once there are `n` of them: a logout revokes
    /// in the background, after its answer. Panics after 5 s.
    pub async fn revocations_once(&self, n: usize) -> Vec<FormRequest> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let requests = self.revocation_requests();
            if requests.len() >= n {
                return requests;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {n} revocation requests, got {requests:#?}"
            );
            rocket::tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The pushed authorization requests (RFC 9126).
    pub fn par_requests(&self) -> Vec<FormRequest> {
        self.core.journal().par.clone()
    }

    /// The registration calls (RFC 7591).
    pub fn registration_requests(&self) -> Vec<RegistrationRequest> {
        self.core.journal().registration.clone()
    }

    /// The client assertions that verified: (header, claims).
    pub fn assertions(&self) -> Vec<(Value, Value)> {
        self.core.journal().assertions.clone()
    }

    /// Every client assertion received, as sent (checked or not).
    pub fn raw_assertions(&self) -> Vec<String> {
        self.core.journal().raw_assertions.clone()
    }

    /// The refresh tokens issued so far, in no order.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.core.refresh_tokens()
    }

    /// Whether an access token issued here still introspects active.
    pub fn access_token_is_active(&self, access_token: &str) -> bool {
        self.core.is_active(access_token)
    }

    /// Whether a refresh token issued here is still usable.
    pub fn refresh_token_is_active(&self, refresh_token: &str) -> bool {
        self.core.refresh_token_is_active(refresh_token)
    }

    /// Makes `client_id`/`client_secret` a client the endpoints accept.
    pub fn accept_client(&self, client_id: &str, client_secret: &str) {
        self.core.accept_client(client_id, client_secret);
    }

    /// An endpoint's URL.
    pub fn endpoint_url(&self, path: &str) -> String {
        format!("{}{path}", self.url())
    }

    /// A code for these authorization request parameters, as the
    /// authorization endpoint would give after a login, for the user
    /// `Behaviour::subject` names when it is redeemed. Nothing is checked.
    pub fn issue_code_for(&self, params: &[(String, String)]) -> String {
        self.core.issue_code(params)
    }

    /// The parameters a pushed `request_uri` stands for.
    pub fn pushed_params(&self, request_uri: &str) -> Option<Vec<(String, String)>> {
        self.core.pushed(request_uri)
    }

    /// A back-channel logout token with every knob (default claims: `iss`,
    /// `aud`: the client, `iat`, `exp` in two minutes, `jti`, `events`,
    /// `sub`: `alice`).
    pub fn logout_token_with(&self, spec: JwtSpec) -> String {
        self.core.logout_token_with(&spec.claims, &spec.header, &spec.signing)
    }

    /// An RFC 9068 access token (`typ: at+jwt`) with every knob (default
    /// claims: `iss`, `sub`: `alice`, `aud` and `client_id`: the client, `exp` in ten
    /// minutes, `iat`, `jti`, `scope: "read write"`).
    pub fn at_jwt_with(&self, spec: JwtSpec) -> String {
        let b = self.behaviour();
        let now = self.core.clock.now();
        let mut claims = json!({
            "iss": self.url(),
            "sub": SUBJECT,
            "aud": b.client_id,
            "client_id": b.client_id,
            "exp": now + 600,
            "iat": now,
            "jti": random_token(),
            "scope": "read write",
        });
        super::faults::merge(&mut claims, &spec.claims);
        self.core.sign(&b, &spec.signing, "at+jwt", &spec.header, &claims)
    }

    /// The introspection answer of an active token, `overrides` merged over
    /// it: `active`, `sub`: `alice`, `client_id`, `scope: "read write"`, `iss`,
    /// `aud`: the client, `exp` in ten minutes, `iat`, `token_type`.
    pub fn active_answer(&self, overrides: Value) -> Value {
        let b = self.behaviour();
        let now = self.core.clock.now();
        let mut answer = json!({
            "active": true,
            "sub": SUBJECT,
            "client_id": b.client_id,
            "scope": "read write",
            "iss": self.url(),
            "aud": b.client_id,
            "exp": now + 600,
            "iat": now,
            "token_type": "Bearer",
        });
        super::faults::merge(&mut answer, overrides.as_object().unwrap_or(&Map::new()));
        answer
    }

    /// From now on, introspecting `token` answers `answer` (the whole body).
    pub fn answer_introspection(&self, token: &str, answer: Value) {
        self.behave(|b| {
            b.introspection.insert(token.to_string(), answer);
        });
    }

    /// A fresh opaque access token that introspects as
    /// [`active_answer(overrides)`](Self::active_answer).
    pub fn opaque_token(&self, overrides: Value) -> String {
        self.token_answering(self.active_answer(overrides))
    }

    /// A back-channel logout token with `claims` merged over the defaults.
    pub fn logout_token(&self, claims: Value) -> String {
        self.logout_token_with(JwtSpec::with_claims(claims))
    }

    /// An RFC 9068 access token with `claims` merged over the defaults.
    pub fn at_jwt(&self, claims: Value) -> String {
        self.at_jwt_with(JwtSpec::with_claims(claims))
    }

    /// A fresh opaque access token whose introspection answer is `answer`.
    pub fn token_answering(&self, answer: Value) -> String {
        let token = random_token();
        self.answer_introspection(&token, answer);
        token
    }

    /// An ID token as the issuer would issue it now for `nonce`, with the
    /// current knobs (to forge front-channel tokens).
    pub fn id_token(&self, nonce: Option<&str>) -> String {
        let b = self.behaviour();
        let now = self.core.clock.now();
        let mut claims = json!({
            "iss": self.url(),
            "sub": b.subject,
            "aud": b.client_id,
            "exp": now + 600,
            "iat": now,
            "auth_time": now,
            "name": "Alice Example",
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        super::faults::merge(&mut claims, &b.claims);
        self.core.sign(&b, &b.signing, "JWT", &b.header, &claims)
    }
}
