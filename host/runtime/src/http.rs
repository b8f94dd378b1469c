//! Outgoing HTTP for guests: `wasi:http` with Baton's grant checks.
//!
//! A request is checked twice. First, its scheme, host, port and path must
//! match one of the node's HTTP grants. Then, after DNS resolution, none of
//! the host's addresses may be loopback, link-local, unspecified or a cloud
//! metadata address, unless the matching grant names that IP literally. A
//! failed check answers `HTTP-request-denied` and is recorded on the attempt.
//! The connection then goes to the very address that was checked, so a DNS
//! answer that changes between check and connect cannot slip through.

mod send;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use baton_grant::Grants;
use http::uri::Scheme;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::state::Journal;

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// Per-attempt HTTP policy.
pub(crate) struct HttpHooks {
    pub(crate) grants: Arc<Grants>,
    pub(crate) journal: Journal,
}

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let uri = request.uri();
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let Some(host) = uri.host().map(str::to_string) else {
            return Box::new(async { Err(Error::HttpRequestUriInvalid) });
        };
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let shown = format!(
            "{}://{host}:{port}{}",
            if https { "https" } else { "http" },
            uri.path()
        );
        let grant = match self.grants.check_http(https, &host, port, uri.path()) {
            Ok(grant) => grant.clone(),
            Err(denied) => {
                self.journal.deny(denied.0);
                return Box::new(async { Err(Error::HttpRequestDenied) });
            }
        };
        let journal = self.journal.clone();
        Box::new(async move {
            let addrs = resolve(&host, port).await?;
            for addr in &addrs {
                let ip = addr.ip();
                if let Some(reason) = baton_grant::http::restricted_reason(ip)
                    && !grant.names_ip(ip)
                {
                    journal.deny(format!(
                        "http {shown}: `{host}` resolves to {ip}, {reason}; only a grant \
                             naming that IP literally may reach it"
                    ));
                    return Err(Error::HttpRequestDenied);
                }
            }
            send::send(request, &addrs, https, &host, options).await
        })
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    let bare = host.trim_matches(['[', ']']);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| Error::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Error::DestinationNotFound);
    }
    Ok(addrs)
}
