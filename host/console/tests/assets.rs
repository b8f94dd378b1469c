//! The embedded app is whole: every file the page and its modules load is
//! embedded with the right type, and nothing is loaded from another origin.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use baton_console::assets;

/// The quoted paths after `from` in a module's imports.
fn imports(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|l| l.trim_start().starts_with("import "))
        .filter_map(|l| l.split(" from '").nth(1))
        .filter_map(|rest| rest.split('\'').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_file_the_page_loads_is_embedded() {
    let page = String::from_utf8(assets::get("index.html").unwrap().body.into_owned()).unwrap();
    let mut wanted: Vec<String> = page
        .split("/console/")
        .skip(1)
        .filter_map(|rest| rest.split('?').next())
        .map(str::to_string)
        .collect();
    assert!(wanted.contains(&"js/app.js".to_string()), "{wanted:?}");
    // Follow the module graph from the page's entry point.
    let mut seen = Vec::new();
    while let Some(path) = wanted.pop() {
        if seen.contains(&path) {
            continue;
        }
        let asset = assets::get(&path).unwrap_or_else(|| panic!("`{path}` is not embedded"));
        if path.ends_with(".js") {
            assert_eq!(asset.content_type, "text/javascript; charset=utf-8");
            let source = String::from_utf8(asset.body.into_owned()).unwrap();
            for import in imports(&source) {
                let name = import.strip_prefix("./").unwrap_or_else(|| {
                    panic!("`{path}` imports `{import}`, which is not a file beside it")
                });
                wanted.push(format!("js/{name}"));
            }
            // The SVG namespace is a name, not an address.
            let code = source.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !code.contains("http://") && !code.contains("https://"),
                "`{path}` names another origin"
            );
        }
        seen.push(path);
    }
    // Every module under js/ is reachable from the page: none is dead.
    for name in assets::names().filter(|n| n.starts_with("js/")) {
        assert!(
            seen.contains(&name),
            "`{name}` is embedded but nothing imports it"
        );
    }
}

#[test]
fn the_build_id_names_the_embedded_files_and_types_follow_extensions() {
    let id = assets::build_id();
    assert_eq!(id.len(), 16);
    assert_eq!(id, assets::build_id(), "the same on every call");
    assert_eq!(assets::content_type("a/b.css"), "text/css; charset=utf-8");
    assert_eq!(assets::content_type("x.svg"), "image/svg+xml");
    assert_eq!(assets::content_type("noext"), "application/octet-stream");
    // The notes on vendored files are for people, not served.
    assert!(assets::get("vendor/README.md").is_none());
    assert!(assets::get("vendor/dagre.LICENSE.txt").is_some());
    assert!(assets::get("../Cargo.toml").is_none());
}
