//! A bad `oidc` configuration, or a guard naming a provider that is not
//! configured, aborts launch with a message naming the key.

use rocket::error::ErrorKind;
use serde_json::{Value, json};

use crate::support::*;

/// A provider table that would be valid (no provider needs to run: discovery
/// is lazy).
fn valid_config() -> Value {
    oidc_config_for_issuer("http://127.0.0.1:9")
}

/// Builds the app (after installing the logger: building a Rocket sets up
/// Rocket's own logger), ignites it and expects launch to be refused; returns
/// what was logged.
async fn assert_launch_refused(build: impl FnOnce() -> rocket::Rocket<rocket::Build>, what: &str) -> Vec<String> {
    logs::capture();
    match rocket::local::asynchronous::Client::untracked(build()).await {
        Ok(_) => panic!("{what}: launch should have been refused"),
        Err(e) => {
            let kind = e.kind();
            assert!(
                matches!(kind, ErrorKind::FailedFairings(_) | ErrorKind::SentinelAborts(_)),
                "{what}: expected a failed fairing or a sentinel abort, got {kind:?}"
            );
        }
    }
    logs::of_this_thread()
}

/// Whether `message` names `key` as a whole dotted path (not as part of a
/// longer one such as `oidc.oidc.redirect_uri` or `oidc.redirect_uri.oidc`).
fn names_key(message: &str, key: &str) -> bool {
    let part_of_path = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    message.match_indices(key).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + key.len()..].chars().next();
        !before.is_some_and(part_of_path) && !after.is_some_and(part_of_path)
    })
}

/// Asserts that the launch is refused and that some logged message names
/// one of `keys` (when the log could be captured).
async fn assert_config_refused(oidc: Value, keys: &[&str]) {
    let logs = assert_launch_refused(|| rp(oidc, default_routes()), keys[0]).await;
    if logs.is_empty() {
        println!("(no log captured; checked the error kind only)");
    } else {
        assert!(
            logs.iter().any(|m| keys.iter().any(|key| names_key(m, key))),
            "some message should name {keys:?}; logged: {logs:#?}"
        );
    }
}

#[test]
fn names_key_matches_whole_paths_only() {
    assert!(names_key("`oidc.redirect_uri`: is missing", "oidc.redirect_uri"));
    assert!(names_key("oidc.redirect_uri is missing", "oidc.redirect_uri"));
    assert!(!names_key("`oidc.oidc.redirect_uri`: is missing", "oidc.redirect_uri"));
    assert!(!names_key("`oidc.redirect_uri.oidc`: bad", "oidc.redirect_uri"));
}

#[rocket::async_test]
async fn a_valid_configuration_ignites_without_reaching_the_provider() {
    logs::capture();
    let client = rocket::local::asynchronous::Client::untracked(rp(valid_config(), default_routes())).await;
    assert!(client.is_ok(), "{:?}", client.err().map(|e| e.to_string()));
}

#[rocket::async_test]
async fn a_missing_redirect_uri_aborts_launch() {
    let mut config = valid_config();
    config.as_object_mut().unwrap().remove("redirect_uri");
    assert_config_refused(config, &["oidc.redirect_uri"]).await;
}

#[rocket::async_test]
async fn a_redirect_uri_that_is_not_a_url_aborts_launch() {
    let mut config = valid_config();
    config["redirect_uri"] = json!("not a url");
    assert_config_refused(config, &["oidc.redirect_uri"]).await;
}

#[rocket::async_test]
async fn a_relative_redirect_uri_aborts_launch() {
    let mut config = valid_config();
    config["redirect_uri"] = json!("/redirect_uri");
    assert_config_refused(config, &["oidc.redirect_uri"]).await;
}

#[rocket::async_test]
async fn a_missing_oidc_table_aborts_launch() {
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default()).merge(("secret_key", secret_key(1)));
    let build = || rp_with_figment(figment, default_routes());
    let logs = assert_launch_refused(build, "no oidc table").await;
    if !logs.is_empty() {
        assert!(
            logs.iter().any(|m| names_key(m, "oidc")),
            "some message should name `oidc`: {logs:#?}"
        );
    }
}

