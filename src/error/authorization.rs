//! Why a user or a token's subject, authenticated, may still not use a
//! route (`403 access_denied`).

/// What an [`Authorization`](crate::Authorization) asked that the claims
/// lack: the first part found unmet. Said in the log and the metrics;
/// the caller is told only which kind of thing is missing, never the
/// values the route requires.
///
/// ```rust
/// use rocket_openidconnect::error::AuthorizationError;
///
/// assert_eq!(AuthorizationError::MissingRole.to_string(), "a required role is missing");
/// assert_eq!(
///     AuthorizationError::ClaimMismatch { path: "tid" }.to_string(),
///     "the claim `tid` does not hold the required value"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizationError {
    /// A role of `ROLES_ALL`, or every one of `ROLES_ANY`, is missing.
    #[error("a required role is missing")]
    MissingRole,
    /// A group of `GROUPS_ALL`, or every one of `GROUPS_ANY`, is missing.
    #[error("a required group is missing")]
    MissingGroup,
    /// The claim at this path lacks the value asked for.
    #[error("the claim `{path}` does not hold the required value")]
    ClaimMismatch {
        /// The claim's dotted path, as the requirement names it.
        path: &'static str,
    },
}

impl AuthorizationError {
    /// The `unmet` label of the `oidc_access_denied_total` metric.
    pub(crate) fn label(self) -> &'static str {
        match self {
            AuthorizationError::MissingRole => "role",
            AuthorizationError::MissingGroup => "group",
            AuthorizationError::ClaimMismatch { .. } => "claim",
        }
    }

    /// What the caller is told: the kind of thing missing, no value.
    pub(crate) fn description(self) -> &'static str {
        match self {
            AuthorizationError::MissingRole => "authenticated, but without a role this resource requires",
            AuthorizationError::MissingGroup => "authenticated, but not in a group this resource requires",
            AuthorizationError::ClaimMismatch { .. } => {
                "authenticated, but without an attribute this resource requires"
            }
        }
    }
}
