//! Unguessable values (states, nonces, session ids, lease tokens, file
//! tags, and the test kit's codes and keys) straight from the operating
//! system's generator (`getrandom`): one helper, rather than a token type
//! of `openidconnect` borrowed for the purpose and a user-space generator
//! behind it. (RSA blinding and the test kit's RSA keys draw from the same
//! generator through `rsa`'s `OsRng`, which the `rsa` API takes.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `len` random bytes.
///
/// The system's generator does not fail once the system has booted. If it
/// did, nothing unguessable could be made, and going on with a guessable
/// state, nonce or session id would be worse than failing the request.
pub(crate) fn bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    if let Err(error) = getrandom::fill(&mut bytes) {
        panic!("the operating system's random generator failed: {error}");
    }
    bytes
}

/// `len` random bytes as base64url without padding.
pub(crate) fn text(len: usize) -> String {
    URL_SAFE_NO_PAD.encode(bytes(len))
}

/// A random value of 128 bits, base64url (22 characters): a `state`, a
/// `nonce`, a session id, a lease token.
pub(crate) fn token() -> String {
    text(16)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_token_is_128_bits_in_base64url_and_never_repeats() {
        let tokens: HashSet<String> = (0..1000).map(|_| token()).collect();
        assert_eq!(tokens.len(), 1000);
        for token in &tokens {
            assert_eq!(token.len(), 22);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(URL_SAFE_NO_PAD.decode(token).map(|b| b.len()), Ok(16));
        }
    }
}
