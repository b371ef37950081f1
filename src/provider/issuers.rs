//! Which provider holds which issuer identifier, at which callback: two
//! providers whose responses arrive at one callback path must not claim
//! one issuer (RFC 9207 §4, RFC 9700 §4.4.2). Where they share a callback,
//! the authorization response's `iss` is the only thing that tells whose
//! response it is, so a provider whose metadata claims another's issuer
//! could receive that provider's codes (the mix-up attack). Issuers given
//! in the configuration are checked at launch; a discovered one is
//! claimed here when its document arrives, and refused if taken.

use std::sync::Mutex;

/// A provider's claim on an issuer at a callback path.
struct Claim {
    provider: String,
    callback_path: String,
    issuer: String,
}

/// The issuers claimed so far by the providers of one app.
#[derive(Default)]
pub(crate) struct IssuerRegistry {
    claims: Mutex<Vec<Claim>>,
}

impl IssuerRegistry {
    /// Claims `issuer` for `provider`, whose responses arrive at
    /// `callback_path`; the name of the provider that holds it there
    /// already, if one does (the claim is then not made).
    pub(crate) fn claim(&self, provider: &str, callback_path: &str, issuer: &str) -> Result<(), String> {
        let Ok(mut claims) = self.claims.lock() else {
            return Err("(the registry of issuers is unusable)".into());
        };
        let taken = claims
            .iter()
            .find(|c| c.provider != provider && c.callback_path == callback_path && c.issuer == issuer);
        if let Some(holder) = taken {
            return Err(holder.provider.clone());
        }
        if !claims.iter().any(|c| c.provider == provider && c.issuer == issuer) {
            claims.push(Claim {
                provider: provider.to_string(),
                callback_path: callback_path.to_string(),
                issuer: issuer.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_issuer_per_callback_path() {
        let registry = IssuerRegistry::default();
        assert_eq!(registry.claim("a", "/cb", "https://op.example"), Ok(()));
        assert_eq!(
            registry.claim("a", "/cb", "https://op.example"),
            Ok(()),
            "again: its own"
        );
        assert_eq!(registry.claim("b", "/cb", "https://op.example"), Err("a".into()));
        // At a callback of its own, the response's path tells it apart.
        assert_eq!(registry.claim("c", "/cb/c", "https://op.example"), Ok(()));
        assert_eq!(registry.claim("b", "/cb", "https://other.example"), Ok(()));
    }
}
