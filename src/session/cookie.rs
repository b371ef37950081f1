//! The cookie codec of the default store: the session itself, encrypted,
//! in cookies.
//!
//! A browser keeps about 4 KB per cookie; a session with an ID token,
//! tokens and userinfo is often larger, so it is split across up to
//! [`MAX_CHUNKS`] cookies `oidc_session_0`, `oidc_session_1`... Each chunk
//! carries the session id, its index and the count, so chunks of two
//! sessions can never be spliced together.

use std::sync::Arc;

use crate::clock::UnixTime;
use crate::config::{SessionConfig, SessionStoreKind};
use crate::error::OidcError;
use crate::session::UserSession;
use crate::session::decoded::Decoded;
use crate::session::jar::{Jar, MAX_CHUNKS, session_chunk};

/// Plaintext bytes per cookie: sealed (+28 bytes) and base64-encoded it
/// stays under 4 KB with the cookie's name and attributes.
const CHUNK_BYTES: usize = 2800;
/// The chunk header `id:i:n:` of a session id of 22 characters (ours).
const HEADER_BYTES: usize = 30;
/// The largest session kept, in bytes of JSON, by any store (so moving
/// from the cookie store to a server-side one never breaks a login).
pub(crate) const MAX_SESSION_BYTES: usize = (CHUNK_BYTES - HEADER_BYTES) * MAX_CHUNKS;

/// What proxies in front of apps commonly accept as one request header
/// (nginx's `large_client_header_buffers`, Apache's `LimitRequestFieldSize`):
/// a `Cookie` header above it gets `431` or `400` before the app sees it.
pub(crate) const PROXY_HEADER_BYTES: usize = 8 * 1024;

/// The cookies a session of `json_bytes` of JSON takes: how many, and the
/// bytes they add to a `Cookie` header (`name=value; ` each, the value
/// sealed: 28 bytes of nonce and tag, then base64).
pub(crate) fn cookie_cost(json_bytes: usize, max_chunks: usize) -> (usize, usize) {
    let room = CHUNK_BYTES - HEADER_BYTES;
    let chunks = json_bytes.div_ceil(room).clamp(1, max_chunks.max(1));
    let mut bytes = 0;
    let mut left = json_bytes;
    for index in 0..chunks {
        let plain = left.min(room) + HEADER_BYTES;
        left = left.saturating_sub(room);
        bytes += session_chunk(index).len() + 1 + (plain + 28).div_ceil(3) * 4 + 2;
    }
    (chunks, bytes)
}

/// A rough size of the JSON of a session with these `scopes` (the
/// precise size is logged at the first login that exceeds a limit): the
/// raw ID token with the protocol claims and an RS256 signature, an access
/// token and a refresh token, then what each scope's claims usually take,
/// three times: in the raw ID token (base64), parsed, and in userinfo when
/// it is fetched.
pub(crate) fn estimated_session_bytes(scopes: &[String], userinfo: bool) -> usize {
    const BASE: usize = 2000;
    let claims: usize = scopes
        .iter()
        .map(|scope| match scope.as_str() {
            "openid" | "offline_access" => 0,
            "profile" => 400,
            "address" => 200,
            "email" | "phone" => 60,
            _ => 150,
        })
        .sum();
    BASE + claims * 7 / 3 + if userinfo { claims } else { 0 }
}

