//! Encrypted, authenticated values (cookies, and what the crate keeps in
//! Redis) under a key derived from Rocket's `secret_key`.
//!
//! We seal cookies ourselves instead of using Rocket's private cookie jar
//! because Rocket drops a route's pending cookies when a catcher answers,
//! and the login redirect (which must set the state cookie) is answered
//! that way. Sealing is the `cookie` crate's (AES-256-GCM, the cookie's name
//! bound as associated data, so a value cannot be moved to another name).

use cookie::{Cookie, CookieJar, Key};

use crate::secret::{key_bytes, usable_key};

/// Seals and opens values, each bound to a name (a cookie's, a Redis key's).
/// Seals under the current key; opens under it or a previous one (a key
/// rotation).
pub(crate) struct Cipher {
    key: Key,
    previous: Vec<Key>,
}

/// A value opened by [`Cipher::open_checked`].
pub(crate) struct Unsealed {
    /// The value.
    pub(crate) value: String,
    /// It was sealed under a previous key: seal it again.
    pub(crate) stale: bool,
}

impl Cipher {
    /// A cipher whose key is derived from `material` (Rocket's secret key
    /// bytes) with HKDF, so it differs from the key Rocket itself uses.
    pub(crate) fn derive_from(material: &[u8]) -> Cipher {
        Cipher {
            key: derive(material),
            previous: Vec::new(),
        }
    }

    /// This cipher, also opening what the keys derived from `previous`
    /// (former secret keys' bytes) sealed.
    pub(crate) fn with_previous<'m>(mut self, previous: impl IntoIterator<Item = &'m [u8]>) -> Cipher {
        self.previous = previous.into_iter().map(derive).collect();
        self
    }

    /// A cipher with a fresh random key (no `secret_key` configured).
    pub(crate) fn random() -> Option<Cipher> {
        Key::try_generate().map(|key| Cipher {
            key,
            previous: Vec::new(),
        })
    }

    /// The sealed form of `value` for the cookie `name`.
    /// A key for another purpose, derived from the current key and `label`
    /// (HMAC-SHA256 of the label under the master key).
    pub(crate) fn subkey(&self, label: &str) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key.master()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts a key of any length"),
        };
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub(crate) fn seal(&self, name: &str, value: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(name.to_string(), value.to_string()));
        jar.get(name).map(|c| c.value().to_string())
    }

    /// The value sealed in `sealed` for `name`; `None` when it was tampered
    /// with, sealed under another key or for another name.
    pub(crate) fn open(&self, name: &str, sealed: &str) -> Option<String> {
        self.open_checked(name, sealed).map(|unsealed| unsealed.value)
    }

    /// [`Cipher::open`], saying whether a previous key was needed.
    pub(crate) fn open_checked(&self, name: &str, sealed: &str) -> Option<Unsealed> {
        if let Some(value) = open_under(&self.key, name, sealed) {
            return Some(Unsealed { value, stale: false });
        }
        self.previous
            .iter()
            .find_map(|key| open_under(key, name, sealed).map(|value| Unsealed { value, stale: true }))
    }
}

/// The key of the crate's cookies derived from `material` (HKDF, under a
/// label of its own, so it differs from the key Rocket itself uses).
fn derive(material: &[u8]) -> Key {
    let mut labelled = b"rocket_openidconnect cookies v1:".to_vec();
    labelled.extend_from_slice(material);
    Key::derive_from(&labelled)
}

fn open_under(key: &Key, name: &str, sealed: &str) -> Option<String> {
    let jar = CookieJar::new();
    jar.private(key)
        .decrypt(Cookie::new(name.to_string(), sealed.to_string()))
        .map(|c| c.value().to_string())
}

/// Rocket's `secret_key` as raw bytes, read the way Rocket reads it: a
/// base64 (44 or 88 characters) or hex (64 characters) string, or bytes.
pub(crate) fn secret_key_material(figment: &figment::Figment) -> Option<Vec<u8>> {
    let value = figment.find_value("secret_key").ok()?;
    if let Some(text) = value.as_str() {
        return key_bytes(text);
    }
    let bytes = value
        .into_array()?
        .into_iter()
        .map(|v| v.to_u128().and_then(|n| u8::try_from(n).ok()))
        .collect::<Option<Vec<u8>>>()?;
    usable_key(bytes)
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

    #[test]
    fn a_previous_key_opens_what_it_sealed_and_says_so() {
        let old = Cipher::derive_from(&[7u8; 64]);
        let sealed = old.seal("oidc_sid", "id").unwrap();
        let rotated = Cipher::derive_from(&[8u8; 64]).with_previous([&[9u8; 64][..], &[7u8; 64][..]]);
        let unsealed = rotated.open_checked("oidc_sid", &sealed).unwrap();
        assert_eq!((unsealed.value.as_str(), unsealed.stale), ("id", true));
        let fresh = rotated.seal("oidc_sid", "id").unwrap();
        let unsealed = rotated.open_checked("oidc_sid", &fresh).unwrap();
        assert!(!unsealed.stale, "sealed under the current key");
        assert!(
            old.open("oidc_sid", &fresh).is_none(),
            "sealing uses the current key only"
        );
        assert!(
            rotated.open_checked("oidc_session_0", &sealed).is_none(),
            "still bound to its name"
        );
    }
}
