//! The routes the fairing mounts: the callback at the path of
//! `redirect_uri` (GET, and POST for `response_mode=form_post`), logout at
//! `logout_path` (GET and POST), back-channel logout (POST), and with
//! `[oidc.resource]` the protected-resource metadata (GET).

use rocket::Request;
use rocket::data::Data;
use rocket::http::{ContentType, Header, Method, Status};
use rocket::response::Response;
use rocket::route::{self, Handler, Route};

use crate::error::OidcError;
use crate::flow::callback::{self, AuthorizationResponse};
use crate::flow::{backchannel, logout};
use crate::oidc::Oidc;
use crate::web::request::{read_form, see_other};
use crate::web::request_memo::{self, RequestMemo};
use crate::web::resource_metadata::ResourceMetadata;

/// Every route of the crate.
pub(crate) fn routes(
    callback_paths: &[&str],
    logout_path: &str,
    backchannel_path: &str,
    resource_metadata_paths: &[String],
) -> Vec<Route> {
    let mut routes = Vec::new();
    for path in callback_paths {
        routes.push(Route::ranked(1, Method::Get, path, Callback));
        routes.push(Route::ranked(1, Method::Post, path, Callback));
    }
    routes.extend([
        Route::new(Method::Get, logout_path, Logout),
        Route::new(Method::Post, logout_path, Logout),
        Route::new(Method::Post, backchannel_path, BackchannelLogout),
    ]);
    for path in resource_metadata_paths {
        routes.push(Route::new(Method::Get, path, ResourceMetadata));
    }
    routes
}

/// The app's state; the routes are mounted only with it.
fn oidc<'r>(request: &'r Request<'_>) -> Option<&'r Oidc> {
    request.rocket().state::<Oidc>()
}

/// Hands `error` to the catcher of its status.
fn failed<'r>(request: &'r Request<'_>, error: OidcError) -> route::Outcome<'r> {
    error.stash(request);
    route::Outcome::Error(error.status())
}

/// The provider's authorization response: the query of a `GET`, or the
/// form of a `POST` (`response_mode=form_post`).
#[derive(Clone)]
struct Callback;

#[rocket::async_trait]
impl Handler for Callback {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        let Some(oidc) = oidc(request) else {
            return route::Outcome::Error(Status::InternalServerError);
        };
        let pairs = if request.method() == Method::Post {
            match read_form(data).await {
                Ok(body) => url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect::<Vec<_>>(),
                Err(error) => return failed(request, error),
            }
        } else {
            let query = request.uri().query().map(|q| q.as_str()).unwrap_or("");
            url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
        };
        let response = match AuthorizationResponse::parse(pairs.into_iter()) {
            Ok(response) => response,
            Err(error) => return failed(request, error),
        };
        let jar = request_memo::jar(request, oidc);
        let path = request.uri().path().as_str().to_string();
        match callback::finish(oidc, &jar, &path, response).await {
            Ok(location) => route::Outcome::Success(see_other(location)),
            Err(failure) => {
                crate::telemetry::login(failure.provider.as_deref(), Some(failure.cause.label()), None);
                event!(
                    info,
                    "oidc: login failed: {}: {} (hint: {})",
                    failure.cause,
                    failure.error,
                    failure.cause.hint()
                );
                if let Some(login) = failure.login {
                    request_memo::put(&RequestMemo::of(request).login_redirect, login);
                }
                failed(request, failure.error)
            }
        }
    }
}

/// RP-initiated logout.
#[derive(Clone)]
struct Logout;

#[rocket::async_trait]
impl Handler for Logout {
    async fn handle<'r>(&self, request: &'r Request<'_>, _: Data<'r>) -> route::Outcome<'r> {
        let Some(oidc) = oidc(request) else {
            return route::Outcome::Error(Status::InternalServerError);
        };
        // A request from another site logs nobody out, GET or POST alike: a
        // link, an image or a form elsewhere, a sibling subdomain included
        // (`same-site`: SameSite=Lax cookies still go along on its POSTs).
        // It gets a page whose button POSTs, from this site. This origin's
        // own pages (`same-origin`), a typed URL or bookmark (`none`), and
        // browsers that send no Fetch Metadata log out, when their
        // `Origin`, if any, is this app's.
        if !from_this_origin(request, &oidc.config().redirect_uri) {
            return route::Outcome::Success(confirmation_page(&oidc.config().logout_path));
        }
        let jar = request_memo::jar(request, oidc);
        match logout::logout(oidc, &jar).await {
            Ok(location) => route::Outcome::Success(see_other(location)),
            Err(error) => {
                event!(warn, "oidc: logout could not be recorded: {error}");
                failed(request, error)
            }
        }
    }
}

/// Whether `request` comes from this app's own origin (that of
/// `redirect_uri`): by Fetch Metadata (`Sec-Fetch-Site` `same-origin`, or
/// `none` for a typed URL; absent in browsers without it), and by `Origin`
/// when the browser sends one (RFC 6454 §7; `null` is no origin of ours).
fn from_this_origin(request: &Request<'_>, public: &url::Url) -> bool {
    let headers = request.headers();
    let site_ok = headers
        .get_one("Sec-Fetch-Site")
        .is_none_or(|site| site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"));
    let ours = public.origin().ascii_serialization();
    let origin_ok = headers
        .get("Origin")
        .all(|origin| origin.trim_end_matches('/').eq_ignore_ascii_case(&ours));
    site_ok && origin_ok
}

/// The page a request of the logout route from another site gets: a button that
/// POSTs to it (`path` is a plain path, checked at launch).
fn confirmation_page(path: &str) -> Response<'static> {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log out</title></head>\n\
         <body><h1>Log out?</h1>\n<form method=\"post\" action=\"{path}\"><button type=\"submit\">Log out</button></form>\n\
         <p><a href=\"/\">Stay logged in</a></p></body></html>\n"
    );
    Response::build()
        .status(Status::Ok)
        .header(ContentType::HTML)
        .header(Header::new("Cache-Control", "no-store"))
        .sized_body(body.len(), std::io::Cursor::new(body))
        .finalize()
}

/// The provider's POST of a logout token.
#[derive(Clone)]
struct BackchannelLogout;

#[rocket::async_trait]
impl Handler for BackchannelLogout {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        let Some(oidc) = oidc(request) else {
            return route::Outcome::Error(Status::InternalServerError);
        };
        let ended = match read_form(data).await {
            Ok(body) => backchannel::backchannel_logout(oidc, &body).await,
            Err(error) => Err(error),
        };
        match ended {
            Ok(ended) => {
                event!(info, "oidc: back-channel logout ended {ended} stored session(s)");
                crate::telemetry::logout("backchannel");
                route::Outcome::Success(
                    Response::build()
                        .status(Status::Ok)
                        .header(Header::new("Cache-Control", "no-store"))
                        .finalize(),
                )
            }
            Err(error) => {
                event!(info, "oidc: back-channel logout refused: {error}");
                failed(request, error)
            }
        }
    }
}

/// The browser's return from the provider's logout page (checked in the
/// fairing's request hook, whatever route answers `post_logout_redirect_uri`).
pub(crate) fn on_request(oidc: &Oidc, request: &Request<'_>) {
    if request.uri().path().as_str() != oidc.post_logout_path() {
        return;
    }
    let returned = request.query_value::<&str>("state").and_then(Result::ok);
    logout::on_return(&request_memo::jar(request, oidc), returned, oidc.clock().time());
}
