//! Every integration test but those that read the log or the metrics,
//! in one binary: `tests/support` compiles and links once. One module per
//! capability, each reading like the spec it proves.

#[path = "../support/mod.rs"]
#[macro_use]
mod support;

mod authorization;
mod backchannel_logout;
mod bearer_jwt;
mod bearer_tokens;
mod callback_security;
mod claim_sources;
mod client_credentials;
mod dev_provider;
mod dpop;
mod dynamic_registration;
mod fuzz_requests;
mod id_token_validation;
mod identity_guard;
mod kit_app;
mod layering;
mod login_flow;
mod logout;
mod logout_races;
mod manual_clock;
mod mix_up;
mod protected_resource;
mod provider_faults;
mod readiness;
mod redis_faults;
mod request_bounds;
mod restarts;
mod secret_keys;
mod security_document;
mod session_cache;
mod session_cookies;
mod session_inactivity;
mod session_stores;
mod shared_store;
mod signing_keys;
mod silent_reauthentication;
mod state_limits;
mod step_up;
mod tenants;
mod testing_kit;
mod token_refresh;
mod trusted_issuers;
mod userinfo_refresh;
