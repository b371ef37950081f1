//! Whether claims meet an [`Authorization`]: the roles and groups found at
//! the provider's configured paths, and the claim values asked for. Every
//! test is on strings, exactly (no case folding: `Admin` is not `admin`,
//! as a provider may issue both to different people).

use serde_json::{Map, Value};

use crate::config::{Authorization, ClaimPath};

/// The first thing an [`Authorization`] asks that the claims lack: said in
/// the log and the metrics, never to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Unmet {
    /// A role of `ROLES_ALL`, or any of `ROLES_ANY`.
    Roles,
    /// A group of `GROUPS_ALL`, or any of `GROUPS_ANY`.
    Groups,
    /// The claim at this path, with its value.
    Claim(&'static str),
}

/// Whether `claims` meet `A`, roles and groups read at `roles` and
/// `groups`.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn check<A: Authorization>(
    claims: &Map<String, Value>,
    roles: &ClaimPath,
    groups: &ClaimPath,
) -> Result<(), Unmet> {
    // A route that asks nothing of roles (or groups) reads none.
    let asks = |all: &[&str], any: &[&str]| !(all.is_empty() && any.is_empty());
    if asks(A::ROLES_ALL, A::ROLES_ANY) && !meets(&roles.strings(claims), A::ROLES_ALL, A::ROLES_ANY) {
        return Err(Unmet::Roles);
    }
    if asks(A::GROUPS_ALL, A::GROUPS_ANY) && !meets(&groups.strings(claims), A::GROUPS_ALL, A::GROUPS_ANY) {
        return Err(Unmet::Groups);
    }
    for (path, value) in A::CLAIMS {
        // A path the macro was given that is no path holds nothing.
        let held = ClaimPath::parse(path)
            .map(|path| path.strings(claims))
            .unwrap_or_default();
        if !held.contains(value) {
            return Err(Unmet::Claim(path));
        }
    }
    Ok(())
}

/// Whether `held` has every one of `all` and, when `any` names some, one
/// of them.
fn meets(held: &[&str], all: &[&str], any: &[&str]) -> bool {
    all.iter().all(|wanted| held.contains(wanted)) && (any.is_empty() || any.iter().any(|wanted| held.contains(wanted)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::NoAuthorization;

    crate::authorization!(Admins { roles: any ["admin", "owner"] });
    crate::authorization!(StaffEditors { roles: all ["editor"], groups: all ["staff", "eng"] });
    crate::authorization!(OneTenant { claims: { "tid" = "t-1", "ext.level" = "gold" } });

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn at(path: &str) -> ClaimPath {
        ClaimPath::parse(path).expect("a path")
    }

    #[test]
    fn roles_groups_and_claims_are_each_required_as_declared() {
        let (roles, groups) = (at("realm_access.roles"), at("groups"));
        let alice = claims(json!({
            "realm_access": { "roles": ["owner", "editor"] },
            "groups": ["staff", "eng"],
            "tid": "t-1",
            "ext": { "level": "gold" },
        }));
        assert_eq!(check::<NoAuthorization>(&alice, &roles, &groups), Ok(()));
        assert_eq!(check::<Admins>(&alice, &roles, &groups), Ok(()));
        assert_eq!(check::<StaffEditors>(&alice, &roles, &groups), Ok(()));
        assert_eq!(check::<OneTenant>(&alice, &roles, &groups), Ok(()));

        let bob = claims(json!({
            "realm_access": { "roles": ["Admin", "editor"] },
            "groups": ["staff"],
            "tid": ["t-2", "t-1"],
            "ext": { "level": "silver" },
        }));
        assert_eq!(
            check::<Admins>(&bob, &roles, &groups),
            Err(Unmet::Roles),
            "no case folding"
        );
        assert_eq!(
            check::<StaffEditors>(&bob, &roles, &groups),
            Err(Unmet::Groups),
            "all of them"
        );
        assert_eq!(
            check::<OneTenant>(&bob, &roles, &groups),
            Err(Unmet::Claim("ext.level"))
        );
        // Without the claims at all, nothing is granted but to the route
        // that asks nothing.
        let nobody = claims(json!({ "sub": "carol" }));
        assert_eq!(check::<NoAuthorization>(&nobody, &roles, &groups), Ok(()));
        assert_eq!(check::<Admins>(&nobody, &roles, &groups), Err(Unmet::Roles));
    }

    #[test]
    fn roles_of_an_odd_shape_grant_nothing() {
        let (roles, groups) = (at("roles"), at("groups"));
        for odd in [
            json!({ "roles": "admin owner" }),
            json!({ "roles": ["admin", 7] }),
            json!({ "roles": { "admin": true } }),
        ] {
            assert_eq!(
                check::<Admins>(&claims(odd.clone()), &roles, &groups),
                Err(Unmet::Roles),
                "{odd}"
            );
        }
    }
}
