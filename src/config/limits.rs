//! The `[default.oidc.limits]` table: what the process keeps, and what one
//! client may hold or spend of it.

use serde::Deserialize;

use super::error::Problems;
/// The `[default.oidc.limits]` table: how much state this process keeps.
/// Ledgers whose loss would let something in again (used states, logout
/// token ids, logged-out sessions) never forget a live entry: when one is
/// full of unexpired entries, the request that needs a new entry gets
/// `503` (and the log says which limit to raise). With `[oidc.redis]`
/// these ledgers live in Redis instead, bounded by its memory: of the
/// limits, `sessions_per_subject`, `revocations_per_subject`,
/// `dpop_proofs_per_subject` and `provider_calls_per_second` (in each
/// instance) still apply.
///
/// ```rust
/// use rocket_openidconnect::config::LimitsConfig;
///
/// let limits = LimitsConfig::default();
/// assert_eq!(limits.sessions, 100_000);
/// assert_eq!(limits.sessions_per_subject, 16);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// `sessions` (default `100000`): sessions the `memory` store keeps.
    /// A login makes room from its own user's sessions, then from expired
    /// ones; a store still full of other users' live sessions refuses it
    /// (`503`) rather than end someone else's session.
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// `sessions_per_subject` (default `16`): sessions one user (provider
    /// and `sub`) may have in the `memory` or `redis` store; a new login
    /// past it ends that user's oldest session, never someone else's.
    #[serde(default = "default_sessions_per_subject")]
    pub sessions_per_subject: usize,
    /// `used_states` (default `100000`): login `state`s remembered as used
    /// (each for 10 minutes). Those of callbacks whose code was not
    /// redeemed yet give way to newer ones when full (anyone can send a
    /// callback); those that gave a login never do.
    #[serde(default = "default_ledger")]
    pub used_states: usize,
    /// `used_states_per_subject` (default `100`): of those that gave a
    /// login, how many one user (provider and `sub`) may hold; past it,
    /// that user's next login is refused (`429`) until some expire, and
    /// nobody else's is.
    #[serde(default = "default_per_owner")]
    pub used_states_per_subject: usize,
    /// `logout_tokens` (default `100000`): back-channel logout token ids
    /// remembered (each until the token's `exp`).
    #[serde(default = "default_ledger")]
    pub logout_tokens: usize,
    /// `dpop_proofs` (default `100000`): DPoP proof ids (`jti`) remembered
    /// as used (each for the proof's acceptance window, and never past its
    /// token's expiry), recorded once the token they go with was found
    /// valid and bound to their key.
    #[serde(default = "default_ledger")]
    pub dpop_proofs: usize,
    /// `dpop_proofs_per_subject` (default `10000`): how many of those the
    /// tokens of one subject may hold (their `sub` through one
    /// `client_id`, else their `client_id`, else their key: whoever they
    /// speak for, however many keys they use), in process and in Redis;
    /// past it, that subject's requests are refused (`429`) until some
    /// expire, and nobody else's are. A proof is held until
    /// `clock_skew_seconds` after its `iat`: with the defaults, a subject
    /// may make some 160 DPoP requests a second, sustained; raise it for
    /// busier machine clients. In process, `dpop_proofs` / this many owners
    /// at their share fill the ledger (10 with the defaults): raise
    /// `dpop_proofs` with the number of busy owners you serve, or keep the
    /// proofs in Redis, where only the share applies.
    #[serde(default = "default_dpop_proofs_per_subject")]
    pub dpop_proofs_per_subject: usize,
    /// `revocations` (default `100000`): logouts remembered, in three lists
    /// of this size each: sessions logged out by the app (cookie store),
    /// and `sid`s and `sub`s logged out by the provider (every store: a
    /// login finishing meanwhile is ended too). A session's is kept until
    /// it would have expired, by the lifetime and inactivity timeout it
    /// began with; a `sid`'s or `sub`'s for the lifetime configured (in
    /// process without `logout_records_path`, the inactivity timeout when
    /// one is set: every session accepted began under it), and with the
    /// server-side stores as long as a login can take.
    #[serde(default = "default_ledger")]
    pub revocations: usize,
    /// `revocations_per_subject` (default `100`): single logged-out
    /// sessions one user may hold (in process and in Redis); past it, they
    /// become one record: that user's sessions authenticated until the
    /// latest of them are over (all still refused, but for the user's own
    /// login racing the provider's logout of its `sid`; at worst, the
    /// user's older sessions elsewhere end too). One account logging in and
    /// out in a loop fills nothing for others.
    #[serde(default = "default_per_owner")]
    pub revocations_per_subject: usize,
    /// `provider_calls_per_second` (default `20`, twice that in a burst;
    /// `0`: no limit): calls to each provider that requests nobody has
    /// authenticated yet may cause a second, in this process, each kind its own
    /// budget: pushed authorization requests, introspection of tokens not
    /// seen before. One source address (Rocket's `client_ip()`: set
    /// Rocket's `ip_header` to the header your proxy sets, or `false`
    /// without one) may spend a quarter. Logged-in users' silent re-checks
    /// and step-ups spend a budget as large apart, each user a burst of
    /// half the rate and then a quarter of it a minute. Past a share or
    /// the whole, a login falls back to a front-channel request where the
    /// provider allows it; otherwise the request gets `429` (its share) or
    /// `503` (the whole) rather than spend the provider's rate limits for
    /// everyone.
    #[serde(default = "default_provider_calls")]
    pub provider_calls_per_second: u32,
}

fn default_provider_calls() -> u32 {
    20
}

fn default_per_owner() -> usize {
    100
}

fn default_dpop_proofs_per_subject() -> usize {
    10_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            sessions: default_sessions(),
            sessions_per_subject: default_sessions_per_subject(),
            used_states: default_ledger(),
            logout_tokens: default_ledger(),
            dpop_proofs: default_ledger(),
            revocations: default_ledger(),
            used_states_per_subject: default_per_owner(),
            dpop_proofs_per_subject: default_dpop_proofs_per_subject(),
            revocations_per_subject: default_per_owner(),
            provider_calls_per_second: default_provider_calls(),
        }
    }
}

fn default_sessions() -> usize {
    100_000
}

fn default_sessions_per_subject() -> usize {
    16
}

fn default_ledger() -> usize {
    100_000
}

impl LimitsConfig {
    /// What serde cannot check of this table.
    pub(super) fn problems(&self, problems: &mut Problems<'_>) {
        for (key, value) in [
            ("sessions", self.sessions),
            ("sessions_per_subject", self.sessions_per_subject),
            ("used_states", self.used_states),
            ("logout_tokens", self.logout_tokens),
            ("dpop_proofs", self.dpop_proofs),
            ("revocations", self.revocations),
            ("used_states_per_subject", self.used_states_per_subject),
            ("dpop_proofs_per_subject", self.dpop_proofs_per_subject),
            ("revocations_per_subject", self.revocations_per_subject),
        ] {
            if value == 0 {
                problems.add(key, "must be greater than 0");
            }
        }
    }
}
