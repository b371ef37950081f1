//! What the crate does for a request, above the state it keeps: starting
//! and finishing logins, refreshing tokens, logging out (RP-initiated and
//! back-channel), and the client-credentials grant. Each takes the
//! request's cookie jar and parsed inputs; the routes and guards that call
//! them are in `web`.

pub(crate) mod backchannel;
pub(crate) mod callback;
pub(crate) mod claim_sources;
pub(crate) mod client_credentials;
pub(crate) mod diagnosis;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod refresh;
pub(crate) mod return_path;
pub(crate) mod userinfo_refresh;
