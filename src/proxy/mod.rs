//! A forward HTTP(S) proxy that decrypts the hosts on its intercept list and tunnels the rest.
//!
//! It knows nothing of AWS: its caller gives it the hosts to intercept (a [`HostMatcher`]), and
//! every intercepted exchange goes to the [`Observer`]s it was built with. See `connect` for the
//! CONNECT/interception decision, `forward` for the upstream leg and `exchange` for how bodies
//! are followed while they stream.
//!
//! Logging: each client connection runs in a debug-level `connection` span (the client address,
//! then the CONNECT host), each intercepted exchange in an `exchange` span within it (id, method,
//! host, the path without its query, and the response status once known); observers are called
//! inside the exchange span. Header values, queries and bodies are never logged.

mod connect;
mod endpoint;
mod exchange;
mod forward;
mod intercept;
mod labels;
mod observer;
mod target;
mod tunnel;

pub use endpoint::{EndpointRouter, Refused, RouteFuture, Routed};
pub use intercept::{BadPattern, HostMatcher};
pub use labels::OWN_HEADER_PREFIX;
pub use observer::{
    BodyRecord, BodyTap, Distrust, DistrustKind, Exchange, Observer, Observers, Outcome,
    ResponseRecord, ResponseStart, Transport, Tunnel, UpstreamFailure, TAIL_CAPTURE,
};

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use http::{Method, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use rustls::RootCertStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use exchange::TapBody;
use forward::ProxyBody;
pub use forward::RequestBody;
use target::Target;

/// Entry points for the fuzz targets in `fuzz/`: the parsers that read bytes from the network.
#[doc(hidden)]
pub mod fuzzing {
    /// Runs the CONNECT ClientHello peek over `bytes` as if a client had sent them.
    pub fn client_hello(bytes: &[u8]) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        let mut reader = bytes;
        let _ = runtime.block_on(super::connect::read_client_hello(&mut reader));
    }

    /// Reads `bytes` as a CONNECT's `Proxy-Authorization` value (the connection labels of
    /// [`super::labels`]), and applies what it gives to an empty header map: every label must
    /// be a tollgate header.
    pub fn proxy_labels(bytes: &[u8]) {
        let Ok(value) = http::HeaderValue::from_bytes(bytes) else {
            return;
        };
        let mut request = http::HeaderMap::new();
        request.insert(http::header::PROXY_AUTHORIZATION, value);
        let mut observed = http::HeaderMap::new();
        super::labels::ConnectionLabels::from_proxy_request(&request).apply(&mut observed);
        assert!(observed
            .keys()
            .all(|name| name.as_str().starts_with(super::OWN_HEADER_PREFIX)));
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Supplies the TLS configuration (leaf certificate) the proxy presents for an intercepted host.
pub trait ServerConfigSource: Send + Sync + 'static {
    fn server_config(&self, host: &str) -> Result<Arc<rustls::ServerConfig>, BoxError>;
}

/// Time limits. Each protects against a peer that stalls.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// For a client to send a request's headers, counted from when its connection is idle; so
    /// also how long an idle keep-alive connection is kept.
    pub client_header: Duration,
    /// For a client to complete the TLS handshake after CONNECT.
    pub tls_handshake: Duration,
    /// To open a TCP connection upstream.
    pub upstream_connect: Duration,
    /// For the upstream's response head, once the request is sent. Long: the proxy should not be
    /// the one to give up on a response its client still waits for (tollgate's CLI sets it from
    /// `--upstream-timeout`, whose doc says why its default is what it is).
    pub upstream_response: Duration,
    /// For in-flight exchanges to finish once shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            client_header: Duration::from_secs(60),
            tls_handshake: Duration::from_secs(10),
            upstream_connect: Duration::from_secs(10),
            upstream_response: Duration::from_secs(61 * 60),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    /// The hosts whose TLS is terminated and whose exchanges are observed; every other host is
    /// tunnelled untouched.
    pub intercept: HostMatcher,
    /// Send every intercepted request here instead of the host it named (moto, LocalStack, a
    /// test server), keeping its Host header, path and query.
    pub upstream: Option<Uri>,
    /// Trust anchors for upstream TLS.
    pub upstream_roots: Arc<RootCertStore>,
    /// How many bytes of each body are copied for observers that want them.
    pub body_capture_limit: usize,
    /// Largest request head (request line plus headers) accepted from a client.
    pub max_header_bytes: usize,
    pub timeouts: Timeouts,
}

impl ProxyConfig {
    pub fn new(
        listen: SocketAddr,
        intercept: HostMatcher,
        upstream_roots: Arc<RootCertStore>,
    ) -> Self {
        Self {
            listen,
            intercept,
            upstream: None,
            upstream_roots,
            body_capture_limit: 64 * 1024,
            max_header_bytes: 64 * 1024,
            timeouts: Timeouts::default(),
        }
    }
}

