//! How a session is stored (in cookies, in Redis): a private, versioned
//! representation. The stored format is not API: [`UserSession`] has no
//! serde of its own, so a field can change without a breaking release,
//! and a version this build does not know reads as no session (log in
//! again) instead of as a wrong one.
//!
//! Version 1 is `{"v":1,"s":{…}}`; a bare `{…}` is what 0.1 stored, read
//! as version 1 so that an upgrade logs nobody out.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::{LazyObject, UserSession};
use crate::clock::{UnixMillis, UnixTime};
use crate::secret::{AccessToken, IdTokenJwt, RefreshToken};

/// The version written now.
const VERSION: u8 = 1;

/// Version 1 of the stored session: `UserSession`'s fields, one for one.
#[derive(Serialize, Deserialize)]
#[serde(remote = "UserSession")]
struct V1 {
    id: String,
    provider: String,
    sub: String,
    id_token_jwt: IdTokenJwt,
    id_token_claims: LazyObject,
    access_token: Option<AccessToken>,
    // Times are numbers: Unix seconds, and milliseconds where the name says.
    access_token_expires_at: Option<UnixTime>,
    #[serde(default)]
    access_token_obtained_at: Option<UnixTime>,
    refresh_token: Option<RefreshToken>,
    userinfo: Option<LazyObject>,
    #[serde(rename = "last_authenticated_ms")]
    last_authenticated: UnixMillis,
    expires_at: UnixTime,
    #[serde(default)]
    last_seen: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idle_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    userinfo_read_at: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sourced_claims: Option<LazyObject>,
}

/// What is written: the version, and the session in it.
#[derive(Serialize)]
struct Written<'a> {
    v: u8,
    #[serde(serialize_with = "v1")]
    s: &'a UserSession,
}

fn v1<S: Serializer>(session: &&UserSession, serializer: S) -> Result<S::Ok, S::Error> {
    V1::serialize(session, serializer)
}

/// What is read first: the version and the session's text, if versioned
/// (other members, those of a bare session of 0.1, are skipped).
#[derive(Deserialize)]
struct Envelope<'a> {
    v: Option<u8>,
    #[serde(borrow)]
    s: Option<&'a RawValue>,
}

fn v1_from(json: &str) -> Option<UserSession> {
    V1::deserialize(&mut serde_json::Deserializer::from_str(json)).ok()
}

/// `session` as stored.
pub(super) fn to_json(session: &UserSession) -> String {
    let written = Written { v: VERSION, s: session };
    // A session of strings, numbers and raw JSON cannot fail to serialise;
    // `null` would read back as no session.
    serde_json::to_string(&written).unwrap_or_else(|_| "null".into())
}

/// A session read back from [`to_json`]; `None` if it is not one, or of a
/// version this build does not know.
pub(super) fn from_json(json: &[u8]) -> Option<UserSession> {
    let json = std::str::from_utf8(json).ok()?;
    match serde_json::from_str::<Envelope<'_>>(json).ok()? {
        Envelope {
            v: Some(VERSION),
            s: Some(session),
        } => v1_from(session.get()),
        Envelope { v: None, s: None } => v1_from(json),
        Envelope { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> UserSession {
        UserSession {
            id: "s-1".into(),
            provider: "default".into(),
            sub: "alice".into(),
            id_token_jwt: IdTokenJwt::new("h.p.s"),
            id_token_claims: LazyObject::new(
                serde_json::json!({ "sub": "alice" })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
            access_token: Some(AccessToken::new("at")),
            access_token_expires_at: Some(UnixTime::from_secs(2_000_000_000)),
            access_token_obtained_at: Some(UnixTime::from_secs(1_999_999_000)),
            refresh_token: None,
            userinfo: None,
            last_authenticated: UnixMillis::from_millis(1_999_999_000_000),
            expires_at: UnixTime::from_secs(2_000_003_600),
            last_seen: UnixTime::from_secs(1_999_999_000),
            epoch: Some("file:1".into()),
            idle_seconds: None,
            userinfo_read_at: None,
            sourced_claims: None,
        }
    }

    #[test]
    fn a_session_reads_back_as_it_was_written_with_its_version() {
        let json = to_json(&session());
        assert!(json.starts_with(r#"{"v":1,"s":{"#), "{json}");
        let read = from_json(json.as_bytes()).expect("reads back");
        assert_eq!(to_json(&read), json);
    }

    #[test]
    fn a_bare_session_of_0_1_reads_as_version_1() {
        let json = to_json(&session());
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        let bare = value["s"].to_string();
        let read = from_json(bare.as_bytes()).expect("a 0.1 session reads");
        assert_eq!(to_json(&read), json);
    }

    #[test]
    fn a_version_this_build_does_not_know_is_no_session() {
        let json = to_json(&session()).replacen(r#""v":1"#, r#""v":2"#, 1);
        assert!(from_json(json.as_bytes()).is_none());
        assert!(from_json(b"null").is_none());
        assert!(from_json(br#"{"v":1}"#).is_none());
    }

    #[test]
    fn version_1_is_written_byte_for_byte_as_before() {
        // The stored format is what sessions stored by an earlier release
        // are read with: pinned here, numbers and member names included.
        assert_eq!(to_json(&session()), GOLDEN);
        let read = from_json(GOLDEN.as_bytes()).expect("reads");
        assert_eq!(read.last_authenticated, UnixMillis::from_millis(1_999_999_000_000));
        assert_eq!(read.expires_at, UnixTime::from_secs(2_000_003_600));
    }

    const GOLDEN: &str = r#"{"v":1,"s":{"id":"s-1","provider":"default","sub":"alice","id_token_jwt":"h.p.s","id_token_claims":{"sub":"alice"},"access_token":"at","access_token_expires_at":2000000000,"access_token_obtained_at":1999999000,"refresh_token":null,"userinfo":null,"last_authenticated_ms":1999999000000,"expires_at":2000003600,"last_seen":1999999000,"epoch":"file:1"}}"#;
}
