//! What a claim must hold to mean something. A JSON value of the right
//! type can still identify nobody: `"sub": ""` names no user (OpenID
//! Connect Core §2: a locally unique identifier, never reassigned), and
//! every empty one would name the same. The same goes for an empty `iss`,
//! `jti`, `sid` or `client_id`, and for an `aud` array with nothing in it.
//! Every token this crate reads (ID tokens, logout tokens, RFC 9068 access
//! tokens, introspection answers, DPoP proofs) goes through these before
//! anything is decided on its claims.

use serde_json::{Map, Value};

/// Whether `text` says something: not empty, and not only white space.
pub(crate) fn meaningful(text: &str) -> bool {
    !text.trim().is_empty()
}

/// The claim `name` of `claims`: `Ok(None)` when absent, its text when it
/// is a meaningful string, and why not otherwise (another type, or a
/// string that says nothing).
pub(crate) fn optional_text<'c>(claims: &'c Map<String, Value>, name: &str) -> Result<Option<&'c str>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(text)) if meaningful(text) => Ok(Some(text)),
        Some(Value::String(_)) => Err(format!("`{name}` is empty")),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

/// The claim `name` of `claims`, which must be present and meaningful.
pub(crate) fn required_text<'c>(claims: &'c Map<String, Value>, name: &str) -> Result<&'c str, String> {
    optional_text(claims, name)?.ok_or_else(|| format!("no `{name}`"))
}

/// The audiences of `aud` (RFC 7519 §4.1.3: one string, or an array of
/// them): `Ok(None)` when absent; refused when it names nobody (an empty
/// string or array, or an empty member) or is not of that shape.
pub(crate) fn audiences(claims: &Map<String, Value>) -> Result<Option<Vec<&str>>, String> {
    match claims.get("aud") {
        None => Ok(None),
        Some(Value::String(aud)) if meaningful(aud) => Ok(Some(vec![aud.as_str()])),
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|aud| aud.as_str().filter(|aud| meaningful(aud)))
            .collect::<Option<Vec<&str>>>()
            .map(Some)
            .ok_or_else(|| "`aud` has a member that is not a meaningful string".to_string()),
        Some(_) => Err("`aud` names no audience".to_string()),
    }
}

/// The claim `name` as a list of strings (`amr`, OpenID Connect Core §2):
/// `Ok(None)` when absent; refused unless a non-empty array of meaningful
/// strings (`[]` or `[""]` names no method, and would pass a check that
/// asks for none in particular).
pub(crate) fn optional_list<'c>(claims: &'c Map<String, Value>, name: &str) -> Result<Option<Vec<&'c str>>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|item| item.as_str().filter(|item| meaningful(item)))
            .collect::<Option<Vec<&str>>>()
            .map(Some)
            .ok_or_else(|| format!("`{name}` has a member that is not a meaningful string")),
        Some(Value::Array(_)) => Err(format!("`{name}` is empty")),
        Some(_) => Err(format!("`{name}` is not an array")),
    }
}

/// Checks that each of `names`, when present, is a meaningful string.
pub(crate) fn optional_texts(claims: &Map<String, Value>, names: &[&str]) -> Result<(), String> {
    names
        .iter()
        .try_for_each(|name| optional_text(claims, name).map(|_| ()))
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Values of the right JSON type that say nothing: what a property test
    /// of a token parser must try for every claim that identifies.
    pub(crate) fn meaningless() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("")),
            Just(json!(" ")),
            Just(json!("\t\n")),
            Just(json!([])),
            Just(json!([""])),
            Just(json!(["app", ""])),
        ]
    }

    #[test]
    fn empty_text_and_empty_audiences_mean_nothing() {
        let claims = json!({ "sub": "", "iss": " ", "jti": "j-1", "n": 5, "aud": [] });
        let claims = claims.as_object().expect("an object");
        assert_eq!(required_text(claims, "sub"), Err("`sub` is empty".into()));
        assert_eq!(required_text(claims, "iss"), Err("`iss` is empty".into()));
        assert_eq!(required_text(claims, "jti"), Ok("j-1"));
        assert_eq!(required_text(claims, "sid"), Err("no `sid`".into()));
        assert_eq!(optional_text(claims, "sid"), Ok(None));
        assert_eq!(optional_text(claims, "n"), Err("`n` is not a string".into()));
        assert!(audiences(claims).is_err());
        for (aud, ok) in [
            (json!("app"), true),
            (json!(["app", "other"]), true),
            (json!(""), false),
            (json!(["app", ""]), false),
            (json!(["app", 7]), false),
            (json!({}), false),
        ] {
            let claims = json!({ "aud": aud });
            assert_eq!(audiences(claims.as_object().expect("an object")).is_ok(), ok, "{aud}");
        }
    }
}