/// The launch doctor's word on cookie size for a provider with `scopes`
/// (and userinfo fetched or not) under `session`: `None` when sessions
/// should fit, or with a server-side store.
pub(crate) fn size_warning(session: &SessionConfig, scopes: &[String], userinfo: bool) -> Option<String> {
    if session.store != SessionStoreKind::Cookie {
        return None;
    }
    let estimate = estimated_session_bytes(scopes, userinfo);
    let limit = (CHUNK_BYTES - HEADER_BYTES) * session.max_cookie_chunks.clamp(1, MAX_CHUNKS);
    if estimate > limit {
        return Some(format!(
            "with scopes {scopes:?} a session is likely about {estimate} bytes, more than `session.max_cookie_chunks = {}` \
             allows ({limit}): logins will fail with `session_too_large`; {}keep fewer claims \
             (`session.drop_claims`) or keep sessions server-side (`session.store`)",
            session.max_cookie_chunks,
            if session.max_cookie_chunks < MAX_CHUNKS {
                "raise it, "
            } else {
                ""
            }
        ));
    }
    let (chunks, bytes) = cookie_cost(estimate, session.max_cookie_chunks);
    (bytes > PROXY_HEADER_BYTES).then(|| {
        format!(
            "with scopes {scopes:?} a session likely takes {chunks} cookies, about {bytes} bytes of `Cookie` header: \
             more than the {PROXY_HEADER_BYTES} many proxies accept (431); keep fewer claims (`session.drop_claims`) \
             or keep sessions server-side (`session.store`)"
        )
    })
}

