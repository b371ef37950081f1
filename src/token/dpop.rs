//! DPoP proofs at the resource server (RFC 9449 §4.3, §7): the proof JWT
//! of a request is checked against the request and the access token, and
//! the key it carries is named by its RFC 7638 thumbprint, which a bound
//! token's `cnf.jkt` must equal. Server nonces (§9) are derived from a
//! key, so every instance issues and accepts the same ones. The signature
//! is checked by `openidconnect`'s JWK code, asymmetric algorithms only.

use hmac::{Hmac, Mac};
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::clock::{UnixMillis, UnixTime};
use crate::error::{BearerError, DpopError, OidcError};
use crate::jose::CompactJws;
use crate::jose::jwk_thumbprint as thumbprint;
use crate::token::access::TokenIdentity;
use crate::token::jws::ASYMMETRIC_ALGS;

/// The `algs` of a DPoP challenge: what a proof may be signed with.
pub(crate) const PROOF_ALGS: &str = "ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA";

/// The longest proof read (a proof is a few hundred bytes; an RSA key makes it larger).
const MAX_PROOF_BYTES: usize = 8 * 1024;

/// How long a server nonce is good for: the window it was issued in and the next.
const NONCE_WINDOW_SECONDS: i64 = 300;

/// A proof that checked out: its key's thumbprint and its `jti`.
#[derive(Debug, Clone)]
pub(crate) struct Proof {
    /// RFC 7638 thumbprint of the proof's public key.
    pub(crate) jkt: String,
    pub(crate) jti: String,
    pub(crate) iat: UnixTime,
}

/// RFC 9449 §7.1: a token bound to a key (`cnf.jkt`, `bound`) is taken
/// only with a proof signed by that key, and a proof only with a token
/// bound to its key.
pub(crate) fn check_binding(bound: Option<&str>, proof: Option<&Proof>) -> Result<(), OidcError> {
    match (bound, proof) {
        (Some(bound), Some(proof)) if bool::from(bound.as_bytes().ct_eq(proof.jkt.as_bytes())) => Ok(()),
        (Some(_), Some(_)) => Err(OidcError::InvalidDpopProof(DpopError::WrongKey)),
        (Some(_), None) => Err(OidcError::InvalidToken(BearerError::DpopBoundSentAsBearer)),
        (None, Some(_)) => Err(OidcError::InvalidToken(BearerError::NotDpopBound)),
        (None, None) => Ok(()),
    }
}

/// How a proof is written down so it is used once (RFC 9449 §11.1): its
/// entry in the ledger, whose share it is, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProofRecord {
    /// The ledger entry: the key's thumbprint and the proof's `jti`.
    pub(crate) entry: String,
    /// Whose share it counts in.
    pub(crate) owner: String,
    /// Until when it is kept.
    pub(crate) until: UnixTime,
}

/// The record of `proof`, accompanying `identity`'s token, or why it is
/// refused: a proof made before `remembers_since` may have been used
/// before a restart, which an in-process ledger forgot.
pub(crate) fn proof_record(
    proof: &Proof,
    identity: &TokenIdentity,
    skew: i64,
    remembers_since: UnixMillis,
) -> Result<ProofRecord, OidcError> {
    if proof.iat < remembers_since.as_secs() {
        return Err(OidcError::InvalidDpopProof(DpopError::OlderThanTheServer));
    }
    // Kept until its window closes, or its token expires if sooner.
    let window_ends = proof.iat.plus_secs(skew).plus_secs(1);
    let token_ends = identity.expires_at().map_or(UnixTime::from_secs(i64::MAX), |exp| {
        UnixTime::from_secs(exp.unix_timestamp()).plus_secs(skew).plus_secs(1)
    });
    // The share is whoever the token speaks for, through which client, not
    // its key: one holder making keys at will would otherwise have a share
    // each (and one client cannot spend the share the user's other clients
    // need). As a JSON array: no `sub` or `client_id` can end early and
    // name another owner.
    let provider = identity.provider();
    let owner = match (identity.subject(), identity.client_id()) {
        (Some(sub), client) => serde_json::json!([provider, "sub", sub, client.unwrap_or("")]),
        (None, Some(client)) => serde_json::json!([provider, "client", client]),
        (None, None) => serde_json::json!([provider, "jkt", proof.jkt]),
    }
    .to_string();
    Ok(ProofRecord {
        entry: format!("{}:{}", proof.jkt, proof.jti),
        owner,
        until: window_ends.min(token_ends),
    })
}

