//! Send one request over a fresh connection to an already vetted address.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Poll, ready};
use std::time::Duration;

use baton_grant::http::Target;
use http::{HeaderValue, header};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::IoFuture;

/// The attempt's HTTP time bounds, narrowed by the guest's request options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timeouts {
    /// TCP connect, TLS and the HTTP handshake, together.
    pub(super) connect: Duration,
    /// From sending the request to the response head.
    pub(super) first_byte: Duration,
    /// Between two chunks of the response body.
    pub(super) between_bytes: Duration,
}

impl Timeouts {
    /// The host's bounds, or the guest's when it asks for less: a guest can
    /// shorten a wait, never lengthen it.
    pub(super) fn new(
        connect: Duration,
        first_byte: Duration,
        options: Option<RequestOptions>,
    ) -> Self {
        let narrow =
            |asked: Option<Duration>, bound: Duration| asked.map_or(bound, |a| a.min(bound));
        let options = options.unwrap_or_default();
        Self {
            connect: narrow(options.connect_timeout, connect),
            first_byte: narrow(options.first_byte_timeout, first_byte),
            between_bytes: narrow(options.between_bytes_timeout, first_byte),
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// The TLS client configuration: webpki roots, ring, safe protocol versions.
/// `None` only if the provider rejects its own defaults, which would be a build error.
fn tls_config() -> Option<Arc<rustls::ClientConfig>> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            match rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
            {
                Ok(builder) => Some(Arc::new(
                    builder.with_root_certificates(roots).with_no_client_auth(),
                )),
                Err(e) => {
                    tracing::error!(error = %e, "cannot configure TLS; https requests will fail");
                    None
                }
            }
        })
        .clone()
}

/// Connect to the first address that accepts before `deadline`, which
/// bounds all addresses together.
async fn connect(addrs: &[SocketAddr], deadline: Instant) -> Result<TcpStream, Error> {
    let mut last = Error::ConnectionRefused;
    for addr in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Error::Connect(e),
            Err(_) => return Err(Error::ConnectionTimeout),
        }
    }
    Err(last)
}

/// Send `request` to `target`, which the grants were checked against: its
/// request line and `Host` header are replaced by the target's canonical ones.
pub(super) async fn send(
    mut request: http::Request<WasiBody>,
    addrs: &[SocketAddr],
    target: &Target,
    timeouts: Timeouts,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    // Not talking to a proxy: the request line carries only the path and query.
    *request.uri_mut() = target
        .request_target()
        .parse()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let host =
        HeaderValue::try_from(target.host_header()).map_err(|_| Error::HttpRequestUriInvalid)?;
    request.headers_mut().insert(header::HOST, host);
    // One deadline for TCP, TLS and the HTTP handshake together.
    let deadline = Instant::now() + timeouts.connect;
    let first_byte_timeout = timeouts.first_byte;
    let tcp = connect(addrs, deadline).await?;
    let stream: Box<dyn Stream> = if target.https() {
        let name = match target.ip() {
            Some(ip) => rustls::pki_types::ServerName::from(ip),
            None => rustls::pki_types::ServerName::try_from(target.host().to_string())
                .map_err(|_| Error::HttpRequestUriInvalid)?,
        };
        let config = tls_config().ok_or(Error::TlsProtocolError)?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = tokio::time::timeout_at(deadline, connector.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = tokio::time::timeout_at(
        deadline,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;

    let mut response = Box::pin(async move {
        tokio::time::timeout(first_byte_timeout, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(Error::from)
    });
    let mut conn = Some(conn);
    // Drive the connection while waiting for the response head.
    let response = std::future::poll_fn(|cx| match response.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(r),
        Poll::Pending => {
            let Some(c) = conn.as_mut() else {
                return Poll::Pending;
            };
            let done = ready!(Pin::new(c).poll(cx));
            conn = None;
            match done {
                Ok(()) => response.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(Error::from(e))),
            }
        }
    })
    .await?;
    let io: IoFuture = Box::new(async move {
        match conn {
            Some(c) => c.await.map_err(Error::from),
            None => Ok(()),
        }
    });
    Ok((
        response.map(|body| body.map_err(Error::from).boxed_unsync()),
        io,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_may_shorten_a_timeout_but_never_lengthen_it() {
        let (connect, first_byte) = (Duration::from_secs(5), Duration::from_secs(30));
        let none = Timeouts::new(connect, first_byte, None);
        assert_eq!(
            none,
            Timeouts {
                connect,
                first_byte,
                between_bytes: first_byte
            }
        );
        let asked = RequestOptions {
            connect_timeout: Some(Duration::from_secs(60)),
            first_byte_timeout: Some(Duration::from_secs(2)),
            between_bytes_timeout: Some(Duration::from_secs(600)),
        };
        let t = Timeouts::new(connect, first_byte, Some(asked));
        assert_eq!(t.connect, connect);
        assert_eq!(t.first_byte, Duration::from_secs(2));
        assert_eq!(t.between_bytes, first_byte);
    }
}
