//! Token validation and the calls to a provider's token endpoint.
//!
//! Signature checks take a [`KeySource`](crate::provider::keys::KeySource)
//! rather than a whole provider, so they can be tested with a fixed key set.

pub(crate) mod access;
pub(crate) mod authorization;
pub(crate) mod claims;
pub(crate) mod dpop;
pub(crate) mod endpoint;
pub(crate) mod id_token;
pub(crate) mod jws;
pub(crate) mod logout_token;
pub(crate) mod service;
