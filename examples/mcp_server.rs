//! A minimal MCP-style server: a JSON-RPC endpoint at `POST /mcp` behind
//! `BearerToken`, described by RFC 9728 metadata, as the MCP authorization
//! specification asks. An MCP client finds its way in alone:
//!
//! 1. `POST /mcp` without a token: `401` with `WWW-Authenticate: Bearer
//!    ..., resource_metadata="<url>"`;
//! 2. that URL (`/.well-known/oauth-protected-resource/mcp`) names the
//!    resource and its authorization servers;
//! 3. the client reads the server's metadata, registers itself there
//!    (dynamic client registration), and gets a token with `resource` set
//!    to this server (RFC 8707);
//! 4. `POST /mcp` with that token: the answer. A token for another
//!    resource is refused.
//!
//! Run it with `[default.oidc.resource]` set, e.g. with the development
//! provider (`node dev/provider.mjs`):
//!
//! ```text
//! ROCKET_PORT=8300 ROCKET_OIDC='{redirect_uri="http://127.0.0.1:8300/redirect_uri",
//!   resource={identifier="http://127.0.0.1:8300/mcp", scopes_supported=["read"]},
//!   providers={default={issuer="http://127.0.0.1:9000",client_id="demo",client_secret="demo-secret"}}}' \
//!   cargo run --example mcp_server
//! ```

#[macro_use]
extern crate rocket;

use rocket::http::{Header, Status};
use rocket::serde::json::{Json, Value, json};
use rocket_openidconnect::{BearerToken, Oidc};

/// The tools this server offers.
fn tools() -> Value {
    json!([{
        "name": "whoami",
        "description": "Who the access token speaks for.",
        "inputSchema": { "type": "object", "properties": {} },
    }])
}

/// One JSON-RPC 2.0 request, answered for the token's subject.
fn answer(request: &Value, token: &BearerToken) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let result = match request.get("method").and_then(Value::as_str) {
        Some("initialize") => Ok(json!({
            "protocolVersion": "2025-06-18",
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "rocket_openidconnect mcp_server", "version": env!("CARGO_PKG_VERSION") },
        })),
        Some("tools/list") => Ok(json!({ "tools": tools() })),
        Some("tools/call") if request.pointer("/params/name") == Some(&json!("whoami")) => Ok(json!({
            "content": [{
                "type": "text",
                "text": format!("{} (client {})", token.subject().unwrap_or("a service"), token.client_id().unwrap_or("?")),
            }],
        })),
        Some("tools/call") => Err((-32602, "unknown tool")),
        Some(_) => Err((-32601, "method not found")),
        None => Err((-32600, "invalid request")),
    };
    match result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, message)) => json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }),
    }
}

/// What `POST /mcp` answers: a JSON-RPC response, or `202` for a
/// notification (a request without `id`).
#[derive(Responder)]
enum Reply {
    Json(Json<Value>),
    Accepted(Status),
}

#[post("/mcp", format = "json", data = "<request>")]
fn mcp(token: BearerToken, request: Json<Value>) -> Reply {
    if request.get("id").is_none() && request.get("method").is_some() {
        return Reply::Accepted(Status::Accepted);
    }
    Reply::Json(Json(answer(&request, &token)))
}

/// This server streams nothing: `GET /mcp` (a server-sent event stream in
/// MCP's Streamable HTTP transport) is not offered.
#[derive(Responder)]
#[response(status = 405)]
struct NotOffered {
    body: &'static str,
    allow: Header<'static>,
}

#[get("/mcp")]
fn mcp_stream() -> NotOffered {
    NotOffered {
        body: "",
        allow: Header::new("Allow", "POST"),
    }
}

#[get("/")]
fn index() -> &'static str {
    "an MCP server: POST /mcp (JSON-RPC), metadata at /.well-known/oauth-protected-resource/mcp\n"
}

#[launch]
fn rocket() -> _ {
    rocket::build()
        .attach(Oidc::fairing())
        .mount("/", routes![index, mcp, mcp_stream])
}
