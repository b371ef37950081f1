//! Multi-tenant issuers, as Microsoft Entra ID's `common` and
//! `organizations` endpoints are: one discovery document whose `issuer`
//! is a template (`https://login.microsoftonline.com/{tenantid}/v2.0`) and
//! one set of keys for every tenant's tokens. A token is accepted only
//! when its `tid` is one the app serves and its `iss` is the template with
//! that same `tid` in it: the keys alone prove nothing about the tenant,
//! since they sign every tenant's tokens (the reason "turn off issuer
//! validation", the usual advice, lets any tenant in).

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::TenantError;

/// Where a tenant goes in an issuer template.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// `providers.<name>.tenants`: the tenants (`tid`s) whose tokens a
/// multi-tenant provider's may be, or `"any"`.
///
/// ```rust
/// use rocket_openidconnect::config::Tenants;
///
/// let some: Tenants = rocket::serde::json::from_str(r#"["72f988bf-86f1-41af-91ab-2d7cd011db47"]"#).unwrap();
/// assert!(some.allows("72f988bf-86f1-41af-91ab-2d7cd011db47"));
/// assert!(!some.allows("another-tenant"));
/// let any: Tenants = rocket::serde::json::from_str(r#""any""#).unwrap();
/// assert!(any.allows("another-tenant"));
/// assert!(!any.allows("../other"), "a tenant is an identifier, not a path");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "TenantsText")]
pub enum Tenants {
    /// Every tenant (a multi-tenant SaaS app): the app decides per tenant.
    Any,
    /// These tenants only, looked up in constant time however many.
    Listed(HashSet<String>),
}

/// What the configuration writes: `"any"` or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum TenantsText {
    Word(String),
    List(Vec<String>),
}

impl TryFrom<TenantsText> for Tenants {
    type Error = String;

    fn try_from(text: TenantsText) -> Result<Tenants, String> {
        match text {
            TenantsText::Word(word) if word == "any" => Ok(Tenants::Any),
            TenantsText::Word(word) => Err(format!("must be \"any\" or a list of tenant ids, not `{word}`")),
            TenantsText::List(list) if list.is_empty() => Err("must name at least one tenant (or be \"any\")".into()),
            TenantsText::List(list) => match list.iter().find(|tid| !is_tenant_id(tid)) {
                Some(bad) => Err(format!(
                    "`{bad}` is no tenant id (letters, digits, `-`, `_` and `.`, at most 128)"
                )),
                // Entra writes tenant GUIDs in lower case; the portal may
                // show them in upper case. Only GUIDs are folded: other
                // tenant names are compared as written.
                None => Ok(Tenants::Listed(
                    list.into_iter()
                        .map(|tid| if is_guid(&tid) { tid.to_ascii_lowercase() } else { tid })
                        .collect(),
                )),
            },
        }
    }
}

impl Tenants {
    /// Whether a token of tenant `tid` may be accepted.
    pub fn allows(&self, tid: &str) -> bool {
        is_tenant_id(tid)
            && match self {
                Tenants::Any => true,
                Tenants::Listed(listed) => listed.contains(tid),
            }
    }

    /// The issuer a token of tenant `tid` must name: `template` with `tid`
    /// in it.
    pub(crate) fn issuer_of(template: &str, tid: &str) -> String {
        template.replacen(TENANT_PLACEHOLDER, tid, 1)
    }

    /// Whether `iss` is `template` with `tid` in it (allocating nothing).
    fn is_issuer_of(template: &str, tid: &str, iss: &str) -> bool {
        let Some((before, after)) = template.split_once(TENANT_PLACEHOLDER) else {
            return false;
        };
        iss.strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .is_some_and(|middle| middle == tid)
    }

    /// The tenant of `claims` and the issuer they must name, if `tid` is
    /// an allowed tenant and `iss` is `template` with it. Why not,
    /// otherwise.
    pub(crate) fn check<'c>(&self, template: &str, claims: &'c Map<String, Value>) -> Result<&'c str, TenantError> {
        let tid = claims.get("tid").and_then(Value::as_str).ok_or(TenantError::NoTenant)?;
        if !self.allows(tid) {
            return Err(TenantError::NotAllowed);
        }
        // The `iss` of one tenant with the `tid` of another is refused:
        // both are signed by the same keys, and only their agreement says
        // whose token it is.
        match claims.get("iss").and_then(Value::as_str) {
            Some(iss) if Tenants::is_issuer_of(template, tid, iss) => Ok(tid),
            _ => Err(TenantError::IssuerOfAnotherTenant),
        }
    }

    /// The tenant `iss` names, when it is `template` with an allowed
    /// tenant in it (an authorization response's or a logout token's
    /// `iss`, before a `tid` can be read).
    pub(crate) fn tenant_in<'i>(&self, template: &str, iss: &'i str) -> Option<&'i str> {
        let (before, after) = template.split_once(TENANT_PLACEHOLDER)?;
        let tid = iss.strip_prefix(before)?.strip_suffix(after)?;
        self.allows(tid).then_some(tid)
    }
}

