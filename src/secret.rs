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
    /// use rocket_openidconnect::AccessToken;
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
    /// use rocket_openidconnect::RefreshToken;
    ///
    /// assert!(!format!("{:?}", RefreshToken::new("r1")).contains("r1"));
    /// ```
    RefreshToken
}

secret_type! {
    /// A raw, signed ID token (a compact JWS) as the provider issued it.
    ///
    /// ```rust
    /// use rocket_openidconnect::IdTokenJwt;
    ///
    /// assert!(!format!("{:?}", IdTokenJwt::new("eyJ...")).contains("eyJ"));
    /// ```
    IdTokenJwt
}

secret_type! {
    /// A client secret from the configuration.
    ///
    /// ```rust
    /// use rocket_openidconnect::ClientSecret;
    ///
    /// assert_eq!(format!("{:?}", ClientSecret::new("s3cret")), "ClientSecret([redacted])");
    /// ```
    ClientSecret
}
