//! Validating an access token locally, as an RFC 9068 JWT.

use std::sync::Arc;
use std::time::Duration;

use super::{Checks, TokenIdentity, TokenValidation, is_access_token_typ, unavailable};
use crate::error::{BearerError, OidcError};
use crate::jose::CompactJws;
use crate::secret::AccessToken;
use crate::token::jws;

impl Checks<'_> {
    /// Local validation (RFC 9068). A refusal is not cached: a bad token
    /// costs its sender the same work each time.
    pub(super) async fn jwt(&self, token: &AccessToken) -> Result<(Arc<TokenIdentity>, Duration), OidcError> {
        let identity = self.verify_jwt(token).await?;
        let ttl = self.cache_ttl(&identity);
        Ok((identity, ttl))
    }

    pub(super) async fn verify_jwt(&self, token: &AccessToken) -> Result<Arc<TokenIdentity>, OidcError> {
        let typ = CompactJws::parse(token.secret()).and_then(|jws| jws.typ());
        if !typ.as_deref().is_some_and(is_access_token_typ) {
            return Err(OidcError::InvalidToken(BearerError::NotRfc9068));
        }
        // A token from another issuer or long expired is refused before
        // any signature check, so it cannot make us refetch keys.
        if let Some(why) = self.refused_locally(token) {
            return Err(OidcError::InvalidToken(why));
        }
        let verified = jws::verify(self.provider, token.secret(), jws::ASYMMETRIC_ALGS)
            .await
            .map_err(unavailable)?;
        let claims = verified.claims;
        // RFC 9068 §2.2: all of these are REQUIRED; a token without `sub`
        // names nobody, just as one with `"sub": ""` does.
        for required in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
            if !claims.contains_key(required) {
                return Err(OidcError::InvalidToken(BearerError::MissingClaim(required)));
            }
        }
        self.identity(token, claims, TokenValidation::Jwt)
            .map_err(OidcError::InvalidToken)
    }
}
