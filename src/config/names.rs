//! Naming a configured provider at the type level, for guards.

/// Names a configured provider at the type level, for guards such as
/// [`OidcUser<P>`](crate::OidcUser). Declare one with [`provider!`](crate::provider!).
///
/// ```rust
/// use rocket_openidconnect::{ProviderName, DefaultProvider};
///
/// assert_eq!(DefaultProvider::NAME, "default");
/// ```
pub trait ProviderName: Send + Sync + 'static {
    /// The provider's key under `[oidc.providers]`.
    const NAME: &'static str;
}

/// The provider named `default`, used when a guard names none.
///
/// ```rust
/// use rocket_openidconnect::{OidcUser, DefaultProvider};
///
/// fn same(_: OidcUser) -> Option<OidcUser<DefaultProvider>> { None }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DefaultProvider;

impl ProviderName for DefaultProvider {
    const NAME: &'static str = "default";
}

/// Declares a zero-sized type naming a provider of the configuration.
///
/// ```rust
/// use rocket_openidconnect::{provider, OidcUser, ProviderName};
///
/// provider!(
///     /// Our company's Keycloak.
///     pub Corporate = "corporate"
/// );
///
/// assert_eq!(Corporate::NAME, "corporate");
///
/// #[rocket::get("/intranet")]
/// fn intranet(user: OidcUser<Corporate>) -> String {
///     format!("hello {}", user.subject())
/// }
/// ```
#[macro_export]
macro_rules! provider {
    ($(#[$meta:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::ProviderName for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// How strong or how recent a login a route requires (step-up, RFC 9470):
/// one of `ACR_VALUES` as the ID token's `acr`, and an `auth_time` no
/// older than `MAX_AGE` seconds. Declare one with
/// [`requirement!`](crate::requirement!); routes without one pay nothing.
///
/// ```rust
/// use rocket_openidconnect::{NoRequirement, Requirement};
///
/// assert!(NoRequirement::ACR_VALUES.is_empty() && NoRequirement::MAX_AGE.is_none());
/// ```
pub trait Requirement: Send + Sync + 'static {
    /// Acceptable `acr` values (any one of them); empty: any.
    const ACR_VALUES: &'static [&'static str];
    /// The longest time since the user authenticated, in seconds; `None`: any.
    const MAX_AGE: Option<u64>;
}

/// No requirement on the login: what [`OidcUser`](crate::OidcUser) asks
/// when it names none.
///
/// ```rust
/// use rocket_openidconnect::{DefaultProvider, NoRequirement, OidcUser};
///
/// fn same(_: OidcUser) -> Option<OidcUser<DefaultProvider, NoRequirement>> { None }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NoRequirement;

impl Requirement for NoRequirement {
    const ACR_VALUES: &'static [&'static str] = &[];
    const MAX_AGE: Option<u64> = None;
}

/// Declares a zero-sized type naming a login requirement for
/// [`OidcUser<P, R>`](crate::OidcUser): `acr` values (any one) and/or a
/// `max_age` in seconds.
///
/// ```rust
/// use rocket_openidconnect::{requirement, DefaultProvider, OidcUser, Requirement};
///
/// requirement!(
///     /// Multi-factor, within the last five minutes.
///     pub Mfa { acr: ["urn:example:mfa"], max_age: 300 }
/// );
/// requirement!(pub Recent { max_age: 60 });
///
/// assert_eq!(Mfa::ACR_VALUES, ["urn:example:mfa"]);
/// assert_eq!(Recent::MAX_AGE, Some(60));
///
/// #[rocket::post("/transfer")]
/// fn transfer(user: OidcUser<DefaultProvider, Mfa>) -> String {
///     format!("transfer by {}", user.subject())
/// }
/// ```
#[macro_export]
macro_rules! requirement {
    ($(#[$meta:meta])* $vis:vis $name:ident { $(acr: [$($acr:literal),+ $(,)?])? $(,)? $(max_age: $max_age:literal)? $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::Requirement for $name {
            const ACR_VALUES: &'static [&'static str] = &[$($($acr),+)?];
            const MAX_AGE: ::std::option::Option<u64> = $crate::requirement!(@max_age $($max_age)?);
        }
    };
    (@max_age) => { ::std::option::Option::None };
    (@max_age $max_age:literal) => { ::std::option::Option::Some($max_age) };
}