#[rocket::async_test]
async fn a_provider_without_issuer_discovery_url_or_metadata_aborts_launch() {
    let mut config = valid_config();
    config["providers"]["default"].as_object_mut().unwrap().remove("issuer");
    assert_config_refused(config, &["oidc.providers.default", "oidc.providers.default.issuer"]).await;
}

#[rocket::async_test]
async fn an_unknown_token_endpoint_auth_method_aborts_launch() {
    let mut config = valid_config();
    config["providers"]["default"]["token_endpoint_auth_method"] = json!("client_secret_carrier_pigeon");
    assert_config_refused(config, &["oidc.providers.default.token_endpoint_auth_method"]).await;
}

#[rocket::async_test]
async fn an_unknown_userinfo_http_method_aborts_launch() {
    let mut config = valid_config();
    config["providers"]["default"]["userinfo_http_method"] = json!("PUT");
    assert_config_refused(config, &["oidc.providers.default.userinfo_http_method"]).await;
}

#[rocket::async_test]
async fn a_roles_or_groups_claim_path_with_an_empty_segment_aborts_launch() {
    for key in ["roles_claim", "groups_claim"] {
        let mut config = valid_config();
        config["providers"]["default"][key] = json!("realm_access..roles");
        assert_config_refused(config, &[&format!("oidc.providers.default.{key}")]).await;
    }
}

#[rocket::async_test]
async fn a_guard_naming_an_unconfigured_provider_aborts_launch() {
    // `/second` uses `OidcUser<Second>`; only `default` is configured.
    let routes = rocket::routes![app::profile, app::second];
    let logs = assert_launch_refused(|| rp(valid_config(), routes), "OidcUser<Second>").await;
    if !logs.is_empty() {
        assert!(
            logs.iter().any(|m| m.to_lowercase().contains("second")),
            "some message should name the provider `second`; logged: {logs:#?}"
        );
    }
}

#[rocket::async_test]
async fn a_guard_without_the_fairing_aborts_launch() {
    let build = || rocket::custom(figment(valid_config())).mount("/", default_routes());
    assert_launch_refused(build, "OidcUser without Oidc::fairing()").await;
}

/// `valid_config()` with `session.store = store` and the `[oidc.redis]` table `redis`.
fn with_redis(store: &str, redis: Option<Value>) -> Value {
    let mut config = valid_config();
    config["session"] = json!({ "store": store });
    if let Some(redis) = redis {
        config["redis"] = redis;
    }
    config
}

#[rocket::async_test]
async fn a_redis_configuration_ignites_without_reaching_redis() {
    logs::capture();
    // Nothing listens on port 9: the app starts anyway.
    let config = with_redis("redis", Some(json!({ "url": "redis://127.0.0.1:9/0" })));
    let client = rocket::local::asynchronous::Client::untracked(rp(config, default_routes())).await;
    assert!(client.is_ok(), "{:?}", client.err().map(|e| e.to_string()));
}

#[rocket::async_test]
async fn a_bad_redis_url_aborts_launch() {
    for url in [
        "not a url",
        "http://127.0.0.1:6379/",
        "redis://",
        "rediss://127.0.0.1:6379/notadb",
    ] {
        let config = with_redis("redis", Some(json!({ "url": url })));
        assert_config_refused(config, &["oidc.redis.url"]).await;
    }
}

#[rocket::async_test]
async fn the_redis_store_without_a_redis_table_aborts_launch() {
    assert_config_refused(with_redis("redis", None), &["oidc.redis.url"]).await;
}

#[rocket::async_test]
async fn the_memory_store_with_redis_aborts_launch() {
    // Its sessions would exist on one instance only.
    let config = with_redis("memory", Some(json!({ "url": "redis://127.0.0.1:6379/0" })));
    assert_config_refused(config, &["oidc.session.store"]).await;
}

