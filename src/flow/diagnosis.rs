//! Why a login failed, for the log: a cause an operator can act on, and a
//! one-line hint of what usually brings it about. Never a secret: causes
//! are fixed words, and the errors they come with carry none.

use std::fmt;

use openidconnect::ClaimsVerificationError;

use crate::error::{IdTokenError, OidcError};

/// What made a login fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The callback came without the cookie of the login it answers.
    StateCookieMissing,
    /// The login's cookie was there, but the login took too long.
    StateExpired,
    /// The state was used before.
    StateReused,
    /// The state is not the one of the login pending in this browser.
    StateMismatch,
    /// The provider answered with an error.
    ProviderError,
    /// The response or the ID token names another issuer.
    IssuerMismatch,
    /// A multi-tenant provider's ID token of a tenant not served, or with
    /// another tenant's `iss`.
    WrongTenant,
    /// The ID token is expired or not yet valid by this server's clock.
    ClockSkew,
    /// The ID token is for another client.
    WrongAudience,
    /// The ID token's signature does not verify.
    Signature,
    /// The ID token's nonce is not this login's.
    Nonce,
    /// The provider could not be reached, or did not answer in time.
    ProviderUnreachable,
    /// The shared state (Redis, or a full ledger) could not answer.
    StoreUnavailable,
    /// A step-up login did not bring the `acr` or `auth_time` required.
    StepUp,
    /// Too many anonymous callbacks wanted the provider's time
    /// (`limits.provider_calls_per_second`), or one account logged in too
    /// often.
    Overloaded,
    /// Anything else (a malformed response, a bad ID token...).
    Other,
}

impl Cause {
    /// The cause of `error`, for the errors that say it themselves (the
    /// state cases are told apart where they are found). Exhaustive over
    /// the reasons: a new one must be given its cause here.
    pub(crate) fn of(error: &OidcError) -> Cause {
        match error {
            OidcError::Provider { .. } => Cause::ProviderError,
            OidcError::InvalidIssuer(_) => Cause::IssuerMismatch,
            OidcError::ProviderUnavailable(_) => Cause::ProviderUnreachable,
            OidcError::StoreUnavailable(_) => Cause::StoreUnavailable,
            OidcError::InvalidState(_) => Cause::StateMismatch,
            OidcError::InsufficientUserAuthentication { .. } => Cause::StepUp,
            OidcError::Overloaded(_) | OidcError::TooManyRequests(_) => Cause::Overloaded,
            OidcError::InvalidIdToken(why) => Cause::of_id_token(why),
            OidcError::LoginRequired
            | OidcError::RefreshFailed(_)
            | OidcError::SessionEnded(_)
            | OidcError::InvalidRequest(_)
            | OidcError::InvalidUserinfo(_)
            | OidcError::SessionTooLarge { .. }
            // What a bearer request or a logout token ends with, should one
            // reach a login's log line.
            | OidcError::MissingToken
            | OidcError::InvalidBearerRequest(_)
            | OidcError::InvalidToken(_)
            | OidcError::InvalidDpopProof(_)
            | OidcError::UseDpopNonce(_)
            | OidcError::InsufficientScope { .. }
            | OidcError::AccessDenied { .. }
            | OidcError::TokenCheckUnavailable(_)
            | OidcError::ClientRejected(_)
            | OidcError::InvalidLogoutToken(_) => Cause::Other,
        }
    }

    /// The cause of an ID token's refusal (Core §3.1.3.7).
    fn of_id_token(error: &IdTokenError) -> Cause {
        match error {
            IdTokenError::Claims(check) => match check {
                // `iat` ahead of our clock is reported as `Expired` too.
                ClaimsVerificationError::Expired(_) => Cause::ClockSkew,
                ClaimsVerificationError::InvalidAudience(_) => Cause::WrongAudience,
                ClaimsVerificationError::InvalidIssuer(_) => Cause::IssuerMismatch,
                ClaimsVerificationError::SignatureVerification(_) => Cause::Signature,
                ClaimsVerificationError::InvalidNonce(_) => Cause::Nonce,
                _ => Cause::Other,
            },
            IdTokenError::Tenant(_) => Cause::WrongTenant,
            IdTokenError::Missing
            | IdTokenError::NotCompact
            | IdTokenError::MissingClaims
            | IdTokenError::MeaninglessClaim(_)
            // `max_age` or `acr_values` of `auth_request_params` unmet: the
            // configuration asked, not a route (a route's is `StepUp`).
            | IdTokenError::NoAuthTime
            | IdTokenError::AuthenticatedTooLongAgo { .. }
            | IdTokenError::WrongAcr { .. } => Cause::Other,
        }
    }

