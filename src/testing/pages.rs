//! The HTML pages of the test issuer, for a person trying the crate with
//! `cargo run --example dev_provider`: the login page, the form-post
//! answer, the session list with its back-channel logout buttons.

use std::collections::HashMap;

use super::issuer::{AuthorizationResponse, Session};
use crate::web::catchers::escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}\
label{display:block;margin:.6rem 0 .2rem}input,textarea{width:100%;padding:.4rem;box-sizing:border-box}\
button{margin:.8rem .4rem 0 0;padding:.5rem 1rem}table{border-collapse:collapse;width:100%}\
td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;font-size:.9rem}code{word-break:break-all}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head>\n<body>{body}</body></html>\n",
        title = escape(title),
    )
}

/// The login page: who logs in, with which claims.
pub(crate) fn login(params: &HashMap<String, String>, issuer: &str) -> String {
    let mut hidden = String::new();
    let mut names: Vec<&String> = params.keys().collect();
    names.sort();
    for name in names {
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(&params[name])
        ));
    }
    let client = params.get("client_id").map(String::as_str).unwrap_or_default();
    let scope = params.get("scope").map(String::as_str).unwrap_or_default();
    page(
        "Log in: test issuer",
        &format!(
            "<h1>Log in</h1><p>Test issuer <code>{issuer}</code>. Client <code>{client}</code> asks for <code>{scope}</code>. \
             Pick any user: there are no passwords here.</p>\
             <form method=\"post\" action=\"/authorize\">{hidden}\
             <label for=\"subject\">Subject (<code>sub</code>)</label><input id=\"subject\" name=\"login_subject\" value=\"alice\" required>\
             <label for=\"name\">Name</label><input id=\"name\" name=\"login_name\" value=\"Alice Example\">\
             <label for=\"email\">Email</label><input id=\"email\" name=\"login_email\" value=\"alice@example.com\">\
             <label for=\"claims\">More ID-token claims (a JSON object)</label><textarea id=\"claims\" name=\"login_claims\" rows=\"3\">{{}}</textarea>\
             <button name=\"login_decision\" value=\"approve\">Log in</button>\
             <button name=\"login_decision\" value=\"deny\">Refuse</button></form>\
             <p><a href=\"/sessions\">Sessions at this issuer</a></p>",
            issuer = escape(issuer),
            client = escape(client),
            scope = escape(scope),
        ),
    )
}

/// A page that POSTs the authorization response to the client
/// (OAuth 2.0 Form Post Response Mode).
pub(crate) fn form_post(response: &AuthorizationResponse) -> String {
    let fields: String = response
        .params
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect();
    page(
        "Continue",
        &format!(
            "<form method=\"post\" action=\"{}\">{fields}<noscript><button>Continue</button></noscript></form>\
             <script>document.forms[0].submit()</script>",
            escape(&response.redirect_uri)
        ),
    )
}

/// A page with a message and a link back to the sessions.
pub(crate) fn message(title: &str, text: &str) -> String {
    page(
        title,
        &format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/sessions\">Sessions at this issuer</a></p>",
            escape(title),
            escape(text)
        ),
    )
}

/// The login sessions at the issuer, each with a back-channel logout button.
pub(crate) fn sessions(sessions: &[Session], notice: Option<&str>, now: i64) -> String {
    let rows: String = sessions
        .iter()
        .map(|session| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{} s ago</td><td><code>{}</code></td><td>\
                 <form method=\"post\" action=\"/sessions/logout\"><input type=\"hidden\" name=\"sid\" value=\"{}\">\
                 <button>Back-channel logout</button></form></td></tr>",
                escape(&session.subject),
                escape(&session.client_id),
                now.saturating_sub(session.started),
                escape(&session.sid),
                escape(&session.sid),
            )
        })
        .collect();
    let notice = notice
        .map(|text| format!("<p role=\"status\"><strong>{}</strong></p>", escape(text)))
        .unwrap_or_default();
    let table = if sessions.is_empty() {
        "<p>Nobody is logged in.</p>".to_string()
    } else {
        format!("<table><tr><th>subject</th><th>client</th><th>logged in</th><th>sid</th><th></th></tr>{rows}</table>")
    };
    page(
        "Sessions: test issuer",
        &format!(
            "<h1>Sessions</h1>{notice}{table}<p>A back-channel logout sends a signed logout token to the client, \
             which then ends that user's session at once.</p>"
        ),
    )
}