#[rocket::async_test]
async fn bad_redis_settings_abort_launch_naming_the_key() {
    let cases = [
        (
            json!({ "url": "redis://127.0.0.1/0", "timeout_ms": 0 }),
            "oidc.redis.timeout_ms",
        ),
        (
            json!({ "url": "redis://127.0.0.1/0", "key_prefix": "" }),
            "oidc.redis.key_prefix",
        ),
        (
            json!({ "url": "redis://127.0.0.1/0", "key_prefix": "two words" }),
            "oidc.redis.key_prefix",
        ),
        (
            json!({ "url": "redis://127.0.0.1/0", "colour": "red" }),
            "oidc.redis.colour",
        ),
        (
            json!({ "url": "redis://127.0.0.1/0", "ca_certificate_path": "/etc/hostname" }),
            "oidc.redis.ca_certificate_path",
        ),
        (
            json!({ "url": "rediss://127.0.0.1/0", "ca_certificate_path": "/no/such/file.pem" }),
            "oidc.redis.ca_certificate_path",
        ),
        (
            json!({ "url": "rediss://127.0.0.1/0", "ca_certificate_path": "/etc/hostname" }),
            "oidc.redis.ca_certificate_path",
        ),
    ];
    for (redis, key) in cases {
        assert_config_refused(with_redis("cookie", Some(redis)), &[key]).await;
    }
}

#[rocket::async_test]
async fn zero_limits_abort_launch_naming_the_key() {
    for key in [
        "sessions",
        "sessions_per_subject",
        "used_states",
        "logout_tokens",
        "revocations",
    ] {
        let mut config = valid_config();
        config["limits"] = json!({ key: 0 });
        assert_config_refused(config, &[&format!("oidc.limits.{key}")]).await;
    }
}

#[rocket::async_test]
async fn numbers_that_would_overflow_time_abort_launch_naming_the_key() {
    let cases = [
        ("bearer.introspection_cache_seconds", json!(1_000_000_000_000u64), true),
        ("bearer.cache_entries", json!(0), true),
        ("bearer.cache_entries", json!(u64::MAX), true),
        ("auth_request_params.max_age", json!("300s"), true),
        ("auth_request_params.acr_values", json!(" "), true),
        ("http_timeout_seconds", json!(u64::MAX), false),
        ("session", json!({ "lifetime_seconds": u64::MAX }), false),
        ("session.cache_entries", json!(u64::MAX), false),
        ("clock_skew_seconds", json!(u64::MAX), false),
    ];
    for (key, value, per_provider) in cases {
        let mut config = valid_config();
        let full_key = if per_provider {
            let (table, field) = key.split_once('.').unwrap();
            config["providers"]["default"][table] = json!({ field: value });
            format!("oidc.providers.default.{key}")
        } else if key == "session" {
            config["session"] = value;
            "oidc.session.lifetime_seconds".to_string()
        } else if key == "session.cache_entries" {
            config["session"] = json!({ "cache_entries": value });
            "oidc.session.cache_entries".to_string()
        } else {
            config[key] = value;
            format!("oidc.{key}")
        };
        assert_config_refused(config, &[&full_key]).await;
    }
}

#[rocket::async_test]
async fn a_providers_own_redirect_uri_must_have_its_own_path() {
    for uri in [
        "http://127.0.0.1:8000/redirect_uri",
        "http://127.0.0.1:8000/cb?x=1",
        "ftp://x/cb",
        "http://127.0.0.1:8000/logout",
    ] {
        let mut config = valid_config();
        config["providers"]["default"]["redirect_uri"] = json!(uri);
        assert_config_refused(config, &["oidc.providers.default.redirect_uri"]).await;
    }
}

