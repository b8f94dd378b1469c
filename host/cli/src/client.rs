//! A small HTTP client for the Baton API: one connection per call, bearer
//! token, API errors turned into readable messages, and Server-Sent Events.

use anyhow::{Context as _, anyhow, bail};
use baton_workflow::Problem;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Where the server is and who is calling: flags or `BATON_SERVER` and `BATON_TOKEN`.
#[derive(Args, Clone)]
pub struct Remote {
    /// The Baton server.
    #[arg(
        long,
        env = "BATON_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// An API token (`baton token create`, or the first admin token).
    #[arg(long, env = "BATON_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A connection target and token.
pub struct Client {
    authority: String,
    base_path: String,
    token: Option<String>,
}

/// A call that the server refused, with its API error.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}{}", problems.iter().map(|p| format!("\n  - {p}")).collect::<String>())]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// What is wrong with a workflow, when that is why.
    problems: Vec<Problem>,
}

impl Client {
    /// A client for `remote`; only `http://` URLs.
    pub fn new(remote: &Remote) -> anyhow::Result<Self> {
        let server = &remote.server;
        let wrong = || format!("--server/BATON_SERVER `{server}`: give it as http://HOST:PORT");
        let url = url::Url::parse(server).with_context(wrong)?;
        match url.scheme() {
            "http" => {}
            "https" => bail!(
                "`{server}`: the CLI speaks plain http (put TLS in front of the server with a proxy, and run the CLI on its side)"
            ),
            _ => bail!(wrong()),
        }
        let host = url.host_str().with_context(wrong)?;
        let port = url.port_or_known_default().unwrap_or(80);
        Ok(Self {
            authority: format!("{host}:{port}"),
            base_path: url.path().trim_end_matches('/').to_string(),
            token: remote.token.clone(),
        })
    }

    /// Send a request and return the raw response.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<Response<Incoming>> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("cannot reach the Baton server at {}", self.authority))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(conn);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base_path, path))
            .header("host", &self.authority);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        sender
            .send_request(request)
            .await
            .with_context(|| format!("calling {path}"))
    }

    /// Send a request and return the JSON answer; an error status becomes
    /// an [`ApiError`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let response = self.send(method, path, headers, body).await?;
        let status = response.status();
        let value = json_body(response.into_body()).await?;
        if !status.is_success() {
            return Err(self.api_error(status, &value).into());
        }
        Ok((status, value))
    }

    /// GET a JSON resource.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.call(Method::GET, path, &[], Vec::new()).await?.1)
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(StatusCode, Value)> {
        self.call(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            serde_json::to_vec(body)?,
        )
        .await
    }

    /// The error in an API error body (`{"error": {"code", "message", "details"}}`).
    fn api_error(&self, status: StatusCode, value: &Value) -> ApiError {
        let error = &value["error"];
        let mut message = error["message"]
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        if status == StatusCode::UNAUTHORIZED && self.token.is_none() {
            message.push_str(" (give a token with --token or BATON_TOKEN)");
        }
        let problems =
            serde_json::from_value(error["details"]["problems"].clone()).unwrap_or_default();
        ApiError {
            status,
            message,
            problems,
        }
    }

    /// Follow a Server-Sent Events stream, calling `each` with every event's
    /// JSON data until the stream ends or `each` returns `false`.
    pub async fn events(
        &self,
        path: &str,
        mut each: impl FnMut(Value) -> bool,
    ) -> anyhow::Result<()> {
        let response = self
            .send(
                Method::GET,
                path,
                &[("accept", "text/event-stream")],
                Vec::new(),
            )
            .await?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let value = json_body(body).await?;
            return Err(self.api_error(status, &value).into());
        }
        let mut buffer = String::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.context("reading the event stream")?;
            let Some(chunk) = frame.data_ref() else {
                continue;
            };
            buffer.push_str(&String::from_utf8_lossy(chunk));
            while let Some(end) = buffer.find("\n\n") {
                let message: String = buffer.drain(..end + 2).collect();
                let data: String = message
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("\n");
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let value = serde_json::from_str(&data)
                    .map_err(|e| anyhow!("an event that is not JSON ({e}): {data}"))?;
                if !each(value) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// A response body as JSON: nothing is null, and text that is not JSON
/// (a proxy's error page) is kept as a string.
async fn json_body(body: Incoming) -> anyhow::Result<Value> {
    let bytes = body.collect().await?.to_bytes();
    Ok(if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    })
}

/// Percent-encode one path segment.
pub fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(server: &str) -> anyhow::Result<Client> {
        Client::new(&Remote {
            server: server.into(),
            token: None,
            json: false,
        })
    }

    #[test]
    fn server_urls_are_checked_with_a_hint() {
        let c = client("http://plant-host:9000/baton/").unwrap();
        assert_eq!(c.authority, "plant-host:9000");
        assert_eq!(c.base_path, "/baton");
        assert_eq!(
            client("http://plant-host").unwrap().authority,
            "plant-host:80"
        );
        for bad in ["localhost:8080", "plant-host", ""] {
            let e = client(bad).err().unwrap().to_string();
            assert!(e.contains("give it as http://HOST:PORT"), "{bad}: {e}");
        }
        let e = client("https://plant-host").err().unwrap().to_string();
        assert!(e.contains("plain http"), "{e}");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("line 1/oven"), "line%201%2Foven");
    }
}
