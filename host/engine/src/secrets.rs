//! The host's secrets: credentials a workflow names as `{secret: NAME}` but
//! never holds. Values are put into a node's config only when an attempt
//! starts, and taken out again (as `[secret NAME]`) from everything the
//! attempt reports before it is recorded.
//!
//! Nothing here prints a value: `Debug` and `Serialize` show names only, and
//! a value of the wrong type is refused without echoing it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// Secret values by name (`[secrets]` in `baton.toml`, or
/// `BATON_SECRETS__NAME` in the environment).
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// Finds any value (and its JSON-escaped form) in text, longest first.
    matcher: Option<AhoCorasick>,
    /// The replacement for each of the matcher's patterns.
    replacements: Vec<String>,
}

impl Secrets {
    /// A store of `(name, value)` pairs. A name is lowercase letters, digits
    /// and `_` (as environment variables map to it); a value is not empty.
    /// Errors name the secret, never its value.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        for (name, value) in pairs {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(format!(
                    "secret name `{name}` must be lowercase letters, digits and `_`"
                ));
            }
            if value.is_empty() {
                return Err(format!("secret `{name}` is empty"));
            }
            values.insert(name, value);
        }
        let mut patterns = Vec::new();
        let mut replacements = Vec::new();
        for (name, value) in &values {
            let escaped = serde_json::to_string(value).unwrap_or_default();
            let escaped = escaped.trim_matches('"');
            for form in [value.as_str(), escaped] {
                if !form.is_empty() && !patterns.iter().any(|p: &String| p == form) {
                    patterns.push(form.to_string());
                    replacements.push(format!("[secret {name}]"));
                }
            }
        }
        let matcher = match patterns.is_empty() {
            true => None,
            false => Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .map_err(|e| format!("cannot index the secrets: {e}"))?,
            ),
        };
        Ok(Self {
            values,
            matcher,
            replacements,
        })
    }

    /// Whether a secret called `name` is configured.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The configured names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// A node's config (JSON text) with each `{secret: NAME}` replaced by
    /// the value. The error names the first secret the host does not have.
    pub(crate) fn resolve<'c>(&self, config: &'c str) -> Result<Cow<'c, str>, String> {
        // Most configs name no secret: no need to parse them again.
        if !config.contains("\"secret\"") {
            return Ok(Cow::Borrowed(config));
        }
        let parsed: Value = serde_json::from_str(config)
            .map_err(|e| format!("the node's config does not parse: {e}"))?;
        if baton_workflow::secret::references(&parsed).is_empty() {
            return Ok(Cow::Borrowed(config));
        }
        let value = |name: &str| self.values.get(name).cloned().map(Value::String);
        baton_workflow::secret::substitute(&parsed, value)
            .map(|v| Cow::Owned(v.to_string()))
            .map_err(|name| {
                format!("the config names secret `{name}`, which is not configured on this host")
            })
    }

    /// `text` with every secret value in it replaced by `[secret NAME]`.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => Cow::Owned(m.replace_all(text, &self.replacements)),
            _ => Cow::Borrowed(text),
        }
    }

    /// Redact `text` where it is.
    pub fn redact_string(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.redact(text) {
            *text = clean;
        }
    }

    /// Redact every string, keys included, inside a JSON value.
    pub fn redact_value(&self, value: &mut Value) {
        if self.matcher.is_none() {
            return;
        }
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => self.redact_string(s),
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    for key in keys {
                        if let Cow::Owned(clean) = self.redact(&key)
                            && let Some(inner) = map.remove(&key)
                        {
                            map.insert(clean, inner);
                        }
                    }
                    stack.extend(map.values_mut());
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// Names only, each with `"[redacted]"`.
impl Serialize for Secrets {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.names().map(|n| (n, "[redacted]")))
    }
}

impl<'de> Deserialize<'de> for Secrets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Table;
        impl<'de> Visitor<'de> for Table {
            type Value = Secrets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of secret names and their values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secrets, A::Error> {
                let mut pairs = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let SecretValue(value) = map.next_value()?;
                    pairs.push((name, value));
                }
                Secrets::new(pairs).map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_map(Table)
    }
}

/// One value: a string. Anything else is refused without showing it, as
/// serde's own type errors would.
struct SecretValue(String);

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        fn refuse<E: de::Error>() -> E {
            E::custom("a secret's value must be a string")
        }
        impl<'de> Visitor<'de> for Text {
            type Value = SecretValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretValue, E> {
                Ok(SecretValue(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SecretValue, E> {
                Ok(SecretValue(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretValue, E> {
                Err(refuse())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretValue, E> {
                Err(refuse())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretValue, E> {
                Err(refuse())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretValue, E> {
                Err(refuse())
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<SecretValue, E> {
                Err(refuse())
            }
        }
        deserializer.deserialize_any(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> Secrets {
        Secrets::new([
            ("mes_token".to_string(), "tok-3f9a".to_string()),
            ("quoted".to_string(), "p\"w".to_string()),
        ])
        .unwrap()
    }

    #[test]
    fn debug_and_serialize_show_names_only() {
        let s = store();
        let debug = format!("{s:?}");
        let json = serde_json::to_string(&s).unwrap();
        for shown in [&debug, &json] {
            assert!(shown.contains("mes_token"), "{shown}");
            assert!(
                !shown.contains("tok-3f9a") && !shown.contains("p\\\"w"),
                "{shown}"
            );
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_without_showing_it() {
        let e = serde_json::from_value::<Secrets>(json!({"pin": 482913})).unwrap_err();
        assert!(!e.to_string().contains("482913"), "{e}");
        let e = serde_json::from_value::<Secrets>(json!({"Pin": "x"})).unwrap_err();
        assert!(e.to_string().contains("`Pin`"), "{e}");
        let e = serde_json::from_value::<Secrets>(json!({"pin": ""})).unwrap_err();
        assert!(e.to_string().contains("`pin` is empty"), "{e}");
    }

    #[test]
    fn resolving_puts_values_in_and_names_a_missing_secret() {
        let s = store();
        let config = json!({"token": {"secret": "mes_token"}, "n": 1}).to_string();
        let resolved: Value = serde_json::from_str(&s.resolve(&config).unwrap()).unwrap();
        assert_eq!(resolved, json!({"token": "tok-3f9a", "n": 1}));
        assert!(matches!(s.resolve("{\"n\":1}"), Ok(Cow::Borrowed(_))));
        let e = s.resolve(r#"{"a":{"secret":"gone"}}"#).unwrap_err();
        assert!(e.contains("`gone`"), "{e}");
    }

    #[test]
    fn redaction_replaces_plain_and_json_escaped_values() {
        let s = store();
        assert_eq!(
            s.redact("login tok-3f9a, then p\"w and {\"pw\":\"p\\\"w\"}"),
            "login [secret mes_token], then [secret quoted] and {\"pw\":\"[secret quoted]\"}"
        );
        assert!(matches!(s.redact("nothing here"), Cow::Borrowed(_)));
        let mut v = json!({"a": ["x tok-3f9a"], "tok-3f9a": 1});
        s.redact_value(&mut v);
        assert_eq!(
            v,
            json!({"a": ["x [secret mes_token]"], "[secret mes_token]": 1})
        );
    }
}