/// What a proof must match: the request and the token it accompanies.
pub(crate) struct Expected<'a> {
    /// The request's method (`htm`).
    pub(crate) method: &'a str,
    /// The request's URL as the client addressed it: the public origin and
    /// the path (`htu`, without query and fragment).
    pub(crate) url: &'a Url,
    /// The access token the proof is for (`ath`).
    pub(crate) access_token: &'a str,
    pub(crate) now: UnixTime,
    pub(crate) skew: i64,
    /// With server nonces: the nonce source.
    pub(crate) nonces: Option<&'a Nonces>,
}

fn invalid(why: DpopError) -> OidcError {
    OidcError::InvalidDpopProof(why)
}

/// The URL a request addressed: the app's public `origin` (scheme, host
/// and port) and the request's `path`, put side by side. Never by reference
/// resolution (`Url::join`): a path that begins with `//` would be read as
/// another host, and a proof made for that host accepted here (RFC 9449
/// §4.3 check 9, §11.1). `None` if `origin` has no host, or if `path` has
/// a dot segment (`.`, `..`, `%2e`...): the URL parser would remove it,
/// while the router does not (`/x/../api` reaches a route of three
/// segments), so a proof made for `/api` would be accepted at another
/// handler.
pub(crate) fn request_url(origin: &Url, path: &str) -> Option<Url> {
    let origin = origin.origin();
    if !origin.is_tuple() || !path.starts_with('/') || has_dot_segment(path) {
        return None;
    }
    Url::parse(&format!("{}{path}", origin.ascii_serialization())).ok()
}

/// Whether a segment of `path` is `.` or `..`, written plainly or
/// percent-encoded (RFC 3986 §3.3, §6.2.2.3).
fn has_dot_segment(path: &str) -> bool {
    path.split('/')
        .map(|segment| segment.to_ascii_lowercase().replace("%2e", "."))
        .any(|segment| segment == "." || segment == "..")
}

/// The `htu` a proof names, as compared (RFC 9449 §4.3 check 9): scheme,
/// host, port and path, without query and fragment, normalised as RFC 3986
/// §6.2.2 says, on both sides alike: case (scheme and host lower-case,
/// percent-encodings upper-case), percent-encoding (`%61pi` is `api`: an
/// unreserved character is itself) and dot segments (done by the parser).
fn comparable(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let path = normalised_percent_encoding(url.path());
    url.set_path(&path);
    url.to_string()
}

/// `path` with every percent-encoded unreserved character (RFC 3986
/// §2.3: letters, digits, `-`, `.`, `_`, `~`) decoded, and every other
/// percent-encoding in upper case (§6.2.2.1, §6.2.2.2).
fn normalised_percent_encoding(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = bytes
            .get(at + 1..at + 3)
            .filter(|_| bytes[at] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') => {
                out.push(char::from(byte));
                at += 3;
            }
            Some(byte) => {
                out.push_str(&format!("%{byte:02X}"));
                at += 3;
            }
            None => {
                out.push(char::from(bytes[at]));
                at += 1;
            }
        }
    }
    out
}

