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
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::IoFuture;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);

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

async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Error> {
    let mut last = Error::ConnectionRefused;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Error::Connect(e),
            Err(_) => last = Error::ConnectionTimeout,
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
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    // Not talking to a proxy: the request line carries only the path and query.
    *request.uri_mut() = target
        .request_target()
        .parse()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let host =
        HeaderValue::try_from(target.host_header()).map_err(|_| Error::HttpRequestUriInvalid)?;
    request.headers_mut().insert(header::HOST, host);
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT);
    let tcp = connect(addrs, connect_timeout).await?;
    let stream: Box<dyn Stream> = if target.https() {
        let name = match target.ip() {
            Some(ip) => rustls::pki_types::ServerName::from(ip),
            None => rustls::pki_types::ServerName::try_from(target.host().to_string())
                .map_err(|_| Error::HttpRequestUriInvalid)?,
        };
        let config = tls_config().ok_or(Error::TlsProtocolError)?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = tokio::time::timeout(connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
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
