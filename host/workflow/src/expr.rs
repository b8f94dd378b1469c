//! CEL expressions: `when` conditions, `input` mappings and `foreach` lists.
//!
//! An expression sees `input` (the run input), `nodes` (each upstream node as
//! `nodes.<id>.output`) and, inside a `foreach` node, `item`.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use crate::Limits;

use cel::common::ast::{EntryExpr, Expr as Ast, IdedExpr, LiteralValue};
use cel::{Context, Env, Program};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// The variables an expression may use.
pub const VARIABLES: &[&str] = &["input", "nodes", "item"];

mod path;

/// A compiled CEL expression.
pub struct Expr {
    source: String,
    program: Program,
    /// The expression as a plain read, when it is one (see `path`).
    path: Option<path::Path>,
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

/// Expressions whose punctuation could nest at most this deep are parsed on
/// the caller's thread; anything that might nest deeper is parsed on a thread
/// of its own with a stack sized to its length, because the CEL parser,
/// its tree and the tree's destructor all recurse once per level.
const INLINE_BOUND: usize = 24;

/// The stack of the thread that parses a long expression, per byte of it.
/// Measured: `1+1+...` of 2,000 to 32,000 levels needs about 2 KiB of stack
/// per level, and every level takes at least 2 bytes of source, so this is an
/// eight-fold margin. The stack is reserved, and only touched as deep as the
/// parse goes.
const PARSE_STACK_PER_BYTE: usize = 8 << 10;

impl Expr {
    /// Compile `source` within the default [`Limits`]; the error is the
    /// parser's message or the limit that was passed.
    pub fn compile(source: &str) -> Result<Self, String> {
        Self::compile_with(source, &Limits::default())
    }

    /// Compile `source`, refusing it when it is longer or nests deeper than
    /// `limits` allow. A refused expression never reaches the evaluator,
    /// whose recursion the depth limit bounds.
    pub fn compile_with(source: &str, limits: &Limits) -> Result<Self, String> {
        if source.len() > limits.max_expression_bytes {
            return Err(format!(
                "the expression is {} bytes long; at most {} are allowed \
                 (engine.workflows.max_expression_bytes)",
                source.len(),
                limits.max_expression_bytes
            ));
        }
        let max_depth = limits.max_expression_depth;
        let (program, comprehensions) = if depth_bound(source) <= INLINE_BOUND.min(max_depth) {
            parse(source, max_depth)?
        } else {
            let owned = source.to_string();
            std::thread::Builder::new()
                .name("baton-cel-parse".into())
                .stack_size((8 << 20) + source.len() * PARSE_STACK_PER_BYTE)
                .spawn(move || parse(&owned, max_depth))
                .map_err(|e| format!("cannot start the expression parser: {e}"))?
                .join()
                .map_err(|_| "the expression parser failed".to_string())??
        };
        if comprehensions > limits.max_comprehension_depth {
            return Err(format!(
                "the expression nests {comprehensions} comprehensions (`all`, `exists`, `map`, \
                 `filter`, ...) in one another; at most {} are allowed \
                 (engine.workflows.max_comprehension_depth)",
                limits.max_comprehension_depth
            ));
        }
        Ok(Self {
            source: source.to_string(),
            path: path::Path::of(program.expression()),
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
        if let Some(value) = self.path.as_ref().and_then(|p| p.read(scope)) {
            return Ok(value);
        }
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

/// Parse `source` and measure its tree. A tree deeper than `max_depth` is
/// refused, and dropped here, on the thread that could build it.
fn parse(source: &str, max_depth: usize) -> Result<(Program, usize), String> {
    let program = env()
        .compile(source)
        .map_err(|e| e.to_string().replace('\n', "; "))?;
    let (depth, comprehensions) = tree_depth(program.expression(), max_depth);
    if depth > max_depth {
        return Err(format!(
            "the expression nests deeper than {max_depth} levels \
             (engine.workflows.max_expression_depth)"
        ));
    }
    Ok((program, comprehensions))
}

/// An upper bound on how deep `source` can nest: every level of a CEL tree
/// beyond a leaf is written with at least one operator or bracket, or the
/// word `in`. Comprehension macros add at most a few levels each.
fn depth_bound(source: &str) -> usize {
    let punctuation = source
        .bytes()
        .filter(|b| b"+-*/%!<>=&|?:.[({,".contains(b))
        .count();
    let words = source.split_whitespace().filter(|w| *w == "in").count();
    (punctuation + words) * 3
}

/// The depth of an expression tree, and the most comprehensions nested in
/// one another in it, walked without recursion; the walk stops once it is
/// past `stop`.
fn tree_depth(root: &IdedExpr, stop: usize) -> (usize, usize) {
    let mut deepest = 0;
    let mut most_nested = 0;
    let mut stack = vec![(root, 1usize, 0usize)];
    while let Some((expr, depth, nested)) = stack.pop() {
        deepest = deepest.max(depth);
        if deepest > stop {
            break;
        }
        let next = depth + 1;
        let within = match &expr.expr {
            Ast::Comprehension(_) => nested + 1,
            _ => nested,
        };
        most_nested = most_nested.max(within);
        match &expr.expr {
            Ast::Select(select) => stack.push((&select.operand, next, within)),
            Ast::Call(call) => {
                stack.extend(call.target.iter().map(|t| (&**t, next, within)));
                stack.extend(call.args.iter().map(|a| (a, next, within)));
            }
            Ast::Comprehension(c) => {
                for e in [
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ] {
                    stack.push((e, next, within));
                }
            }
            Ast::List(list) => stack.extend(list.elements.iter().map(|e| (e, next, within))),
            Ast::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(m) = &entry.expr {
                        stack.push((&m.key, next, within));
                        stack.push((&m.value, next, within));
                    }
                }
            }
            Ast::Struct(s) => {
                for entry in &s.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        stack.push((&f.value, next, within));
                    }
                }
            }
            Ast::Ident(_) | Ast::Literal(_) | Ast::Unspecified => {}
        }
    }
    (deepest, most_nested)
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
    fn long_and_deep_expressions_are_refused_not_overflowed() {
        // Each of these overflowed a 2 MiB stack before depth was checked.
        let sum = format!("1{}", "+1".repeat(20_000));
        let select = format!("input{}", ".b".repeat(20_000));
        let limits = Limits {
            max_expression_bytes: 64 << 10,
            ..Limits::default()
        };
        for source in [&sum, &select] {
            let e = Expr::compile_with(source, &limits).unwrap_err();
            assert!(e.contains("deeper than 64 levels"), "{e}");
            let e = Expr::compile(source).unwrap_err();
            assert!(e.contains("at most 4096 are allowed"), "{e}");
        }
        // At the longest allowed length, on a small stack, parsing is still safe.
        let worst = format!("1{}", "+1".repeat(2047));
        let e = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || Expr::compile(&worst).unwrap_err())
            .unwrap()
            .join()
            .unwrap();
        assert!(e.contains("deeper than"), "{e}");
        // Up to the limit, expressions compile and evaluate.
        let ok = format!("1{}", "+1".repeat(60));
        assert_eq!(Expr::compile(&ok).unwrap().eval(&scope()), Ok(json!(61)));
        let parens = format!("{}1{}", "(".repeat(30), ")".repeat(30));
        assert_eq!(Expr::compile(&parens).unwrap().eval(&scope()), Ok(json!(1)));
    }

