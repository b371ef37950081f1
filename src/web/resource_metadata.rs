//! The protected-resource metadata document (RFC 9728 §2, §3): what a
//! client (an MCP client, say) learns about this API before it has a
//! token: its resource identifier, which authorization servers issue
//! tokens for it, and how to present them.

use std::io::Cursor;

use rocket::Request;
use rocket::data::Data;
use rocket::http::{ContentType, Header, Status};
use rocket::response::Response;
use rocket::route::{self, Handler};
use serde_json::{Map, Value, json};

use crate::config::{DpopMode, TENANT_PLACEHOLDER};
use crate::oidc::Oidc;
use crate::token::dpop::PROOF_ALGS;

/// `GET /.well-known/oauth-protected-resource[/<path>]`.
#[derive(Clone)]
pub(crate) struct ResourceMetadata;

#[rocket::async_trait]
impl Handler for ResourceMetadata {
    async fn handle<'r>(&self, request: &'r Request<'_>, _data: Data<'r>) -> route::Outcome<'r> {
        let Some(oidc) = request.rocket().state::<Oidc>() else {
            return route::Outcome::Error(Status::InternalServerError);
        };
        let Some(document) = document(oidc).await else {
            return route::Outcome::Error(Status::NotFound);
        };
        let body = Value::Object(document).to_string();
        route::Outcome::Success(
            Response::build()
                .header(ContentType::JSON)
                // Public and the same for every caller: a browser-based
                // client (MCP inspectors are) may read it from any origin;
                // no credentials are involved.
                .header(Header::new("Access-Control-Allow-Origin", "*"))
                .header(Header::new("Cache-Control", "public, max-age=300"))
                .sized_body(body.len(), Cursor::new(body))
                .finalize(),
        )
    }
}

/// The metadata of `oidc`'s `[oidc.resource]`, if it has one.
async fn document(oidc: &Oidc) -> Option<Map<String, Value>> {
    let resource = oidc.config().resource.as_ref()?;
    let mut servers: Vec<String> = resource.authorization_servers.clone();
    if servers.is_empty() {
        for provider in oidc.providers() {
            // An issuer known only by discovery is read from its (cached)
            // metadata; one that cannot be read now is left out rather
            // than named wrongly. A multi-tenant issuer is a template, no
            // authorization server: name the tenants' in
            // `resource.authorization_servers`.
            let issuer = match provider.config.static_issuer() {
                Some(issuer) => Some(issuer.to_string()),
                None => provider.metadata().await.ok().map(|m| m.issuer.clone()),
            };
            let trusted = provider.config.bearer.trusted_issuers.iter().cloned();
            for issuer in issuer.into_iter().chain(trusted) {
                if !issuer.contains(TENANT_PLACEHOLDER) && !servers.contains(&issuer) {
                    servers.push(issuer);
                }
            }
        }
    }
    // RFC 9728 §3.3: `resource` is the identifier exactly as configured,
    // the one the well-known URL was formed from.
    let mut document = Map::new();
    document.insert("resource".into(), json!(resource.identifier));
    document.insert("authorization_servers".into(), json!(servers));
    // RFC 6750 §2.1 only: tokens in a query are refused (§2.3 is a
    // MUST NOT for most deployments, and the crate never takes them).
    document.insert("bearer_methods_supported".into(), json!(["header"]));
    if !resource.scopes_supported.is_empty() {
        document.insert("scopes_supported".into(), json!(resource.scopes_supported));
    }
    let modes: Vec<DpopMode> = oidc.providers().map(|p| p.config.bearer.dpop).collect();
    if modes.iter().any(|mode| *mode != DpopMode::Off) {
        let algs: Vec<&str> = PROOF_ALGS.split(' ').collect();
        document.insert("dpop_signing_alg_values_supported".into(), json!(algs));
    }
    if !modes.is_empty() && modes.iter().all(|mode| *mode == DpopMode::Required) {
        document.insert("dpop_bound_access_tokens_required".into(), json!(true));
    }
    for (name, value) in [
        ("resource_name", resource.resource_name.clone()),
        (
            "resource_documentation",
            resource.resource_documentation.as_ref().map(|u| u.to_string()),
        ),
        (
            "resource_policy_uri",
            resource.resource_policy_uri.as_ref().map(|u| u.to_string()),
        ),
        (
            "resource_tos_uri",
            resource.resource_tos_uri.as_ref().map(|u| u.to_string()),
        ),
    ] {
        if let Some(value) = value {
            document.insert(name.into(), json!(value));
        }
    }
    Some(document)
}
