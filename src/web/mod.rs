//! Where Rocket meets the crate: the fairing (build and wire), the routes
//! it mounts, the catchers (the error view), the request guards, and what
//! one request carries between them, and what every response gets.

pub(crate) mod catchers;
pub(crate) mod fairing;
pub(crate) mod guard;
pub(crate) mod launch;
pub(crate) mod readiness;
pub(crate) mod request;
pub(crate) mod request_memo;
pub(crate) mod resource_metadata;
pub(crate) mod response;
pub(crate) mod routes;