#[rocket::async_test]
async fn launch_says_how_each_provider_is_kept_apart_from_the_others() {
    logs::capture();
    let mut config = valid_config();
    config["providers"]["second"] = config["providers"]["default"].clone();
    config["providers"]["second"]["issuer"] = json!("http://127.0.0.1:10");
    config["providers"]["third"] = config["providers"]["default"].clone();
    config["providers"]["third"]["redirect_uri"] = json!("http://127.0.0.1:8000/callback/third");
    let client = rocket::local::asynchronous::Client::untracked(rp(config, default_routes())).await;
    assert!(client.is_ok());
    let logs = logs::of_this_thread();
    if logs.is_empty() {
        println!("(no log captured)");
        return;
    }
    let said = |name: &str, what: &str| {
        logs.iter()
            .any(|m| m.contains(&format!("`{name}`")) && m.contains(what))
    };
    assert!(
        said("default", "must carry `iss`") && said("second", "must carry `iss`"),
        "{logs:#?}"
    );
    assert!(said("third", "/callback/third only"), "{logs:#?}");
}

/// RFC 9207 §4: where two providers answer at one callback, `iss` is what
/// tells their responses apart; two claiming one issuer there could not be
/// told apart at all. Each with a callback of its own, they may.
#[rocket::async_test]
async fn two_providers_claiming_one_issuer_at_one_callback_abort_launch() {
    let mut config = valid_config();
    config["providers"]["second"] = config["providers"]["default"].clone();
    config["providers"]["second"]["client_id"] = json!("another-client");
    assert_config_refused(config.clone(), &["oidc.providers.second.issuer"]).await;

    // Static metadata claims its issuer too.
    let mut metadata_twin = valid_config();
    metadata_twin["providers"]["second"] = json!({
        "client_id": "another-client", "client_secret": "s",
        "metadata": {
            "issuer": "http://127.0.0.1:9",
            "authorization_endpoint": "http://127.0.0.1:9/auth",
            "token_endpoint": "http://127.0.0.1:9/token",
            "jwks_uri": "http://127.0.0.1:9/jwks",
        },
    });
    assert_config_refused(metadata_twin, &["oidc.providers.second.issuer"]).await;

    config["providers"]["second"]["redirect_uri"] = json!("http://127.0.0.1:8000/callback/second");
    let client = rocket::local::asynchronous::Client::untracked(rp(config, default_routes())).await;
    assert!(client.is_ok(), "with a callback of its own, the second launches");
}

/// CVE-2025-27370: static metadata naming an endpoint on another origin
/// than its issuer's (another provider's token endpoint, say) aborts
/// launch, unless `allowed_endpoint_origins` lists that origin.
#[rocket::async_test]
async fn static_metadata_with_an_endpoint_off_the_issuers_origin_aborts_launch_unless_allowed() {
    let with_metadata = |allowed: Value| {
        let mut config = valid_config();
        let provider = config["providers"]["default"].as_object_mut().unwrap();
        provider.remove("issuer");
        provider.insert(
            "metadata".into(),
            json!({
                "issuer": "https://op.example",
                "authorization_endpoint": "https://op.example/auth",
                "token_endpoint": "https://oauth2.other.example/token",
                "jwks_uri": "https://op.example/jwks",
            }),
        );
        provider.insert("allowed_endpoint_origins".into(), allowed);
        config
    };
    assert_config_refused(
        with_metadata(json!([])),
        &["oidc.providers.default.metadata.token_endpoint"],
    )
    .await;
    let client = rocket::local::asynchronous::Client::untracked(rp(
        with_metadata(json!(["https://oauth2.other.example"])),
        default_routes(),
    ))
    .await;
    assert!(client.is_ok(), "an allowed origin launches");
    for bad in [
        "https://oauth2.other.example/token",
        "ftp://x.example",
        "https://u:p@x.example",
    ] {
        assert_config_refused(
            with_metadata(json!([bad])),
            &["oidc.providers.default.allowed_endpoint_origins[0]"],
        )
        .await;
    }
}

