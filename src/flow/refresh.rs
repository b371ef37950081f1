//! Refreshing a session's access token with its refresh token (RFC 6749
//! §6, OpenID Connect Core §12), once for every instance of the app.
//!
//! Concurrent refreshes of one session make one token request: in this
//! process they share one flight; across instances the first claims a
//! lease in the store, the others wait for its result and use it.
//! So a refresh token the provider rotates is redeemed once, never twice.
//! A refresh that finishes after the session was logged out stores
//! nothing: it never brings a session back.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::error::{OidcError, StoreError, printable};
use crate::oidc::Oidc;
use crate::session::jar::Jar;
use crate::session::{LazyObject, UserSession};
use crate::store::{RefreshClaim, RefreshKey, RefreshLease, digest};
use crate::token::id_token::{self, NonceRule, Rules};
use crate::token::{claims, endpoint};

/// How long a refresh result is shared with requests still carrying the
/// session from before it (concurrent requests of one browser, and a
/// rotated refresh token that only the first of them could use).
pub(crate) const SHARED_SECONDS: u64 = 60;
/// The shortest a refresh result is shared, whatever the token's life.
const MIN_SHARED_SECONDS: u64 = 5;
/// How often a request waiting for another instance's refresh looks for
/// its result.
const POLL: Duration = Duration::from_millis(25);

/// The session with fresh tokens. One token request per session and
/// refresh token, however many requests on however many instances ask.
pub(crate) async fn refresh(oidc: &Oidc, session: &UserSession) -> Result<Arc<UserSession>, OidcError> {
    let Some(refresh_token) = session.refresh_token.clone() else {
        // Without a refresh token, a session whose access token has
        // expired can never call an API again: it ends, so that the next
        // navigation logs in, instead of failing every call until its end.
        let expired = session
            .access_token_expires_at
            .is_some_and(|at| at <= oidc.clock().time());
        if session.access_token.is_none() || expired {
            return Err(OidcError::SessionEnded(
                "the access token expired and there is no refresh token".into(),
            ));
        }
        return Err(OidcError::RefreshFailed("the session has no refresh token".into()));
    };
    // The access token being replaced is part of the key: requests still
    // carrying it share this refresh, while a session that already holds
    // the refreshed token refreshes anew when that one expires or is forced.
    let access_token = session.access_token.as_ref().map_or("", |t| t.secret());
    let key = RefreshKey(digest(&[&session.id, refresh_token.secret(), access_token]));
    // A holder keeps its lease alive for as long as it works (the token
    // request, then maybe discovery, keys that are stale, a key refetch
    // waiting for its turn: more than any fixed lease would cover), so a
    // live holder is never taken over; a dead one is, when the lease runs
    // out.
    let lease = Duration::from_secs(oidc.config().http_timeout_seconds.saturating_mul(2).saturating_add(1));
    oidc.refreshes()
        .get_or_load(&key, || async move {
            let waiting_since = Instant::now();
            loop {
                let claim = match oidc.store().claim_refresh(&key, lease).await? {
                    RefreshClaim::Shared(done) => return Ok((done, Duration::ZERO)),
                    RefreshClaim::Leased(claim) => Some(claim),
                    RefreshClaim::Busy => None,
                };
                if let Some(claim) = claim {
                    let work = token_request(oidc, session, refresh_token.secret());
                    let result = holding(oidc, &key, &claim, lease, work).await;
                    crate::telemetry::refresh(&session.provider, result.is_ok());
                    match &result {
                        Ok(_) => event!(info, "oidc: tokens refreshed at provider `{}`", session.provider),
                        Err(error) => event!(info, "oidc: refresh at provider `{}` failed: {error}", session.provider),
                    }
                    let shared = result.as_ref().ok().map(|(fresh, ttl)| (fresh, *ttl));
                    if let Err(error) = oidc.store().finish_refresh(&key, claim, shared).await {
                        event!(warn, "oidc: a refresh result could not be shared: {error}");
                    }
                    return result.map(|(fresh, _)| (fresh, Duration::ZERO));
                }
                // A live holder extends its lease while it works, for at
                // most a token request, discovery, a key fetch and a
                // refetch waiting for its turn (each bounded by the
                // timeout, well within 3 leases): a wait longer than that
                // is a holder that never finishes.
                if waiting_since.elapsed() > lease.saturating_mul(3) {
                    return Err(OidcError::StoreUnavailable(StoreError::RefreshInProgress));
                }
                rocket::tokio::time::sleep(POLL).await;
            }
        })
        .await
}