    /// The `cause` label of the `oidc_logins_total` metric.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Cause::StateCookieMissing => "state_cookie_missing",
            Cause::StateExpired => "login_expired",
            Cause::StateReused => "state_reused",
            Cause::StateMismatch => "state_mismatch",
            Cause::ProviderError => "provider_error",
            Cause::IssuerMismatch => "issuer_mismatch",
            Cause::WrongTenant => "wrong_tenant",
            Cause::ClockSkew => "clock_skew",
            Cause::WrongAudience => "wrong_audience",
            Cause::Signature => "signature",
            Cause::Nonce => "nonce",
            Cause::ProviderUnreachable => "provider_unreachable",
            Cause::StoreUnavailable => "state_unavailable",
            Cause::StepUp => "step_up",
            Cause::Overloaded => "overloaded",
            Cause::Other => "other",
        }
    }

    /// What usually brings this cause about.
    pub(crate) fn hint(self) -> &'static str {
        match self {
            Cause::StateCookieMissing => {
                "the browser did not send the login's cookie: blocked by SameSite or a privacy setting, set for \
                 another host or scheme than redirect_uri (http vs https), or the callback opened in another browser"
            }
            Cause::StateExpired => "the login took longer than 10 minutes at the provider; starting again works",
            Cause::StateReused => {
                "the callback was loaded again (reload, back button, two tabs finishing one login) or replayed"
            }
            Cause::StateMismatch => {
                "the response does not belong to a login this browser started (crossed tabs, or a forged response)"
            }
            Cause::ProviderError => "the provider refused; its `error` and `error_description` say why",
            Cause::IssuerMismatch => {
                "the answer names another issuer than the provider asked: check `issuer`, or a mix-up attack"
            }
            Cause::WrongTenant => {
                "the user's organization (`tid`) is not in `tenants`, or the token's `iss` names another tenant than its `tid`"
            }
            Cause::ClockSkew => {
                "this server's clock and the provider's differ by more than `clock_skew_seconds`: check NTP on both"
            }
            Cause::WrongAudience => "the ID token was issued to another client: check `client_id`",
            Cause::Signature => {
                "the ID token's signature does not verify: the provider's keys or algorithm changed, or it was tampered with"
            }
            Cause::Nonce => "the ID token belongs to another login (replayed or crossed)",
            Cause::ProviderUnreachable => {
                "the provider did not answer within `http_timeout_seconds`; the next attempt tries again"
            }
            Cause::StoreUnavailable => "Redis (or a full `limits.*` ledger) could not answer; see the error",
            Cause::StepUp => {
                "the provider authenticated the user less strongly or less recently than the route requires (`acr_values`, `max_age`)"
            }
            Cause::Overloaded => {
                "more callbacks than `limits.provider_calls_per_second` (a flood?), or one account logging in again \
                 and again; the login was not sent to the provider"
            }
            Cause::Other => "see the error",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::StateCookieMissing => "state cookie missing",
            Cause::StateExpired => "login expired",
            Cause::StateReused => "state reused",
            Cause::StateMismatch => "state mismatch",
            Cause::ProviderError => "provider error",
            Cause::IssuerMismatch => "issuer mismatch",
            Cause::WrongTenant => "wrong tenant",
            Cause::ClockSkew => "clock skew",
            Cause::WrongAudience => "wrong audience",
            Cause::Signature => "bad signature",
            Cause::Nonce => "nonce mismatch",
            Cause::ProviderUnreachable => "provider unreachable",
            Cause::StoreUnavailable => "shared state unavailable",
            Cause::StepUp => "step-up not met",
            Cause::Overloaded => "overloaded",
            Cause::Other => "invalid response",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::SignatureVerificationError;

    #[test]
    fn id_token_failures_are_told_apart_by_their_type_not_their_words() {
        let of = |check: ClaimsVerificationError| Cause::of(&OidcError::InvalidIdToken(IdTokenError::Claims(check)));
        // The words are anything: only the variant counts.
        let words = || "anything at all".to_string();
        assert_eq!(of(ClaimsVerificationError::Expired(words())), Cause::ClockSkew);
        assert_eq!(
            of(ClaimsVerificationError::InvalidAudience(words())),
            Cause::WrongAudience
        );
        assert_eq!(
            of(ClaimsVerificationError::InvalidIssuer(words())),
            Cause::IssuerMismatch
        );
        assert_eq!(
            of(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
            )),
            Cause::Signature
        );
        assert_eq!(of(ClaimsVerificationError::InvalidNonce(words())), Cause::Nonce);
        assert_eq!(
            Cause::of(&OidcError::InvalidIdToken(IdTokenError::MeaninglessClaim(
                "wrong audience, bad signature, nonce".into()
            ))),
            Cause::Other
        );
        assert_eq!(
            Cause::of(&OidcError::ProviderUnavailable(
                crate::error::ProviderError::NotAttached
            )),
            Cause::ProviderUnreachable
        );
    }
}
