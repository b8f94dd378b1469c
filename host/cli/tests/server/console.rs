//! The console as `baton serve` serves it: the page and its files (content
//! types, caching and security headers), the session cookie, the CSRF
//! check, and roles enforced on cookie requests exactly as on bearer ones.
//! Then the whole console in a real Chromium against `baton demo`
//! (`host/console/tests/browser/console.mjs`), and its incidents
//! (`incidents.mjs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::client::{ADMIN, Answer, Demo, Plant, Server};

fn raw(server: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    server.request(method, path, headers, body.as_bytes())
}

fn server() -> (Server, tempfile::TempDir, Plant) {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &plant.config(dir.path()));
    (server, dir, plant)
}

#[test]
fn the_page_and_its_files_have_types_validators_and_a_strict_policy() {
    let (server, _dir, _plant) = server();
    let page = raw(&server, "GET", "/", &[], "");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let csp = page.header("content-security-policy").unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // The page loads its files with the build's id, and nothing off this origin.
    let build = page
        .body
        .split("/console/js/app.js?v=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(build.len(), 16, "{}", page.body);
    assert!(!page.body.contains("{{build}}"));
    assert!(!page.body.contains("http://") && !page.body.contains("https://"));

    // A validator that follows the build: the same page again is a 304
    // without a body.
    let etag = page.header("etag").unwrap().to_string();
    assert_eq!(etag, format!("\"{build}\""));
    let again = raw(&server, "GET", "/", &[("If-None-Match", &etag)], "");
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    for (path, ty) in [
        ("/console/js/app.js", "text/javascript; charset=utf-8"),
        ("/console/app.css", "text/css; charset=utf-8"),
        (
            "/console/vendor/dagre.min.js",
            "text/javascript; charset=utf-8",
        ),
        ("/console/icon.svg", "image/svg+xml"),
        (
            "/console/vendor/dagre.LICENSE.txt",
            "text/plain; charset=utf-8",
        ),
    ] {
        // With the current build's id a file is cached for good ...
        let current = raw(&server, "GET", &format!("{path}?v={build}"), &[], "");
        assert_eq!(current.status, 200, "{path}");
        assert_eq!(current.header("content-type"), Some(ty), "{path}");
        assert_eq!(
            current.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
        assert!(current.header("content-security-policy").is_some());
        // ... and without it (or with an old one) it is revalidated.
        let other = raw(&server, "GET", &format!("{path}?v=0000"), &[], "");
        assert_eq!(other.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(other.header("etag"), current.header("etag"));
    }
    assert!(
        raw(&server, "GET", "/console/vendor/dagre.min.js", &[], "")
            .body
            .contains("Chris Pettitt"),
        "the vendored library keeps its licence header"
    );
    // Unknown files and attempts to leave the asset directory are 404s.
    for path in [
        "/console/nope.js",
        "/console/../Cargo.toml",
        "/console/%2e%2e/Cargo.toml",
        "/console/vendor/README.md",
    ] {
        assert_eq!(raw(&server, "GET", path, &[], "").status, 404, "{path}");
    }
    // The API's JSON 404 is untouched beside the console.
    let api = raw(&server, "GET", "/api/v1/nope", &[], "");
    assert_eq!((api.status, api.code().as_str()), (404, "not_found"));
}

fn sign_in(server: &Server, token: &str) -> (String, String) {
    let answer = raw(
        server,
        "POST",
        "/api/v1/session",
        &[("Content-Type", "application/json")],
        &json!({"token": token}).to_string(),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let cookie = answer.header("set-cookie").unwrap().to_string();
    let pair = cookie.split(';').next().unwrap().to_string();
    (pair, answer.json()["csrf"].as_str().unwrap().to_string())
}

#[test]
fn a_session_is_a_cookie_that_needs_its_csrf_token_to_change_anything() {
    let (server, _dir, _plant) = server();
    // Sign-in: JSON only, a known token only.
    let form = raw(
        &server,
        "POST",
        "/api/v1/session",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={ADMIN}"),
    );
    assert_eq!((form.status, form.code().as_str()), (400, "bad_request"));
    let unknown = raw(
        &server,
        "POST",
        "/api/v1/session",
        &[("Content-Type", "application/json")],
        r#"{"token": "baton_not_a_token"}"#,
    );
    assert_eq!(unknown.status, 401);
    assert!(unknown.header("set-cookie").is_none());
    let cross = raw(
        &server,
        "POST",
        "/api/v1/session",
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://evil.example"),
        ],
        &json!({"token": ADMIN}).to_string(),
    );
    assert_eq!((cross.status, cross.code().as_str()), (403, "csrf"));

    let signed = raw(
        &server,
        "POST",
        "/api/v1/session",
        &[("Content-Type", "application/json")],
        &json!({"token": ADMIN}).to_string(),
    );
    assert_eq!(signed.status, 200);
    let set = signed.header("set-cookie").unwrap();
    assert!(set.starts_with(&format!("baton_session={ADMIN}")), "{set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(
        !set.contains("Max-Age") && !set.contains("Expires"),
        "a session cookie: {set}"
    );
    assert_eq!(signed.json()["role"], "admin");
    let (cookie, csrf) = sign_in(&server, ADMIN);

    // A bearer caller has no session, so no CSRF token.
    let (_, bearer) = server.call("GET", "/api/v1/session", Some(ADMIN), b"");
    assert_eq!(
        (bearer["name"].as_str(), &bearer["csrf"]),
        (Some("admin"), &Value::Null)
    );

    // Reading needs only the cookie.
    let me = raw(
        &server,
        "GET",
        "/api/v1/session",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["csrf"], csrf.as_str());
    assert_eq!(
        raw(&server, "GET", "/api/v1/runs", &[("Cookie", &cookie)], "").status,
        200
    );

    // Changing anything with the cookie needs the CSRF token, and a
    // browser's Origin must be this server.
    let engage =
        |headers: &[(&str, &str)]| raw(&server, "POST", "/api/v1/interlock", headers, "{}");
    let no_csrf = engage(&[("Cookie", &cookie), ("Content-Type", "application/json")]);
    assert_eq!((no_csrf.status, no_csrf.code().as_str()), (403, "csrf"));
    let wrong = engage(&[
        ("Cookie", &cookie),
        ("Content-Type", "application/json"),
        ("X-Baton-CSRF", "0123456789abcdef0123456789abcdef"),
    ]);
    assert_eq!((wrong.status, wrong.code().as_str()), (403, "csrf"));
    let foreign = engage(&[
        ("Cookie", &cookie),
        ("Content-Type", "application/json"),
        ("X-Baton-CSRF", &csrf),
        ("Origin", "http://evil.example"),
    ]);
    assert_eq!((foreign.status, foreign.code().as_str()), (403, "csrf"));
    assert_eq!(
        server.get("/api/v1/interlock")["engaged"],
        false,
        "nothing was engaged"
    );
    let origin = format!("http://{}", server.addr);
    let ok = engage(&[
        ("Cookie", &cookie),
        ("Content-Type", "application/json"),
        ("X-Baton-CSRF", &csrf),
        ("Origin", &origin),
    ]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(server.get("/api/v1/interlock")["engaged"], true);
    // A bearer token needs no CSRF token: a browser cannot forge that header.
    let (status, _) = server.call_with(
        "DELETE",
        "/api/v1/interlock",
        Some(ADMIN),
        &[("Content-Type", "application/json")],
        br#"{"comment": "test over"}"#,
    );
    assert_eq!(status, 200);
    // The sign-in is audited with its actor.
    let audit = server.get("/api/v1/audit?action=session.");
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "admin" && e["kind"] == "session.sign_in"),
        "{audit}"
    );

    // Sign-out clears the cookie.
    let out = raw(
        &server,
        "DELETE",
        "/api/v1/session",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(out.status, 204);
    let cleared = out.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("baton_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[test]
fn roles_hold_on_cookie_requests_and_revoking_a_token_ends_its_sessions() {
    let (server, _dir, _plant) = server();
    let (_, viewer) = server.post(
        "/api/v1/tokens",
        &json!({"name": "screen", "role": "viewer"}),
    );
    let viewer_token = viewer["token"].as_str().unwrap();
    let (cookie, csrf) = sign_in(&server, viewer_token);
    let me = raw(
        &server,
        "GET",
        "/api/v1/session",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(me.json()["role"], "viewer");
    for (method, path) in [
        ("POST", "/api/v1/interlock"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/workflows/line1-startup/runs"),
    ] {
        let answer = raw(
            &server,
            method,
            path,
            &[
                ("Cookie", &cookie),
                ("X-Baton-CSRF", &csrf),
                ("Content-Type", "application/json"),
            ],
            r#"{"name": "x", "role": "admin", "input": {}}"#,
        );
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (403, "forbidden"),
            "{path}"
        );
    }
    assert_eq!(server.get("/api/v1/interlock")["engaged"], false);
    // Another token's CSRF token is no good.
    let (_, other_csrf) = sign_in(&server, ADMIN);
    let answer = raw(
        &server,
        "POST",
        "/api/v1/interlock",
        &[("Cookie", &cookie), ("X-Baton-CSRF", &other_csrf)],
        "",
    );
    assert_eq!(answer.code(), "csrf");

    let id = viewer["id"].as_str().unwrap();
    let (status, _) = server.call("DELETE", &format!("/api/v1/tokens/{id}"), Some(ADMIN), b"");
    assert_eq!(status, 204);
    let gone = raw(
        &server,
        "GET",
        "/api/v1/session",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!((gone.status, gone.code().as_str()), (401, "unauthorized"));
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the browser suite needs, or what is missing and how to install it.
fn browser_suite() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !baton_sim::suite::program_runs(chromium.to_str().unwrap_or_default(), &["--version"]) {
        return Err(format!(
            "Chromium is not installed at {} (apt-get install chromium)",
            chromium.display()
        ));
    }
    if !baton_sim::suite::program_runs("node", &["--version"]) {
        return Err("node is not installed (install Node.js 18 or later)".into());
    }
    let dir = root().join("host/console/tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Err(
            "playwright-core is not installed (npm ci --prefix host/console/tests/browser)".into(),
        );
    }
    Ok((chromium, dir))
}

/// Run the browser script `script` (in `host/console/tests/browser`) against
/// a fresh `baton demo`, its screenshots kept as CI artefacts in
/// `target/console-screenshots/`. Outside CI, without Chromium, Node.js or
/// playwright-core, it says what is missing and passes; under `CI=true` it
/// fails.
fn browser_script(script: &str) {
    let (chromium, dir) = match browser_suite() {
        Ok(found) => found,
        Err(missing) => {
            baton_sim::suite::optional_suite("console browser suite", &missing);
            return;
        }
    };
    let data = tempfile::tempdir().unwrap();
    let demo = Demo::start(data.path());
    let shots = root().join("target/console-screenshots");
    let status = Command::new("node")
        .arg(dir.join(script))
        .envs(demo.env.clone())
        .env("SCREENSHOTS", &shots)
        .env("BATON_TEST_PLUGIN", baton_plugins::test_programs::SCRIPTED)
        .env("CHROMIUM", chromium)
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the browser suite's {script} failed (its steps are above)"
    );
}

#[test]
fn the_console_in_a_real_browser_against_the_demo() {
    browser_script("console.mjs");
}

#[test]
fn the_consoles_incidents_in_a_real_browser_against_the_demo() {
    browser_script("incidents.mjs");
}

#[test]
fn the_consoles_locks_and_sub_workflows_in_a_real_browser_against_the_demo() {
    browser_script("plant.mjs");
}

#[test]
fn the_audit_filters_and_run_time_filters_reach_the_cli() {
    let (server, _dir, _plant) = server();
    server.push_scripted();
    server.apply(
        "timed",
        "name: timed\nnodes:\n  a:\n    plugin: scripted@1\n    config: { tag: timed }\n",
    );
    let run = server.start_run("timed", json!({}));
    server.wait_finished(&run);
    sign_in(&server, ADMIN);

    // The audit log, filtered by action prefix and by actor.
    let (code, out) = crate::client::baton(&server, &["--json", "audit", "--action", "session."]);
    assert_eq!(code, 0, "{out}");
    let entries: Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["session.sign_in"], "{out}");
    let (_, out) = crate::client::baton(&server, &["--json", "audit", "--actor", "nobody"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["entries"],
        json!([])
    );
    let (code, table) = crate::client::baton(&server, &["audit", "--action", "workflow."]);
    assert_eq!(code, 0);
    assert!(
        table.contains("workflow.apply") && !table.contains("session.sign_in"),
        "{table}"
    );

    // Runs by creation time: the run is inside the last hour, not before it.
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--json", "run", "list", "--workflow", "timed"];
        all.extend_from_slice(args);
        let (code, out) = crate::client::baton(&server, &all);
        assert_eq!(code, 0, "{out}");
        serde_json::from_str::<Value>(&out).unwrap()["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&["--since", "1h"]), std::slice::from_ref(&run));
    assert!(ids(&["--until", "1h"]).is_empty());
    assert!(ids(&["--since", "2999-01-01T00:00:00Z"]).is_empty());
    let (code, _) = crate::client::baton(&server, &["run", "list", "--since", "soon"]);
    assert_ne!(
        code, 0,
        "a time that is neither RFC 3339 nor a span is refused"
    );
}

#[test]
fn a_token_with_characters_a_cookie_cannot_hold_still_signs_in() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let odd = "plant secret; with=odd,\"chars\"";
    let (server, _) = Server::start_as(&dir.path().join("data"), &plant.config(dir.path()), odd);
    let (cookie, csrf) = sign_in(&server, odd);
    assert!(!cookie.contains(' ') && !cookie.contains('"'), "{cookie}");
    let me = raw(
        &server,
        "GET",
        "/api/v1/session",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(
        (me.json()["name"].as_str(), me.json()["csrf"].as_str()),
        (Some("admin"), Some(csrf.as_str()))
    );
}
