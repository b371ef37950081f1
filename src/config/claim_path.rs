//! Claims found by a dotted path, as providers nest them: Keycloak puts
//! realm roles at `realm_access.roles` and a client's at
//! `resource_access.<client>.roles`; Entra and Okta put `roles` and
//! `groups` at the top. A path's value counts only as a string or an array
//! of strings: anything else (a number, an object, an array holding one)
//! is no role at all, never a role named by its JSON text, so a provider's
//! odd answer cannot grant what the app did not mean.

use serde_json::{Map, Value};

/// A dotted path into claims (`realm_access.roles`), checked when the
/// configuration is read: no empty segment.
///
/// ```rust
/// use rocket_openidconnect::config::ClaimPath;
///
/// assert!(ClaimPath::parse("resource_access.my-app.roles").is_ok());
/// assert!(ClaimPath::parse("realm_access..roles").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct ClaimPath(Vec<String>);

impl TryFrom<String> for ClaimPath {
    type Error = String;

    fn try_from(text: String) -> Result<ClaimPath, String> {
        ClaimPath::parse(&text)
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

#[cfg_attr(not(test), allow(dead_code))]
impl ClaimPath {
    /// The top-level claim `name`.
    pub(crate) fn top(name: &str) -> ClaimPath {
        ClaimPath(vec![name.to_string()])
    }

    /// The path `text`, or why it is none.
    pub fn parse(text: &str) -> Result<ClaimPath, String> {
        let segments: Vec<String> = text.split('.').map(str::to_string).collect();
        if segments.iter().any(|segment| segment.trim().is_empty()) {
            return Err(format!("`{text}` has an empty segment (write `a.b.c`)"));
        }
        Ok(ClaimPath(segments))
    }

    /// The value at this path in `claims`, if every segment is there and
    /// each one before the last names an object.
    pub(crate) fn find<'c>(&self, claims: &'c Map<String, Value>) -> Option<&'c Value> {
        let (first, rest) = self.0.split_first()?;
        let mut value = claims.get(first)?;
        for segment in rest {
            value = value.as_object()?.get(segment)?;
        }
        Some(value)
    }

    /// The strings at this path: one string, or every member of an array
    /// of strings. Any other shape is none (see the module docs), and so
    /// is an empty string.
    pub(crate) fn strings<'c>(&self, claims: &'c Map<String, Value>) -> Vec<&'c str> {
        match self.find(claims) {
            Some(Value::String(one)) if !one.trim().is_empty() => vec![one.as_str()],
            Some(Value::Array(many)) if many.iter().all(Value::is_string) => many
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
    fn a_path_has_no_empty_segment() {
        for bad in ["", ".", "a..b", ".a", "a.", " . "] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ClaimPath::parse("a.b-c.d_e").is_ok());
    }
}
