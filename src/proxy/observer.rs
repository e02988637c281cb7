//! What the proxy tells the layers above it: one [`Exchange`] per intercepted request/response,
//! one [`Tunnel`] per connection passed through without decryption.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Method, StatusCode, Uri, Version};

/// Receives what the proxy saw. Implementations are called on the proxy's tasks, so they must be
/// cheap: count, or hand the record to a channel, never block.
///
/// The request headers include credentials (`Authorization`, `X-Amz-Security-Token`): an observer
/// may read them to identify a call, and must never store or log them.
pub trait Observer: Send + Sync + 'static {
    /// Whether this observer wants a bounded copy of request and response bodies (the first
    /// `--body-capture` bytes). Bodies are copied without delaying them.
    fn wants_bodies(&self) -> bool {
        false
    }

    /// Called once per exchange when its response head arrives, before its body: may hand
    /// back a [`BodyTap`] to read the whole response body as it streams (whatever
    /// `--body-capture` keeps), which then comes back on [`Exchange::response_tap`]. Runs on
    /// the way to the client, so it must be cheap.
    fn response_tap(&self, _start: &ResponseStart<'_>) -> Option<Box<dyn BodyTap>> {
        None
    }

    /// Called once per exchange, when both bodies have finished (or been abandoned).
    fn on_exchange(&self, exchange: &Exchange);

    /// Called once per tunnelled connection or passed-through plain request, when it closes.
    fn on_tunnel(&self, _tunnel: &Tunnel) {}

    /// Called when a client gave up on tollgate's certificate: its handshake failed, or it
    /// closed the connection right after the handshake without a request (what clients that
    /// check the certificate after the handshake do, with a reset rather than an alert).
    fn on_distrust(&self, _distrust: &Distrust) {}

    /// Called once at shutdown, after the last exchange: write out anything buffered.
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Reads a response body as it streams past: fed every chunk, in order, as the proxy passes it
/// on (never delaying or copying it). What it learns is the observer's own: the proxy only
/// carries the tap to [`Exchange::response_tap`].
pub trait BodyTap: Send + 'static {
    /// The next bytes of the body.
    fn feed(&mut self, chunk: &[u8]);

    /// Whether to be fed at all: a tap may only carry what its observer learned from the head.
    fn wants_chunks(&self) -> bool {
        true
    }

    /// For the observer that made it, to find its own type again.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl std::fmt::Debug for dyn BodyTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A tap may hold what it read of the request (credentials included): never printed.
        f.write_str("BodyTap")
    }
}

/// An exchange as it stands when its response head arrives.
pub struct ResponseStart<'a> {
    pub id: u64,
    pub client: SocketAddr,
    pub host: &'a str,
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub request_headers: &'a HeaderMap,
    /// The request body, once it has ended; `None` while it is still on its way (an upstream
    /// may answer before it has read the whole request).
    pub request_body: Option<&'a BodyRecord>,
    pub response: &'a ResponseRecord,
}

/// How the client reached the intercepted host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `CONNECT` then TLS terminated by tollgate.
    Https,
    /// An absolute-form `http://` request.
    Http,
}

/// One request/response exchange through the proxy.
#[derive(Debug)]
pub struct Exchange {
    /// Unique within one proxy run, in arrival order.
    pub id: u64,
    pub client: SocketAddr,
    pub transport: Transport,
    /// The host the client addressed (TLS SNI, else the CONNECT or Host authority), lower case.
    pub host: String,
    pub port: u16,
    pub method: Method,
    /// The request target as the client sent it (origin form: path and query).
    pub uri: Uri,
    pub version: Version,
    pub request_headers: HeaderMap,
    pub request_body: BodyRecord,
    /// `None` when no response came from upstream (see `outcome`).
    pub response: Option<ResponseRecord>,
    pub response_body: BodyRecord,
    /// The tap an observer asked for when the response head came, after the whole body went
    /// through it.
    pub response_tap: Option<Box<dyn BodyTap>>,
    pub outcome: Outcome,
    pub started_at: SystemTime,
    /// From the request's arrival to the response head from upstream.
    pub time_to_response_head: Option<Duration>,
    /// From the request's arrival to the end of the response body (or the failure).
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct ResponseRecord {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
}

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The response body was delivered to the end.
    Complete,
    /// The upstream could not be reached or did not answer; the client got a 502 or 504.
    UpstreamFailed {
        kind: UpstreamFailure,
        message: String,
    },
    /// The response started but its body was cut short: by the client going away, or by an
    /// upstream error mid-body.
    Interrupted { message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    Connect,
    Tls,
    Timeout,
    Protocol,
}

impl UpstreamFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
        }
    }
}

/// How much of a truncated body's end is kept.
pub const TAIL_CAPTURE: usize = 16 * 1024;

/// What flowed through one body.
#[derive(Debug, Clone, Default)]
pub struct BodyRecord {
    /// Bytes that passed through.
    pub bytes: u64,
    /// The first bytes of the body, when an observer asked for them.
    pub captured: Bytes,
    /// True when `captured` is shorter than the body.
    pub truncated: bool,
    /// The body's last bytes (up to [`TAIL_CAPTURE`]) when it was truncated: where streamed
    /// answers put their totals (Bedrock's token counts come in the last event).
    pub tail: Bytes,
    /// True when the body reached its end.
    pub complete: bool,
}

/// A connection (or plain-HTTP request) passed through without interception.
#[derive(Debug, Clone)]
pub struct Tunnel {
    pub client: SocketAddr,
    pub host: String,
    pub port: u16,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub duration: Duration,
    /// Set when the tunnel could not be opened or broke with an error.
    pub error: Option<String>,
}

/// A client that did not accept tollgate's certificate.
#[derive(Debug, Clone)]
pub struct Distrust {
    pub client: SocketAddr,
    /// The host it meant to reach (SNI, else the CONNECT authority).
    pub host: String,
    pub kind: DistrustKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistrustKind {
    /// The TLS handshake failed: an alert, a reset, or no ClientHello in time.
    HandshakeFailed,
    /// The handshake completed, then the client closed the connection without a request.
    DroppedAfterHandshake,
}

/// Every observer the proxy reports to.
#[derive(Clone, Default)]
pub struct Observers {
    observers: Arc<[Arc<dyn Observer>]>,
    wants_bodies: bool,
}

impl Observers {
    pub fn new(observers: Vec<Arc<dyn Observer>>) -> Self {
        let wants_bodies = observers.iter().any(|observer| observer.wants_bodies());
        Self {
            observers: observers.into(),
            wants_bodies,
        }
    }

    pub fn wants_bodies(&self) -> bool {
        self.wants_bodies
    }

    /// The first tap an observer asks for.
    pub fn response_tap(&self, start: &ResponseStart<'_>) -> Option<Box<dyn BodyTap>> {
        self.observers
            .iter()
            .find_map(|observer| observer.response_tap(start))
    }

    pub fn exchange(&self, exchange: &Exchange) {
        for observer in self.observers.iter() {
            observer.on_exchange(exchange);
        }
    }

    pub fn tunnel(&self, tunnel: &Tunnel) {
        for observer in self.observers.iter() {
            observer.on_tunnel(tunnel);
        }
    }

    pub fn distrust(&self, distrust: &Distrust) {
        for observer in self.observers.iter() {
            observer.on_distrust(distrust);
        }
    }

    pub async fn flush(&self) {
        for observer in self.observers.iter() {
            observer.flush().await;
        }
    }
}