/// Counters about the proxy itself, as opposed to the traffic observers see.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicU64,
    pub intercepted_connections: AtomicU64,
    /// Clients that did not complete a TLS handshake with tollgate's certificate: almost always
    /// a client that does not trust the tollgate CA.
    pub handshake_failures: AtomicU64,
    /// Connections still open when the shutdown grace period ended: their in-flight exchanges,
    /// if any, were never reported.
    pub cut_at_shutdown: AtomicU64,
    /// CONNECT tunnels to intercepted hosts that carried something other than TLS: refused, never
    /// tunnelled blind.
    pub refused_tunnels: AtomicU64,
    /// Intercepted connections the client closed soon after the TLS handshake without sending
    /// a request: a client that checks the certificate after the handshake and rejects it.
    pub dropped_after_handshake: AtomicU64,
    /// Requests sent to the proxy's port as if it were the server (an endpoint URL pointing at
    /// it): answered with what to do instead.
    pub endpoint_requests: AtomicU64,
    /// Requests on the endpoint listener (endpoint mode) that its router refused to forward.
    pub endpoint_refused: AtomicU64,
    /// The proxy's connection tasks: client connections, and the interceptions, tunnels and
    /// upgraded exchanges they became. Read, never waited on, through [`Self::open_connections`].
    tasks: TaskTracker,
}

impl ProxyStats {
    /// Connections open now: each client connection, and what a CONNECT or an upgrade turned it
    /// into (for the moment of the hand-over, one connection counts twice). One atomic load.
    pub fn open_connections(&self) -> usize {
        self.tasks.len()
    }

