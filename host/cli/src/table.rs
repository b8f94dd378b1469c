//! Plain text tables for people; `--json` gives the server's JSON instead.

use serde_json::Value;

/// Print `rows` under `headers`, each column as wide as its widest cell.
pub fn print(headers: &[&str], rows: &[Vec<String>]) {
    print!("{}", render(headers, rows));
}

/// The table [`print`] prints, for output built up before printing.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// The rows of a JSON list (`answer[key]`, say); nothing when it is not a list.
pub fn rows(list: &Value, row: impl Fn(&Value) -> Vec<String>) -> Vec<Vec<String>> {
    list.as_array().into_iter().flatten().map(row).collect()
}

/// `text` cut to `max` characters, with `...` when it was longer.
pub fn truncate(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

/// A JSON value as a table cell: strings bare, null as `-`.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn time(value: &Value) -> String {
    value
        .as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let out = render(
            &["NAME", "VERSION"],
            &[
                vec!["modbus-read".into(), "0.1.0".into()],
                vec!["x".into(), "10.2.3".into()],
            ],
        );
        assert_eq!(
            out,
            "NAME         VERSION\nmodbus-read  0.1.0\nx            10.2.3\n"
        );
    }

    #[test]
    fn cells_and_times() {
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&serde_json::json!("a")), "a");
        assert_eq!(cell(&serde_json::json!(3)), "3");
        assert_eq!(time(&serde_json::json!(0)), "1970-01-01 00:00:00");
        assert_eq!(time(&Value::Null), "-");
        assert_eq!(truncate("ovenöö".into(), 5), "ovenö...");
        assert_eq!(truncate("oven".into(), 4), "oven");
        let list = serde_json::json!([{"n": 1}, {"n": 2}]);
        assert_eq!(rows(&list, |v| vec![cell(&v["n"])]), [["1"], ["2"]]);
        assert!(rows(&Value::Null, |_| vec![]).is_empty());
    }
}
