//! Workflow definitions: what operations engineers write, checked before
//! anything runs.
//!
//! A workflow is a graph of nodes (YAML or JSON). Edges come from `needs`; a
//! `when` condition in CEL gates a node; a node's `input` maps values from the
//! run input and upstream outputs with CEL. Nodes are tasks (a plugin),
//! approvals, delays or waits, and may fan out over a list with `foreach`.
//!
//! [`Workflow::parse`] reads a definition; [`validate`] checks it against the
//! plugins and connections the host has, and reports every problem at once,
//! each naming the node and the field.
//!
//! # Layout
//! - [`definition`]: the data model, as written.
//! - [`expr`]: CEL expressions: compiling, evaluating against run data, and
//!   finding which upstream nodes an expression reads.
//! - [`graph`]: the DAG: order, cycles, ancestors.
//! - [`catalog`]: what validation needs to know about the host.
//! - [`validate`]: every check, collected into [`Problems`].
//! - [`locks`]: equipment locks and concurrency limits.
//! - [`plc_trigger`]: the trigger that starts a run on a PLC change.
//! - [`secret`]: `{secret: NAME}` references in a node's config.
//! - [`limits`]: the bounds that keep parsing and validating a hostile
//!   definition cheap.
//! - `budget`: the alias-expanded size check that runs before deserialising.
#![deny(missing_docs)]

mod budget;
pub mod catalog;
pub mod definition;
pub mod expr;
pub mod graph;
pub mod limits;
pub mod locks;
pub mod plc_trigger;
pub mod secret;
pub mod validate;

mod error;

pub use catalog::{Catalog, PluginMeta};
pub use definition::{Node, NodeKind, Workflow};
pub use error::{ParseError, Problem, Problems};
pub use limits::Limits;
pub use locks::{Lock, OnConflict};
pub use plc_trigger::PlcTrigger;
pub use validate::{validate, validate_with};
