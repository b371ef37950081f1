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
///
/// A word other than `all` or `any`, an empty list, or a requirement that
/// asks nothing does not compile (each would let everyone in):
///
/// ```compile_fail
/// rocket_openidconnect::authorization!(Admins { roles: Any ["admin"] });
/// ```
///
/// ```compile_fail
/// rocket_openidconnect::authorization!(Admins { roles: one ["admin"] });
/// ```
///
/// ```compile_fail
/// rocket_openidconnect::authorization!(Admins { roles: any [] });
/// ```
///
/// ```compile_fail
/// rocket_openidconnect::authorization!(Nobody {});
/// ```
///
/// ```compile_fail
/// rocket_openidconnect::authorization!(Broken { claims: { "org..id" = "x" } });
/// ```
///
/// Claim values are strings, compared exactly: a claim that is a boolean
/// or a number (`email_verified: true`) is not matched by `"true"`.
#[macro_export]
macro_rules! authorization {
    (
        $(#[$meta:meta])* $vis:vis $name:ident {
            $(roles: $roles_mode:ident [$($role:literal),+ $(,)?] $(,)?)?
            $(groups: $groups_mode:ident [$($group:literal),+ $(,)?] $(,)?)?
            $(claims: { $($path:literal = $value:literal),+ $(,)? } $(,)?)?
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

        // Mistakes that would let everyone in, or no one, are refused when
        // the app is compiled: a requirement that asks nothing, and a claim
        // path with an empty segment (it would find nothing).
        const _: () = {
            assert!(
                !(<$name as $crate::Authorization>::ROLES_ALL.is_empty()
                    && <$name as $crate::Authorization>::ROLES_ANY.is_empty()
                    && <$name as $crate::Authorization>::GROUPS_ALL.is_empty()
                    && <$name as $crate::Authorization>::GROUPS_ANY.is_empty()
                    && <$name as $crate::Authorization>::CLAIMS.is_empty()),
                "an `authorization!` must ask for roles, groups or claims (or use `NoAuthorization`)"
            );
            $($(assert!($crate::__valid_claim_path($path), concat!("claim path `", $path, "` has an empty segment"));)*)?
        };
    };
    (@list all all [$($item:literal),*]) => { &[$($item),*] };
    (@list any any [$($item:literal),*]) => { &[$($item),*] };
    (@list all any [$($item:literal),*]) => { &[] };
    (@list any all [$($item:literal),*]) => { &[] };
    (@list $want:ident) => { &[] };
    // Any other word than `all` or `any` must not compile to "asks
    // nothing": that would let everyone in.
    (@list $want:ident $other:ident [$($item:literal),*]) => {
        ::core::compile_error!(concat!(
            "`roles` and `groups` take `all [...]` or `any [...]`, not `",
            stringify!($other),
            " [...]`"
        ))
    };
}
