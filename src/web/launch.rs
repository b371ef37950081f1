//! What the app says when it has launched: its providers, callback and
//! stores, each provider's mix-up defence and client key, whether Redis
//! keeps what it must, and (in the background) the launch doctor's
//! warnings.

use rocket::{Orbit, Rocket};

use crate::config::{SessionStoreKind, UserinfoMethod};
use crate::oidc::Oidc;
use crate::provider::doctor;
use crate::session::cookie;

/// Logs what the app launched with, and starts the doctor.
pub(crate) async fn report(rocket: &Rocket<Orbit>, oidc: &Oidc) {
    let names: Vec<&str> = oidc.provider_names().collect();
    event!(
        info,
        "oidc: providers [{}], callback {} (GET, POST), {:?} sessions, state {}",
        names.join(", "),
        oidc.config().callback_path(),
        oidc.config().session.store,
        if oidc.redis().is_some() {
            "in Redis"
        } else {
            "in this process"
        }
    );
    let config = oidc.config();
    if config.session.store == SessionStoreKind::Cookie && config.redis.is_none() {
        match &config.session.logout_records_path {
            Some(path) => event!(info, "oidc: logouts are written down in {}", path.display()),
            None => event!(
                info,
                "oidc: logouts are kept in this process only: a restart refuses every cookie session from before \
                 it once (users log in again); `session.logout_records_path` or `[oidc.redis]` keeps them"
            ),
        }
    }
    for name in oidc.provider_names() {
        let path = config.redirect_uri_of(name).path();
        let sharing = config.providers_at(path).count();
        let defence = if sharing > 1 {
            format!("responses at {path} must carry `iss` (RFC 9207): {sharing} providers share it")
        } else {
            format!("its responses arrive at {path} only")
        };
        event!(info, "oidc: provider `{name}`: mix-up defence: {defence}");
        if let Some(key) = config.providers.get(name).and_then(|p| p.private_key.as_ref()) {
            event!(
                info,
                "oidc: provider `{name}`: private_key_jwt with the key whose public JWK is {}",
                key.public_jwk()
            );
        }
    }
    if let Some(redis) = oidc.redis() {
        redis.check_config().await;
    }
    // What travels in clear is said whatever `doctor` says: it costs no call.
    let release = rocket.figment().profile() == "release";
    let ip_header_set = ip_header_chosen(rocket);
    let warnings = doctor::examine_config(config, release)
        .into_iter()
        .chain(doctor::examine_client_address(config, ip_header_set, release));
    for warning in warnings {
        event!(warn, "oidc: {warning}");
    }
    if config.doctor {
        // In the background: launch waits for no provider.
        let oidc = oidc.clone();
        rocket::tokio::spawn(async move {
            let skew = oidc.config().clock_skew_seconds;
            for provider in oidc.providers() {
                let mut warnings = doctor::examine(provider, skew).await;
                if let Ok(metadata) = provider.metadata().await {
                    let userinfo = metadata.userinfo_endpoint.is_some()
                        && provider.config.userinfo_http_method != UserinfoMethod::None;
                    let session = &oidc.config().session;
                    warnings.extend(cookie::size_warning(session, &provider.config.scopes, userinfo));
                }
                for warning in warnings {
                    event!(warn, "oidc doctor: provider `{}`: {warning}", provider.name);
                }
            }
        });
    }
}

/// Whether the operator chose Rocket's `ip_header`. Rocket serialises its
/// whole default `Config` into the figment, so the key is always found; only
/// its provenance says whether anyone set it. A value other than the default
/// header was chosen whatever its source.
fn ip_header_chosen(rocket: &Rocket<Orbit>) -> bool {
    let default = rocket::Config::default().ip_header;
    if rocket.config().ip_header != default {
        return true;
    }
    rocket
        .figment()
        .find_metadata("ip_header")
        .is_some_and(|metadata| metadata.name != "rocket::Config::default()")
}
