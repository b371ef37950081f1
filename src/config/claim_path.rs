//! Claims found by a dotted path, as providers nest them: Keycloak puts
//! realm roles at `realm_access.roles` and a client's at
//! `resource_access.<client>.roles`; Entra and Okta put `roles` and
//! `groups` at the top. A path's value counts only as a string or an array
//! of strings: anything else (a number, an object, an array holding one)
//! is no role at all, never a role named by its JSON text, so a provider's
//! odd answer cannot grant what the app did not mean.

use std::sync::Arc;

use serde_json::{Map, Value};

/// A dotted path into claims (`realm_access.roles`), checked when the
/// configuration is read: no empty segment. Cloning one is cheap (a
/// reference count), and finding a value by it allocates nothing.
///
/// ```rust
/// use rocket_openidconnect::config::ClaimPath;
///
/// assert!(ClaimPath::parse("resource_access.my-app.roles").is_ok());
/// assert!(ClaimPath::parse("realm_access..roles").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct ClaimPath(Arc<str>);

impl TryFrom<String> for ClaimPath {
    type Error = String;

    fn try_from(text: String) -> Result<ClaimPath, String> {
        ClaimPath::parse(&text)
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ClaimPath {
    /// The top-level claim `name`.
    pub(crate) fn top(name: &str) -> ClaimPath {
        ClaimPath(Arc::from(name))
    }

    /// The path `text`, or why it is none. A path that starts with
    /// `https://` or `http://` is one top-level claim named by that URL
    /// (Auth0's namespaced claims), not a dotted path.
    pub fn parse(text: &str) -> Result<ClaimPath, String> {
        if is_url_claim(text) {
            return Ok(ClaimPath(Arc::from(text)));
        }
        if text.split('.').any(|segment| segment.trim().is_empty()) {
            return Err(format!("`{text}` has an empty segment (write `a.b.c`)"));
        }
        Ok(ClaimPath(Arc::from(text)))
    }

    /// The path as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `path` names one top-level claim whose name is a URL: Auth0
/// requires custom claims to be namespaced that way
/// (`https://example.com/roles`), dots and all.
fn is_url_claim(path: &str) -> bool {
    path.starts_with("https://") || path.starts_with("http://")
}

/// The top-level claim `path` starts at.
pub(crate) fn top(path: &str) -> Option<&str> {
    if is_url_claim(path) {
        return Some(path);
    }
    path.split('.').next().filter(|segment| !segment.is_empty())
}

/// The value at the dotted `path` in `claims`, if every segment is there
/// and each one before the last names an object. A path with an empty
/// segment finds nothing (not a claim named `""`). A path that is a URL
/// names one top-level claim (see `is_url_claim`).
pub(crate) fn find<'c>(claims: &'c Map<String, Value>, path: &str) -> Option<&'c Value> {
    if is_url_claim(path) {
        return claims.get(path);
    }
    let mut segments = path.split('.');
    let mut value = claims.get(segments.next().filter(|s| !s.is_empty())?)?;
    for segment in segments {
        if segment.is_empty() {
            return None;
        }
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

/// Whether `path` is a dotted path without an empty segment: the
/// [`authorization!`](crate::authorization!) macro checks its claim paths
/// with it when the app is compiled.
#[doc(hidden)]
pub const fn valid(path: &str) -> bool {
    let bytes = path.as_bytes();
    if starts_with(bytes, b"https://") || starts_with(bytes, b"http://") {
        return true;
    }
    let mut i = 0;
    let mut segment_len = 0;
    while i < bytes.len() {
        if bytes[i] == b'.' {
            if segment_len == 0 {
                return false;
            }
            segment_len = 0;
        } else if bytes[i] != b' ' {
            segment_len += 1;
        }
        i += 1;
    }
    segment_len > 0
}

/// `bytes` starts with `prefix` (in a `const fn`).
const fn starts_with(bytes: &[u8], prefix: &[u8]) -> bool {
    if bytes.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if bytes[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `value`, as a string or an array of strings (and nothing
/// else), holds `wanted`. Allocates nothing.
pub(crate) fn holds(value: &Value, wanted: &str) -> bool {
    if wanted.trim().is_empty() {
        return false;
    }
    match value {
        Value::String(one) => one == wanted,
        Value::Array(many) => many.iter().all(Value::is_string) && many.iter().any(|one| one == wanted),
        _ => false,
    }
}

/// The strings `value` holds, as [`holds`] counts them.
pub(crate) fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(one) if !one.trim().is_empty() => vec![one.as_str()],
        Value::Array(many) if many.iter().all(Value::is_string) => many
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    impl ClaimPath {
        fn strings<'c>(&self, claims: &'c Map<String, Value>) -> Vec<&'c str> {
            find(claims, self.as_str()).map(strings).unwrap_or_default()
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn roles_are_found_where_keycloak_entra_and_okta_put_them() {
        let keycloak = claims(json!({
            "realm_access": { "roles": ["admin", "user"] },
            "resource_access": { "my-app": { "roles": ["editor"] } },
        }));
        let path = |p: &str| ClaimPath::parse(p).expect("a path");
        assert_eq!(path("realm_access.roles").strings(&keycloak), ["admin", "user"]);
        assert_eq!(path("resource_access.my-app.roles").strings(&keycloak), ["editor"]);
        let entra = claims(json!({ "roles": ["Task.Write"], "groups": ["b8f1..."] }));
        assert_eq!(path("roles").strings(&entra), ["Task.Write"]);
        let okta = claims(json!({ "groups": "Everyone" }));
        assert_eq!(path("groups").strings(&okta), ["Everyone"]);
    }

    #[test]
    fn a_value_of_another_shape_grants_nothing() {
        let path = ClaimPath::parse("roles").expect("a path");
        for odd in [
            json!({ "roles": 1 }),
            json!({ "roles": { "admin": true } }),
            json!({ "roles": ["admin", 1] }),
            json!({ "roles": [["admin"]] }),
            json!({ "roles": "" }),
            json!({ "roles": null }),
            json!({}),
        ] {
            assert!(path.strings(&claims(odd.clone())).is_empty(), "{odd}");
        }
        // A path through something that is not an object finds nothing.
        let deep = ClaimPath::parse("realm_access.roles").expect("a path");
        assert!(deep.strings(&claims(json!({ "realm_access": ["roles"] }))).is_empty());
        assert!(deep.strings(&claims(json!({ "realm_access": "roles" }))).is_empty());
    }

    #[test]
    fn a_url_names_one_claim_as_auth0_namespaces_them() {
        let path = ClaimPath::parse("https://example.com/roles").expect("a path");
        let auth0 =
            claims(json!({ "https://example.com/roles": ["admin"], "https://example": { "com/roles": ["x"] } }));
        assert_eq!(path.strings(&auth0), ["admin"]);
        assert!(valid("https://example.com/roles"));
        assert_eq!(top("https://example.com/roles"), Some("https://example.com/roles"));
        assert_eq!(top("realm_access.roles"), Some("realm_access"));
    }

    #[test]
    fn a_path_has_no_empty_segment() {
        for bad in ["", ".", "a..b", ".a", "a.", " . "] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ClaimPath::parse("a.b-c.d_e").is_ok());
    }
}
