//! Expressions that only read a value through fields: `nodes.a.output`,
//! `input.line`, `item.id`. Most input mappings are one. Walking the JSON
//! gives what CEL gives, without turning the scope into CEL values and the
//! result back into JSON, which was most of a pure step's scheduling.

use cel::common::ast::Expr as Ast;
use cel::common::ast::IdedExpr;
use serde_json::Value;

use super::Scope;

/// A variable and the fields read from it, in order.
#[derive(Debug)]
pub(super) struct Path {
    root: Root,
    fields: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Root {
    Input,
    Nodes,
    Item,
}

impl Path {
    /// The path `expr` is, if it is one: field selections (not `has()`
    /// tests) on one of the variables.
    pub(super) fn of(expr: &IdedExpr) -> Option<Path> {
        let mut fields = Vec::new();
        let mut at = expr;
        loop {
            match &at.expr {
                Ast::Select(select) if !select.test => {
                    fields.push(select.field.clone());
                    at = &select.operand;
                }
                Ast::Ident(name) => {
                    let root = match name.as_str() {
                        "input" => Root::Input,
                        "nodes" => Root::Nodes,
                        "item" => Root::Item,
                        _ => return None,
                    };
                    fields.reverse();
                    return Some(Path { root, fields });
                }
                _ => return None,
            }
        }
    }

    /// What the path reads in `scope`, as CEL gives it. None where CEL
    /// gives no value (a missing field, a field of something that is not an
    /// object, an unbound `item`), so that the caller asks CEL for its
    /// error.
    pub(super) fn read(&self, scope: &Scope) -> Option<Value> {
        let mut value = match self.root {
            Root::Input => &scope.input,
            Root::Nodes => &scope.nodes,
            Root::Item => scope.item.as_ref()?,
        };
        for field in &self.fields {
            value = value.as_object()?.get(field)?;
        }
        Some(as_cel(value))
    }
}

/// `value` after a trip through CEL: a whole number beyond `i64` is a CEL
/// `double`, as `Json` in the parent module makes it; the rest is as it was.
fn as_cel(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.as_i64().is_none() && n.is_u64() => {
            n.as_f64().map_or_else(|| value.clone(), Value::from)
        }
        Value::Array(items) => Value::Array(items.iter().map(as_cel).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), as_cel(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Expr;
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        Scope {
            input: json!({"line": 1, "big": u64::MAX, "f": 2.5, "deep": {"a": [1, {"b": null}]}}),
            nodes: json!({"s0": {"output": {"v": 7, "w": "x", "n": [u64::MAX]}, "status": "succeeded"}}),
            item: Some(json!({"id": "i1"})),
        }
    }

    /// CEL's own result for `source`, without the path.
    fn by_cel(source: &str, scope: &Scope) -> Result<Value, String> {
        let mut e = Expr::compile(source).unwrap();
        e.path = None;
        e.eval(scope)
    }

    #[test]
    fn paths_give_what_cel_gives() {
        let s = scope();
        for source in [
            "input",
            "input.line",
            "input.big",
            "input.f",
            "input.deep",
            "nodes",
            "nodes.s0",
            "nodes.s0.output",
            "nodes.s0.output.n",
            "item.id",
        ] {
            let e = Expr::compile(source).unwrap();
            assert!(e.path.is_some(), "{source} is a path");
            assert_eq!(e.eval(&s), by_cel(source, &s), "{source}");
        }
    }

    #[test]
    fn what_a_path_cannot_read_is_cel_s_error() {
        let s = scope();
        for source in ["nodes.missing.output", "input.line.x", "input.deep.a.b"] {
            let e = Expr::compile(source).unwrap();
            let error = e.eval(&s).unwrap_err();
            assert_eq!(Err(error), by_cel(source, &s), "{source}");
        }
        let unbound = Scope { item: None, ..s };
        let e = Expr::compile("item.id").unwrap();
        assert_eq!(e.eval(&unbound), by_cel("item.id", &unbound));
        assert!(e.eval(&unbound).is_err());
    }

    #[test]
    fn anything_else_is_not_a_path() {
        for source in [
            "has(input.line)",
            "input.deep.a[0]",
            "nodes['s0'].output",
            "other.x",
            "input.line + 1",
            "size(input)",
        ] {
            assert!(Expr::compile(source).unwrap().path.is_none(), "{source}");
        }
    }
}
