//! Strategies for the property tests of every parser that meets input
//! (callback parameters, cookies, headers, JWS, provider JSON).
//!
//! Each test runs a case count that fits CI; `PROPTEST_CASES` overrides it:
//! `PROPTEST_CASES=1000000 cargo test --release fuzz` runs a million cases
//! of each.

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value};

/// `default` cases, unless `PROPTEST_CASES` says otherwise.
pub(crate) fn cases(default: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config.failure_persistence = None;
    config
}

/// Text a hostile peer could send: anything, with the characters that
/// break parsers (separators, quotes, escapes, controls, non-ASCII) likely.
pub(crate) fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[=&;:,.\"'\\\\/ \t\r\n\u{0}\u{1b}a-zA-Z0-9%+_~-]{0,40}",
        Just(String::new()),
        "[a-zA-Z0-9_-]{1,400}",
    ]
}

/// A number at the edges: zero, negatives, the extremes of i64 and u64,
/// fractions, huge floats.
pub(crate) fn nasty_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(i64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(u64::MAX)),
        (-1e300f64..1e300).prop_map(Value::from),
        Just(serde_json::json!(1.5)),
        Just(serde_json::json!(-0.0)),
    ]
}

/// Any JSON value, nested a few levels.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        nasty_number(),
        nasty_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(nasty_text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// A JSON object whose members named in `names` are likely present, with
/// values of any type (so `exp` as a string, `aud` as an object...).
pub(crate) fn claims_like(names: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    let member = (prop::sample::select(names), json_value()).prop_map(|(n, v)| (n.to_string(), v));
    (
        prop::collection::vec(member, 0..names.len() + 2),
        prop::collection::btree_map(nasty_text(), json_value(), 0..3),
    )
        .prop_map(|(named, other)| {
            let mut map: Map<String, Value> = other.into_iter().collect();
            map.extend(named);
            map
        })
}
