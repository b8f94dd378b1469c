//! Checks of the settings that shape each run: its key, its deadline, and
//! the locks a run or a node takes.

use std::collections::BTreeSet;

use crate::expr::Expr;
use crate::{Lock, Workflow};

use super::{At, Up, Validator};

/// Most locks one run or node takes.
pub const MAX_LOCKS: usize = 16;
/// Largest `limit` of a lock.
pub const MAX_LOCK_LIMIT: u32 = 10_000;

impl Validator<'_> {
    pub(super) fn run_settings(&mut self, wf: &Workflow) {
        let top = At { node: None };
        match &wf.key {
            Some(source) => match Expr::compile_with(source, self.limits) {
                Ok(expr) => {
                    for var in expr.variables() {
                        if var != "input" {
                            self.report(
                                &top,
                                "key",
                                format!(
                                    "`{source}` uses `{var}`; a run's key is computed at start, \
                                     from `input` only"
                                ),
                            );
                        }
                    }
                }
                Err(e) => self.report(&top, "key", format!("`{source}` is not valid CEL: {e}")),
            },
            None if wf.unique_key => self.report(
                &top,
                "unique_key",
                "needs `key`: the expression whose value must be unique among active runs",
            ),
            None => {}
        }
        self.locks(&top, &wf.locks, None);
        if let Some(deadline) = wf.deadline {
            if deadline.is_zero() {
                self.report(&top, "deadline", "must be longer than zero");
            }
            self.duration(
                &top,
                "deadline",
                Some(deadline),
                self.limits.max_wait,
                "max_wait",
            );
        }
    }
}

impl Validator<'_> {
    /// A run's locks (`upstream` none) may read `input` only; a node's may
    /// read `input` and the nodes upstream of it.
    pub(super) fn locks(&mut self, at: &At<'_>, locks: &[Lock], upstream: Option<&Up<'_>>) {
        if locks.len() > MAX_LOCKS {
            self.report(
                at,
                "locks",
                format!("has {} locks; at most {MAX_LOCKS} are allowed", locks.len()),
            );
        }
        let mut names = BTreeSet::new();
        for (i, lock) in locks.iter().enumerate() {
            let field = format!("locks[{i}]");
            if lock.limit == 0 || lock.limit > MAX_LOCK_LIMIT {
                self.report(
                    at,
                    format!("{field}.limit"),
                    format!("must be from 1 to {MAX_LOCK_LIMIT}"),
                );
            }
            if lock.is_name() {
                if !names.insert(lock.key.as_str()) {
                    self.report(at, &field, format!("`{}` is listed twice", lock.key));
                }
                continue;
            }
            match upstream {
                Some(up) => self.expr(at, &field, &lock.key, up, false),
                None => match Expr::compile_with(&lock.key, self.limits) {
                    Ok(expr) => {
                        if let Some(var) = expr.variables().into_iter().find(|v| v != "input") {
                            self.report(
                                at,
                                &field,
                                format!(
                                    "`{}` uses `{var}`; a run's locks are taken before its first \
                                     node, from `input` only",
                                    lock.key
                                ),
                            );
                        }
                    }
                    Err(e) => self.report(
                        at,
                        &field,
                        format!(
                            "`{}` is neither a lock name (letters, digits, `-`, `_`) nor valid \
                             CEL: {e}",
                            lock.key
                        ),
                    ),
                },
            }
        }
    }
}

impl Validator<'_> {
    /// A `type: workflow` node names another workflow, not its own.
    pub(super) fn subworkflow(&mut self, at: &At<'_>, wf: &Workflow, node: &crate::Node) {
        match node.workflow.as_deref() {
            None => self.report(
                at,
                "workflow",
                "a workflow node needs `workflow`: the name of the workflow it runs",
            ),
            Some(name) if name == wf.name => self.report(
                at,
                "workflow",
                format!("`{name}` is this workflow: a run cannot wait for a run of itself"),
            ),
            Some(name) if !super::is_name(name) => self.report(
                at,
                "workflow",
                format!("`{name}` is not a workflow name (lowercase letters, digits and `-`)"),
            ),
            Some(name) if self.catalog.knows_workflows() => {
                match (self.catalog.latest_workflow(name), node.version) {
                    (None, _) => self.report(
                        at,
                        "workflow",
                        format!("no workflow named `{name}` is applied; apply it first"),
                    ),
                    (Some(latest), Some(v)) if v > latest => self.report(
                        at,
                        "version",
                        format!("workflow `{name}` has versions 1 to {latest}, not {v}"),
                    ),
                    _ => {}
                }
            }
            Some(_) => {}
        }
        if node.version.is_some_and(|v| v < 1) {
            self.report(at, "version", "must be 1 or more");
        }
    }
}
