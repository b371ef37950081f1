//! The cookie codec of the default store: the session itself, encrypted,
//! in cookies.
//!
//! A browser keeps about 4 KB per cookie; a session with an ID token,
//! tokens and userinfo is often larger, so it is split across up to
//! [`MAX_CHUNKS`] cookies `oidc_session_0`, `oidc_session_1`... Each chunk
//! carries the session id, its index and the count, so chunks of two
//! sessions can never be spliced together.

use crate::clock;
use crate::error::OidcError;
use crate::session::jar::{session_chunk, Jar, MAX_CHUNKS};
use crate::session::UserSession;

/// Plaintext bytes per cookie: sealed (+28 bytes) and base64-encoded it
/// stays under 4 KB with the cookie's name and attributes.
const CHUNK_BYTES: usize = 2800;
/// The chunk header `id:i:n:` of a session id of 22 characters (ours).
const HEADER_BYTES: usize = 30;
/// The largest session kept, in bytes of JSON, by any store (so moving
/// from the cookie store to a server-side one never breaks a login).
pub(crate) const MAX_SESSION_BYTES: usize = (CHUNK_BYTES - HEADER_BYTES) * MAX_CHUNKS;

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
pub(crate) fn load(jar: &Jar) -> Option<UserSession> {
    let first = jar.get(&session_chunk(0))?;
    let (id, _, count, piece) = parse_chunk(&first).filter(|c| c.1 == 0 && (1..=MAX_CHUNKS).contains(&c.2))?;
    let mut json = String::from(piece);
    for index in 1..count {
        let value = jar.get(&session_chunk(index))?;
        let (chunk_id, chunk_index, chunk_count, piece) = parse_chunk(&value)?;
        if chunk_id != id || chunk_index != index || chunk_count != count {
            return None;
        }
        json.push_str(piece);
    }
    let session = UserSession::from_json(json.as_bytes())?;
    (session.id == id && !session.is_expired(clock::now())).then_some(session)
}

/// Writes `session` into `jar`'s cookies for at most `lifetime_seconds`,
/// removing chunks of a larger earlier session.
pub(crate) fn save(jar: &Jar, session: &UserSession, lifetime_seconds: i64) -> Result<(), OidcError> {
    let json = session.to_json();
    // The header `id:i:n:` takes room in every chunk.
    let room = CHUNK_BYTES.saturating_sub(session.id.len() + 8).max(1);
    let pieces = split(&json, room);
    if pieces.len() > MAX_CHUNKS {
        return Err(OidcError::SessionTooLarge {
            size: json.len(),
            limit: MAX_SESSION_BYTES,
        });
    }
    let max_age = (session.expires_at - clock::now()).clamp(0, lifetime_seconds);
    for (index, piece) in pieces.iter().enumerate() {
        let value = format!("{}:{index}:{}:{piece}", session.id, pieces.len());
        jar.set(&session_chunk(index), &value, max_age);
    }
    for index in jar.session_chunks().filter(|i| *i >= pieces.len()).collect::<Vec<_>>() {
        jar.remove(&session_chunk(index));
    }
    Ok(())
}

/// Removes every session cookie the request carried.
pub(crate) fn remove(jar: &Jar) {
    for index in jar.session_chunks().collect::<Vec<_>>() {
        jar.remove(&session_chunk(index));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