    fn handshake_failed(&self) {
        self.handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    fn tunnel_refused(&self) {
        self.refused_tunnels.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up upstream TLS: {0}")]
    Tls(#[from] rustls::Error),
}

pub(crate) struct Shared {
    config: ProxyConfig,
    tls: Arc<dyn ServerConfigSource>,
    client: Client<HttpsConnector<HttpConnector>, TapBody<RequestBody>>,
    /// HTTP/1.1 only, for requests that upgrade the connection (WebSocket): HTTP/2 has no
    /// `Upgrade`, and the main pool would pick it whenever the upstream offers it.
    upgrade_client: Client<HttpsConnector<HttpConnector>, TapBody<RequestBody>>,
    observers: Observers,
    /// The proxy's own port: HTTP/1.1 only, with upgrades for CONNECT.
    proxy_http: auto::Builder<TokioExecutor>,
    /// Decrypted connections: HTTP/1.1 or HTTP/2, as ALPN agreed.
    intercepted_http: auto::Builder<TokioExecutor>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    next_exchange_id: AtomicU64,
    stats: Arc<ProxyStats>,
}

impl Shared {
    fn capture_limit(&self) -> usize {
        if self.observers.wants_bodies() {
            self.config.body_capture_limit
        } else {
            0
        }
    }

    fn upstream_uri(&self, target: &Target, path_and_query: &PathAndQuery) -> Uri {
        forward::upstream_uri(self.config.upstream.as_ref(), target, path_and_query)
    }
}

/// A bound proxy, ready to serve.
pub struct Proxy {
    listener: TcpListener,
    shared: Arc<Shared>,
    /// Endpoint mode's listener and the router that says where its requests go.
    endpoint: Option<(TcpListener, Arc<dyn EndpointRouter>)>,
}

impl Proxy {
    pub async fn bind(
        config: ProxyConfig,
        tls: Arc<dyn ServerConfigSource>,
        observers: Observers,
    ) -> Result<Self, ProxyError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ProxyError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let client = upstream_client(&config, true)?;
        let tasks = TaskTracker::new();
        let stats = Arc::new(ProxyStats {
            tasks: tasks.clone(),
            ..ProxyStats::default()
        });
        let upgrade_client = upstream_client(&config, false)?;

        let mut proxy_http = auto::Builder::new(TokioExecutor::new()).http1_only();
        proxy_http
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.timeouts.client_header)
            .max_buf_size(config.max_header_bytes.max(8192))
            .keep_alive(true);
        let mut intercepted_http = auto::Builder::new(TokioExecutor::new());
        intercepted_http
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.timeouts.client_header)
            .max_buf_size(config.max_header_bytes.max(8192))
            .keep_alive(true);
        intercepted_http
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(config.max_header_bytes as u32)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));

        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                config,
                tls,
                client,
                upgrade_client,
                observers,
                proxy_http,
                intercepted_http,
                shutdown: CancellationToken::new(),
                tasks,
                next_exchange_id: AtomicU64::new(1),
                stats,
            }),
            endpoint: None,
        })
    }

    /// Also listens on `listen` as an endpoint (plain HTTP, requests addressed to tollgate
    /// itself), forwarding each request where `router` says.
    pub async fn with_endpoint(
        mut self,
        listen: SocketAddr,
        router: Arc<dyn EndpointRouter>,
    ) -> Result<Self, ProxyError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ProxyError::Bind {
                addr: listen,
                source,
            })?;
        self.endpoint = Some((listener, router));
        Ok(self)
    }

    /// The endpoint listener's address, in endpoint mode.
    pub fn endpoint_addr(&self) -> Option<SocketAddr> {
        self.endpoint.as_ref().map(|(listener, _)| {
            listener
                .local_addr()
                .expect("a bound listener has an address")
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn stats(&self) -> Arc<ProxyStats> {
        self.shared.stats.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, gives in-flight exchanges up to
    /// the grace period to finish, and flushes the observers.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            shared,
            endpoint,
        } = self;
        let (endpoint_listener, router) = match endpoint {
            Some((listener, router)) => (Some(listener), Some(router)),
            None => (None, None),
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = accept_if_listening(endpoint_listener.as_ref()) => match accepted {
                    Ok((stream, client)) => {
                        let _ = stream.set_nodelay(true);
                        shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                        let span = tracing::debug_span!(
                            "connection",
                            %client,
                            host = tracing::field::Empty,
                        );
                        let router = router.clone().expect("a router with its listener");
                        shared.tasks.spawn(
                            endpoint::serve_client(shared.clone(), router, stream, client)
                                .instrument(span),
                        );
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accept failed on the endpoint listener");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                accepted = listener.accept() => match accepted {
                    Ok((stream, client)) => {
                        let _ = stream.set_nodelay(true);
                        shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                        let span = tracing::debug_span!(
                            "connection",
                            %client,
                            host = tracing::field::Empty,
                        );
                        shared
                            .tasks
                            .spawn(serve_client(shared.clone(), stream, client).instrument(span));
                    }
                    Err(error) => {
                        // Usually EMFILE: back off rather than spin; the listener stays usable.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        drop(endpoint_listener);
        shared.shutdown.cancel();
        shared.tasks.close();
        // Tunnels still open when the grace period ends close themselves and report what crossed
        // them; the short margin lets those reports land before the observers are flushed.
        let grace = shared.config.timeouts.shutdown_grace;
        let margin = Duration::from_millis(500);
        if tokio::time::timeout(grace + margin, shared.tasks.wait())
            .await
            .is_err()
        {
            let remaining = shared.tasks.len();
            shared
                .stats
                .cut_at_shutdown
                .store(remaining as u64, Ordering::Relaxed);
            tracing::warn!(
                remaining,
                "connections still open after {grace:?}; closing them"
            );
        }
        shared.observers.flush().await;
    }
}

/// Accepts on `listener`, or waits forever when there is none.
async fn accept_if_listening(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Serves one client connection; runs in its `connection` span.
async fn serve_client(shared: Arc<Shared>, stream: tokio::net::TcpStream, client: SocketAddr) {
    tracing::debug!("accepted");
    let service = {
        let shared = shared.clone();
        service_fn(move |request| route(shared.clone(), client, request))
    };
    let connection = shared
        .proxy_http
        .serve_connection_with_upgrades(TokioIo::new(stream), service);
    // After a CONNECT, HTTP on this connection ends here and the connection carries on as a
    // tunnel or an interception, in tasks of its own that log their own end.
    match serve_gracefully(connection, &shared.shutdown).await {
        Ok(()) => tracing::debug!("proxy HTTP ended"),
        Err(error) => {
            tracing::debug!(
                error = %forward::error_chain(&*error),
                "proxy HTTP ended with an error"
            );
        }
    }
}

/// Dispatches a request on the proxy's own port.
async fn route(
    shared: Arc<Shared>,
    client: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    if request.method() == Method::CONNECT {
        return Ok(connect::handle(shared, client, request).await);
    }
    let uri = request.uri();
    match (uri.scheme_str(), uri.host()) {
        (Some("http"), Some(host)) => {
            let target = Target {
                client,
                transport: Transport::Http,
                host: host.to_ascii_lowercase(),
                port: uri.port_u16().unwrap_or(80),
                labels: labels::ConnectionLabels::from_proxy_request(request.headers()),
            };
            if shared.config.intercept.matches(&target.host) {
                let request = request.map(http_body_util::Either::Left);
                forward::forward_observed(shared, target, request).await
            } else {
                forward::forward_passthrough(shared, target, request).await
            }
        }
        _ => {
            shared
                .stats
                .endpoint_requests
                .fetch_add(1, Ordering::Relaxed);
            Ok(connect::not_a_proxy_request(&request))
        }
    }
}

/// Runs a connection until it ends, asking it to finish gracefully once shutdown starts.
async fn serve_gracefully<C>(connection: C, shutdown: &CancellationToken) -> Result<(), C::Error>
where
    C: GracefulConnection,
{
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    }
}

fn upstream_client(
    config: &ProxyConfig,
    http2: bool,
) -> Result<Client<HttpsConnector<HttpConnector>, TapBody<RequestBody>>, ProxyError> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(config.upstream_roots.clone())
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.timeouts.upstream_connect));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1();
    let connector = if http2 {
        builder.enable_http2().wrap_connector(http)
    } else {
        builder.wrap_connector(http)
    };
    Ok(Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(50))
        .pool_max_idle_per_host(64)
        .build(connector))
}
