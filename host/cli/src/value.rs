//! Values given on the command line: inline JSON or YAML, or `@path` to a file.

use anyhow::Context as _;
use serde::de::DeserializeOwned;

/// Read `arg` as inline text, or as a file when it starts with `@`, and parse
/// it as YAML (which accepts JSON too).
pub fn parse<T: DeserializeOwned>(arg: &str, what: &str) -> anyhow::Result<T> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {what} from {path}"))?
        }
        None => arg.to_string(),
    };
    serde_yaml_ng::from_str(&text).with_context(|| format!("{what} is not valid JSON or YAML"))
}

/// Like [`parse`], returning canonical JSON text.
pub fn json(arg: Option<&str>, what: &str) -> anyhow::Result<String> {
    match arg {
        None => Ok("null".into()),
        Some(arg) => Ok(serde_json::to_string(&parse::<serde_json::Value>(
            arg, what,
        )?)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_json_yaml_and_files() {
        assert_eq!(json(Some(r#"{"a": 1}"#), "config").unwrap(), r#"{"a":1}"#);
        assert_eq!(json(Some("a: 1"), "config").unwrap(), r#"{"a":1}"#);
        assert_eq!(json(None, "input").unwrap(), "null");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "device: oven-1").unwrap();
        let arg = format!("@{}", file.path().display());
        assert_eq!(
            json(Some(&arg), "config").unwrap(),
            r#"{"device":"oven-1"}"#
        );
        let e = json(Some("@/no/such/file"), "grants").unwrap_err();
        assert!(format!("{e:#}").contains("reading grants from /no/such/file"));
    }
}