#[rocket::async_test]
async fn an_https_issuer_with_a_cleartext_endpoint_aborts_launch() {
    for field in [
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
    ] {
        let mut metadata = json!({
            "issuer": "https://op.example",
            "authorization_endpoint": "https://op.example/auth",
            "token_endpoint": "https://op.example/token",
            "jwks_uri": "https://op.example/jwks",
        });
        metadata[field] = json!(format!("http://op.example/{field}"));
        let mut config = valid_config();
        let provider = config["providers"]["default"].as_object_mut().unwrap();
        provider.remove("issuer");
        provider.insert("metadata".into(), metadata);
        assert_config_refused(config, &[&format!("oidc.providers.default.metadata.{field}")]).await;
    }
}

#[rocket::async_test]
async fn an_https_issuer_discovered_in_cleartext_aborts_launch() {
    logs::capture();
    // The discovery document names the keys and the token endpoint: read
    // in clear, it would let the network choose them.
    let mut config = valid_config();
    let provider = config["providers"]["default"].as_object_mut().unwrap();
    provider.insert("issuer".into(), json!("https://op.example"));
    provider.insert(
        "discovery_url".into(),
        json!("http://op.example/.well-known/openid-configuration"),
    );
    assert_config_refused(config, &["oidc.providers.default.discovery_url"]).await;

    // On loopback (a development provider) it is allowed.
    let mut config = valid_config();
    let provider = config["providers"]["default"].as_object_mut().unwrap();
    provider.insert("issuer".into(), json!("https://op.example"));
    provider.insert(
        "discovery_url".into(),
        json!("http://127.0.0.1:9/.well-known/openid-configuration"),
    );
    logs::capture();
    let client = rocket::local::asynchronous::Client::untracked(rp(config, default_routes())).await;
    assert!(client.is_ok(), "{:?}", client.err().map(|e| e.to_string()));
}

/// `valid_config()` with the client secret in the file `path` instead.
fn config_with_secret_file(path: &std::path::Path) -> Value {
    let mut config = valid_config();
    let provider = config["providers"]["default"].as_object_mut().unwrap();
    provider.remove("client_secret");
    provider.insert("client_secret_file".into(), json!(path));
    config
}

#[test]
fn a_client_secret_file_is_read_at_launch_without_its_line_break() {
    let dir = crate::support::lifecycle::TempDir::new("secret-file");
    let path = dir.join("secret");
    std::fs::write(&path, "s3cret value\r\n").unwrap();
    let config =
        rocket_openidconnect::config::OidcConfig::from_figment(&figment(config_with_secret_file(&path))).unwrap();
    let provider = &config.providers["default"];
    assert_eq!(
        provider.client_secret.as_ref().map(|s| s.secret()),
        Some("s3cret value")
    );
    assert!(!format!("{config:?}").contains("s3cret"), "Debug redacts it");
}

#[rocket::async_test]
async fn a_client_secret_file_that_cannot_be_used_aborts_launch() {
    let dir = crate::support::lifecycle::TempDir::new("secret-file");
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    for path in [dir.join("missing"), empty] {
        assert_config_refused(
            config_with_secret_file(&path),
            &["oidc.providers.default.client_secret_file"],
        )
        .await;
    }
    // A value and a file: which one is meant is not guessed.
    let both = dir.join("both");
    std::fs::write(&both, "other").unwrap();
    let mut config = config_with_secret_file(&both);
    config["providers"]["default"]["client_secret"] = json!("s3cret");
    assert_config_refused(config, &["oidc.providers.default.client_secret_file"]).await;
}

#[rocket::async_test]
async fn an_initial_access_token_file_that_cannot_be_read_aborts_launch() {
    let mut config = valid_config();
    let provider = config["providers"]["default"].as_object_mut().unwrap();
    provider.remove("client_id");
    provider.insert(
        "registration".into(),
        json!({ "initial_access_token_file": "/nonexistent/initial-access-token" }),
    );
    assert_config_refused(
        config,
        &["oidc.providers.default.registration.initial_access_token_file"],
    )
    .await;
}