    #[test]
    fn the_depth_bound_is_never_below_the_real_depth() {
        for source in [
            "1",
            "input.a.b.c",
            "a in b",
            "[1, [2, [3]]]",
            "{'a': {'b': nodes.x.output}}",
            "input.z.exists(i, i == nodes.c.output)",
            "x ? y : z",
            "!(!(!true))",
            "f(g(h(1)))",
        ] {
            let program = env().compile(source).unwrap();
            let (depth, _) = tree_depth(program.expression(), usize::MAX);
            assert!(depth_bound(source) + 1 >= depth, "{source}: {depth}");
        }
    }

    #[test]
    fn nested_comprehensions_are_capped_before_they_can_run() {
        // Found by fuzzing: each level multiplies the evaluation time by ten.
        let digits = "[0,1,2,3,4,5,6,7,8,9]";
        let nest = |levels: usize| {
            let mut e = "true".to_string();
            for v in 0..levels {
                e = format!("{digits}.all(v{v}, {e})");
            }
            e
        };
        let e = Expr::compile(&nest(6)).unwrap_err();
        assert!(e.contains("nests 6 comprehensions"), "{e}");
        assert!(e.contains("max_comprehension_depth"), "{e}");
        assert_eq!(
            Expr::compile(&nest(2)).unwrap().eval(&scope()),
            Ok(json!(true))
        );
        // Side by side is fine; only nesting multiplies.
        let side = format!("{digits}.all(a, a >= 0) && {digits}.exists(b, b == 9)");
        assert_eq!(
            Expr::compile(&side).unwrap().eval(&scope()),
            Ok(json!(true))
        );
        assert!(Expr::compile(&format!("input.batches.map(b, {})", nest(2))).is_err());
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
