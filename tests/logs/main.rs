//! The integration tests that read what the crate logs. They share the
//! process's one logger, which each test installs before any Rocket is
//! built (a Rocket installs its own otherwise), so they live apart from
//! the other tests, whose Rockets would win that race.

#[path = "../support/mod.rs"]
mod support;

mod client_authentication;
mod configuration;
mod launch_doctor;
mod observability;
mod pushed_authorization;
