//! A workflow version made ready to run: nodes in dependency order, CEL
//! compiled once, plugins resolved to digests, grants shared.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use baton_grant::Grants;
use baton_store::WorkflowRecord;
use baton_workflow::expr::{Expr, Scope};
use baton_workflow::graph::Graph;
use baton_workflow::{Limits, Node, NodeKind, Workflow};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// How a node's input is made.
#[derive(Debug)]
pub enum InputMap {
    /// No `input`: the run input (or, in a foreach node, the item).
    Default,
    /// One CEL expression.
    Expr(Expr),
    /// An object: CEL for string values, literals otherwise.
    Object(Vec<(String, Field)>),
    /// Any other value, taken as written.
    Literal(Value),
}

/// One field of an object input.
#[derive(Debug)]
pub enum Field {
    /// Evaluated.
    Expr(Expr),
    /// Taken as written.
    Literal(Value),
}

/// A plugin a node runs, resolved when the workflow version was applied.
#[derive(Debug, Clone)]
pub struct Task {
    /// The component's digest.
    pub digest: String,
    /// The config, as JSON text.
    pub config: String,
    /// What it may reach.
    pub grants: Arc<Grants>,
    /// Whether it runs on the fast path: its grants reach nothing outside
    /// the sandbox and the node does not ask to be `durable`, so its start
    /// and result need not be committed before the run goes on.
    pub pure: bool,
}

/// A lock as compiled: its name, or the CEL that computes it.
#[derive(Debug)]
pub struct CompiledLock {
    /// The name.
    pub name: LockName,
    /// Holders it allows at once.
    pub limit: u32,
    /// Refuse rather than wait.
    pub reject: bool,
}

/// How a lock's name is had.
#[derive(Debug)]
pub enum LockName {
    /// As written.
    Fixed(String),
    /// Computed.
    Expr(Expr),
}

fn compile_locks(
    limits: &Limits,
    node: Option<&str>,
    locks: &[baton_workflow::Lock],
) -> Result<Vec<CompiledLock>> {
    locks
        .iter()
        .enumerate()
        .map(|(i, lock)| {
            let name = if lock.is_name() {
                LockName::Fixed(lock.key.clone())
            } else {
                LockName::Expr(Expr::compile_with(&lock.key, limits).map_err(|e| {
                    let at = node.map_or(String::new(), |n| format!("node `{n}`, "));
                    Error::Definition(format!("{at}locks[{i}]: {e}"))
                })?)
            };
            Ok(CompiledLock {
                name,
                limit: lock.limit.max(1),
                reject: lock.on_conflict == baton_workflow::OnConflict::Reject,
            })
        })
        .collect()
}

/// The names of `locks` in `scope`: sorted, each once (with the smallest
/// limit asked for), and whether any refuses to wait.
pub fn lock_keys(
    locks: &[CompiledLock],
    scope: &Scope,
) -> std::result::Result<(Vec<crate::event::LockKey>, bool), String> {
    let mut keys: Vec<crate::event::LockKey> = Vec::with_capacity(locks.len());
    for (i, lock) in locks.iter().enumerate() {
        let key = match &lock.name {
            LockName::Fixed(name) => name.clone(),
            LockName::Expr(expr) => match expr.eval(scope).map(as_name) {
                Ok(Ok(name)) => name,
                Ok(Err(other)) => {
                    return Err(format!(
                        "locks[{i}]: `{}` gave {other}; a lock's name is a string or a number",
                        expr.source()
                    ));
                }
                Err(e) => return Err(format!("locks[{i}]: `{}`: {e}", expr.source())),
            },
        };
        if key.is_empty() || key.len() > baton_workflow::locks::MAX_LOCK_NAME {
            return Err(format!(
                "locks[{i}]: a lock's name has 1 to {} bytes, not {}",
                baton_workflow::locks::MAX_LOCK_NAME,
                key.len()
            ));
        }
        keys.push(crate::event::LockKey {
            key,
            limit: lock.limit,
        });
    }
    keys.sort();
    // Sorted by name then limit: the first of each name has the smallest.
    keys.dedup_by(|later, first| later.key == first.key);
    Ok((keys, locks.iter().any(|l| l.reject)))
}

/// A string as it is, or a number as text: what a key or a lock's name
/// may be; anything else is given back.
fn as_name(value: Value) -> std::result::Result<String, Value> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(other),
    }
}

/// What the expressions evaluated at a run's start see: its input alone.
pub(crate) fn input_scope(input: &Value) -> Scope {
    Scope {
        input: input.clone(),
        nodes: Value::Object(Map::new()),
        item: None,
    }
}

