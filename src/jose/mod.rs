//! JOSE, in the one place the crate does it: compact JWS serialization
//! (RFC 7515 §3.1, §7.1) read and written, the private keys it signs with
//! and their public JWKs (RFC 7517, RFC 7518 §3: RS256, PS256, ES256 and
//! HS256), RFC 7638 thumbprints, and JSON objects read with no member
//! twice. Client assertions (`client_key`), DPoP proofs (`token::dpop`),
//! every token the crate verifies (`token::jws`), the test kit's issuer
//! and the crate's own tests all go through it, so a rule written here
//! holds for each of them.
//!
//! Verifying a signature with a provider's published key is
//! `openidconnect`'s code (`CoreJsonWebKey`), reached through
//! [`CompactJws::verifies_with`]; the cryptography of both sides is
//! RustCrypto's (`rsa`, `p256`, `hmac`, `sha2`).

mod compact;
mod key;
mod thumbprint;
pub(crate) mod unique_json;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[cfg(any(test, feature = "testing"))]
pub use self::compact::encode_text;
pub use self::compact::{CompactJws, Signature, decode_object, encode};
pub use self::key::{Alg, Key};
pub use self::thumbprint::jwk_thumbprint;

/// `bytes` in base64url without padding (RFC 7515 §2), as every JOSE part is.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A base64url text without padding, decoded; `None` if it is not one.
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}
