//! What a route requires of who the user (or the token's subject) is:
//! roles, groups and claim values, declared at the type level like
//! [`Requirement`](crate::Requirement) and
//! [`RequiredScopes`](crate::RequiredScopes).

/// Who may use a route: roles and groups (all of, and any of) and claim
/// values (the claim at a dotted path equals the value, or, for an array,
/// holds it). Declare one with [`authorization!`](crate::authorization!);
/// routes without one pay nothing.
///
/// ```rust
/// use rocket_openidconnect::{Authorization, NoAuthorization};
///
/// assert!(NoAuthorization::ROLES_ANY.is_empty() && NoAuthorization::CLAIMS.is_empty());
/// ```
pub trait Authorization: Send + Sync + 'static {
    /// Roles the user must all have.
    const ROLES_ALL: &'static [&'static str];
    /// Roles of which the user must have one (empty: none asked).
    const ROLES_ANY: &'static [&'static str];
    /// Groups the user must all be in.
    const GROUPS_ALL: &'static [&'static str];
    /// Groups of which the user must be in one (empty: none asked).
    const GROUPS_ANY: &'static [&'static str];
    /// Claims at dotted paths and the value each must have.
    const CLAIMS: &'static [(&'static str, &'static str)];
}

/// No authorization beyond being logged in (or holding a valid token).
///
/// ```rust
/// use rocket_openidconnect::{Authorization, NoAuthorization};
///
/// assert!(NoAuthorization::ROLES_ALL.is_empty());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NoAuthorization;

impl Authorization for NoAuthorization {
    const ROLES_ALL: &'static [&'static str] = &[];
    const ROLES_ANY: &'static [&'static str] = &[];
    const GROUPS_ALL: &'static [&'static str] = &[];
    const GROUPS_ANY: &'static [&'static str] = &[];
    const CLAIMS: &'static [(&'static str, &'static str)] = &[];
}

/// Declares a zero-sized type naming who may use a route: `roles` and
/// `groups` (`all` or `any` of a list), and `claims` (dotted path = value).
///
/// ```rust
/// use rocket_openidconnect::{authorization, Authorization};
///
/// authorization!(
///     /// Administrators of one tenant.
///     pub TenantAdmins {
///         roles: any ["admin", "owner"],
///         groups: all ["staff"],
///         claims: { "tid" = "72f988bf" },
///     }
/// );
/// authorization!(pub Editors { roles: all ["editor"] });
///
/// assert_eq!(TenantAdmins::ROLES_ANY, ["admin", "owner"]);
/// assert_eq!(TenantAdmins::CLAIMS, [("tid", "72f988bf")]);
/// assert!(Editors::GROUPS_ANY.is_empty());
/// ```
#[macro_export]
macro_rules! authorization {
    (
        $(#[$meta:meta])* $vis:vis $name:ident {
            $(roles: $roles_mode:ident [$($role:literal),* $(,)?] $(,)?)?
            $(groups: $groups_mode:ident [$($group:literal),* $(,)?] $(,)?)?
            $(claims: { $($path:literal = $value:literal),* $(,)? } $(,)?)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::Authorization for $name {
            const ROLES_ALL: &'static [&'static str] = $crate::authorization!(@list all $($roles_mode [$($role),*])?);
            const ROLES_ANY: &'static [&'static str] = $crate::authorization!(@list any $($roles_mode [$($role),*])?);
            const GROUPS_ALL: &'static [&'static str] = $crate::authorization!(@list all $($groups_mode [$($group),*])?);
            const GROUPS_ANY: &'static [&'static str] = $crate::authorization!(@list any $($groups_mode [$($group),*])?);
            const CLAIMS: &'static [(&'static str, &'static str)] = &[$($(($path, $value)),*)?];
        }

        // A claim path with an empty segment finds nothing: refuse it when
        // the app is compiled rather than deny every request at run time.
        const _: () = {
            $($(assert!($crate::__valid_claim_path($path), concat!("claim path `", $path, "` has an empty segment"));)*)?
        };
    };
    (@list all all [$($item:literal),*]) => { &[$($item),*] };
    (@list any any [$($item:literal),*]) => { &[$($item),*] };
    (@list $want:ident $($other:ident [$($item:literal),*])?) => { &[] };
}
