//! Equipment locks and concurrency limits: what a workflow or a node must
//! hold before it runs, e.g. `locks: ["oven-1"]` so that one recipe at a
//! time runs on an oven.

use serde::{Deserialize, Serialize};

/// One lock a run or a node takes. Written as a string, it is a lock with
/// the defaults; the long form sets `limit` and `on_conflict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "LockRepr")]
pub struct Lock {
    /// The lock's name (`oven-1`), or a CEL expression that computes it
    /// (`"'line-' + string(input.line)"`). See [`Lock::is_name`].
    pub key: String,
    /// How many holders the lock allows at once; 1 makes it exclusive.
    #[serde(default = "one")]
    pub limit: u32,
    /// What happens when the lock is taken: wait in line, or refuse.
    #[serde(default)]
    pub on_conflict: OnConflict,
}

fn one() -> u32 {
    1
}

/// What a run or node does when a lock it needs is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Wait, in arrival order, until the lock frees.
    #[default]
    Queue,
    /// Refuse: a run is not started (409), a node fails.
    Reject,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LockRepr {
    Name(String),
    Full {
        key: String,
        #[serde(default = "one")]
        limit: u32,
        #[serde(default)]
        on_conflict: OnConflict,
    },
}

impl From<LockRepr> for Lock {
    fn from(repr: LockRepr) -> Self {
        match repr {
            LockRepr::Name(key) => Lock {
                key,
                limit: 1,
                on_conflict: OnConflict::Queue,
            },
            LockRepr::Full {
                key,
                limit,
                on_conflict,
            } => Lock {
                key,
                limit,
                on_conflict,
            },
        }
    }
}

/// Longest lock name, in bytes.
pub const MAX_LOCK_NAME: usize = 128;

impl Lock {
    /// Whether `key` is a plain name, taken as written: letters, digits,
    /// `-` and `_`. Anything else is a CEL expression whose value is the
    /// name (so `input.oven` reads the run input).
    pub fn is_name(&self) -> bool {
        is_lock_name(&self.key)
    }
}

/// Whether `text` may be a lock's name as it is.
pub fn is_lock_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_LOCK_NAME
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_forms() {
        let locks: Vec<Lock> = serde_yaml_ng::from_str(
            "- oven-1\n- { key: \"'line-' + string(input.line)\", limit: 2, on_conflict: reject }\n",
        )
        .unwrap();
        assert_eq!(locks[0].key, "oven-1");
        assert_eq!(
            (locks[0].limit, locks[0].on_conflict),
            (1, OnConflict::Queue)
        );
        assert!(locks[0].is_name());
        assert_eq!(
            (locks[1].limit, locks[1].on_conflict),
            (2, OnConflict::Reject)
        );
        assert!(!locks[1].is_name());
        let again: Vec<Lock> =
            serde_json::from_str(&serde_json::to_string(&locks).unwrap()).unwrap();
        assert_eq!(again, locks);
        assert!(!Lock::from(LockRepr::Name("input.oven".into())).is_name());
    }
}
