//! The default session store: the session itself, encrypted, in cookies.
//!
//! A browser keeps about 4 KB per cookie; a session with an ID token,
//! tokens and userinfo is often larger, so it is split across up to
//! [`MAX_CHUNKS`] cookies `oidc_session_0`, `oidc_session_1`... Each chunk
//! carries the session id, its index and the count, so chunks of two
//! sessions can never be spliced together.

use std::sync::Arc;

use serde_json::Value;

use crate::error::OidcError;
use crate::session::{SessionCookies, SessionStore, UserSession};

/// Prefix of the session cookies' names.
const PREFIX: &str = "oidc_session_";
/// Plaintext bytes per cookie: sealed (+28 bytes) and base64-encoded it
/// stays under 4 KB with the cookie's name and attributes.
const CHUNK_BYTES: usize = 2800;
/// The most cookies one session may use.
pub(crate) const MAX_CHUNKS: usize = 8;

/// Keeps sessions in encrypted cookies (the default, `store = "cookie"`).
///
/// Nothing is kept on the server, so any number of app instances sharing
/// the `secret_key` see the same sessions.
///
/// ```rust
/// use rocket_openidconnect::CookieStore;
///
/// let store = CookieStore::new(3600);
/// ```
#[derive(Debug, Clone)]
pub struct CookieStore {
    lifetime_seconds: i64,
}

impl CookieStore {
    /// A store whose cookies live `lifetime_seconds` (the session lifetime).
    pub fn new(lifetime_seconds: u64) -> CookieStore {
        CookieStore {
            lifetime_seconds: i64::try_from(lifetime_seconds).unwrap_or(i64::MAX),
        }
    }
}

fn chunk_name(index: usize) -> String {
    format!("{PREFIX}{index}")
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

#[rocket::async_trait]
impl SessionStore for CookieStore {
    async fn load(&self, cookies: &SessionCookies) -> Option<Arc<UserSession>> {
        let first = cookies.get(&chunk_name(0))?;
        let (id, _, count, piece) = parse_chunk(&first).filter(|c| c.1 == 0 && (1..=MAX_CHUNKS).contains(&c.2))?;
        let mut json = String::from(piece);
        for index in 1..count {
            let value = cookies.get(&chunk_name(index))?;
            let (chunk_id, chunk_index, chunk_count, piece) = parse_chunk(&value)?;
            if chunk_id != id || chunk_index != index || chunk_count != count {
                return None;
            }
            json.push_str(piece);
        }
        let session: UserSession = serde_json::from_str(&json).ok()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        (session.id == id && !session.is_expired(now)).then(|| Arc::new(session))
    }

    async fn save(&self, cookies: &SessionCookies, session: &UserSession) -> Result<(), OidcError> {
        let json = serde_json::to_string(session).unwrap_or_else(|_| Value::Null.to_string());
        // The header `id:i:n:` takes room in every chunk.
        let room = CHUNK_BYTES - session.id.len() - 8;
        let pieces = split(&json, room);
        if pieces.len() > MAX_CHUNKS {
            return Err(OidcError::SessionTooLarge {
                size: json.len(),
                limit: room * MAX_CHUNKS,
            });
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let max_age = (session.expires_at - now).clamp(0, self.lifetime_seconds);
        for (index, piece) in pieces.iter().enumerate() {
            let value = format!("{}:{index}:{}:{piece}", session.id, pieces.len());
            cookies.set(&chunk_name(index), &value, max_age);
        }
        for name in cookies.names_with_prefix(PREFIX) {
            let index = name[PREFIX.len()..].parse::<usize>().unwrap_or(usize::MAX);
            if index >= pieces.len() {
                cookies.remove(&name);
            }
        }
        Ok(())
    }

    async fn remove(&self, cookies: &SessionCookies) {
        for name in cookies.names_with_prefix(PREFIX) {
            cookies.remove(&name);
        }
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
