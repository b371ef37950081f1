//! The crate's modules form layers, and every import points down
//! (the list at the top of `src/lib.rs`): a reader can take one layer
//! alone, and the lower layers can be tested without the upper ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first. A module may use its own layer and those below.
const LAYERS: &[(&str, &[&str])] = &[
    ("testing", &["testing"]),
    ("web", &["web"]),
    ("flow", &["flow"]),
    ("oidc", &["oidc"]),
    ("store", &["store"]),
    ("session", &["session"]),
    ("token", &["token"]),
    ("provider", &["provider"]),
    ("config", &["config"]),
    (
        "leaves",
        &[
            "error",
            "secret",
            "clock",
            "cache",
            "telemetry",
            "client_key",
            "owner_file",
        ],
    ),
    // Below the leaves: what any of them may use.
    ("roots", &["random", "jose"]),
];

/// Test scaffolding, compiled only for the crate's unit tests: outside the
/// layers. Any layer's tests may use it, and it may use anything (the
/// hand-built JWTs of `tests/support/jwt.rs` sign through the public
/// `testing` kit, as the integration tests do).
const TEST_ONLY: &[&str] = &["test_jwt", "test_fuzz"];

fn rank(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
        .map(|top_down| LAYERS.len() - top_down)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib").then(|| name.to_string())
}

/// The `crate::<module>` paths used in the code of `text` (comments and
/// doc comments excluded), with their line numbers. The crate's own name
/// counts too: under `cfg(test)` it is `crate` (`extern crate self`).
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let code = code.replace("rocket_openidconnect::", "crate::");
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            let before = &rest[..at];
            let after = &rest[at + "crate::".len()..];
            rest = after;
            if before.ends_with('$') {
                continue; // `$crate::` in a macro: resolved at the user's site
            }
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if after[name.len()..].starts_with('!') {
                continue; // `crate::scopes!`: an exported macro, at the root by nature
            }
            found.push((number + 1, name));
        }
    }
    found
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found the sources: {files:?}");
    let mut violations = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        if TEST_ONLY.contains(&module.as_str()) {
            continue;
        }
        let Some(own) = rank(&module) else {
            violations.push(format!("{}: module `{module}` is in no layer", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (line, target) in crate_paths(&text) {
            if TEST_ONLY.contains(&target.as_str()) {
                continue;
            }
            let place = format!("{}:{line}", file.strip_prefix(&src).unwrap_or(file).display());
            match rank(&target) {
                None => violations.push(format!(
                    "{place}: `crate::{target}` is a root re-export or unknown module; name the module"
                )),
                Some(theirs) if theirs > own => {
                    violations.push(format!("{place}: `{module}` imports `{target}`, a layer above it"))
                }
                Some(theirs) if theirs == own && Some(own) == rank("error") && target != module => {
                    violations.push(format!("{place}: leaf `{module}` imports `{target}`"))
                }
                Some(_) => {
                    if target != module {
                        edges.entry(module.clone()).or_default().insert(target);
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering:\n{}",
        violations.join("\n")
    );

    // No cycle between modules either.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            return Some(path[start..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        let cycle = visit(node, &edges, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "modules import each other in a cycle: {cycle:?}");
    }
}

#[test]
fn the_checker_sees_upward_imports() {
    let paths = crate_paths("use crate::web::guard::OidcUser; // crate::flow in a comment\nlet x = $crate::X;");
    assert_eq!(paths, [(1, "web".to_string())]);
    let by_name = crate_paths("use rocket_openidconnect::testing::jose;");
    assert_eq!(by_name, [(1, "testing".to_string())], "the crate's own name is seen");
    assert!(rank("web") > rank("flow") && rank("flow") > rank("oidc"));
    assert!(rank("error") < rank("config") && rank("nothing").is_none());
}
