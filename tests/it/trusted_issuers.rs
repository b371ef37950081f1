//! `bearer.trusted_issuers` (issue "Who may do what", part 2): a resource
//! server that accepts the JWT access tokens of further issuers it trusts
//! (Spring's issuer resolver), each discovered on its first token and held
//! to the provider's `bearer` rules; a token of any other issuer is
//! refused without a call to that issuer.

use rocket::http::Status;
use serde_json::json;

use crate::support::api::*;
use crate::support::provider::CLIENT_ID;
use crate::support::*;

#[rocket::async_test]
async fn a_trusted_issuer_s_token_is_checked_with_its_own_keys_found_on_first_use() {
    let (ours, partner, stranger) = (
        TestProvider::start().await,
        TestProvider::start().await,
        TestProvider::start().await,
    );
    let mut browser = api_browser(&ours, json!({ "trusted_issuers": [partner.issuer] })).await;
    assert_eq!(
        partner.counts().discovery,
        0,
        "nothing is asked of a trusted issuer before its first token"
    );

    // Our provider's tokens, as ever.
    assert_eq!(browser.bearer("/api", &ours.at_jwt(json!({}))).await.status, Status::Ok);

    // The partner's, for us (`aud`), checked with the partner's keys.
    let token = partner.at_jwt(json!({ "aud": CLIENT_ID }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["claims"]["iss"], partner.issuer.as_str());
    assert_eq!(partner.counts().discovery, 1);
    assert_eq!(partner.counts().jwks, 1);

    // Held to our `bearer` rules: another audience is refused.
    let elsewhere = partner.at_jwt(json!({ "aud": "someone-else" }));
    assert_invalid_token(&browser.bearer("/api", &elsewhere).await);

    // A stranger's token is refused, and the stranger never asked.
    let foreign = stranger.at_jwt(json!({ "aud": CLIENT_ID }));
    assert_invalid_token(&browser.bearer("/api", &foreign).await);
    assert_eq!(stranger.counts().discovery, 0, "an unlisted issuer is never discovered");
    assert_eq!(stranger.counts().jwks, 0);

    // A token naming the partner but signed by a key the partner never
    // published.
    let forged = partner.access_token().audience(CLIENT_ID).signed_by_unknown_key().jwt();
    assert_invalid_token(&browser.bearer("/api", &forged).await);
}