#[rocket::async_test]
async fn a_previous_secret_key_that_is_not_a_key_aborts_launch() {
    let mut config = valid_config();
    config["previous_secret_keys"] = json!([secret_key(2), "too short"]);
    assert_config_refused(config, &["oidc.previous_secret_keys[1]"]).await;
    let mut config = valid_config();
    config["previous_secret_keys"] = json!((0..9).map(secret_key).collect::<Vec<_>>());
    assert_config_refused(config, &["oidc.previous_secret_keys"]).await;
}

#[rocket::async_test]
async fn max_cookie_chunks_out_of_range_aborts_launch() {
    for chunks in [0, 9] {
        let mut config = valid_config();
        config["session"] = json!({ "max_cookie_chunks": chunks });
        assert_config_refused(config, &["oidc.session.max_cookie_chunks"]).await;
    }
}

#[rocket::async_test]
async fn keep_claims_and_drop_claims_together_abort_launch() {
    let mut config = valid_config();
    config["providers"]["default"]["session"] = json!({ "keep_claims": ["email"], "drop_claims": ["picture"] });
    assert_config_refused(config, &["oidc.providers.default.session.drop_claims"]).await;
}

/// The problems `OidcConfig::from_figment` finds, as `key: message`.
fn problems_of(oidc: Value) -> Vec<String> {
    match rocket_openidconnect::config::OidcConfig::from_figment(&figment(oidc)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|e| format!("{}: {}", e.key, e.message)).collect(),
    }
}

#[test]
fn an_unknown_or_bad_key_is_named_once_by_its_own_path() {
    let mut config = valid_config();
    config["providers"]["default"]["bogus"] = json!(1);
    let said = problems_of(config);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("oidc.providers.default.bogus: "), "{said:?}");
    assert!(!said[0].contains("bogus.bogus"), "{said:?}");

    let mut config = valid_config();
    config["providers"]["default"]["bearer"] = json!({ "dpop": "sometimes" });
    let said = problems_of(config);
    assert!(said[0].starts_with("oidc.providers.default.bearer.dpop: "), "{said:?}");
    assert!(!said[0].contains("dpop.dpop"), "{said:?}");

    let mut config = valid_config();
    config["session"] = json!({ "lifetime_seconds": "long" });
    let said = problems_of(config);
    assert!(said[0].starts_with("oidc.session.lifetime_seconds: "), "{said:?}");
}

#[rocket::async_test]
async fn the_fairing_attached_twice_runs_once() {
    logs::capture();
    let provider = TestProvider::start().await;
    let app = rp(oidc_config(&provider), default_routes()).attach(rocket_openidconnect::Oidc::fairing());
    let mut browser = Browser::new(app).await;
    browser.login_ok(&provider, "/profile").await;
    assert!(
        browser.profile().await.is_some(),
        "one set of routes, one state: the login works"
    );
}

/// The keys the configuration table of the crate docs lists (`src/lib.rs`,
/// "Configuration"); `a` / `b` in one cell is two keys of one table.
fn documented_keys() -> std::collections::BTreeSet<String> {
    // The key reference lives once, in the `config` module's docs.
    let config = include_str!("../../src/config/mod.rs");
    let table = config
        .split("//! # Keys")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the key reference");
    let mut keys = std::collections::BTreeSet::new();
    for line in table.lines().filter(|l| l.starts_with("//! | `")) {
        let cell = line.split('|').nth(1).unwrap_or_default();
        let names: Vec<&str> = cell.split('`').skip(1).step_by(2).collect();
        let first = names[0];
        let parent = first
            .rsplit_once('.')
            .map(|(parent, _)| format!("{parent}."))
            .unwrap_or_default();
        keys.insert(first.to_string());
        for name in &names[1..] {
            keys.insert(format!("{parent}{name}"));
        }
    }
    keys
}

