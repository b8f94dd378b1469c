//! Secrets on a real server: `[secrets]` in `baton.toml`, named by a node's
//! config; no API answer holds the value.

use serde_json::json;

use crate::client::{ADMIN, Plant, Server, unique};

const TOKEN: &str = "mes-tok-51c0ffee";

fn workflow(name: &str, secret: &str) -> String {
    format!(
        r#"
name: {name}
nodes:
  login:
    plugin: hostile@1
    config: {{ mode: log-config, password: {{ secret: {secret} }} }}
  refused:
    needs: [login]
    plugin: hostile@1
    config: {{ mode: log-config, fail: true, password: {{ secret: {secret} }} }}
"#
    )
}

#[test]
fn a_secret_reaches_the_plugin_and_no_api_answer_holds_it() {
    let plant = Plant::start();
    let dir = tempfile::tempdir().unwrap();
    let config = plant.config(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("[secrets]\nmes_token = \"{TOKEN}\"\n"));
    std::fs::write(&config, text).unwrap();
    let server = Server::start(&dir.path().join("data"), &config);
    let (status, body) = server.call_with(
        "POST",
        "/api/v1/plugins",
        Some(ADMIN),
        &[("Content-Type", "application/wasm")],
        &std::fs::read(baton_plugins::test_programs::HOSTILE).unwrap(),
    );
    assert!(status == 201 || status == 200, "{status}: {body}");
    let name = unique("secrets");

    // An unknown name is refused at the node and field.
    let (status, body) = server.call(
        "POST",
        &format!("/api/v1/workflows/{name}/validate"),
        Some(ADMIN),
        workflow(&name, "mes_tokn").as_bytes(),
    );
    assert_eq!(status, 422, "{body}");
    let problems = &body["error"]["details"]["problems"];
    assert_eq!(problems[0]["node"], "login", "{body}");
    assert_eq!(problems[0]["field"], "config.password", "{body}");

    let yaml = workflow(&name, "mes_token");
    let (status, validated) = server.call(
        "POST",
        &format!("/api/v1/workflows/{name}/validate"),
        Some(ADMIN),
        yaml.as_bytes(),
    );
    assert_eq!(status, 200, "{validated}");
    server.apply(&name, &yaml);
    let shown = server.get(&format!("/api/v1/workflows/{name}"));
    assert!(shown.to_string().contains("mes_token"), "{shown}");

    let run = server.start_run(&name, json!({}));
    let finished = server.wait_finished(&run);
    assert_eq!(finished["status"], "failed", "{finished}");
    let login = finished["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "login")
        .unwrap();
    // The plugin saw the real value: its length came back, the value did not.
    assert_eq!(login["output"]["len"], TOKEN.len(), "{login}");
    assert_eq!(login["output"]["echo"], "[secret mes_token]", "{login}");
    let events = server.get(&format!("/api/v1/runs/{run}/events"));
    assert!(
        events
            .to_string()
            .contains("login refused for [secret mes_token]"),
        "{events}"
    );

    let answers = [
        ("validate", validated),
        ("workflow show", shown),
        ("run", finished),
        ("events", events),
        ("audit", server.get("/api/v1/audit")),
    ];
    for (what, body) in answers {
        assert!(
            !body.to_string().contains(TOKEN),
            "{what} holds the secret: {body}"
        );
    }
}
