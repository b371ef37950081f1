//! RFC 7638 JWK thumbprints: the name DPoP gives a proof's key (RFC 9449
//! §6, `cnf.jkt`) and the `kid` a client key without one gets.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The RFC 7638 thumbprint of a public JWK (RSA, EC or OKP), or `None`
/// for another key type or a JWK that lacks a required member.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    // serde_json writes these objects with their keys in the order given,
    // which is the lexicographic order RFC 7638 §3.2 asks for; `json!` of a
    // string escapes it as §3.3 requires.
    let canonical = match member("kty")? {
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            json!(member("e")?),
            json!(member("n")?)
        ),
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            json!(member("crv")?),
            json!(member("x")?),
            json!(member("y")?)
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            json!(member("crv")?),
            json!(member("x")?)
        ),
        _ => return None,
    };
    Some(super::b64(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_is_rfc_7638_s_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(jwk.as_object().expect("an object")).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(
            jwk_thumbprint(json!({ "kty": "oct", "k": "AAAA" }).as_object().expect("an object")),
            None
        );
        assert_eq!(
            jwk_thumbprint(
                json!({ "kty": "EC", "crv": "P-256", "x": "AA" })
                    .as_object()
                    .expect("an object")
            ),
            None
        );
    }

    #[test]
    fn an_ec_thumbprint_hashes_the_required_members_in_lexicographic_order() {
        // RFC 7638 §3.2 for an EC key: `crv`, `kty`, `x`, `y`, no spaces,
        // whatever the order and the other members of the JWK. The
        // canonical text is written out by hand, not by the code under test.
        let (x, y) = (
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        );
        let jwk = json!({ "y": y, "use": "sig", "x": x, "kty": "EC", "kid": "k", "crv": "P-256" });
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let expected = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            Sha256::digest(canonical.as_bytes()),
        );
        assert_eq!(jwk_thumbprint(jwk.as_object().expect("an object")), Some(expected));
    }
}
