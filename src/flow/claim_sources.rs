//! Aggregated and distributed claims (OpenID Connect Core 1.0 §5.6.2):
//! an ID token or userinfo answer may say that some claims are elsewhere
//! (`_claim_names` maps a claim to a source, `_claim_sources` describes
//! the source): in a JWT signed by another issuer (aggregated), or at an
//! endpoint to call with an access token (distributed). Entra ID points
//! to Microsoft Graph that way when a user is in too many groups for a
//! token (the groups overage).
//!
//! A source is used only when `providers.<name>.claim_sources` lists it:
//! the references come from the provider, but nothing the crate fetches
//! or trusts may be chosen by the token alone (SSRF, and a session's
//! access token sent to a stranger). A source not listed, or failing, is
//! logged and its claims stay unresolved: a route asking for them
//! refuses, never grants.

use serde_json::{Map, Value};
use url::Url;

use crate::error::printable;
use crate::jose::CompactJws;
use crate::jose::unique_json::UniqueObject;
use crate::oidc::Oidc;
use crate::provider::Provider;
use crate::provider::http;
use crate::secret::AccessToken;
use crate::telemetry::{Call, Endpoint};
use crate::token::authorization::signed_only;
use crate::token::jws;

/// The most sources one login resolves: each may cost a call.
const MAX_SOURCES: usize = 8;

/// The claims of the sources `layers` (the ID token's claims, userinfo)
/// refer to, resolved; `None` when they refer to none. `access_token` is
/// sent to a distributed endpoint that names no token of its own.
pub(crate) async fn resolve(
    oidc: &Oidc,
    provider: &Provider,
    layers: &[Option<&Map<String, Value>>],
    access_token: Option<&AccessToken>,
) -> Option<Map<String, Value>> {
    let mut references = Vec::new();
    for claims in layers.iter().flatten() {
        references.extend(references_of(claims));
    }
    if references.is_empty() {
        return None;
    }
    let mut resolved = Map::new();
    for (index, reference) in references.into_iter().enumerate() {
        if index == MAX_SOURCES {
            event!(
                warn,
                "oidc: provider `{}`: more than {MAX_SOURCES} claim sources; the rest are not resolved",
                provider.name
            );
            break;
        }
        let outcome = match reference.kind {
            Kind::Aggregated(jwt) => aggregated(oidc, provider, jwt).await,
            Kind::Distributed { endpoint, token } => {
                let token = token.map(AccessToken::new);
                distributed(provider, endpoint, token.as_ref().or(access_token), &reference.names).await
            }
        };
        match outcome {
            // Only the claims the reference names: a source cannot add
            // claims (say `roles`) it was not asked for.
            Ok(claims) => {
                for name in &reference.names {
                    if let Some(value) = claims.get(*name) {
                        resolved.insert((*name).to_string(), value.clone());
                    }
                }
            }
            Err(why) => event!(
                warn,
                "oidc: provider `{}`: claims {:?} of source `{}` not resolved: {why}",
                provider.name,
                reference.names.iter().map(|n| printable(n, 64)).collect::<Vec<_>>(),
                printable(reference.source, 64)
            ),
        }
    }
    Some(resolved)
}

/// One source and the claims it holds.
struct Reference<'c> {
    source: &'c str,
    names: Vec<&'c str>,
    kind: Kind<'c>,
}

enum Kind<'c> {
    /// A JWT holding the claims, signed by its issuer.
    Aggregated(&'c str),
    /// An endpoint answering the claims, and the token to call it with.
    Distributed { endpoint: &'c str, token: Option<&'c str> },
}

