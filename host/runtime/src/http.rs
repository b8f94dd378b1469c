//! Outgoing HTTP for guests: `wasi:http` with Baton's grant checks.
//!
//! A request is first put in canonical form ([`Target`]): a path or
//! authority that servers could read differently is refused. The canonical
//! scheme, host, port and path must match one of the node's HTTP grants.
//! Then, after DNS resolution, none of the host's addresses may be loopback,
//! link-local, unspecified or a cloud metadata address, unless the matching
//! grant names that IP literally. A failed check answers `HTTP-request-denied`
//! and is recorded on the attempt. The connection then goes to the very
//! address that was checked, so a DNS answer that changes between check and
//! connect cannot slip through, and the request line and `Host` header are
//! the canonical ones, so the server reads the path the grant matched.

mod send;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use baton_grant::Grants;
use baton_grant::http::Target;
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
        let Some(authority) = uri.authority() else {
            return Box::new(async { Err(Error::HttpRequestUriInvalid) });
        };
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let checked = Target::new(https, authority.as_str(), path_and_query)
            .and_then(|target| Ok((self.grants.check_http(&target)?.clone(), target)));
        let (grant, target) = match checked {
            Ok(checked) => checked,
            Err(denied) => {
                self.journal.deny(denied.0);
                return Box::new(async { Err(Error::HttpRequestDenied) });
            }
        };
        let journal = self.journal.clone();
        Box::new(async move {
            let addrs = resolve(&target).await?;
            for addr in &addrs {
                let ip = addr.ip();
                if let Some(reason) = baton_grant::http::restricted_reason(ip)
                    && !grant.names_ip(ip)
                {
                    journal.deny(format!(
                        "http {target}: `{}` resolves to {ip}, {reason}; only a grant \
                         naming that IP literally may reach it",
                        target.host()
                    ));
                    return Err(Error::HttpRequestDenied);
                }
            }
            send::send(request, &addrs, &target, options).await
        })
    }
}

/// The addresses of the checked host; an IP literal involves no DNS.
async fn resolve(target: &Target) -> Result<Vec<SocketAddr>, Error> {
    if let Some(ip) = target.ip() {
        return Ok(vec![SocketAddr::new(ip, target.port())]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host(), target.port()))
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