/// One node, ready to run.
#[derive(Debug)]
pub struct CompiledNode {
    /// Its id.
    pub id: String,
    /// As written.
    pub def: Node,
    /// Indexes of the nodes it needs.
    pub parents: Vec<usize>,
    /// The `when` condition.
    pub when: Option<Expr>,
    /// Whether `when` reads `item`, which makes it a per-item filter.
    pub when_per_item: bool,
    /// How its input is made.
    pub input: InputMap,
    /// The `foreach` list.
    pub foreach: Option<Expr>,
    /// Upstream nodes its expressions read.
    pub refs: Vec<usize>,
    /// For tasks: the plugin.
    pub task: Option<Task>,
    /// For tasks with `compensate`: the plugin that undoes it.
    pub compensate: Option<Task>,
    /// The locks it holds while it runs.
    pub locks: Vec<CompiledLock>,
}

/// A workflow version, ready to run.
#[derive(Debug)]
pub struct CompiledWorkflow {
    /// Workflow name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// The definition.
    pub def: Workflow,
    /// Nodes in dependency order.
    pub nodes: Vec<CompiledNode>,
    /// Nodes that nothing needs: their outputs are the run's output.
    pub sinks: Vec<usize>,
    /// The run's key expression.
    pub key: Option<Expr>,
    /// The locks every run holds from before its first node to its end.
    pub locks: Vec<CompiledLock>,
    /// Whether the run or any node takes a lock.
    pub any_locks: bool,
    index: HashMap<String, usize>,
}

fn compile(limits: &Limits, node: &str, field: &str, source: &str) -> Result<Expr> {
    Expr::compile_with(source, limits)
        .map_err(|e| Error::Definition(format!("node `{node}`, {field}: {e}")))
}

impl CompiledWorkflow {
    /// Compile a stored workflow version, its expressions within `limits`.
    pub fn new(record: &WorkflowRecord, limits: &Limits) -> Result<Self> {
        let def: Workflow = serde_json::from_value(record.definition.clone()).map_err(|e| {
            Error::Definition(format!(
                "stored workflow {}@{} does not parse: {e}",
                record.name, record.version
            ))
        })?;
        let graph = Graph::new(&def);
        let order: Vec<String> = graph
            .topological()
            .ok_or_else(|| Error::Definition(format!("workflow `{}` has a cycle", def.name)))?
            .into_iter()
            .map(str::to_string)
            .collect();
        let index: HashMap<String, usize> = order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let resolve = |node: &str,
                       plugin: &str,
                       config: &Value,
                       grants: &Grants,
                       durable: bool|
         -> Result<Task> {
            let digest = record
                .plugins
                .get(plugin)
                .and_then(|p| p.get("digest"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Error::Definition(format!(
                        "node `{node}`: plugin `{plugin}` was not resolved when the workflow was applied"
                    ))
                })?;
            Ok(Task {
                digest: digest.to_string(),
                config: if config.is_null() {
                    "{}".into()
                } else {
                    config.to_string()
                },
                grants: Arc::new(grants.clone()),
                pure: grants.is_pure() && !durable,
            })
        };
        let mut nodes = Vec::with_capacity(order.len());
        for id in &order {
            let node = def
                .node(id)
                .ok_or_else(|| Error::Definition(format!("node `{id}` vanished")))?;
            let parents = node
                .needs
                .iter()
                .filter_map(|n| index.get(n).copied())
                .collect();
            let when = node
                .when
                .as_deref()
                .map(|w| compile(limits, id, "when", w))
                .transpose()?;
            let input = match &node.input {
                None => InputMap::Default,
                Some(Value::String(e)) => InputMap::Expr(compile(limits, id, "input", e)?),
                Some(Value::Object(map)) => InputMap::Object(
                    map.iter()
                        .map(|(k, v)| {
                            Ok((
                                k.clone(),
                                match v {
                                    Value::String(e) => {
                                        Field::Expr(compile(limits, id, &format!("input.{k}"), e)?)
                                    }
                                    other => Field::Literal(other.clone()),
                                },
                            ))
                        })
                        .collect::<Result<_>>()?,
                ),
                Some(other) => InputMap::Literal(other.clone()),
            };
            let foreach = node
                .foreach
                .as_deref()
                .map(|f| compile(limits, id, "foreach", f))
                .transpose()?;
            let locks = compile_locks(limits, Some(id), &node.locks)?;
            let mut refs = BTreeSet::new();
            let mut exprs: Vec<&Expr> = when.iter().chain(foreach.iter()).collect();
            exprs.extend(locks.iter().filter_map(|l| match &l.name {
                LockName::Expr(e) => Some(e),
                LockName::Fixed(_) => None,
            }));
            match &input {
                InputMap::Expr(e) => exprs.push(e),
                InputMap::Object(fields) => {
                    exprs.extend(fields.iter().filter_map(|(_, f)| match f {
                        Field::Expr(e) => Some(e),
                        Field::Literal(_) => None,
                    }))
                }
                InputMap::Default | InputMap::Literal(_) => {}
            }
            for e in exprs {
                refs.extend(
                    e.node_refs()
                        .into_iter()
                        .filter_map(|r| index.get(&r).copied()),
                );
            }
            let when_per_item = when
                .as_ref()
                .is_some_and(|w| node.foreach.is_some() && w.variables().contains("item"));
            let (task, compensate) = if node.kind == NodeKind::Task {
                let plugin = node.plugin.as_deref().unwrap_or_default();
                let task = resolve(id, plugin, &node.config, &node.grants, node.durable)?;
                let compensate = node
                    .compensate
                    .as_ref()
                    .map(|c| {
                        resolve(
                            id,
                            &c.plugin,
                            &c.config,
                            c.grants.as_ref().unwrap_or(&node.grants),
                            node.durable,
                        )
                    })
                    .transpose()?;
                (Some(task), compensate)
            } else {
                (None, None)
            };
            nodes.push(CompiledNode {
                id: id.clone(),
                def: node.clone(),
                parents,
                when,
                when_per_item,
                input,
                foreach,
                refs: refs.into_iter().collect(),
                task,
                compensate,
                locks,
            });
        }
        let needed: BTreeSet<usize> = nodes.iter().flat_map(|n| n.parents.clone()).collect();
        let sinks = (0..nodes.len()).filter(|i| !needed.contains(i)).collect();
        let key = def
            .key
            .as_deref()
            .map(|k| {
                Expr::compile_with(k, limits).map_err(|e| Error::Definition(format!("key: {e}")))
            })
            .transpose()?;
        let locks = compile_locks(limits, None, &def.locks)?;
        let any_locks = !locks.is_empty() || nodes.iter().any(|n| !n.locks.is_empty());
        Ok(Self {
            locks,
            any_locks,
            key,
            name: record.name.clone(),
            version: record.version,
            def,
            nodes,
            sinks,
            index,
        })
    }

