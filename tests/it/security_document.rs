//! `SECURITY.md` names, for each defence, the test that proves it; every
//! test it names exists, so the document cannot drift from the tests.

use std::path::Path;

/// `name::rest` references in backticks: (`name`, `rest`).
fn references(text: &str) -> Vec<(String, String)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| code.split_once("::"))
        .filter(|(file, rest)| {
            file.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '*')
        })
        .map(|(file, rest)| (file.to_string(), rest.to_string()))
        .collect()
}

#[test]
fn every_test_named_in_security_md_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let document = std::fs::read_to_string(root.join("SECURITY.md")).expect("SECURITY.md");
    let references = references(&document);
    assert!(references.len() > 40, "{} references", references.len());
    let mut missing = Vec::new();
    for (first, rest) in references {
        // `file::test` (a module of tests/it or tests/logs), `file::*`, or a unit-test module path
        // under src/ (`token::id_token::tests`).
        let integration = ["tests", "tests/it", "tests/logs"]
            .iter()
            .map(|dir| root.join(dir).join(format!("{first}.rs")))
            .find(|path| path.exists())
            .unwrap_or_else(|| root.join("tests").join(format!("{first}.rs")));
        let (source, name) = if integration.exists() {
            (integration, rest.clone())
        } else {
            let mut parts: Vec<&str> = std::iter::once(first.as_str()).chain(rest.split("::")).collect();
            let name = if parts.last().is_some_and(|p| *p != "tests") {
                parts.pop().unwrap_or("")
            } else {
                ""
            };
            let module: Vec<&str> = parts.iter().copied().filter(|p| *p != "tests").collect();
            // `src/a/b.rs`, or `src/a/b/mod.rs` for a module with files of its own.
            let file = root.join("src").join(format!("{}.rs", module.join("/")));
            let file = if file.exists() {
                file
            } else {
                root.join("src").join(module.join("/")).join("mod.rs")
            };
            (file, name.to_string())
        };
        let Ok(text) = std::fs::read_to_string(&source) else {
            missing.push(format!("{first}::{rest} (no {})", source.display()));
            continue;
        };
        if name != "*" && !name.is_empty() && !text.contains(&format!("fn {name}(")) {
            missing.push(format!("{first}::{rest} (no fn {name} in {})", source.display()));
        }
    }
    assert!(
        missing.is_empty(),
        "SECURITY.md names tests that do not exist:\n{}",
        missing.join("\n")
    );
}
