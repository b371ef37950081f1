//! A configuration problem, naming its key; and figment's errors as such.

use std::fmt;

/// A configuration problem, naming the key at fault.
///
/// ```rust
/// use rocket_openidconnect::config::OidcConfig;
///
/// let figment = rocket::figment::Figment::new().merge(("oidc", rocket::serde::json::json!({
///     "providers": { "default": { "issuer": "http://127.0.0.1:9000", "client_id": "demo" } }
/// })));
/// let error = OidcConfig::from_figment(&figment).unwrap_err();
/// assert!(error[0].to_string().contains("oidc.redirect_uri"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The full key, such as `oidc.providers.default.client_id`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Where a table's checks put their problems: each under its table's key.
pub(super) struct Problems<'a> {
    table: &'a str,
    found: &'a mut Vec<ConfigError>,
}

impl<'a> Problems<'a> {
    /// Problems of the keys of `table` (such as `oidc.redis`).
    pub(super) fn of(table: &'a str, found: &'a mut Vec<ConfigError>) -> Problems<'a> {
        Problems { table, found }
    }

    /// `key` of the table is wrong: `message` says how.
    pub(super) fn add(&mut self, key: &str, message: &str) {
        self.found.push(ConfigError {
            key: format!("{}.{key}", self.table),
            message: message.to_string(),
        });
    }
}

pub(super) fn figment_errors(error: figment::Error) -> Vec<ConfigError> {
    error
        .into_iter()
        .map(|e| {
            // figment puts the focused key `oidc` at the front of a missing
            // field's path and at the end of an invalid value's path.
            let mut inner = e.path.clone();
            if inner.first().map(String::as_str) == Some("oidc") {
                inner.remove(0);
            } else if inner.last().map(String::as_str) == Some("oidc") {
                inner.pop();
            }
            let mut path = vec!["oidc".to_string()];
            path.extend(inner);
            if let figment::error::Kind::MissingField(field) = &e.kind
                && !(path.len() == 1 && field == "oidc")
            {
                path.push(field.to_string());
            }
            if let figment::error::Kind::UnknownField(field, _) = &e.kind
                && path.last() != Some(field)
            {
                path.push(field.clone());
            }
            let message = match &e.kind {
                figment::error::Kind::MissingField(_) => "is missing".to_string(),
                kind => kind.to_string(),
            };
            ConfigError {
                key: path.join("."),
                message,
            }
        })
        .collect()
}
