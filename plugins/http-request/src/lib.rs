//! `http-request`: call an HTTP endpoint, such as an MES, with JSON.
//!
//! Config: `{ "url": "https://mes.local/api/batches", "method": "POST", "headers": {}, "timeout_ms": 5000 }`.
//! The body is `config.body` if given, otherwise the input (for POST, PUT and
//! PATCH). Every request carries an `Idempotency-Key` header with the
//! attempt's idempotency key, so a server can drop replays.
//! Output: `{ "status": 201, "body": <JSON, or text if not JSON> }`.
//! A 5xx, 408 or 429 answer is a retryable error; any other 4xx is fatal.

use std::collections::BTreeMap;
use std::time::Duration;

use baton_sdk::http::Request;
use baton_sdk::{Context, Error, Task};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    url: String,
    #[serde(default = "get")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<Value>,
    timeout_ms: Option<u64>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Serialize)]
pub struct Output {
    status: u16,
    body: Value,
}

pub struct HttpRequest;

impl Task for HttpRequest {
    const NAME: &'static str = "http-request";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Sends an HTTP request with a JSON body and returns the status and JSON response.";
    const CONFIG_SCHEMA: Option<&'static str> = Some(include_str!("schema.json"));
    type Config = Config;
    type Input = Value;
    type Output = Output;

    fn run(ctx: &Context, c: Config, input: Value) -> Result<Output, Error> {
        let method = c.method.to_ascii_uppercase();
        let mut request =
            Request::new(&method, &c.url).header("idempotency-key", &ctx.idempotency_key);
        for (name, value) in &c.headers {
            request = request.header(name, value);
        }
        let body = c
            .body
            .or_else(|| matches!(method.as_str(), "POST" | "PUT" | "PATCH").then_some(input));
        if let Some(body) = body {
            request = request.json(&body)?;
        }
        if let Some(ms) = c.timeout_ms {
            request = request.timeout(Duration::from_millis(ms));
        }
        let response = request.send()?;
        let status = response.status;
        let body = response
            .json::<Value>()
            .unwrap_or_else(|_| Value::String(response.text()));
        match status {
            408 | 429 | 500..=599 => Err(Error::retryable(format!(
                "{} answered {status}: {body}",
                c.url
            ))),
            400..=499 => Err(Error::fatal(format!("{} answered {status}: {body}", c.url))),
            _ => Ok(Output { status, body }),
        }
    }
}

baton_sdk::export!(HttpRequest);

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sdk::testing::Host;
    use serde_json::json;

    #[test]
    fn posts_input_with_idempotency_key() {
        let host = Host::new();
        host.respond("https://mes.local/api", 201, r#"{"id": 7}"#);
        let out = host
            .run::<HttpRequest>(
                json!({"url": "https://mes.local/api/batches", "method": "post"}),
                json!({"batch": 1}),
            )
            .unwrap();
        assert_eq!(out, json!({"status": 201, "body": {"id": 7}}));
        let sent = &host.requests()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.body, br#"{"batch":1}"#);
        assert!(
            sent.headers
                .contains(&("idempotency-key".into(), "test-run/test-node".into()))
        );
    }

    #[test]
    fn server_errors_are_retryable_client_errors_fatal() {
        let host = Host::new();
        host.respond("http://a/busy", 503, "busy");
        host.respond("http://a/bad", 400, "bad");
        assert!(matches!(
            host.run::<HttpRequest>(json!({"url": "http://a/busy"}), json!(null)),
            Err(Error::Retryable(_))
        ));
        assert!(matches!(
            host.run::<HttpRequest>(json!({"url": "http://a/bad"}), json!(null)),
            Err(Error::Fatal(_))
        ));
        assert!(
            matches!(host.run::<HttpRequest>(json!({"url": "http://b/"}), json!(null)), Err(Error::Fatal(m)) if m.contains("denied"))
        );
    }
}