/// Runs `work` (a refresh) while extending the `claim` on `key` every
/// third of `lease`, so that no other instance takes it over and redeems
/// the refresh token a second time. Should Redis lose the claim meanwhile,
/// the work goes on (its result is still shared): redeeming the token is
/// already under way.
async fn holding<T>(
    oidc: &Oidc,
    key: &RefreshKey,
    claim: &RefreshLease,
    lease: Duration,
    work: impl std::future::Future<Output = T>,
) -> T {
    let beat = (lease / 3).max(Duration::from_millis(100));
    // The heartbeat runs beside the work, never in its way: a slow Redis
    // delays the next beat, not the token request.
    let heartbeat = async {
        let mut ticks = rocket::tokio::time::interval_at(rocket::tokio::time::Instant::now() + beat, beat);
        let mut lost = false;
        let mut unreachable = false;
        loop {
            ticks.tick().await;
            match oidc.store().extend_refresh(key, claim, lease).await {
                Ok(true) => {}
                Ok(false) if !lost => {
                    lost = true;
                    event!(
                        warn,
                        "oidc: a refresh outlived its lease; another instance may refresh too"
                    );
                }
                Ok(false) => {}
                // Once per refresh: a Redis that is down would otherwise
                // write a line at every beat of every refresh under way.
                Err(error) if !unreachable => {
                    unreachable = true;
                    event!(warn, "oidc: a refresh lease could not be extended: {error}");
                }
                Err(_) => {}
            }
        }
    };
    let mut work = std::pin::pin!(work);
    rocket::tokio::select! {
        done = &mut work => return done,
        () = heartbeat => {}
    }
    work.await
}

