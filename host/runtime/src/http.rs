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
//!
//! While the safety interlock is engaged, a request that an `interlocked`
//! grant matches is refused too.
//!
//! Each attempt is bounded ([`Limits`]): at most `http_requests` requests in
//! flight (one more is refused and recorded, it does not wait), response
//! bodies of at most `http_response_bytes`, and connect and first-byte
//! timeouts that the guest's request options may shorten but not lengthen.
//!
//! Layout: `send` connects and sends one vetted request; `body` caps the
//! response body and holds the request's in-flight slot.

mod body;
mod send;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use baton_grant::Grants;
use baton_grant::http::Target;
use http::uri::Scheme;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::Limits;
use crate::attempt::LogLevel;
use crate::state::Journal;
use body::{Capped, InFlight};
use send::Timeouts;

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// Per-attempt HTTP policy.
pub(crate) struct HttpHooks {
    grants: Arc<Grants>,
    journal: Journal,
    /// The runtime's safety interlock, read at each request.
    interlock: Arc<crate::Interlock>,
    act_until: Option<std::time::Instant>,
    max_requests: usize,
    in_flight: Arc<AtomicUsize>,
    max_body: u64,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
}

impl HttpHooks {
    pub(crate) fn new(
        grants: Arc<Grants>,
        journal: Journal,
        interlock: Arc<crate::Interlock>,
        act_until: Option<std::time::Instant>,
        limits: &Limits,
    ) -> Self {
        Self {
            grants,
            journal,
            interlock,
            act_until,
            max_requests: limits.http_requests,
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_body: limits.http_response_bytes,
            connect_timeout: limits.http_connect_timeout,
            first_byte_timeout: limits.http_first_byte_timeout,
        }
    }
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
        if crate::state::past(self.act_until) {
            self.journal.deny(format!(
                "http {target}: refused, this node's hold on the run has ended"
            ));
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        if self.interlock.stored()
            && let Some(interlocked) = self.grants.http_interlocked(&target)
        {
            self.journal.deny(format!(
                "http {target}: refused, the safety interlock is engaged (grant \
                 `{interlocked}` is interlocked)"
            ));
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        // Unconfirmed (with several nodes): checked again in the request,
        // after a short wait for the state to be read.
        let interlock = self
            .grants
            .http_interlocked(&target)
            .map(|grant| (grant.to_string(), self.interlock.clone()));
        // Taken now, not when the request future first runs, so that the
        // count is exact however the guest interleaves its requests.
        let Some(slot) = InFlight::try_acquire(&self.in_flight, self.max_requests) else {
            self.journal.deny(format!(
                "http {target}: refused, {} requests of this attempt are already in flight \
                 (limit http_requests)",
                self.max_requests
            ));
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        let timeouts = Timeouts::new(self.connect_timeout, self.first_byte_timeout, options);
        let max_body = self.max_body;
        let journal = self.journal.clone();
        Box::new(async move {
            if let Some((grant, interlock)) = interlock
                && !interlock.allows(crate::interlock::CONFIRM_WAIT).await
            {
                journal.deny(format!(
                    "http {target}: refused, the safety interlock is engaged or its state \
                     cannot be confirmed (grant `{grant}` is interlocked)"
                ));
                return Err(Error::HttpRequestDenied);
            }
            // A resolver that never answers is bounded like a host that never accepts.
            let Ok(addrs) = tokio::time::timeout(timeouts.connect, resolve(&target)).await else {
                journal.log(
                    LogLevel::Warn,
                    format!(
                        "http {target}: no DNS answer within {:?} (http_connect_timeout, or \
                         the request's own shorter timeout)",
                        timeouts.connect
                    ),
                );
                return Err(Error::DnsTimeout);
            };
            let addrs = addrs?;
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
            let what = format!("{} {target}", request.method());
            match send::send(request, &addrs, &target, timeouts).await {
                Ok((response, io)) => {
                    let response = response.map(|body| {
                        Capped::new(body, max_body, timeouts.between_bytes, journal, what, slot)
                            .boxed_unsync()
                    });
                    Ok((response, io))
                }
                Err(e) => {
                    let bound = match e {
                        Error::ConnectionTimeout => {
                            Some(("connected", timeouts.connect, "http_connect_timeout"))
                        }
                        Error::ConnectionReadTimeout => {
                            Some(("answered", timeouts.first_byte, "http_first_byte_timeout"))
                        }
                        _ => None,
                    };
                    if let Some((done, after, key)) = bound {
                        journal.log(
                            LogLevel::Warn,
                            format!(
                                "http {what}: not {done} within {after:?} ({key}, or the \
                                 request's own shorter timeout)"
                            ),
                        );
                    }
                    Err(e)
                }
            }
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
