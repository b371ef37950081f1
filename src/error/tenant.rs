//! Why a multi-tenant provider's token was refused for its tenant.

/// Why a token of a multi-tenant provider (an `issuer` template with
/// `{tenantid}`) was refused: its tenant is not served, or its `iss` is
/// not the template with its own `tid`.
///
/// ```rust
/// use rocket_openidconnect::error::TenantError;
///
/// assert_eq!(TenantError::NotAllowed.to_string(), "its tenant (`tid`) is not one this app accepts");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// No `tid` claim, or not a string.
    #[error("it names no tenant (`tid`)")]
    NoTenant,
    /// A `tid` outside `providers.<name>.tenants`.
    #[error("its tenant (`tid`) is not one this app accepts")]
    NotAllowed,
    /// `iss` is not the issuer template with the token's own `tid`.
    #[error("its `iss` is not the issuer of its own tenant")]
    IssuerOfAnotherTenant,
}