/// The sources `claims` refer to, each with the claims it holds. Malformed
/// references are skipped.
fn references_of(claims: &Map<String, Value>) -> Vec<Reference<'_>> {
    let (Some(Value::Object(names)), Some(Value::Object(sources))) =
        (claims.get("_claim_names"), claims.get("_claim_sources"))
    else {
        return Vec::new();
    };
    let mut references: Vec<Reference<'_>> = Vec::new();
    for (name, source) in names {
        // Who issued what to whom comes from the ID token alone: a source
        // cannot speak for the tenant, the subject or the login.
        if signed_only(name) {
            continue;
        }
        let Some(source) = source.as_str() else { continue };
        if let Some(reference) = references.iter_mut().find(|r| r.source == source) {
            reference.names.push(name);
            continue;
        }
        let Some(Value::Object(description)) = sources.get(source) else {
            continue;
        };
        let text = |key: &str| description.get(key).and_then(Value::as_str);
        let kind = match (text("JWT"), text("endpoint")) {
            (Some(jwt), None) => Kind::Aggregated(jwt),
            (None, Some(endpoint)) => Kind::Distributed {
                endpoint,
                token: text("access_token"),
            },
            _ => continue,
        };
        references.push(Reference {
            source,
            names: vec![name],
            kind,
        });
    }
    references
}

/// The claims of an aggregated claims JWT, verified with the keys of its
/// issuer, which `claim_sources` must list.
async fn aggregated(oidc: &Oidc, provider: &Provider, jwt: &str) -> Result<Map<String, Value>, String> {
    let issuer = CompactJws::parse(jwt)
        .and_then(|jws| jws.unverified_claims())
        .and_then(|claims| claims.get("iss")?.as_str().map(str::to_string))
        .ok_or("not a JWT with an `iss`")?;
    let source = oidc
        .provider_entry(&provider.name)
        .and_then(|entry| {
            entry
                .claim_sources
                .iter()
                .find(|source| source.config.issuer.as_deref() == Some(issuer.as_str()))
        })
        .ok_or_else(|| format!("its issuer `{}` is not in `claim_sources`", printable(&issuer, 200)))?;
    let claims = jws::verify(source, jwt, jws::ASYMMETRIC_ALGS)
        .await
        .map_err(|error| error.to_string())?
        .claims;
    let now = oidc.clock().time().secs();
    let skew = oidc.skew_seconds();
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| exp <= now.saturating_sub(skew))
    {
        return Err("the claims JWT has expired".into());
    }
    Ok(claims)
}

/// The claims a distributed claims endpoint answers, when `claim_sources`
/// lists its origin and path. `names` are the claims it is asked for.
async fn distributed(
    provider: &Provider,
    endpoint: &str,
    token: Option<&AccessToken>,
    names: &[&str],
) -> Result<Map<String, Value>, String> {
    let url = Url::parse(endpoint).map_err(|_| "the endpoint is not a URL".to_string())?;
    let graph = is_member_objects(&url);
    let url = if graph { member_objects_at_graph(url) } else { url };
    if !listed(&provider.config.claim_sources, &url) {
        return Err(format!(
            "the endpoint `{}` is not under `claim_sources`",
            printable(url.as_str(), 200)
        ));
    }
    let token = token.ok_or("no access token to call it with")?;
    let call = Call {
        provider: &provider.name,
        endpoint: Endpoint::ClaimSource,
    };
    if !graph {
        let request = provider.http().get(url).bearer_auth(token.secret());
        let UniqueObject(claims) = http::json(call, request)
            .await
            .map_err(|error| format!("the endpoint {error}"))?;
        return Ok(claims);
    }
    // Entra ID's groups overage names Graph's `getMemberObjects`, which is
    // a POST answering `{"value": [ids]}`: the ids are the claim asked for.
    let request = provider
        .http()
        .post(url)
        .bearer_auth(token.secret())
        .json(&serde_json::json!({ "securityEnabledOnly": false }));
    let UniqueObject(answer) = http::json(call, request)
        .await
        .map_err(|error| format!("Graph's getMemberObjects {error}"))?;
    let ids = match answer.get("value") {
        Some(Value::Array(ids)) if ids.iter().all(Value::is_string) => Value::Array(ids.clone()),
        _ => return Err("Graph's getMemberObjects answered no list of ids".into()),
    };
    Ok(names.iter().map(|name| ((*name).to_string(), ids.clone())).collect())
}

/// Whether `url` is a directory's `getMemberObjects` (Entra ID's groups
/// overage points there).
fn is_member_objects(url: &Url) -> bool {
    url.path().ends_with("/getMemberObjects")
}