/// The keys of each configuration table, as the parser itself lists them
/// when it meets an unknown one.
fn accepted_keys() -> std::collections::BTreeSet<String> {
    let tables: [(&str, &[&str]); 9] = [
        ("", &[]),
        ("resource.", &["resource"]),
        ("session.", &["session"]),
        ("redis.", &["redis"]),
        ("limits.", &["limits"]),
        ("providers.<name>.", &["providers", "default"]),
        ("providers.<name>.bearer.", &["providers", "default", "bearer"]),
        ("providers.<name>.session.", &["providers", "default", "session"]),
        (
            "providers.<name>.registration.",
            &["providers", "default", "registration"],
        ),
    ];
    let tables_not_keys = [
        "resource",
        "session",
        "redis",
        "limits",
        "providers",
        "bearer",
        "registration",
        "metadata",
    ];
    let mut keys = std::collections::BTreeSet::new();
    for (prefix, path) in tables {
        let mut config = valid_config();
        let mut table = &mut config;
        for step in path {
            if table.get(*step).is_none() {
                table[*step] = json!({});
            }
            table = &mut table[*step];
        }
        table["not_a_key"] = json!(1);
        let said = problems_of(config).join("\n");
        let expected = said
            .split("expected")
            .nth(1)
            .unwrap_or_else(|| panic!("{prefix}: {said}"));
        for name in expected
            .split('`')
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        {
            if !tables_not_keys.contains(&name) {
                keys.insert(format!("{prefix}{name}"));
            }
        }
    }
    keys
}

#[test]
fn the_documented_keys_are_the_keys_the_configuration_accepts() {
    let documented = documented_keys();
    let accepted = accepted_keys();
    assert!(accepted.len() > 40, "{accepted:?}");
    let wildcard = |key: &String| {
        key.starts_with("providers.<name>.registration.") || key.starts_with("providers.<name>.metadata")
    };
    let undocumented: Vec<&String> = accepted
        .iter()
        .filter(|k| !documented.contains(*k) && !wildcard(k))
        .collect();
    assert!(
        undocumented.is_empty(),
        "keys missing from the key reference (config docs): {undocumented:?}"
    );
    let stale: Vec<&String> = documented
        .iter()
        .filter(|k| !accepted.contains(*k) && !k.ends_with(".*") && !k.ends_with(".metadata"))
        .collect();
    assert!(
        stale.is_empty(),
        "documented keys the configuration does not accept: {stale:?}"
    );
}

/// `session.logout_records_path` is one process's: a second process on the
/// same file would overwrite the first's records, so it does not launch;
/// nor does a file that cannot be written, nor one beside `[oidc.redis]`
/// (where logouts are kept in Redis), nor one for the `memory` store.
#[rocket::async_test]
async fn a_logout_records_file_that_cannot_be_this_processs_own_aborts_launch_naming_the_key() {
    let dir = crate::support::lifecycle::TempDir::new("logouts");
    let mut config = valid_config();
    config["session"] = json!({ "logout_records_path": dir.join("logouts") });
    let first = rocket::local::asynchronous::Client::untracked(rp(config.clone(), default_routes()))
        .await
        .expect("the first process launches");
    assert_config_refused(config.clone(), &["oidc.session.logout_records_path"]).await;
    drop(first);
    let again = rocket::local::asynchronous::Client::untracked(rp(config, default_routes())).await;
    assert!(again.is_ok(), "once the first is gone, the file is free");

    let mut missing = valid_config();
    missing["session"] = json!({ "logout_records_path": dir.join("no-such-dir").join("logouts") });
    assert_config_refused(missing, &["oidc.session.logout_records_path"]).await;

    let mut with_redis = valid_config();
    with_redis["redis"] = json!({ "url": "redis://127.0.0.1:1/0" });
    with_redis["session"] = json!({ "logout_records_path": dir.join("other") });
    assert_config_refused(with_redis, &["oidc.session.logout_records_path"]).await;

    // `memory` sessions end with the process: nothing to keep for them.
    let mut memory = valid_config();
    memory["session"] = json!({ "store": "memory", "logout_records_path": dir.join("memory") });
    assert_config_refused(memory, &["oidc.session.logout_records_path"]).await;
}