/// Whether `text` is a GUID (8-4-4-4-12 hexadecimal digits), which
/// compares without regard to case.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `tid` is shaped like a tenant id: it goes into an issuer URL,
/// so no `/`, `?`, `#` or `%` may come with it.
fn is_tenant_id(tid: &str) -> bool {
    !tid.is_empty()
        && tid.len() <= 128
        && tid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && tid != "."
        && tid != ".."
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEMPLATE: &str = "https://login.example.com/{tenantid}/v2.0";

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn listed(tids: &[&str]) -> Tenants {
        Tenants::Listed(tids.iter().map(|t| t.to_string()).collect())
    }

    #[test]
    fn a_token_is_accepted_only_for_an_allowed_tid_and_the_iss_of_that_same_tid() {
        let tenants = listed(&["t-1", "t-2"]);
        let ok = claims(json!({ "tid": "t-1", "iss": "https://login.example.com/t-1/v2.0" }));
        assert_eq!(tenants.check(TEMPLATE, &ok), Ok("t-1"));
        for (bad, why) in [
            (
                json!({ "tid": "t-3", "iss": "https://login.example.com/t-3/v2.0" }),
                TenantError::NotAllowed,
            ),
            (
                json!({ "tid": "t-1", "iss": "https://login.example.com/t-2/v2.0" }),
                TenantError::IssuerOfAnotherTenant,
            ),
            (
                json!({ "tid": "t-1", "iss": TEMPLATE }),
                TenantError::IssuerOfAnotherTenant,
            ),
            (json!({ "tid": "t-1" }), TenantError::IssuerOfAnotherTenant),
            (
                json!({ "iss": "https://login.example.com/t-1/v2.0" }),
                TenantError::NoTenant,
            ),
            (
                json!({ "tid": ["t-1"], "iss": "https://login.example.com/t-1/v2.0" }),
                TenantError::NoTenant,
            ),
        ] {
            assert_eq!(tenants.check(TEMPLATE, &claims(bad.clone())), Err(why), "{bad}");
        }
        let any = Tenants::Any;
        let odd = claims(json!({ "tid": "../t-1", "iss": "https://login.example.com/../t-1/v2.0" }));
        assert_eq!(any.check(TEMPLATE, &odd), Err(TenantError::NotAllowed));
    }

    #[test]
    fn the_tenant_of_an_issuer_is_read_against_the_template() {
        let tenants = listed(&["t-1"]);
        assert_eq!(
            tenants.tenant_in(TEMPLATE, "https://login.example.com/t-1/v2.0"),
            Some("t-1")
        );
        assert_eq!(tenants.tenant_in(TEMPLATE, "https://login.example.com/t-2/v2.0"), None);
        assert_eq!(
            tenants.tenant_in(TEMPLATE, "https://login.example.com/t-1/v2.0/x"),
            None
        );
        assert_eq!(tenants.tenant_in(TEMPLATE, "https://evil.example/t-1/v2.0"), None);
        assert_eq!(
            Tenants::Any.tenant_in(TEMPLATE, "https://login.example.com/a/b/v2.0"),
            None
        );
    }

    #[test]
    fn the_configuration_writes_any_or_a_list_of_ids() {
        let parse = |text: &str| serde_json::from_str::<Tenants>(text);
        assert_eq!(parse(r#""any""#).ok(), Some(Tenants::Any));
        assert!(parse(r#""all""#).is_err());
        assert!(parse("[]").is_err());
        assert!(parse(r#"["a/b"]"#).is_err());
        assert!(parse(r#"[""]"#).is_err());
        assert_eq!(parse(r#"["a", "b"]"#).ok(), Some(listed(&["a", "b"])));
        assert_eq!(
            parse(r#"["72F988BF-86F1-41AF-91AB-2D7CD011DB47", "Contoso"]"#).ok(),
            Some(listed(&["72f988bf-86f1-41af-91ab-2d7cd011db47", "Contoso"])),
            "GUIDs as Entra writes them; other names as written"
        );
    }
}