/// Checks the `DPoP` header value `proof` against `expected` (RFC 9449 §4.3).
pub(crate) fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, OidcError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(invalid(DpopError::TooLarge));
    }
    let jws = CompactJws::parse(proof).ok_or(invalid(DpopError::NotCompact))?;
    // A proof is a JWS like any other (RFC 7515 §4.1.11).
    if jws.needs_an_extension() {
        return Err(invalid(DpopError::CriticalHeader));
    }
    if jws.typ().as_deref() != Some("dpop+jwt") {
        return Err(invalid(DpopError::WrongType));
    }
    let alg: CoreJwsSigningAlgorithm = jws
        .header
        .get("alg")
        .cloned()
        .and_then(|alg| serde_json::from_value(alg).ok())
        .filter(|alg| ASYMMETRIC_ALGS.contains(alg))
        .ok_or(invalid(DpopError::AlgorithmNotAllowed))?;
    let jwk = jws
        .header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or(invalid(DpopError::NoKey))?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|private| jwk.contains_key(*private))
    {
        return Err(invalid(DpopError::PrivateKey));
    }
    let jkt = thumbprint(jwk).ok_or(invalid(DpopError::UnsupportedKey))?;
    let key: CoreJsonWebKey =
        serde_json::from_value(Value::Object(jwk.clone())).map_err(|_| invalid(DpopError::UnreadableKey))?;
    if !jws.verifies_with(&key, &alg) {
        return Err(invalid(DpopError::BadSignature));
    }

    let claims = jws.unverified_claims().ok_or(invalid(DpopError::ClaimsNotAnObject))?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti")
        .filter(|jti| crate::token::claims::meaningful(jti) && jti.len() <= 256)
        .ok_or(invalid(DpopError::NoJti))?;
    if text("htm") != Some(expected.method) {
        return Err(invalid(DpopError::WrongMethod));
    }
    let htu = text("htu")
        .and_then(|htu| Url::parse(htu).ok())
        .ok_or(invalid(DpopError::NoUrl))?;
    if comparable(&htu) != comparable(expected.url) {
        return Err(invalid(DpopError::WrongUrl));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .map(UnixTime::from_secs)
        .ok_or(invalid(DpopError::NoIssueTime))?;
    if iat > expected.now.plus_secs(expected.skew) || iat < expected.now.minus_secs(expected.skew) {
        return Err(invalid(DpopError::Stale));
    }
    let ath = crate::jose::b64(Sha256::digest(expected.access_token.as_bytes()));
    if text("ath") != Some(ath.as_str()) {
        return Err(invalid(DpopError::WrongTokenHash));
    }
    if let Some(nonces) = expected.nonces
        && !text("nonce").is_some_and(|nonce| nonces.accepts(nonce, expected.now))
    {
        return Err(OidcError::UseDpopNonce(nonces.issue(expected.now)));
    }
    Ok(Proof {
        jkt,
        jti: jti.to_string(),
        iat,
    })
}

/// Server-provided nonces (RFC 9449 §9): the time window and a MAC of it,
/// keyed by a key every instance shares.
pub(crate) struct Nonces {
    key: [u8; 32],
}

impl Nonces {
    /// Nonces keyed by a key derived from `secret` (the app's cookie key).
    pub(crate) fn new(secret: &[u8]) -> Nonces {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"rocket_openidconnect DPoP nonce key");
        Nonces {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, window: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(&window.to_be_bytes());
        crate::jose::b64(&mac.finalize().into_bytes()[..18])
    }

    /// A nonce for now.
    pub(crate) fn issue(&self, now: UnixTime) -> String {
        let window = now.secs().div_euclid(NONCE_WINDOW_SECONDS);
        format!("{window}.{}", self.mac(window))
    }

    /// Whether `nonce` was issued in this window or the one before.
    pub(crate) fn accepts(&self, nonce: &str, now: UnixTime) -> bool {
        let current = now.secs().div_euclid(NONCE_WINDOW_SECONDS);
        let Some((window, mac)) = nonce.split_once('.') else {
            return false;
        };
        let Ok(window) = window.parse::<i64>() else {
            return false;
        };
        (window == current || window == current - 1)
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                self.mac(window).as_bytes(),
                mac.as_bytes(),
            ))
    }
}

