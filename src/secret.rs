//! Tokens and secrets as newtypes: `Debug` prints `[redacted]`, and
//! reading the value takes an explicit `.secret()`.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The secret value itself. Never log it.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type! {
    /// An OAuth 2.0 access token.
    ///
    /// ```rust
    /// use rocket_openidconnect::secret::AccessToken;
    ///
    /// let token = AccessToken::new("abc");
    /// assert_eq!(token.secret(), "abc");
    /// assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
    /// ```
    AccessToken
}

secret_type! {
    /// An OAuth 2.0 refresh token.
    ///
    /// ```rust
    /// use rocket_openidconnect::secret::RefreshToken;
    ///
    /// assert!(!format!("{:?}", RefreshToken::new("r1")).contains("r1"));
    /// ```
    RefreshToken
}

secret_type! {
    /// A raw, signed ID token (a compact JWS) as the provider issued it.
    ///
    /// ```rust
    /// use rocket_openidconnect::secret::IdTokenJwt;
    ///
    /// assert!(!format!("{:?}", IdTokenJwt::new("eyJ...")).contains("eyJ"));
    /// ```
    IdTokenJwt
}

secret_type! {
    /// A former `secret_key`, listed in `previous_secret_keys` so that what
    /// it sealed still opens after a key rotation.
    ///
    /// ```rust
    /// use rocket_openidconnect::secret::PreviousSecretKey;
    ///
    /// let key = PreviousSecretKey::new("hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=");
    /// assert_eq!(format!("{key:?}"), "PreviousSecretKey([redacted])");
    /// ```
    PreviousSecretKey
}

/// The bytes of a key written the way Rocket's `secret_key` is: base64 (44
/// or 88 characters) or hex (64 characters), at least 256 bits and not all
/// zero.
pub(crate) fn key_bytes(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let bytes = match text.len() {
        44 | 88 => base64::engine::general_purpose::STANDARD.decode(text).ok()?,
        64 => (0..text.len())
            .step_by(2)
            .map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
            .collect::<Option<Vec<u8>>>()?,
        _ => return None,
    };
    usable_key(bytes)
}

/// `bytes`, if they can serve as a key: at least 256 bits, not all zero.
pub(crate) fn usable_key(bytes: Vec<u8>) -> Option<Vec<u8>> {
    (bytes.len() >= 32 && bytes.iter().any(|b| *b != 0)).then_some(bytes)
}

secret_type! {
    /// A client secret from the configuration.
    ///
    /// ```rust
    /// use rocket_openidconnect::secret::ClientSecret;
    ///
    /// assert_eq!(format!("{:?}", ClientSecret::new("s3cret")), "ClientSecret([redacted])");
    /// ```
    ClientSecret
}
/// A private key as an inline JWK (`private_key_jwk`): `Debug` prints
/// `[redacted]`.
///
/// ```rust
/// use rocket_openidconnect::secret::PrivateKeyJwk;
///
/// let jwk: PrivateKeyJwk = serde_json::from_str(r#"{"kty":"EC","crv":"P-256","d":"..."}"#).unwrap();
/// assert_eq!(format!("{jwk:?}"), "PrivateKeyJwk([redacted])");
/// ```
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct PrivateKeyJwk(serde_json::Map<String, serde_json::Value>);

impl PrivateKeyJwk {
    /// Wraps the members of a private JWK.
    pub fn new(members: serde_json::Map<String, serde_json::Value>) -> Self {
        PrivateKeyJwk(members)
    }

    /// The members, private ones included. Never log them.
    pub fn secret(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

impl fmt::Debug for PrivateKeyJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKeyJwk([redacted])")
    }
}
