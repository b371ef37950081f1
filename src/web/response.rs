//! What the crate adds to every response of a request it saw, whichever
//! handler or catcher made it: the login redirect a guard decided on, the
//! challenges of a refused API request (RFC 6750, RFC 9449, RFC 9470),
//! and the cookies the request set or removed.

use std::io::Cursor;

use rocket::http::Status;
use rocket::{Request, Response};

use crate::config::DpopMode;
use crate::error::OidcError;
use crate::oidc::Oidc;
use crate::token::dpop::PROOF_ALGS;
use crate::web::request_memo::{self, RequestMemo};

/// Finishes `response` (the fairing's response hook).
pub(crate) fn finish<'r>(request: &'r Request<'_>, response: &mut Response<'r>) {
    let state = RequestMemo::of(request);
    login_redirect(state, response);
    bearer_challenges(request, state, response);
    step_up_challenge(request, response);
    retry_after(request, response);
    for cookie in request_memo::outgoing_cookies(state) {
        response.adjoin_header(cookie);
    }
}

/// The guard decided on a login: whatever catcher rendered the 401, the
/// browser goes to the provider.
fn login_redirect(state: &RequestMemo, response: &mut Response<'_>) {
    let Some(redirect) = request_memo::take(&state.login_redirect) else {
        return;
    };
    if response.status() != Status::Unauthorized {
        return;
    }
    response.set_status(Status::Found);
    response.set_raw_header("Location", redirect.location);
    response.set_raw_header("Cache-Control", "no-store");
    response.remove_header("Content-Type");
    response.set_sized_body(0, Cursor::new(""));
    for cookie in redirect.cookies {
        response.adjoin_header(cookie);
    }
}

/// RFC 6750 §3: a refused bearer request carries its challenge, whichever
/// catcher rendered the body. RFC 9449 §7.1: with DPoP, the challenge is a
/// DPoP one (or both schemes, when a request sent no token to an API that
/// takes either).
fn bearer_challenges(request: &Request<'_>, state: &RequestMemo, response: &mut Response<'_>) {
    let realm = state.bearer_realm.lock().ok().and_then(|r| *r);
    let (Some(realm), Some(error)) = (realm, OidcError::of(request)) else {
        return;
    };
    if response.status() != error.status() || response.headers().contains("WWW-Authenticate") {
        return;
    }
    let (mode, sent_dpop) = state
        .bearer_dpop
        .lock()
        .ok()
        .and_then(|d| *d)
        .unwrap_or((DpopMode::Off, false));
    let dpop = error.dpop_challenge(PROOF_ALGS);
    let bearer = error.www_authenticate(realm);
    let challenges = match mode {
        DpopMode::Off => vec![bearer],
        DpopMode::Required => vec![dpop],
        DpopMode::Allowed if sent_dpop => vec![dpop],
        DpopMode::Allowed if matches!(error, OidcError::MissingToken) => vec![bearer, dpop],
        DpopMode::Allowed => vec![bearer],
    };
    // RFC 9728 §5.1: where a client learns how to get a token for this
    // resource (MCP clients start there from a 401).
    let metadata = request
        .rocket()
        .state::<Oidc>()
        .and_then(|oidc| oidc.config().resource.as_ref())
        .and_then(|resource| resource.metadata_url());
    for mut challenge in challenges.into_iter().flatten() {
        if let Some(url) = &metadata {
            challenge.push_str(&format!(", resource_metadata=\"{url}\""));
        }
        response.adjoin_raw_header("WWW-Authenticate", challenge);
    }
    if let OidcError::UseDpopNonce(nonce) = &error {
        response.set_raw_header("DPoP-Nonce", nonce.clone());
    }
}

/// RFC 9110 §10.2.3: a refusal that passes with time says when to retry.
fn retry_after(request: &Request<'_>, response: &mut Response<'_>) {
    let Some(error) = OidcError::of(request) else {
        return;
    };
    if let Some(seconds) = error.retry_after().filter(|_| response.status() == error.status()) {
        response.set_raw_header("Retry-After", seconds.to_string());
    }
}

/// RFC 9470 §3: an API request refused for a weak or old login.
fn step_up_challenge(request: &Request<'_>, response: &mut Response<'_>) {
    if response.status() != Status::Unauthorized || response.headers().contains("WWW-Authenticate") {
        return;
    }
    if let Some(challenge) = OidcError::of(request).and_then(|error| error.step_up_challenge()) {
        response.set_raw_header("WWW-Authenticate", challenge);
    }
}
