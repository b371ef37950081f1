//! Whether claims meet an [`Authorization`]: the roles and groups found at
//! the provider's configured paths, and the claim values asked for. Every
//! test is on strings, exactly (no case folding: `Admin` is not `admin`,
//! as a provider may issue both to different people).

use serde_json::{Map, Value};

use crate::config::Authorization;
use crate::config::PROTOCOL_CLAIMS;
use crate::config::claim_path::{self, ClaimPath};
use crate::error::AuthorizationError;

/// Claims as a check reads them: a token's, or a session's ID-token
/// claims with userinfo over them and the claims resolved from claim
/// sources over both. The upper wins claim by claim (a top-level claim it
/// has replaces the lower's whole), as Flask-pyoidc and mod_auth_openidc
/// merge userinfo: it is the provider's later word, fetched with the
/// session's access token. The [`signed_only`] claims come from the
/// ID token alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimsView<'c> {
    /// The token's claims, or the ID token's.
    base: &'c Map<String, Value>,
    /// The sourced claims and userinfo, top first.
    over: [Option<&'c Map<String, Value>>; 2],
}

/// Claims that say who issued what to whom, and how the user logged in:
/// read from the ID token (or the token) alone, never from userinfo or a
/// claim source, which could otherwise speak for another tenant (`tid`),
/// issuer or login strength. The claims a session always keeps
/// (`config::PROTOCOL_CLAIMS`), and those of a token's binding and hashes.
pub(crate) fn signed_only(name: &str) -> bool {
    PROTOCOL_CLAIMS.contains(&name) || ["azp", "jti", "cnf", "at_hash", "c_hash"].contains(&name)
}

impl<'c> ClaimsView<'c> {
    /// One set of claims (a token's).
    pub(crate) fn of(claims: &'c Map<String, Value>) -> ClaimsView<'c> {
        ClaimsView {
            base: claims,
            over: [None, None],
        }
    }

    /// `userinfo` (when there is one) over `id_token`, and `sourced` over
    /// both, but for the [`signed_only`] claims.
    pub(crate) fn merged(
        id_token: &'c Map<String, Value>,
        userinfo: Option<&'c Map<String, Value>>,
        sourced: Option<&'c Map<String, Value>>,
    ) -> ClaimsView<'c> {
        ClaimsView {
            base: id_token,
            over: [sourced, userinfo],
        }
    }

    /// The value at the dotted `path`.
    pub(crate) fn find(self, path: &str) -> Option<&'c Value> {
        let top = claim_path::top(path)?;
        let claims = if signed_only(top) {
            self.base
        } else {
            self.over
                .into_iter()
                .flatten()
                .find(|claims| claims.contains_key(top))
                .unwrap_or(self.base)
        };
        claim_path::find(claims, path)
    }

    /// The strings at `path` (a string, or an array of strings).
    pub(crate) fn strings(self, path: &ClaimPath) -> Vec<&'c str> {
        self.find(path.as_str()).map(claim_path::strings).unwrap_or_default()
    }

    /// Whether the strings at `path` hold `wanted`.
    pub(crate) fn has(self, path: &ClaimPath, wanted: &str) -> bool {
        self.holds(path.as_str(), wanted)
    }

    /// Whether the value at `path` holds `wanted`.
    pub(crate) fn holds(self, path: &str, wanted: &str) -> bool {
        self.find(path).is_some_and(|value| claim_path::holds(value, wanted))
    }
}

/// Whether `A` asks nothing (`NoAuthorization`, or one declared empty).
pub(crate) fn asks_nothing<A: Authorization>() -> bool {
    A::ROLES_ALL.is_empty()
        && A::ROLES_ANY.is_empty()
        && A::GROUPS_ALL.is_empty()
        && A::GROUPS_ANY.is_empty()
        && A::CLAIMS.is_empty()
}

/// Whether `claims` meet `A`, roles and groups read at `roles` and
/// `groups`. Allocates nothing.
pub(crate) fn check<A: Authorization>(
    claims: ClaimsView<'_>,
    roles: &ClaimPath,
    groups: &ClaimPath,
) -> Result<(), AuthorizationError> {
    if !meets(claims, roles, A::ROLES_ALL, A::ROLES_ANY) {
        return Err(AuthorizationError::MissingRole);
    }
    if !meets(claims, groups, A::GROUPS_ALL, A::GROUPS_ANY) {
        return Err(AuthorizationError::MissingGroup);
    }
    for &(path, value) in A::CLAIMS {
        if !claims.holds(path, value) {
            return Err(AuthorizationError::ClaimMismatch { path });
        }
    }
    Ok(())
}