/// HMAC takes a key of any length: this cannot happen.
fn unreachable_hmac() -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(&[0u8; 32]) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts a 32-byte key"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_bound_token_goes_only_with_a_proof_of_its_key_and_a_proof_only_with_a_bound_token() {
        let proof = |jkt: &str| Proof {
            jkt: jkt.into(),
            jti: "j-1".into(),
            iat: UnixTime::from_secs(1),
        };
        assert_eq!(check_binding(Some("k1"), Some(&proof("k1"))), Ok(()));
        assert_eq!(check_binding(None, None), Ok(()));
        assert_eq!(
            check_binding(Some("k1"), Some(&proof("k2"))),
            Err(OidcError::InvalidDpopProof(DpopError::WrongKey))
        );
        assert_eq!(
            check_binding(Some("k1"), None),
            Err(OidcError::InvalidToken(BearerError::DpopBoundSentAsBearer))
        );
        assert_eq!(
            check_binding(None, Some(&proof("k1"))),
            Err(OidcError::InvalidToken(BearerError::NotDpopBound))
        );
    }

    /// A `GET` of `url` with the token `the-token`, at the instant 1,000,000.
    fn expected_at(url: &Url) -> Expected<'_> {
        Expected {
            method: "GET",
            url,
            access_token: "the-token",
            now: UnixTime::from_secs(1_000_000),
            skew: 60,
            nonces: None,
        }
    }

    proptest::proptest! {
        // Signing with RSA is slow in a debug build: fewer cases.
        #![proptest_config(crate::test_fuzz::cases(48))]

        /// Any text, and signed proofs with headers and claims of any
        /// shape: checked without a panic, and accepted only when they
        /// match the request.
        #[test]
        fn fuzz_proofs_of_any_shape_are_checked_without_panic(
            raw in crate::test_fuzz::nasty_text(),
            header in crate::test_fuzz::claims_like(&["typ", "alg", "jwk", "kid", "crit"]),
            claims in crate::test_fuzz::claims_like(&["htm", "htu", "iat", "jti", "ath", "nonce"]),
            proper_header in proptest::prelude::any::<bool>(),
        ) {
            use crate::test_jwt::{encode, Key, Signature};
            let url = Url::parse("https://rp.example/api").expect("a URL");
            let expected = expected_at(&url);
            proptest::prop_assert!(verify(&raw, &expected).is_err() || raw.contains('.'));
            let mut header = header;
            if proper_header {
                header.insert("typ".into(), json!("dpop+jwt"));
                header.insert("alg".into(), json!("RS256"));
                header.insert("jwk".into(), Key::Current.jwk());
            }
            let proof = encode(&Value::Object(header), &Value::Object(claims.clone()), &Signature::Rs256(Key::Current));
            if verify(&proof, &expected).is_ok() {
                proptest::prop_assert_eq!(claims.get("htm").and_then(Value::as_str), Some("GET"));
                proptest::prop_assert!(claims.contains_key("ath") && claims.contains_key("jti"));
            }
        }
    }

    #[test]
    fn the_request_url_is_the_public_origin_and_the_path_never_another_host() {
        let origin = Url::parse("https://rp.example/redirect_uri").expect("a URL");
        let url = |path: &str| request_url(&origin, path).map(|url| url.to_string());
        assert_eq!(url("/api").as_deref(), Some("https://rp.example/api"));
        // RFC 9449 §11.1: `//evil.example/orders` is a path here, not a host.
        assert_eq!(
            url("//evil.example/orders").as_deref(),
            Some("https://rp.example//evil.example/orders")
        );
        assert_eq!(url("relative"), None);
        // Dot segments the router keeps and the URL parser would remove.
        for dotted in [
            "/x/../api",
            "/./api",
            "/x/%2e%2e/api",
            "/x/.%2E/api",
            "/x/%2E/api",
            "/api/..",
        ] {
            assert_eq!(url(dotted), None, "{dotted}");
        }
        assert!(
            url("/a.b/..c/.well-known").is_some(),
            "dots within a segment are not dot segments"
        );
        let behind_a_port = Url::parse("http://127.0.0.1:8000/cb").expect("a URL");
        assert_eq!(
            request_url(&behind_a_port, "/api").map(|u| u.to_string()).as_deref(),
            Some("http://127.0.0.1:8000/api")
        );
    }

    #[test]
    fn urls_are_compared_after_rfc_3986_normalisation() {
        let same =
            |a: &str, b: &str| comparable(&Url::parse(a).expect("a URL")) == comparable(&Url::parse(b).expect("a URL"));
        // §6.2.2.1 case, §6.2.2.2 percent-encoding, §6.2.2.3 dot segments,
        // §6.2.3 the default port; query and fragment are not compared.
        assert!(same("https://RP.Example/api", "https://rp.example/api"));
        assert!(same("https://rp.example/%61pi", "https://rp.example/api"));
        assert!(same("https://rp.example/a%2fb", "https://rp.example/a%2Fb"));
        assert!(same("https://rp.example/x/../api", "https://rp.example/api"));
        assert!(same("https://rp.example:443/api?q=1#f", "https://rp.example/api"));
        assert!(same("https://rp.example/%7Euser", "https://rp.example/~user"));
        // Still different: another host, port, scheme or path; an encoded slash.
        assert!(!same("https://rp.example/api", "https://evil.example/api"));
        assert!(!same("https://rp.example/api", "https://rp.example:8443/api"));
        assert!(!same("https://rp.example/api", "http://rp.example/api"));
        assert!(!same("https://rp.example/a%2Fb", "https://rp.example/a/b"));
        assert!(!same(
            "https://rp.example//evil.example/orders",
            "https://evil.example/orders"
        ));
    }

    #[test]
    fn a_proof_needing_an_extension_is_refused_like_any_jws() {
        use crate::test_jwt::{Key, Signature, encode};
        let url = Url::parse("https://rp.example/api").expect("a URL");
        let expected = expected_at(&url);
        let claims = json!({
            "jti": "j-1", "htm": "GET", "htu": "https://rp.example/api", "iat": 1_000_000,
            "ath": crate::jose::b64(Sha256::digest(b"the-token")),
        });
        let header = |extra: Value| {
            let mut header = json!({ "typ": "dpop+jwt", "alg": "RS256", "jwk": Key::Current.jwk() });
            if let (Some(header), Some(extra)) = (header.as_object_mut(), extra.as_object()) {
                header.extend(extra.clone());
            }
            header
        };
        let good = encode(&header(json!({})), &claims, &Signature::Rs256(Key::Current));
        assert!(verify(&good, &expected).is_ok());
        let critical = encode(
            &header(json!({ "crit": ["exp"], "exp": 1 })),
            &claims,
            &Signature::Rs256(Key::Current),
        );
        let refused = verify(&critical, &expected).expect_err("a crit header is refused");
        assert!(refused.to_string().contains("crit"), "{refused}");
    }

    #[test]
    fn a_nonce_is_good_for_its_window_and_the_next_and_only_from_our_key() {
        let nonces = Nonces::new(b"the app's key");
        let nonce = nonces.issue(UnixTime::from_secs(1_000_000));
        assert!(nonces.accepts(&nonce, UnixTime::from_secs(1_000_000)));
        assert!(nonces.accepts(&nonce, UnixTime::from_secs(1_000_000 + NONCE_WINDOW_SECONDS)));
        assert!(!nonces.accepts(&nonce, UnixTime::from_secs(1_000_000 + 2 * NONCE_WINDOW_SECONDS)));
        assert!(!Nonces::new(b"another key").accepts(&nonce, UnixTime::from_secs(1_000_000)));
        assert!(!nonces.accepts("3333.abc", UnixTime::from_secs(1_000_000)));
        assert!(!nonces.accepts("not a nonce", UnixTime::from_secs(1_000_000)));
    }
}
