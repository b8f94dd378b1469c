//! HTTP paths: canonical form is stable and leaves nothing to resolve, and a
//! path granted under `/api/*` stays under `/api/` however a server reads it.

use baton_grant::http::{HttpGrant, Target, canonical_path, check};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

/// Pieces of paths, benign and hostile.
const TOKENS: [&str; 34] = [
    "/", "/", "/", "/", ".", "..", "api", "admin", "x", "~", "-", "%2e", "%2E", "%2f", "%5c", "\\",
    ";", "..;", "%41", "%61", "%7e", "%", "%25", "%c3%a4", "ä", "%c0%ae", "．", " ", "{", "%3b",
    "%00", "\u{0}", "%20", "...",
];

/// Pieces that every reading of RFC 3986 agrees on.
const PLAIN: [&str; 7] = ["/", "/", ".", "..", "api", "admin", "x"];

fn path_from(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(tokens), 0..12),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(parts, slash)| {
            let body = parts.concat();
            if slash { format!("/{body}") } else { body }
        })
}

/// RFC 3986 §5.2.4 remove_dot_segments, step by step as the RFC writes it.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path.to_string();
    let mut output = String::new();
    let pop = |out: &mut String| match out.rfind('/') {
        Some(i) => out.truncate(i),
        None => out.clear(),
    };
    while !input.is_empty() {
        if let Some(rest) = input
            .strip_prefix("../")
            .or_else(|| input.strip_prefix("./"))
        {
            input = rest.to_string();
        } else if input.starts_with("/./") {
            input = input[2..].to_string();
        } else if input == "/." {
            input = "/".into();
        } else if input.starts_with("/../") {
            input = input[3..].to_string();
            pop(&mut output);
        } else if input == "/.." {
            input = "/".into();
            pop(&mut output);
        } else if input == "." || input == ".." {
            input.clear();
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input = input[end..].to_string();
        }
    }
    output
}

/// The most permissive server we can think of: decodes every escape (twice),
/// applies Unicode compatibility mapping, reads `\` as `/`, drops `;`
/// parameters, merges `//`, reads a run of dots as `..`, then resolves dots.
fn lenient_server(path: &str) -> String {
    let once = percent_decode(path);
    let twice = percent_decode(&once);
    let mapped: String = twice.nfkc().collect::<String>().replace('\\', "/");
    let mut out: Vec<String> = Vec::new();
    for segment in mapped.split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            s if s.bytes().all(|b| b == b'.') => {
                out.pop();
            }
            s => out.push(s.to_string()),
        }
    }
    format!("/{}", out.join("/"))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn under_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn api_grant() -> HttpGrant {
    "http://mes.local/api/*".parse().unwrap()
}

proptest! {
    #[test]
    fn canonicalisation_is_idempotent(path in path_from(&TOKENS)) {
        if let Ok(canonical) = canonical_path(&path) {
            prop_assert_eq!(canonical_path(&canonical), Ok(canonical.clone()));
        }
    }

    #[test]
    fn a_canonical_path_has_nothing_left_to_resolve(path in path_from(&TOKENS)) {
        let Ok(c) = canonical_path(&path) else { return Ok(()) };
        prop_assert!(c.starts_with('/'), "{c}");
        for bad in ["//", "/./", "/../", "\\", ";", "%2E", "%2F", "%5C", "%25", "%3B"] {
            prop_assert!(!c.contains(bad), "{path:?} became {c:?}, which contains {bad:?}");
        }
        prop_assert!(!c.ends_with("/.") && !c.ends_with("/.."), "{c}");
        prop_assert!(c.bytes().all(|b| b.is_ascii_graphic()), "{c:?}");
        prop_assert_eq!(remove_dot_segments(&c), c.clone());
        prop_assert_eq!(lenient_server(&c), lenient_server(&remove_dot_segments(&c)));
    }

    #[test]
    fn plain_paths_canonicalise_as_rfc_3986_resolves_them(path in path_from(&PLAIN)) {
        match canonical_path(&path) {
            // An empty path is `/` in a request line (RFC 9112 §3.2.1).
            Ok(c) if path.is_empty() => prop_assert_eq!(c, "/"),
            Ok(c) => prop_assert_eq!(c, remove_dot_segments(&path)),
            Err(e) => prop_assert!(
                path.contains("//")
                    || !path.is_empty() && !path.starts_with('/')
                    || path.split('/').any(|s| s.len() > 2 && s.bytes().all(|b| b == b'.')),
                "{path:?} refused: {e}"
            ),
        }
    }

    #[test]
    fn a_path_granted_under_api_stays_there_however_it_is_read(
        path in prop_oneof![path_from(&TOKENS), path_from(&TOKENS).prop_map(|p| format!("/api/{p}"))],
    ) {
        let Ok(target) = Target::new(false, "mes.local", &path) else { return Ok(()) };
        let allowed = check(&[api_grant()], &target).is_ok();
        prop_assert_eq!(allowed, under_api(target.path()), "{}", target);
        if allowed {
            let sent = target.request_target();
            prop_assert!(under_api(&remove_dot_segments(&sent)), "{path:?} sent as {sent}");
            let lenient = lenient_server(&sent);
            prop_assert!(under_api(&lenient) || lenient == "/api", "{path:?} sent as {sent}, read as {lenient}");
        }
    }

    #[test]
    fn a_target_reads_back_as_itself(
        https in any::<bool>(),
        host in prop::sample::select(&["MES.local", "mes.local.", "10.0.4.30", "[0::1]", "a.B.c"][..]),
        port in prop::option::of(1u16..),
        path in path_from(&TOKENS),
        query in prop::option::of("[a-z=&%/?;ä ]{0,8}"),
    ) {
        let authority = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let path_and_query = match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let Ok(target) = Target::new(https, &authority, &path_and_query) else { return Ok(()) };
        let again = Target::new(https, &target.host_header(), &target.request_target());
        prop_assert_eq!(again.as_ref(), Ok(&target));
        prop_assert_eq!(target.host(), target.host().to_ascii_lowercase());
        prop_assert!(!target.host().ends_with('.'));
    }

    #[test]
    fn a_subdomain_grant_matches_exactly_the_subdomains(
        labels in prop::collection::vec(prop::sample::select(&["a", "mes", "local", "MES", "evilmes"][..]), 1..5),
    ) {
        let host = labels.join(".");
        let target = Target::new(true, &host, "/").unwrap();
        let grant: HttpGrant = "https://*.mes.local".parse().unwrap();
        let lower = host.to_ascii_lowercase();
        prop_assert_eq!(check(&[grant], &target).is_ok(), lower.ends_with(".mes.local"));
    }
}