    /// The index of node `id`.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// A run's key: the workflow's `key` evaluated over `input`, as text.
    /// Refused when it is not a string or a number, or is too long.
    pub fn run_key(&self, input: &Value) -> Result<Option<String>> {
        let Some(expr) = &self.key else {
            return Ok(None);
        };
        let source = expr.source();
        let key = match expr.eval(&input_scope(input)).map(as_name) {
            Ok(Ok(key)) => key,
            Ok(Err(other)) => {
                return Err(Error::BadRequest(format!(
                    "key: `{source}` gave {other} for this input; a run's key must be a \
                     string or a number"
                )));
            }
            Err(e) => return Err(Error::BadRequest(format!("key: `{source}`: {e}"))),
        };
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(Error::BadRequest(format!(
                "key: `{source}` gave a key of {} bytes; a run's key has 1 to {MAX_KEY_BYTES}",
                key.len()
            )));
        }
        Ok(Some(key))
    }

    /// Refuse an input whose run locks cannot be named.
    pub fn check_run_locks(&self, input: &Value) -> Result<()> {
        if self.locks.is_empty() {
            return Ok(());
        }
        lock_keys(&self.locks, &input_scope(input))
            .map(|_| ())
            .map_err(Error::BadRequest)
    }
}

/// Longest run key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

impl InputMap {
    /// Make the input. `default` is what a node without `input` gets.
    pub fn eval(&self, scope: &Scope, default: &Value) -> std::result::Result<Value, String> {
        match self {
            InputMap::Default => Ok(default.clone()),
            InputMap::Expr(e) => e.eval(scope),
            InputMap::Literal(v) => Ok(v.clone()),
            InputMap::Object(fields) => {
                let mut map = Map::new();
                for (key, field) in fields {
                    let value = match field {
                        Field::Expr(e) => e.eval(scope)?,
                        Field::Literal(v) => v.clone(),
                    };
                    map.insert(key.clone(), value);
                }
                Ok(Value::Object(map))
            }
        }
    }
}
