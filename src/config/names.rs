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