#[rocket::async_test]
async fn a_resource_identifier_that_is_no_https_url_aborts_launch() {
    for identifier in [
        "http://api.example.com/mcp", // http off loopback
        "https://api.example.com/mcp?tenant=a",
        "https://api.example.com/mcp#top",
        "api.example.com/mcp", // no URL
    ] {
        let mut config = valid_config();
        config["resource"] = json!({ "identifier": identifier });
        assert_config_refused(config, &["oidc.resource.identifier"]).await;
    }
    let mut config = valid_config();
    config["resource"] = json!({ "identifier": "https://api.example.com", "scopes_supported": ["a b"] });
    assert_config_refused(config, &["oidc.resource.scopes_supported"]).await;
    let mut config = valid_config();
    config["resource"] = json!({ "identifier": "https://api.example.com", "colour": "blue" });
    assert_config_refused(config, &["oidc.resource.colour"]).await;
}

#[rocket::async_test]
async fn an_issuer_template_and_its_tenants_come_together_with_a_discovery_url() {
    let template = "https://login.example.com/{tenantid}/v2.0";
    let discovery = "https://login.example.com/organizations/v2.0/.well-known/openid-configuration";
    let mut config = valid_config();
    config["providers"]["default"]["issuer"] = json!(template);
    config["providers"]["default"]["discovery_url"] = json!(discovery);
    assert_config_refused(config, &["oidc.providers.default.tenants"]).await;

    let mut config = valid_config();
    config["providers"]["default"]["tenants"] = json!(["t-1"]);
    assert_config_refused(config, &["oidc.providers.default.tenants"]).await;

    let mut config = valid_config();
    config["providers"]["default"]["issuer"] = json!(template);
    config["providers"]["default"]["tenants"] = json!("any");
    assert_config_refused(config, &["oidc.providers.default.discovery_url"]).await;

    for tenants in [json!([]), json!("all"), json!(["a/b"])] {
        let mut config = valid_config();
        config["providers"]["default"]["issuer"] = json!(template);
        config["providers"]["default"]["discovery_url"] = json!(discovery);
        config["providers"]["default"]["tenants"] = tenants;
        assert_config_refused(config, &["oidc.providers.default.tenants"]).await;
    }
}

#[rocket::async_test]
async fn trusted_issuers_and_claim_sources_that_could_leak_or_never_work_abort_launch() {
    for (trusted, bearer_mode) in [
        (json!(["http://issuer.example.com"]), "auto"),
        (json!(["https://login.example.com/{tenantid}/v2.0"]), "auto"),
        (json!(["https://issuer.example.com?x=1"]), "auto"),
        (json!(["https://issuer.example.com"]), "introspection"),
        (
            json!(
                (0..21)
                    .map(|i| format!("https://issuer{i}.example.com"))
                    .collect::<Vec<_>>()
            ),
            "auto",
        ),
    ] {
        let mut config = valid_config();
        config["providers"]["default"]["bearer"] = json!({ "trusted_issuers": trusted, "mode": bearer_mode });
        let said = problems_of(config).join("\n");
        assert!(
            said.contains("oidc.providers.default.bearer.trusted_issuers"),
            "{trusted}: {said}"
        );
    }
    for sources in [
        json!(["http://claims.example.com"]),
        json!(["https://claims.example.com/#x"]),
        json!(["not a url"]),
        json!(
            (0..21)
                .map(|i| format!("https://claims{i}.example.com"))
                .collect::<Vec<_>>()
        ),
    ] {
        let mut config = valid_config();
        config["providers"]["default"]["claim_sources"] = sources.clone();
        let said = problems_of(config).join("\n");
        assert!(
            said.contains("oidc.providers.default.claim_sources"),
            "{sources}: {said}"
        );
    }
    let mut config = valid_config();
    config["providers"]["default"]["userinfo_refresh_seconds"] = json!(60);
    config["providers"]["default"]["userinfo_http_method"] = json!("none");
    assert_config_refused(config, &["oidc.providers.default.userinfo_refresh_seconds"]).await;
}
