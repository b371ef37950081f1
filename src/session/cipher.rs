//! Encrypted, authenticated values (cookies, and what the crate keeps in
//! Redis) under a key derived from Rocket's `secret_key`.
//!
//! We seal cookies ourselves instead of using Rocket's private cookie jar
//! because Rocket drops a route's pending cookies when a catcher answers,
//! and the login redirect (which must set the state cookie) is answered
//! that way. Sealing is the `cookie` crate's (AES-256-GCM, the cookie's name
//! bound as associated data, so a value cannot be moved to another name).

use cookie::{Cookie, CookieJar, Key};

/// Seals and opens values, each bound to a name (a cookie's, a Redis key's).
pub(crate) struct Cipher {
    key: Key,
}

impl Cipher {
    /// A cipher whose key is derived from `material` (Rocket's secret key
    /// bytes) with HKDF, so it differs from the key Rocket itself uses.
    pub(crate) fn derive_from(material: &[u8]) -> Cipher {
        let mut labelled = b"rocket_openidconnect cookies v1:".to_vec();
        labelled.extend_from_slice(material);
        Cipher {
            key: Key::derive_from(&labelled),
        }
    }

    /// A cipher with a fresh random key (no `secret_key` configured).
    pub(crate) fn random() -> Option<Cipher> {
        Key::try_generate().map(|key| Cipher { key })
    }

    /// The sealed form of `value` for the cookie `name`.
    pub(crate) fn seal(&self, name: &str, value: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(name.to_string(), value.to_string()));
        jar.get(name).map(|c| c.value().to_string())
    }

    /// The value sealed in `sealed` for `name`; `None` when it was tampered
    /// with, sealed under another key or for another name.
    pub(crate) fn open(&self, name: &str, sealed: &str) -> Option<String> {
        let jar = CookieJar::new();
        jar.private(&self.key)
            .decrypt(Cookie::new(name.to_string(), sealed.to_string()))
            .map(|c| c.value().to_string())
    }
}

/// Rocket's `secret_key` as raw bytes, read the way Rocket reads it: a
/// base64 (44 or 88 characters) or hex (64 characters) string, or bytes.
pub(crate) fn secret_key_material(figment: &figment::Figment) -> Option<Vec<u8>> {
    use base64::Engine;
    let value = figment.find_value("secret_key").ok()?;
    let bytes = if let Some(text) = value.as_str() {
        match text.len() {
            44 | 88 => base64::engine::general_purpose::STANDARD.decode(text).ok()?,
            64 => hex(text)?,
            _ => return None,
        }
    } else {
        value
            .into_array()?
            .into_iter()
            .map(|v| v.to_u128().and_then(|n| u8::try_from(n).ok()))
            .collect::<Option<Vec<u8>>>()?
    };
    (bytes.len() >= 32 && bytes.iter().any(|b| *b != 0)).then_some(bytes)
}

fn hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_their_name_and_key() {
        let cipher = Cipher::derive_from(&[7u8; 64]);
        let sealed = cipher.seal("oidc_session_0", "hello").unwrap();
        assert!(!sealed.contains("hello"));
        assert_eq!(cipher.open("oidc_session_0", &sealed).as_deref(), Some("hello"));
        assert_eq!(cipher.open("oidc_session_1", &sealed), None);
        assert_eq!(Cipher::derive_from(&[8u8; 64]).open("oidc_session_0", &sealed), None);
        let mut tampered = sealed.clone().into_bytes();
        tampered[10] ^= 1;
        assert_eq!(cipher.open("oidc_session_0", &String::from_utf8_lossy(&tampered)), None);
    }
}