/// Splits `text` into pieces of at most `size` bytes, on character boundaries.
fn split(text: &str, size: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(size);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// `id:index:count:` then the piece.
fn parse_chunk(value: &str) -> Option<(&str, usize, usize, &str)> {
    let mut parts = value.splitn(4, ':');
    let id = parts.next()?;
    let index = parts.next()?.parse().ok()?;
    let count = parts.next()?.parse().ok()?;
    Some((id, index, count, parts.next()?))
}

/// The session kept in `jar`'s cookies, if they hold a whole, unexpired one.
pub(crate) fn load(jar: &Jar, now: UnixTime) -> Option<UserSession> {
    load_counted(jar, now).map(|loaded| loaded.session)
}

/// A session read from its cookies.
struct Loaded {
    session: UserSession,
    /// How many chunks it took.
    count: usize,
    /// Some chunk was sealed under a previous key.
    stale: bool,
}

/// [`load`], with how many chunks the session took and whether a previous
/// key was needed.
fn load_counted(jar: &Jar, now: UnixTime) -> Option<Loaded> {
    let first = jar.get_checked(session_chunk(0))?;
    let mut stale = first.stale;
    let (id, _, count, piece) = parse_chunk(&first.value).filter(|c| c.1 == 0 && (1..=MAX_CHUNKS).contains(&c.2))?;
    let mut json = String::from(piece);
    for index in 1..count {
        let unsealed = jar.get_checked(session_chunk(index))?;
        stale |= unsealed.stale;
        let value = unsealed.value;
        let (chunk_id, chunk_index, chunk_count, piece) = parse_chunk(&value)?;
        if chunk_id != id || chunk_index != index || chunk_count != count {
            return None;
        }
        json.push_str(piece);
    }
    let session = UserSession::from_json(json.as_bytes())?;
    (session.id == id && !session.is_expired(now)).then_some(Loaded { session, count, stale })
}

/// A session read from cookies before: the sealed values of its chunks
/// after the first (the first is the cache key) and the session.
#[derive(Clone)]
pub(crate) struct Opened {
    rest: Arc<[Box<str>]>,
    session: Arc<UserSession>,
    /// Sealed under a previous key: to be sealed again.
    stale: bool,
}

/// A session from its cookies, and whether they were sealed under a
/// previous key (and should be written again).
pub(crate) struct FromCookies {
    pub(crate) session: Arc<UserSession>,
    pub(crate) stale: bool,
}

/// [`load`], through `cache`: cookies whose exact sealed values were opened
/// before are not opened again. The session's expiry is checked either way.
pub(crate) fn load_cached(jar: &Jar, cache: &Decoded<Opened>, now: UnixTime) -> Option<FromCookies> {
    let first = jar.sealed(session_chunk(0))?;
    if let Some(opened) = cache.get(first) {
        let same_rest = opened
            .rest
            .iter()
            .enumerate()
            .all(|(i, sealed)| jar.sealed(session_chunk(i + 1)) == Some(&**sealed));
        if same_rest {
            return (!opened.session.is_expired(now)).then(|| FromCookies {
                session: opened.session.clone(),
                stale: opened.stale,
            });
        }
    }
    let loaded = load_counted(jar, now)?;
    let session = Arc::new(loaded.session);
    let rest: Option<Vec<Box<str>>> = (1..loaded.count)
        .map(|i| jar.sealed(session_chunk(i)).map(Box::from))
        .collect();
    cache.put(
        first,
        Opened {
            rest: rest?.into(),
            session: session.clone(),
            stale: loaded.stale,
        },
    );
    Some(FromCookies {
        session,
        stale: loaded.stale,
    })
}

/// [`load_cached`] without a cache.
pub(crate) fn load_uncached(jar: &Jar, now: UnixTime) -> Option<FromCookies> {
    load_counted(jar, now).map(|loaded| FromCookies {
        session: Arc::new(loaded.session),
        stale: loaded.stale,
    })
}

/// Writes `session` into `jar`'s cookies for at most `lifetime_seconds`
/// from `now`, removing chunks of a larger earlier session; the JSON size
/// written.
pub(crate) fn save(
    jar: &Jar,
    session: &UserSession,
    lifetime_seconds: i64,
    max_chunks: usize,
    now: UnixTime,
) -> Result<usize, OidcError> {
    let json = session.to_json();
    // The header `id:i:n:` takes room in every chunk.
    let room = CHUNK_BYTES.saturating_sub(session.id.len() + 8).max(1);
    let pieces = split(&json, room);
    let max_chunks = max_chunks.clamp(1, MAX_CHUNKS);
    if pieces.len() > max_chunks {
        return Err(OidcError::SessionTooLarge {
            size: json.len(),
            limit: (CHUNK_BYTES - HEADER_BYTES) * max_chunks,
            parts: session.size_report(),
        });
    }
    let max_age = session.expires_at.secs_since(now).clamp(0, lifetime_seconds);
    for (index, piece) in pieces.iter().enumerate() {
        let value = format!("{}:{index}:{}:{piece}", session.id, pieces.len());
        jar.set(session_chunk(index), &value, max_age);
    }
    for index in jar.session_chunks().filter(|i| *i >= pieces.len()).collect::<Vec<_>>() {
        jar.remove(session_chunk(index));
    }
    Ok(json.len())
}

/// Removes every session cookie the request carried.
pub(crate) fn remove(jar: &Jar) {
    for index in jar.session_chunks().collect::<Vec<_>>() {
        jar.remove(session_chunk(index));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::session::cipher::Cipher;
    use crate::test_fuzz::{cases, claims_like, nasty_text};

    fn cipher() -> Arc<Cipher> {
        Arc::new(Cipher::derive_from(&[3; 64]))
    }

    fn session(claims: serde_json::Map<String, serde_json::Value>) -> UserSession {
        let json = serde_json::json!({
            "id": "AAAAAAAAAAAAAAAAAAAAAA", "provider": "default", "sub": "alice", "id_token_jwt": "x",
            "id_token_claims": claims, "access_token": "t", "access_token_expires_at": null,
            "refresh_token": null, "userinfo": null, "last_authenticated_ms": 0, "expires_at": i64::MAX
        });
        UserSession::from_json(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn the_cookie_cost_is_what_save_writes() {
        let cipher = cipher();
        for claim_bytes in [10, 3_000, 9_000, 15_000] {
            let mut claims = serde_json::Map::new();
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            let noise: String = (0..claim_bytes)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    char::from(b'a' + (x % 26) as u8)
                })
                .collect();
            claims.insert("blob".into(), serde_json::json!(noise));
            let session = session(claims);
            let jar = Jar::new(std::iter::empty(), cipher.clone(), false);
            let size = save(
                &jar,
                &session,
                3600,
                MAX_CHUNKS,
                crate::clock::AppClock::default().time(),
            )
            .expect("fits");
            let cookies = jar.take_outgoing();
            let header: usize = cookies.iter().map(|c| c.name().len() + 1 + c.value().len() + 2).sum();
            let (chunks, bytes) = cookie_cost(size, MAX_CHUNKS);
            assert_eq!(chunks, cookies.len(), "{claim_bytes}");
            assert!(
                bytes.abs_diff(header) <= 8 * chunks,
                "{claim_bytes}: estimated {bytes}, written {header}"
            );
        }
    }

    #[test]
    fn the_doctor_warns_when_the_scopes_will_not_fit_the_configured_cookies() {
        let standard: Vec<String> = ["openid", "profile", "email"].map(String::from).to_vec();
        let many: Vec<String> = standard
            .iter()
            .cloned()
            .chain((0..10).map(|i| format!("api:{i}")))
            .collect();
        let config = |store: &str, chunks: usize| -> SessionConfig {
            serde_json::from_value(serde_json::json!({ "store": store, "max_cookie_chunks": chunks })).expect("config")
        };
        assert_eq!(size_warning(&config("cookie", 8), &standard, true), None);
        let openid = vec!["openid".to_string()];
        assert_eq!(
            size_warning(&config("cookie", 1), &openid, true),
            None,
            "one cookie is enough for `openid`"
        );
        let one = size_warning(&config("cookie", 1), &standard, true).expect("profile claims need two cookies");
        assert!(one.contains("max_cookie_chunks = 1"), "{one}");
        let too_large = size_warning(&config("cookie", 1), &many, true).expect("a warning");
        assert!(
            too_large.contains("session_too_large") && too_large.contains("max_cookie_chunks = 1"),
            "{too_large}"
        );
        let for_proxies = size_warning(&config("cookie", 8), &many, true).expect("a warning");
        assert!(for_proxies.contains("431"), "{for_proxies}");
        assert_eq!(
            size_warning(&config("memory", 1), &many, true),
            None,
            "server-side: no cookie concern"
        );
    }

    proptest! {
        #![proptest_config(cases(256))]

        #[test]
        fn fuzz_chunk_headers_never_panic(value in nasty_text()) {
            let _ = parse_chunk(&value);
        }

        /// Sealed chunks (as if we had issued them) with any header and
        /// content: read back as a session, or as none, never a panic.
        #[test]
        fn fuzz_sealed_chunks_are_a_session_or_none(
            chunks in proptest::collection::vec((0usize..10, nasty_text(), 0usize..12, nasty_text()), 0..10),
        ) {
            let cipher = cipher();
            let sealed: Vec<(String, String)> = chunks
                .iter()
                .map(|(index, id, count, piece)| {
                    let name = format!("oidc_session_{index}");
                    let value = cipher.seal(&name, &format!("{id}:{index}:{count}:{piece}")).unwrap();
                    (name, value)
                })
                .collect();
            let jar = Jar::new(sealed.iter().map(|(n, v)| (n.as_str(), v.as_str())), cipher, false);
            let _ = load(&jar, crate::clock::AppClock::default().time());
        }

        /// What `save` writes, `load` reads back, whatever the claims.
        #[test]
        fn fuzz_a_saved_session_reads_back(claims in claims_like(&["sid", "nonce", "name", "picture"])) {
            let cipher = cipher();
            let written = Jar::new(std::iter::empty(), cipher.clone(), false);
            let original = session(claims);
            match save(&written, &original, 3600, MAX_CHUNKS, crate::clock::AppClock::default().time()) {
                Ok(_) => {
                    let cookies = written.take_outgoing();
                    let jar = Jar::new(cookies.iter().map(|c| (c.name(), c.value())), cipher, false);
                    let read = load(&jar, crate::clock::AppClock::default().time()).expect("a saved session reads back");
                    prop_assert_eq!(read.to_json(), original.to_json());
                }
                Err(error) => prop_assert_eq!(error.code(), "session_too_large"),
            }
        }
    }

    #[test]
    fn split_keeps_characters_whole_and_bounds_pieces() {
        let text = "aé".repeat(1000);
        let pieces = split(&text, 7);
        assert!(pieces.iter().all(|p| p.len() <= 7 && !p.is_empty()));
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn chunk_headers_parse_and_reject_garbage() {
        assert_eq!(parse_chunk("abc:1:3:{\"x\":1}"), Some(("abc", 1, 3, "{\"x\":1}")));
        assert_eq!(parse_chunk("abc:x:3:{}"), None);
        assert_eq!(parse_chunk("abc"), None);
    }
}
