//! CEL expressions: `when` conditions, `input` mappings and `foreach` lists.
//!
//! An expression sees `input` (the run input), `nodes` (each upstream node as
//! `nodes.<id>.output`) and, inside a `foreach` node, `item`.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr as Ast, IdedExpr, LiteralValue};
use cel::{Context, Env, Program};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// The variables an expression may use.
pub const VARIABLES: &[&str] = &["input", "nodes", "item"];

/// A compiled CEL expression.
pub struct Expr {
    source: String,
    program: Program,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expr").field(&self.source).finish()
    }
}

/// What an expression is evaluated against.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The run input.
    pub input: Value,
    /// An object from node id to `{ "output": ..., "status": ... }`.
    pub nodes: Value,
    /// The current item, inside a `foreach` node.
    pub item: Option<Value>,
}

fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib())).clone()
}

impl Expr {
    /// Compile `source`; the error is the parser's message.
    pub fn compile(source: &str) -> Result<Self, String> {
        let program = env()
            .compile(source)
            .map_err(|e| e.to_string().replace('\n', "; "))?;
        Ok(Self {
            source: source.to_string(),
            program,
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables the expression reads, other than those its own
    /// comprehensions (`exists`, `map`, ...) bind.
    pub fn variables(&self) -> BTreeSet<String> {
        self.walk().0
    }

    /// The node ids the expression reads, as `nodes.<id>` or `nodes["<id>"]`.
    pub fn node_refs(&self) -> BTreeSet<String> {
        self.walk().1
    }

    fn walk(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut walk = Walk::default();
        walk.expr(self.program.expression());
        (walk.variables, walk.nodes)
    }

    /// Evaluate to JSON.
    pub fn eval(&self, scope: &Scope) -> Result<Value, String> {
        let mut context = Context::with_env(env());
        let bind = |e: cel::SerializationError| e.to_string();
        context
            .add_variable("input", Json(&scope.input))
            .map_err(bind)?;
        context
            .add_variable("nodes", Json(&scope.nodes))
            .map_err(bind)?;
        if let Some(item) = &scope.item {
            context.add_variable("item", Json(item)).map_err(bind)?;
        }
        let value = self
            .program
            .execute(&context)
            .map_err(|e| format!("`{}`: {e}", self.source))?;
        value
            .json()
            .map_err(|e| format!("`{}` gave a value that is not JSON: {e:?}", self.source))
    }

    /// Evaluate a condition; anything but a boolean is an error.
    pub fn eval_bool(&self, scope: &Scope) -> Result<bool, String> {
        match self.eval(scope)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("`{}` gave {other}, not true or false", self.source)),
        }
    }
}

/// Collects free variables and node references from an expression tree.
#[derive(Default)]
struct Walk {
    bound: Vec<String>,
    variables: BTreeSet<String>,
    nodes: BTreeSet<String>,
}

impl Walk {
    fn expr(&mut self, expr: &IdedExpr) {
        match &expr.expr {
            Ast::Ident(name) => {
                if !self.bound.contains(name) {
                    self.variables.insert(name.clone());
                }
            }
            Ast::Select(select) => {
                if matches!(&select.operand.expr, Ast::Ident(root) if root == "nodes" && !self.bound.contains(root))
                {
                    self.nodes.insert(select.field.clone());
                }
                self.expr(&select.operand);
            }
            Ast::Call(call) => {
                // nodes["id"]
                if let (true, [target, key]) = (call.func_name == "_[_]", call.args.as_slice())
                    && let (Ast::Ident(root), Ast::Literal(LiteralValue::String(id))) =
                        (&target.expr, &key.expr)
                    && root == "nodes"
                {
                    self.nodes.insert(id.to_string());
                }
                if let Some(target) = &call.target {
                    self.expr(target);
                }
                call.args.iter().for_each(|a| self.expr(a));
            }
            Ast::Comprehension(c) => {
                self.expr(&c.iter_range);
                self.expr(&c.accu_init);
                self.bound.push(c.iter_var.clone());
                self.bound.push(c.accu_var.clone());
                for e in [&c.loop_cond, &c.loop_step, &c.result] {
                    self.expr(e);
                }
                self.bound.truncate(self.bound.len() - 2);
            }
            Ast::List(list) => list.elements.iter().for_each(|e| self.expr(e)),
            Ast::Map(map) => map.entries.iter().for_each(|e| self.entry(&e.expr)),
            Ast::Struct(s) => s.entries.iter().for_each(|e| self.entry(&e.expr)),
            Ast::Literal(_) | Ast::Unspecified => {}
        }
    }

    fn entry(&mut self, entry: &EntryExpr) {
        match entry {
            EntryExpr::StructField(f) => self.expr(&f.value),
            EntryExpr::MapEntry(m) => {
                self.expr(&m.key);
                self.expr(&m.value);
            }
        }
    }
}

/// JSON as CEL sees it: whole numbers become CEL `int`, so that
/// `nodes.read.output.values[0] < 180` compares an int with an int.
struct Json<'a>(&'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => s.serialize_i64(i),
                (None, Some(f)) => s.serialize_f64(f),
                (None, None) => n.serialize(s),
            },
            Value::Array(items) => s.collect_seq(items.iter().map(Json)),
            Value::Object(map) => s.collect_map(map.iter().map(|(k, v)| (k, Json(v)))),
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        Scope {
            input: json!({"line": 1, "batches": ["a", "b"]}),
            nodes: json!({"read_temp": {"output": {"values": [172]}, "status": "succeeded"}}),
            item: None,
        }
    }

    #[test]
    fn conditions_compare_upstream_outputs() {
        let e = Expr::compile("nodes.read_temp.output.values[0] < 180").unwrap();
        assert_eq!(e.eval_bool(&scope()), Ok(true));
        let e = Expr::compile("nodes.read_temp.output.values[0] >= 180").unwrap();
        assert_eq!(e.eval_bool(&scope()), Ok(false));
    }

    #[test]
    fn mappings_build_json() {
        let e = Expr::compile(r#"{"temp": nodes.read_temp.output.values[0], "line": input.line, "n": size(input.batches)}"#).unwrap();
        assert_eq!(
            e.eval(&scope()).unwrap(),
            json!({"temp": 172, "line": 1, "n": 2})
        );
    }

    #[test]
    fn finds_the_nodes_an_expression_reads() {
        let e = Expr::compile(r#"nodes.a.output.x + nodes["b"].output.y > 0 && input.z.exists(i, i == nodes.c.output)"#).unwrap();
        assert_eq!(
            e.node_refs().into_iter().collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(
            e.variables().into_iter().collect::<Vec<_>>(),
            ["input", "nodes"]
        );
    }

    #[test]
    fn errors_say_what_went_wrong() {
        assert!(Expr::compile("nodes.a.output <").is_err());
        let e = Expr::compile("nodes.missing.output").unwrap();
        assert!(
            e.eval(&scope())
                .unwrap_err()
                .contains("nodes.missing.output")
        );
        let e = Expr::compile("input.line").unwrap();
        assert!(
            e.eval_bool(&scope())
                .unwrap_err()
                .contains("not true or false")
        );
    }

    #[test]
    fn item_is_bound_in_foreach() {
        let e = Expr::compile("item + '-x'").unwrap();
        let s = Scope {
            item: Some(json!("a")),
            ..scope()
        };
        assert_eq!(e.eval(&s), Ok(json!("a-x")));
    }
}
