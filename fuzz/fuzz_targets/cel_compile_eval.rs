//! `Expr::compile` on any text, then the reference walks and `eval` against a
//! small fixed scope. Compiling is bounded by the default limits; evaluation
//! of what compiles must not panic or overflow the stack.
#![no_main]

use std::sync::OnceLock;

use baton_workflow::expr::{Expr, Scope};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn scope() -> &'static Scope {
    static SCOPE: OnceLock<Scope> = OnceLock::new();
    SCOPE.get_or_init(|| Scope {
        input: json!({
            "line": "line1",
            "batch": 42,
            "limit": 180.5,
            "ok": true,
            "tags": ["a", "b", "c"],
            "ovens": [{"id": "oven-1", "temp": 170}, {"id": "oven-2", "temp": 190}],
            "none": null
        }),
        nodes: json!({
            "read_temp": {"output": {"values": [170, 181]}, "status": "succeeded"},
            "check": {"output": {"ok": false, "reason": "too hot"}, "status": "failed"},
            "list": {"output": [1, 2, 3, 4, 5, 6, 7, 8], "status": "succeeded"}
        }),
        item: Some(json!({"id": "oven-1", "temp": 170})),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = Expr::compile(source) else {
        return;
    };
    assert_eq!(expr.source(), source);
    let _ = expr.variables();
    let _ = expr.node_refs();
    let _ = expr.eval(scope());
});
