//! Where the browser goes after login: back to the page that asked for it,
//! which must be a path on this site. Anything that a browser could read as
//! another origin (`//host`, `/\host`, `/<TAB>/host`, `https:host`...)
//! becomes `/`.

/// Longest return path kept (the pending-login cookie must stay small).
const MAX_LEN: usize = 2048;

/// `target` if it is a same-origin relative path (with query), else `/`.
pub(crate) fn safe_return_path(target: &str) -> String {
    if is_safe(target) {
        target.to_string()
    } else {
        "/".to_string()
    }
}

fn is_safe(target: &str) -> bool {
    let bytes = target.as_bytes();
    if target.len() > MAX_LEN || bytes.first() != Some(&b'/') {
        return false;
    }
    // Browsers strip tabs and newlines from URLs and treat `\` as `/`, so
    // any of those could turn `/x` into `//evil.example`. Allow only
    // printable ASCII without backslashes; everything else must arrive
    // percent-encoded (and stays encoded in the Location header).
    if !bytes.iter().all(|b| (0x21..0x7f).contains(b) && *b != b'\\') {
        return false;
    }
    if matches!(bytes.get(1), Some(b'/')) {
        return false;
    }
    // Defense in depth: no encoded slash or backslash right after the
    // first one either, in case a proxy decodes before the browser sees it.
    let lower = target.to_ascii_lowercase();
    !(lower.starts_with("/%2f") || lower.starts_with("/%5c"))
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn keeps_same_origin_paths_with_query() {
        for ok in ["/", "/profile", "/profile?x=1&y=%20z", "/a/b/../c", "/%E2%82%AC"] {
            assert_eq!(safe_return_path(ok), ok);
        }
    }

    #[test]
    fn never_leads_off_site() {
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%2F%2Fevil.example",
            "/%5cevil.example",
            "https:evil.example",
            "https://evil.example/",
            "evil.example",
            "",
            "/ /evil.example",
            "/caf\u{e9}",
            "/\u{0}x",
        ] {
            assert_eq!(safe_return_path(bad), "/", "{bad:?}");
        }
        assert_eq!(safe_return_path(&format!("/{}", "a".repeat(3000))), "/");
    }
}