/// The token request itself, and the session it makes; with how long the
/// result may be shared.
async fn token_request(
    oidc: &Oidc,
    session: &UserSession,
    refresh_token: &str,
) -> Result<(Arc<UserSession>, Duration), OidcError> {
    let provider = oidc
        .provider(&session.provider)
        .ok_or_else(|| OidcError::RefreshFailed("the session's provider is not configured".into()))?;
    let metadata = provider.metadata().await?;
    let response = endpoint::request(
        provider,
        &metadata,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
    )
    .await
    .map_err(|error| match error {
        // The provider refused the refresh token (`invalid_grant`...): the
        // session can never get tokens again, so it ends (and a navigation
        // then starts a login) instead of failing every call from now on.
        OidcError::Provider { error, .. } => OidcError::SessionEnded(format!(
            "the provider refused the refresh token (`{}`)",
            printable(&error, 64)
        )),
        other => other,
    })?;
    let now = oidc.clock().time();
    let mut fresh = session.clone();
    fresh.access_token = Some(response.access_token);
    fresh.access_token_expires_at = response
        .expires_in
        .and_then(|s| i64::try_from(s).ok())
        .map(|s| now.plus_secs(s));
    fresh.access_token_obtained_at = Some(now);
    // RFC 6749 §6: a new refresh token replaces the old one; none means
    // the old one stays valid.
    if let Some(rotated) = response.refresh_token {
        fresh.refresh_token = Some(rotated);
    }
    if let Some(raw) = response.id_token {
        // The login's claims are kept in the session through refreshes, so
        // this is the nonce of the login (Core §12.2), not of the last refresh.
        let original = session.id_token_claims();
        let original_nonce = original.get("nonce").and_then(Value::as_str);
        let client = provider.client().await?;
        let verified = id_token::verify(
            provider,
            &client,
            &metadata,
            raw.secret(),
            Rules {
                nonce: NonceRule::Refresh(original_nonce),
                clock_skew_seconds: oidc.config().clock_skew_seconds,
                clock: oidc.clock(),
                tenancy: provider.config.tenancy(),
            },
        )
        .await
        .map_err(|error| match error {
            // Keys that cannot be fetched now end nothing.
            error @ (OidcError::ProviderUnavailable(_) | OidcError::StoreUnavailable(_)) => error,
            // Core §12.2: a refreshed ID token that does not validate (another
            // issuer, audience, key...) ends the session.
            other => OidcError::SessionEnded(other.to_string()),
        })?;
        check_same_login(original, &verified.claims)?;
        // What identifies the login stays: `sid` (back-channel logout matches
        // on it), `nonce` and `auth_time`.
        let mut claims = verified.claims;
        for kept in ["sid", "nonce", "auth_time"] {
            if let Some(value) = original.get(kept) {
                claims.insert(kept.to_string(), value.clone());
            }
        }
        fresh.id_token_jwt = verified.jwt;
        provider.config.session.retain(&mut claims);
        fresh.id_token_claims = LazyObject::new(claims);
    }
    // Shared no longer than half the new token's life, but a few seconds
    // at least: long enough for the other instances (which look every
    // 25 ms) to find it rather than redeem the rotated refresh token.
    let shared = response.expires_in.map_or(SHARED_SECONDS, |life| {
        SHARED_SECONDS.min(life / 2).max(MIN_SHARED_SECONDS)
    });
    Ok((Arc::new(fresh), Duration::from_secs(shared)))
}

/// Core §12.2: a refreshed ID token speaks for the same login: the same
/// `iss`, `sub`, `aud` (as a set: `"c"` and `["c"]` are one audience) and
/// `azp` (none if there was none), and the `auth_time` of the login.
fn check_same_login(original: &Map<String, Value>, refreshed: &Map<String, Value>) -> Result<(), OidcError> {
    let differs = |claim: &str| OidcError::SessionEnded(format!("the refreshed ID token has another `{claim}`"));
    for claim in ["iss", "sub", "azp"] {
        if refreshed.get(claim) != original.get(claim) {
            return Err(differs(claim));
        }
    }
    let audiences = |claims: &Map<String, Value>| -> Option<BTreeSet<String>> {
        let audiences = claims::audiences(claims).ok().flatten()?;
        Some(audiences.into_iter().map(str::to_string).collect())
    };
    if audiences(refreshed).is_none() || audiences(refreshed) != audiences(original) {
        return Err(differs("aud"));
    }
    if let (Some(refreshed), Some(original)) = (refreshed.get("auth_time"), original.get("auth_time"))
        && refreshed != original
    {
        return Err(differs("auth_time"));
    }
    Ok(())
}

/// Refreshes the session behind `jar` and stores the result. A refreshed
/// ID token for someone else ends the session, and so does a logout that
/// happened during the refresh.
pub(crate) async fn refresh_and_store(
    oidc: &Oidc,
    jar: &Jar,
    session: &UserSession,
) -> Result<Arc<UserSession>, OidcError> {
    match refresh(oidc, session).await {
        Ok(fresh) => {
            if oidc.sessions().update(jar, &fresh).await? {
                Ok(fresh)
            } else {
                oidc.sessions().end(jar).await?;
                Err(OidcError::SessionEnded(
                    "the session was logged out while its tokens were refreshed".into(),
                ))
            }
        }
        Err(error @ OidcError::SessionEnded(_)) => {
            oidc.sessions().end(jar).await?;
            Err(error)
        }
        Err(error) => Err(error),
    }
}
