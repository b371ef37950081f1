//! The claims of a logout token (OpenID Connect Back-Channel Logout 1.0
//! §2.4, §2.6), once its signature is verified: what it must say, and
//! whom it names.

use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::error::{LogoutTokenError, OidcError};
use crate::token::claims;

/// Back-Channel Logout 1.0 §2.4: the event a logout token carries.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What a logout token that passed [`check`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked<'c> {
    /// The session it ends at the provider.
    pub(crate) sid: Option<&'c str>,
    /// The user whose sessions it ends.
    pub(crate) sub: Option<&'c str>,
    /// Its id, used once.
    pub(crate) jti: &'c str,
    /// When it was issued (on the provider's clock).
    pub(crate) iat: UnixTime,
    /// When it expires.
    pub(crate) exp: UnixTime,
}

/// §2.6 steps 3 to 9 on the verified `claims`: issued by `issuer` to
/// `client_id`, current at `now` (within `skew`), carrying the logout
/// event and no `nonce`, and naming a `sid` or a `sub`. Every claim that
/// names something must say something: an empty `sub` or `sid` would end
/// the sessions of whoever else has an empty one, and an empty `jti` would
/// be one id for every token.
pub(crate) fn check<'c>(
    claims: &'c Map<String, Value>,
    issuer: &str,
    client_id: &str,
    now: UnixTime,
    skew: i64,
) -> Result<Checked<'c>, OidcError> {
    let bad = OidcError::InvalidLogoutToken;
    let meaningless = |why: String| bad(LogoutTokenError::MeaninglessClaim(why));
    // RFC 7519 §2 NumericDate: seconds.
    let time = |name: &str| claims.get(name).and_then(Value::as_i64).map(UnixTime::from_secs);
    if claims::required_text(claims, "iss").map_err(meaningless)? != issuer {
        return Err(bad(LogoutTokenError::WrongIssuer));
    }
    let audiences = claims::audiences(claims).map_err(meaningless)?.unwrap_or_default();
    if !audiences.contains(&client_id) {
        return Err(bad(LogoutTokenError::WrongAudience));
    }
    let iat = time("iat").ok_or(bad(LogoutTokenError::NoIssueTime))?;
    if iat > now.plus_secs(skew) {
        return Err(bad(LogoutTokenError::IssuedInTheFuture));
    }
    let exp = time("exp").ok_or(bad(LogoutTokenError::NoExpiry))?;
    if now.minus_secs(skew) >= exp {
        return Err(bad(LogoutTokenError::Expired));
    }
    let events_ok = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !events_ok {
        return Err(bad(LogoutTokenError::NoEvent));
    }
    if claims.contains_key("nonce") {
        return Err(bad(LogoutTokenError::Nonce));
    }
    let sid = claims::optional_text(claims, "sid").map_err(meaningless)?;
    let sub = claims::optional_text(claims, "sub").map_err(meaningless)?;
    if sid.is_none() && sub.is_none() {
        return Err(bad(LogoutTokenError::NamesNobody));
    }
    let jti = claims::required_text(claims, "jti").map_err(meaningless)?;
    Ok(Checked {
        sid,
        sub,
        jti,
        iat,
        exp,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(overrides: Value) -> Map<String, Value> {
        let claims = json!({
            "iss": "https://op.example", "aud": "app", "iat": 1_000, "exp": 1_100, "jti": "j-1",
            "sub": "alice", "sid": "s-1", "events": { LOGOUT_EVENT: {} },
        });
        let mut claims = claims.as_object().cloned().unwrap_or_default();
        for (name, value) in overrides.as_object().into_iter().flatten() {
            match value {
                Value::Null => claims.remove(name),
                value => claims.insert(name.clone(), value.clone()),
            };
        }
        claims
    }

    fn checked(overrides: Value) -> Result<(), OidcError> {
        let claims = claims(overrides);
        check(&claims, "https://op.example", "app", UnixTime::from_secs(1_050), 60).map(drop)
    }

    #[test]
    fn a_logout_token_names_a_sid_or_a_sub_for_this_client_now() {
        let claims = claims(json!({}));
        let named = check(&claims, "https://op.example", "app", UnixTime::from_secs(1_050), 60);
        assert_eq!(
            named,
            Ok(Checked {
                sid: Some("s-1"),
                sub: Some("alice"),
                jti: "j-1",
                iat: UnixTime::from_secs(1_000),
                exp: UnixTime::from_secs(1_100)
            })
        );
        assert!(checked(json!({ "sid": null })).is_ok(), "a sub alone");
        assert!(checked(json!({ "sub": null })).is_ok(), "a sid alone");
    }

    #[test]
    fn every_step_of_section_2_6_refuses_what_it_must() {
        use LogoutTokenError as E;
        let meaningless = |why: &str| E::MeaninglessClaim(why.into());
        for (overrides, refused) in [
            (json!({ "iss": "https://other.example" }), E::WrongIssuer),
            (json!({ "aud": "another-app" }), E::WrongAudience),
            (json!({ "aud": [] }), meaningless("`aud` names no audience")),
            (json!({ "iat": 2_000 }), E::IssuedInTheFuture),
            (json!({ "exp": 900 }), E::Expired),
            (json!({ "events": {} }), E::NoEvent),
            (json!({ "events": { LOGOUT_EVENT: "yes" } }), E::NoEvent),
            (json!({ "nonce": "n" }), E::Nonce),
            (json!({ "sid": null, "sub": null }), E::NamesNobody),
            (json!({ "sub": "" }), meaningless("`sub` is empty")),
            (json!({ "sid": "" }), meaningless("`sid` is empty")),
            (json!({ "jti": null }), meaningless("no `jti`")),
            (json!({ "jti": "" }), meaningless("`jti` is empty")),
        ] {
            assert_eq!(
                checked(overrides.clone()),
                Err(OidcError::InvalidLogoutToken(refused)),
                "{overrides}"
            );
        }
    }
}
