//! OpenID Connect Back-Channel Logout 1.0: the provider POSTs a logout
//! token (its route is in `web::routes`); every check of §2.6, then the
//! sessions it names end on every instance.

use serde_json::Value;

use crate::error::{BearerError, LogoutTokenError, OidcError};
use crate::jose::CompactJws;
use crate::oidc::Oidc;
use crate::store::{LogoutTarget, Once};
use crate::token::jws;
use crate::token::{claims, logout_token};

/// Verifies the form `body` of a back-channel logout request and ends the
/// sessions its logout token names; the number of stored sessions ended.
pub(crate) async fn backchannel_logout(oidc: &Oidc, body: &str) -> Result<usize, OidcError> {
    let bad = OidcError::InvalidLogoutToken;
    let malformed = |why: &'static str| bad(LogoutTokenError::Malformed(why));
    let mut tokens = url::form_urlencoded::parse(body.as_bytes()).filter(|(name, _)| name == "logout_token");
    let raw = tokens
        .next()
        .map(|(_, v)| v.into_owned())
        .ok_or(malformed("no logout_token"))?;
    if tokens.next().is_some() {
        return Err(malformed("logout_token repeated"));
    }
    let jws = CompactJws::parse(&raw).ok_or(malformed("the logout token is not a JWT"))?;
    // §2.4: explicit typing, when present, must say logout+jwt.
    if let Some(typ) = jws.typ()
        && typ != "logout+jwt"
        && typ != "application/logout+jwt"
    {
        return Err(malformed("the logout token's `typ` is not logout+jwt"));
    }
    // The unverified `iss` only chooses whose keys to verify with.
    let unverified =
        crate::jose::decode_object(raw.split('.').nth(1).unwrap_or_default()).ok_or(malformed("unreadable claims"))?;
    let issuer = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(malformed("no `iss`"))?;
    // Only providers configured with this issuer, or already discovered
    // with it: an unauthenticated POST must not make us discover every
    // provider. Several providers may share an issuer (two clients at one
    // provider): the token's `aud` says whose it is.
    // (An `aud` that names nobody matches no provider; the token is
    // refused for it below.)
    let audiences = claims::audiences(&unverified).ok().flatten().unwrap_or_default();
    let mut found = None;
    let mut unknown = None;
    for candidate in oidc.providers() {
        // A provider that cannot be asked now is its trouble (`502`, so it
        // sends the logout again), not a reason to call the token foreign.
        let metadata = match candidate.known_metadata() {
            Some(metadata) => Some(metadata),
            None if candidate.config.issuer.as_deref() == Some(issuer) => Some(candidate.metadata().await?),
            // Configured by `discovery_url` alone and not discovered yet:
            // its issuer is learnt now (once for all, and a failure is
            // backed off, so an anonymous POST costs at most that).
            None if candidate.config.static_issuer().is_none() => match candidate.metadata().await {
                Ok(metadata) => Some(metadata),
                Err(error) => {
                    unknown = Some(error);
                    None
                }
            },
            None => None,
        };
        let Some(metadata) = metadata.filter(|m| candidate.config.is_issuer(&m.issuer, issuer)) else {
            continue;
        };
        let addressed = audiences.contains(&candidate.client().await?.client_id.as_str());
        if addressed || found.is_none() {
            found = Some((candidate, metadata));
        }
        if addressed {
            break;
        }
    }
    let (provider, metadata) = match (found, unknown) {
        (Some(found), _) => found,
        // It may be the issuer of a provider that cannot be discovered now:
        // the provider's trouble, so that it sends the logout again.
        (None, Some(error)) => return Err(error),
        (None, None) => return Err(bad(LogoutTokenError::UnknownIssuer)),
    };
    let allowed = jws::allowed_algs(&metadata.id_token_signing_alg_values_supported, false);
    let claims = jws::verify(provider, &raw, &allowed)
        .await
        .map_err(|error| match error {
            // Keys that cannot be fetched now: `502`, and the provider's
            // retry is checked again. The details stay in the log.
            error @ (OidcError::ProviderUnavailable(_)
            | OidcError::TokenCheckUnavailable(_)
            | OidcError::StoreUnavailable(_)) => error,
            OidcError::InvalidToken(BearerError::Jws(why)) => bad(LogoutTokenError::Jws(why)),
            // Anything else about the token is its sender's fault (§2.8: `400`).
            error => bad(LogoutTokenError::Unverified(error.to_string())),
        })?
        .claims;

    let now = oidc.clock().time();
    let skew = oidc.skew_seconds();
    let client = provider.client().await?;
    let logout_token::Checked {
        sid,
        sub,
        jti,
        iat,
        exp,
    } = logout_token::check(&claims, issuer, client.client_id.as_str(), now, skew)?;
    // A multi-tenant provider's subjects are unique per tenant at best: a
    // logout names the session, and its `tid` (if any) is its issuer's.
    if let Some((template, tenants)) = provider.config.tenancy() {
        let tenant = tenants.tenant_in(template, issuer);
        let tid = claims.get("tid").and_then(Value::as_str);
        if sid.is_none() || tid.is_some_and(|tid| Some(tid) != tenant) {
            return Err(bad(LogoutTokenError::TenantSessionRequired));
        }
    }
    // §2.6 step 10: a logout token is used once, on any instance.
    let once = format!("{issuer}\u{0}{jti}");
    if oidc.store().was_used(Once::LogoutToken, &once).await? {
        return Err(bad(LogoutTokenError::Replayed));
    }
    // By `sub`, the logout ends the sessions authenticated until it
    // arrives: the provider's `iat` is not trusted to be on our clock (one
    // that lags would end nothing recent: a logout not honoured). A token
    // is used once (its `jti` recorded below). Without a durable ledger
    // (Redis, `session.logout_records_path`) a restart forgets the ones
    // used, and one replayed before its `exp` ends the user's logins made
    // since: the user logs in again, where the other way a logout could be
    // lost.
    let at = oidc.clock().time_ms();
    if iat.plus_secs(skew) < now {
        event!(
            info,
            "oidc: provider `{}` issued this logout token {} s ago, more than `clock_skew_seconds`: a late \
             delivery, or its clock lags this server's (check NTP)",
            provider.name,
            now.secs_since(iat)
        );
    }
    let target = LogoutTarget {
        provider: &provider.name,
        sid,
        sub,
        at,
    };
    // The logout first, the token's use after: a logout that could not be
    // recorded (`503`) leaves the token unused, so the provider's retry
    // still ends the sessions. (Two deliveries at once both end them, and
    // one of them is then told the token was used.)
    let ended = oidc.sessions().end_matching(target).await?;
    let first = oidc
        .store()
        .first_use(Once::LogoutToken, &once, None, exp.plus_secs(skew))
        .await?;
    if !first {
        return Err(bad(LogoutTokenError::Replayed));
    }
    Ok(ended)
}