/// Whether the strings at `path` hold every one of `all` and, when `any`
/// names some, one of them. A route that asks nothing reads nothing.
fn meets(claims: ClaimsView<'_>, path: &ClaimPath, all: &[&str], any: &[&str]) -> bool {
    if all.is_empty() && any.is_empty() {
        return true;
    }
    let Some(held) = claims.find(path.as_str()) else {
        return false;
    };
    all.iter().all(|wanted| claim_path::holds(held, wanted))
        && (any.is_empty() || any.iter().any(|wanted| claim_path::holds(held, wanted)))
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
        assert_eq!(
            check::<NoAuthorization>(ClaimsView::of(&alice), &roles, &groups),
            Ok(())
        );
        assert_eq!(check::<Admins>(ClaimsView::of(&alice), &roles, &groups), Ok(()));
        assert_eq!(check::<StaffEditors>(ClaimsView::of(&alice), &roles, &groups), Ok(()));
        assert_eq!(check::<OneTenant>(ClaimsView::of(&alice), &roles, &groups), Ok(()));

        let bob = claims(json!({
            "realm_access": { "roles": ["Admin", "editor"] },
            "groups": ["staff"],
            "tid": ["t-2", "t-1"],
            "ext": { "level": "silver" },
        }));
        assert_eq!(
            check::<Admins>(ClaimsView::of(&bob), &roles, &groups),
            Err(AuthorizationError::MissingRole),
            "no case folding"
        );
        assert_eq!(
            check::<StaffEditors>(ClaimsView::of(&bob), &roles, &groups),
            Err(AuthorizationError::MissingGroup),
            "all of them"
        );
        assert_eq!(
            check::<OneTenant>(ClaimsView::of(&bob), &roles, &groups),
            Err(AuthorizationError::ClaimMismatch { path: "ext.level" })
        );
        // Without the claims at all, nothing is granted but to the route
        // that asks nothing.
        let nobody = claims(json!({ "sub": "carol" }));
        assert_eq!(
            check::<NoAuthorization>(ClaimsView::of(&nobody), &roles, &groups),
            Ok(())
        );
        assert_eq!(
            check::<Admins>(ClaimsView::of(&nobody), &roles, &groups),
            Err(AuthorizationError::MissingRole)
        );
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
                check::<Admins>(ClaimsView::of(&claims(odd.clone())), &roles, &groups),
                Err(AuthorizationError::MissingRole),
                "{odd}"
            );
        }
    }

    #[test]
    fn userinfo_wins_claim_by_claim_over_the_id_token() {
        let (roles, groups) = (at("realm_access.roles"), at("groups"));
        let id_token = claims(json!({
            "realm_access": { "roles": ["admin"] },
            "groups": ["staff", "eng"],
        }));
        // The provider's later word: the role was taken away.
        let userinfo = claims(json!({ "realm_access": { "roles": ["user"] } }));
        let view = ClaimsView::merged(&id_token, Some(&userinfo), None);
        assert_eq!(
            check::<Admins>(view, &roles, &groups),
            Err(AuthorizationError::MissingRole)
        );
        assert_eq!(
            view.strings(&groups),
            ["staff", "eng"],
            "claims userinfo lacks come from the ID token"
        );
        // Userinfo's `realm_access` replaces the ID token's whole, so a
        // path under it is not looked up in the ID token.
        let bare = claims(json!({ "realm_access": {} }));
        assert!(
            ClaimsView::merged(&id_token, Some(&bare), None)
                .find("realm_access.roles")
                .is_none()
        );
        let no_userinfo = ClaimsView::merged(&id_token, None, None);
        assert_eq!(check::<Admins>(no_userinfo, &roles, &groups), Ok(()));
    }

    #[test]
    fn who_issued_what_to_whom_is_read_from_the_id_token_alone() {
        let id_token = claims(json!({ "tid": "t-b", "iss": "https://op/t-b", "acr": "pwd" }));
        let userinfo = claims(json!({ "tid": "t-a", "acr": "mfa", "roles": ["admin"] }));
        let sourced = claims(json!({ "tid": "t-a", "sub": "mallory" }));
        let view = ClaimsView::merged(&id_token, Some(&userinfo), Some(&sourced));
        assert_eq!(view.find("tid"), Some(&json!("t-b")));
        assert_eq!(view.find("acr"), Some(&json!("pwd")));
        assert_eq!(view.find("sub"), None);
        assert_eq!(
            view.find("roles"),
            Some(&json!(["admin"])),
            "other claims come from userinfo"
        );
        assert_eq!(
            check::<OneTenant>(view, &at("roles"), &at("groups")),
            Err(AuthorizationError::ClaimMismatch { path: "tid" })
        );
    }
}
