//! Secrets: a node's config names `{secret: NAME}`; the plugin gets the
//! value, and nothing the engine records holds it.

use baton_engine::{EngineConfig, Error, Secrets};
use baton_store::{Execution, RunStatus};
use serde_json::json;

use crate::support::{Db, Harness};

const TOKEN: &str = "tok-9f3b7c1e5d";

/// `login` logs the token, names it in a denied PLC read and returns it;
/// `refused` does the same, then fails with it in the message.
const WORKFLOW: &str = r#"
name: mes-login
nodes:
  login:
    plugin: hostile@1
    config: { mode: log-config, password: { secret: mes_token } }
  refused:
    needs: [login]
    plugin: hostile@1
    config: { mode: log-config, fail: true, password: { secret: mes_token } }
"#;

async fn harness() -> Harness {
    let config = EngineConfig {
        secrets: Secrets::new([("mes_token".to_string(), TOKEN.to_string())]).unwrap(),
        ..EngineConfig::default()
    };
    let h = Harness::configured(Db::sqlite(), config).await;
    let hostile = std::fs::read(baton_plugins::test_programs::HOSTILE).unwrap();
    h.engine.add_plugin(&hostile).await.unwrap();
    h
}

/// The guest's hash, so the test can tell it saw the real value.
fn fnv1a(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn node<'e>(execs: &'e [Execution], id: &str) -> &'e Execution {
    execs.iter().find(|e| e.node_id == id).unwrap()
}

#[tokio::test]
async fn the_plugin_gets_the_value_and_nothing_recorded_holds_it() {
    let h = harness().await;
    h.apply(WORKFLOW).await;
    let run = h.run("mes-login", json!({})).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");

    let execs = h.executions(&run.id).await;
    let output = node(&execs, "login").output.clone().unwrap();
    assert_eq!(output["len"], TOKEN.len(), "{output}");
    assert_eq!(output["fnv"], fnv1a(TOKEN), "{output}");
    assert_eq!(output["echo"], "[secret mes_token]", "{output}");
    assert_eq!(
        node(&execs, "refused").error.as_deref(),
        Some("task failed: login refused for [secret mes_token]")
    );

    let events = h.events(&run.id).await;
    let events = serde_json::to_string(&events).unwrap();
    for redacted in [
        "connecting with password [secret mes_token]",
        "plc device `[secret mes_token]`",
    ] {
        assert!(events.contains(redacted), "no `{redacted}` in {events}");
    }
    let store = h.engine.store();
    let recorded = [
        ("events", events),
        ("executions", serde_json::to_string(&execs).unwrap()),
        ("run", serde_json::to_string(&run).unwrap()),
        (
            "stored run",
            serde_json::to_string(&store.run(&run.id).await.unwrap()).unwrap(),
        ),
        (
            "workflow",
            serde_json::to_string(&store.latest_workflow("mes-login").await.unwrap()).unwrap(),
        ),
        (
            "audit",
            serde_json::to_string(&store.audit(None, 1000).await.unwrap()).unwrap(),
        ),
    ];
    for (what, text) in recorded {
        assert!(!text.contains(TOKEN), "{what} holds the secret: {text}");
    }
}

#[tokio::test]
async fn a_workflow_naming_an_unknown_secret_is_refused_at_the_node_and_field() {
    let h = harness().await;
    let Err(Error::Invalid(problems)) = h
        .engine
        .check_workflow(&WORKFLOW.replace("mes_token", "mes_tokn"))
        .await
    else {
        panic!("a workflow naming an unknown secret was accepted");
    };
    let at: Vec<(Option<&str>, &str)> = problems
        .0
        .iter()
        .map(|p| (p.node.as_deref(), p.field.as_str()))
        .collect();
    assert_eq!(
        at,
        [
            (Some("login"), "config.password"),
            (Some("refused"), "config.password")
        ],
        "{problems:?}"
    );
    assert!(problems.0[0].message.contains("no secret `mes_tokn`"));
    h.engine.check_workflow(WORKFLOW).await.unwrap();
}

#[tokio::test]
async fn a_secret_gone_from_the_host_fails_the_attempt_naming_it() {
    let h = harness().await;
    h.apply(WORKFLOW).await;
    // The same database, but a host whose settings no longer have it.
    let engine = h.restart().await;
    let run = engine
        .start_run("mes-login", json!({}), Default::default())
        .await
        .unwrap();
    let run = engine
        .wait_finished(&run.run_id, std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let execs = engine.store().executions(&run.id).await.unwrap();
    let login = node(&execs, "login");
    assert_eq!(login.error_kind.as_deref(), Some("fatal"));
    assert!(
        login
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("secret `mes_token`"),
        "{login:?}"
    );
}
