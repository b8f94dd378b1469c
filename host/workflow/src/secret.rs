//! Secret references in a node's `config`: `{secret: NAME}` stands for the
//! value the host keeps under `NAME`. A workflow holds only the name; the
//! engine puts the value in when an attempt starts.

use serde_json::Value;

/// The name a value refers to, if it is a reference: an object whose only
/// key is `secret`, with a string.
pub fn reference(value: &Value) -> Option<&str> {
    match value {
        Value::Object(map) if map.len() == 1 => map.get("secret").and_then(Value::as_str),
        _ => None,
    }
}

/// Every reference inside `config`, each with its path below `config`
/// (`.password`, `.servers.0.token`; empty when `config` itself is one), in
/// document order.
pub fn references(config: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    // Iterative, so that a deeply nested config costs no stack.
    let mut stack = vec![(String::new(), config)];
    while let Some((path, value)) = stack.pop() {
        if let Some(name) = reference(value) {
            found.push((path, name.to_string()));
            continue;
        }
        match value {
            Value::Object(map) => {
                stack.extend(map.iter().rev().map(|(k, v)| (format!("{path}.{k}"), v)))
            }
            Value::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, v)| (format!("{path}.{i}"), v)),
            ),
            _ => {}
        }
    }
    found
}

/// `config` with every reference replaced by what `value` gives for its
/// name; the first name it has nothing for is the error.
pub fn substitute(
    config: &Value,
    mut value: impl FnMut(&str) -> Option<Value>,
) -> Result<Value, String> {
    substitute_dyn(config, &mut value)
}

fn substitute_dyn(
    config: &Value,
    value: &mut dyn FnMut(&str) -> Option<Value>,
) -> Result<Value, String> {
    if let Some(name) = reference(config) {
        return value(name).ok_or_else(|| name.to_string());
    }
    Ok(match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), substitute_dyn(v, value)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute_dyn(v, value))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_found_anywhere_with_their_paths() {
        let config = json!({
            "user": "baton",
            "password": {"secret": "mes_password"},
            "servers": [{"token": {"secret": "mes_token"}}],
            "not_one": {"secret": "x", "other": 1},
            "number": {"secret": 5},
        });
        assert_eq!(
            references(&config),
            [
                (".password".to_string(), "mes_password".to_string()),
                (".servers.0.token".to_string(), "mes_token".to_string()),
            ]
        );
        assert_eq!(
            references(&json!({"secret": "whole"})),
            [(String::new(), "whole".to_string())]
        );
    }

    #[test]
    fn substitution_replaces_each_reference_or_names_the_missing_one() {
        let config = json!({"a": [{"secret": "one"}], "b": "plain"});
        let out = substitute(&config, |n| (n == "one").then(|| json!("1"))).unwrap();
        assert_eq!(out, json!({"a": ["1"], "b": "plain"}));
        let missing = json!({"a": {"secret": "two"}});
        assert_eq!(substitute(&missing, |_| None).unwrap_err(), "two");
    }
}
