//! The endpoint front end: a plain-HTTP listener for clients that send their requests to tollgate
//! as if it were the service (an endpoint URL such as `AWS_ENDPOINT_URL=http://127.0.0.1:PORT`),
//! not through it as a proxy. No CONNECT, no TLS to intercept, no CA to trust.
//!
//! The proxy still knows nothing of AWS: the caller's [`EndpointRouter`] says where each request
//! goes and rewrites what must change on the way (the Host, a signature, a body's framing). From
//! there the request is forwarded, observed and answered exactly as an intercepted one.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::forward::{self, ProxyBody, RequestBody};
use super::observer::Transport;
use super::target::Target;
use super::Shared;

/// Where a request received on the endpoint listener goes, and the request as it is to be sent.
pub struct Routed {
    /// The head as it is to be sent (its URI's path and query are kept; the Host header is the
    /// one sent upstream), and its body.
    pub request: Request<RequestBody>,
    /// The host it is for: where it goes, unless `--upstream` sends every request elsewhere.
    pub host: String,
    pub port: u16,
    pub transport: Transport,
}

/// The router's answer when a request cannot be forwarded: the response to give the client, as
/// the client's protocol expects to read an error. Nothing was sent upstream.
pub type Refused = Response<Full<Bytes>>;

pub type RouteFuture = Pin<Box<dyn Future<Output = Result<Routed, Refused>> + Send>>;

/// Decides where each request sent to the endpoint listener goes. Supplied by the caller, who
/// knows what the requests are.
pub trait EndpointRouter: Send + Sync + 'static {
    fn route(&self, request: Request<Incoming>) -> RouteFuture;
}

/// Serves one client connection on the endpoint listener; runs in its `connection` span.
pub(crate) async fn serve_client(
    shared: Arc<Shared>,
    router: Arc<dyn EndpointRouter>,
    stream: tokio::net::TcpStream,
    client: SocketAddr,
) {
    tracing::debug!("accepted on the endpoint listener");
    let service = {
        let shared = shared.clone();
        service_fn(move |request| route(shared.clone(), router.clone(), client, request))
    };
    let connection = shared
        .proxy_http
        .serve_connection_with_upgrades(TokioIo::new(stream), service);
    if let Err(error) = super::serve_gracefully(connection, &shared.shutdown).await {
        tracing::debug!(
            error = %forward::error_chain(&*error),
            "endpoint connection ended with an error"
        );
    }
}

async fn route(
    shared: Arc<Shared>,
    router: Arc<dyn EndpointRouter>,
    client: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    match router.route(request).await {
        Ok(routed) => {
            let target = Target {
                client,
                transport: routed.transport,
                host: routed.host,
                port: routed.port,
                labels: Default::default(),
            };
            forward::forward_observed(shared, target, routed.request).await
        }
        Err(refused) => {
            shared
                .stats
                .endpoint_refused
                .fetch_add(1, Ordering::Relaxed);
            Ok(refused.map(Either::Right))
        }
    }
}