/// Entra ID's overage reference may still name the retired Azure AD Graph
/// (`https://graph.windows.net/<tid>/users/<oid>/getMemberObjects`):
/// Microsoft Graph answers the same question at
/// `https://graph.microsoft.com/v1.0/users/<oid>/getMemberObjects`.
/// Other URLs are kept as they are.
fn member_objects_at_graph(url: Url) -> Url {
    if url.host_str() != Some("graph.windows.net") {
        return url;
    }
    let segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
    match segments.as_slice() {
        [_tenant, "users", oid, "getMemberObjects"]
            if !oid.is_empty() && oid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Url::parse(&format!(
                "https://graph.microsoft.com/v1.0/users/{oid}/getMemberObjects"
            ))
            .unwrap_or(url)
        }
        _ => url,
    }
}

/// Whether `url` is on the origin of a `listed` URL, at or under its path.
fn listed(listed: &[String], url: &Url) -> bool {
    listed.iter().filter_map(|entry| Url::parse(entry).ok()).any(|entry| {
        let base = entry.path().trim_end_matches('/');
        entry.origin() == url.origin()
            && (base.is_empty() || url.path() == base || url.path().starts_with(&format!("{base}/")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_listed_on_the_origin_and_under_the_path_of_an_entry() {
        let entries = [
            "https://graph.example.com/v1.0/".to_string(),
            "https://claims.example.org".to_string(),
        ];
        let at = |url: &str| listed(&entries, &Url::parse(url).expect("a URL"));
        assert!(at("https://graph.example.com/v1.0/users/1/getMemberObjects"));
        assert!(at("https://claims.example.org/anything"));
        assert!(!at("https://graph.example.com/beta/users/1"), "another path");
        assert!(
            !at("https://graph.example.com/v1.0x/users"),
            "a path that only starts alike"
        );
        assert!(!at("http://graph.example.com/v1.0/users"), "another scheme");
        assert!(!at("https://graph.example.com:8443/v1.0/users"), "another port");
        assert!(!at("https://evil.example/v1.0/"), "another host");
    }

    #[test]
    fn entra_s_overage_reference_to_azure_ad_graph_is_asked_of_microsoft_graph() {
        let at = |url: &str| member_objects_at_graph(Url::parse(url).expect("a URL")).to_string();
        assert_eq!(
            at("https://graph.windows.net/72f988bf/users/6c2f-41ab/getMemberObjects"),
            "https://graph.microsoft.com/v1.0/users/6c2f-41ab/getMemberObjects"
        );
        assert_eq!(
            at("https://graph.windows.net/72f988bf/users/a%2Fb/getMemberObjects"),
            "https://graph.windows.net/72f988bf/users/a%2Fb/getMemberObjects",
            "an odd id is left as it is (and is then not listed)"
        );
        assert_eq!(
            at("https://graph.microsoft.com/v1.0/users/x/getMemberObjects"),
            "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"
        );
    }

    #[test]
    fn references_name_their_claims_and_malformed_ones_are_skipped() {
        let claims = serde_json::json!({
            "_claim_names": { "groups": "src1", "roles": "src1", "tier": "src2", "bad": 3, "lost": "nowhere", "tid": "src1" },
            "_claim_sources": {
                "src1": { "endpoint": "https://graph.example.com/v1.0/me", "access_token": "t" },
                "src2": { "JWT": "a.b.c" },
                "nowhere": "not an object",
            },
        });
        let claims = claims.as_object().cloned().unwrap_or_default();
        let references = references_of(&claims);
        assert_eq!(references.len(), 2);
        let src1 = references.iter().find(|r| r.source == "src1").expect("src1");
        assert_eq!(src1.names.len(), 2);
        assert!(matches!(src1.kind, Kind::Distributed { token: Some("t"), .. }));
        assert!(
            references
                .iter()
                .any(|r| r.source == "src2" && matches!(r.kind, Kind::Aggregated("a.b.c")))
        );
    }
}
