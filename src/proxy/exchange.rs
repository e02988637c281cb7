//! Following one exchange while its bodies stream, and reporting it when both are done.
//!
//! The request and response bodies are wrapped in [`TapBody`], which passes frames through
//! untouched (so backpressure is the client's and upstream's own), counts bytes, copies the
//! first bytes when an observer wants them, and hands each response chunk to the [`BodyTap`] an
//! observer asked for when the response head came (which reads the whole body, whatever the
//! copy keeps). Each tap and the forwarding code hold an `Arc<ExchangeRecorder>`; when the last
//! one lets go, the recorder reports the exchange.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::observer::{
    BodyRecord, BodyTap, Exchange, Observers, Outcome, ResponseRecord, ResponseStart, Transport,
    UpstreamFailure, TAIL_CAPTURE,
};

/// The request as it arrived, before any body.
pub(crate) struct RequestHead {
    pub id: u64,
    pub client: SocketAddr,
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

pub(crate) struct ExchangeRecorder {
    observers: Observers,
    /// The exchange's span: the observers are called inside it.
    span: tracing::Span,
    started: Instant,
    started_at: SystemTime,
    state: Mutex<State>,
}

struct State {
    head: Option<RequestHead>,
    request_body: BodyRecord,
    /// The request body has ended (and `request_body` is its record).
    request_done: bool,
    response: Option<ResponseRecord>,
    response_body: BodyRecord,
    response_tap: Option<Box<dyn BodyTap>>,
    outcome: Option<Outcome>,
    /// Set when the client's request body broke off (it went away mid-upload).
    request_error: Option<String>,
    response_head_at: Option<Instant>,
    ended_at: Option<Instant>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

impl ExchangeRecorder {
    pub fn new(observers: Observers, span: tracing::Span, head: RequestHead) -> Arc<Self> {
        Arc::new(Self {
            observers,
            span,
            started: Instant::now(),
            started_at: SystemTime::now(),
            state: Mutex::new(State {
                head: Some(head),
                request_body: BodyRecord::default(),
                request_done: false,
                response: None,
                response_body: BodyRecord::default(),
                response_tap: None,
                outcome: None,
                request_error: None,
                response_head_at: None,
                ended_at: None,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means an observer panicked elsewhere; the record is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The status the client is answered with, on the exchange's span.
    pub fn record_status(&self, status: StatusCode) {
        self.span.record("status", status.as_u16());
    }

    /// The response head came: records it, and returns the tap an observer wants the
    /// response body read through, if any.
    pub fn response_head(&self, response: ResponseRecord) -> Option<Box<dyn BodyTap>> {
        self.record_status(response.status);
        let mut state = self.state();
        state.response_head_at = Some(Instant::now());
        let tap = state.head.as_ref().and_then(|head| {
            self.observers.response_tap(&ResponseStart {
                id: head.id,
                client: head.client,
                host: &head.host,
                method: &head.method,
                uri: &head.uri,
                request_headers: &head.headers,
                request_body: state.request_done.then_some(&state.request_body),
                response: &response,
            })
        });
        state.response = Some(response);
        tap
    }

    /// The upstream exchange failed. If the client's own upload broke off first, that is what
    /// happened, and the upstream is not blamed for it.
    pub fn upstream_failed(&self, kind: UpstreamFailure, message: String) {
        let mut state = self.state();
        state.outcome = Some(match state.request_error.take() {
            Some(client_error) => Outcome::Interrupted {
                message: format!("the client stopped sending its request body: {client_error}"),
            },
            None => Outcome::UpstreamFailed { kind, message },
        });
        state.ended_at = Some(Instant::now());
    }

    fn body_done(
        &self,
        side: Side,
        record: BodyRecord,
        error: Option<String>,
        body_tap: Option<Box<dyn BodyTap>>,
    ) {
        let mut state = self.state();
        match side {
            Side::Request => {
                state.request_body = record;
                state.request_done = true;
                state.request_error = error;
            }
            Side::Response => {
                if state.outcome.is_none() {
                    state.outcome = Some(match error {
                        None if record.complete => Outcome::Complete,
                        None => Outcome::Interrupted {
                            message: "the client closed the connection before the response ended"
                                .into(),
                        },
                        Some(message) => Outcome::Interrupted { message },
                    });
                }
                state.response_body = record;
                state.response_tap = body_tap;
                state.ended_at = Some(Instant::now());
            }
        }
    }
}

impl Drop for ExchangeRecorder {
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(head) = state.head.take() else {
            return;
        };
        let ended_at = state.ended_at.unwrap_or_else(Instant::now);
        let exchange = Exchange {
            id: head.id,
            client: head.client,
            transport: head.transport,
            host: head.host,
            port: head.port,
            method: head.method,
            uri: head.uri,
            version: head.version,
            request_headers: head.headers,
            request_body: std::mem::take(&mut state.request_body),
            response: state.response.take(),
            response_body: std::mem::take(&mut state.response_body),
            response_tap: state.response_tap.take(),
            outcome: state.outcome.take().unwrap_or(Outcome::Interrupted {
                message: "the exchange was abandoned before a response".into(),
            }),
            started_at: self.started_at,
            time_to_response_head: state
                .response_head_at
                .map(|at| at.duration_since(self.started)),
            duration: ended_at.duration_since(self.started),
        };
        let _in_span = self.span.enter();
        tracing::debug!(
            outcome = outcome_label(&exchange.outcome),
            request_bytes = exchange.request_body.bytes,
            response_bytes = exchange.response_body.bytes,
            duration = ?exchange.duration,
            "exchange ended"
        );
        self.observers.exchange(&exchange);
    }
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Complete => "complete",
        Outcome::UpstreamFailed { .. } => "upstream-failed",
        Outcome::Interrupted { .. } => "interrupted",
    }
}

pin_project! {
    /// A body passed through unchanged, counted, and optionally copied up to a limit.
    pub(crate) struct TapBody<B> {
        #[pin]
        inner: B,
        tap: Option<Tap>,
        end: Option<EndSignal>,
    }
}

/// Notifies once when a body has been read to its end (or given up): what starts the wait for
/// the upstream's answer, which must not count the time an upload takes.
pub(crate) struct EndSignal(Arc<tokio::sync::Notify>);

impl EndSignal {
    pub fn new() -> (Self, Arc<tokio::sync::Notify>) {
        let notify = Arc::new(tokio::sync::Notify::new());
        (Self(notify.clone()), notify)
    }
}

impl Drop for EndSignal {
    fn drop(&mut self) {
        // notify_one keeps a permit when nobody waits yet, so a late waiter still wakes.
        self.0.notify_one();
    }
}

pub(crate) struct Tap {
    recorder: Arc<ExchangeRecorder>,
    side: Side,
    bytes: u64,
    captured: BytesMut,
    capture_limit: usize,
    truncated: bool,
    /// The last chunks past the capture limit, at least `TAIL_CAPTURE` bytes once full
    /// (reference-counted slices of the chunks, not copies).
    tail: VecDeque<Bytes>,
    tail_bytes: usize,
    /// An observer's reader of the whole body, fed every chunk.
    body_tap: Option<Box<dyn BodyTap>>,
    complete: bool,
    error: Option<String>,
}

impl Tap {
    pub fn new(recorder: Arc<ExchangeRecorder>, side: Side, capture_limit: usize) -> Self {
        Self {
            recorder,
            side,
            bytes: 0,
            captured: BytesMut::new(),
            capture_limit,
            truncated: false,
            tail: VecDeque::new(),
            tail_bytes: 0,
            body_tap: None,
            complete: false,
            error: None,
        }
    }

    /// Feeds every chunk of the body to `body_tap` (if it wants them), and hands it back with
    /// the body's record.
    pub fn with_body_tap(mut self, body_tap: Option<Box<dyn BodyTap>>) -> Self {
        self.body_tap = body_tap;
        self
    }

    fn data(&mut self, data: &Bytes) {
        self.bytes += data.len() as u64;
        if let Some(body_tap) = &mut self.body_tap {
            if body_tap.wants_chunks() {
                body_tap.feed(data);
            }
        }
        let room = self.capture_limit - self.captured.len();
        if data.len() > room {
            self.truncated = true;
        }
        if room > 0 {
            self.captured
                .extend_from_slice(&data[..room.min(data.len())]);
        }
        if data.len() > room && self.capture_limit > 0 {
            let past = data.slice(room.min(data.len())..);
            self.tail_bytes += past.len();
            self.tail.push_back(past);
            while self.tail.len() > 1
                && self.tail_bytes - self.tail.front().map_or(0, Bytes::len) >= TAIL_CAPTURE
            {
                let dropped = self.tail.pop_front().expect("checked non-empty");
                self.tail_bytes -= dropped.len();
            }
        }
    }

    /// The last `TAIL_CAPTURE` bytes seen past the capture limit.
    fn take_tail(&mut self) -> Bytes {
        let mut tail = BytesMut::with_capacity(self.tail_bytes.min(TAIL_CAPTURE));
        let skip = self.tail_bytes.saturating_sub(TAIL_CAPTURE);
        let mut skipped = 0;
        for chunk in self.tail.drain(..) {
            let from = skip.saturating_sub(skipped).min(chunk.len());
            skipped += from;
            tail.extend_from_slice(&chunk[from..]);
        }
        self.tail_bytes = 0;
        tail.freeze()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        let record = BodyRecord {
            bytes: self.bytes,
            captured: std::mem::take(&mut self.captured).freeze(),
            truncated: self.truncated,
            tail: self.take_tail(),
            complete: self.complete,
        };
        self.recorder
            .body_done(self.side, record, self.error.take(), self.body_tap.take());
    }
}

impl<B: Body> TapBody<B> {
    pub fn new(inner: B, mut tap: Option<Tap>) -> Self {
        // An empty body (a 204, a HEAD response, Content-Length: 0) is complete before anyone
        // polls it, and hyper may never poll it at all.
        if let Some(tap) = tap.as_mut() {
            tap.complete = inner.is_end_stream();
        }
        // An empty request is over before it is sent: said now, so that the response head finds
        // it ended (and observers can read the whole request then).
        if tap
            .as_ref()
            .is_some_and(|tap| tap.complete && tap.side == Side::Request)
        {
            tap = None;
        }
        Self {
            inner,
            tap,
            end: None,
        }
    }

    /// Signals `end` when the body has been read to its end or is dropped.
    pub fn with_end_signal(mut self, end: EndSignal) -> Self {
        if !self.inner.is_end_stream() {
            self.end = Some(end);
        }
        self
    }
}

impl<B> Body for TapBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        if !matches!(polled, Some(Ok(_))) || this.inner.is_end_stream() {
            this.end.take();
        }
        if let Some(tap) = this.tap.as_mut() {
            match &polled {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        tap.data(data);
                    }
                }
                Some(Err(error)) => tap.error = Some(error.to_string()),
                None => tap.complete = true,
            }
            // Report as soon as the body is known to be over: a sized body is often never polled
            // again after its last frame.
            if tap.error.is_some() || tap.complete || this.inner.is_end_stream() {
                tap.complete = tap.error.is_none();
                this.tap.take();
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::observer::{Observer, ResponseStart, Tunnel};
    use http_body_util::{BodyExt, Full, StreamBody};
    use std::sync::Mutex as StdMutex;
    use tracing::Span;

    /// What the tests look at of each exchange: the response body record and the outcome.
    type Seen = (u64, Bytes, bool, bool, Outcome);

    #[derive(Default)]
    struct Collect(StdMutex<Vec<Seen>>);

    impl Observer for Collect {
        fn on_exchange(&self, exchange: &Exchange) {
            self.0.lock().unwrap().push((
                exchange.response_body.bytes,
                exchange.response_body.captured.clone(),
                exchange.response_body.truncated,
                exchange.response_body.complete,
                exchange.outcome.clone(),
            ));
        }
        fn on_tunnel(&self, _: &Tunnel) {}
    }

    fn head() -> RequestHead {
        RequestHead {
            id: 1,
            client: "127.0.0.1:1".parse().unwrap(),
            transport: Transport::Https,
            host: "s3.amazonaws.com".into(),
            port: 443,
            method: Method::GET,
            uri: Uri::from_static("/"),
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
        }
    }

    #[tokio::test]
    async fn counts_captures_and_reports_once_at_the_end() {
        let collect = Arc::new(Collect::default());
        let observers = Observers::new(vec![collect.clone()]);
        let recorder = ExchangeRecorder::new(observers, Span::none(), head());
        let chunks = ["hello ", "world", "!"]
            .map(|chunk| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(chunk))));
        let body = TapBody::new(
            StreamBody::new(futures_util::stream::iter(chunks)),
            Some(Tap::new(recorder.clone(), Side::Response, 8)),
        );
        drop(recorder);
        assert!(
            collect.0.lock().unwrap().is_empty(),
            "reported before the body ended"
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "hello world!");
        let seen = collect.0.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, 12);
        assert_eq!(seen[0].1, "hello wo");
        assert!(seen[0].2 && seen[0].3);
        assert_eq!(seen[0].4, Outcome::Complete);
    }

    #[test]
    fn the_tail_keeps_exactly_the_last_bytes_past_the_capture() {
        let recorder = ExchangeRecorder::new(Observers::new(vec![]), Span::none(), head());
        let mut tap = Tap::new(recorder, Side::Response, 4);
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in body.chunks(3_000) {
            tap.data(&Bytes::copy_from_slice(chunk));
        }
        assert_eq!(&tap.captured[..], &body[..4]);
        assert_eq!(&tap.take_tail()[..], &body[body.len() - TAIL_CAPTURE..]);

        let recorder = ExchangeRecorder::new(Observers::new(vec![]), Span::none(), head());
        let mut short = Tap::new(recorder, Side::Response, 4);
        short.data(&Bytes::from_static(b"abcdefgh"));
        assert_eq!(&short.take_tail()[..], b"efgh");
    }

    /// Reads every chunk of the body, and what the request looked like when the response began.
    #[derive(Default)]
    struct Counting {
        chunks: Vec<usize>,
        request_body_ended: bool,
    }

    impl BodyTap for Counting {
        fn feed(&mut self, chunk: &[u8]) {
            self.chunks.push(chunk.len());
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    /// What came back on an exchange: the chunks the tap saw, whether the request had ended
    /// when the response began, the body's length and its captured head.
    type Tapped = (Vec<usize>, bool, u64, Bytes);

    /// Hands out a [`Counting`] tap, and keeps what came back on each exchange.
    #[derive(Default)]
    struct Tapping(StdMutex<Vec<Tapped>>);

    impl Observer for Tapping {
        fn response_tap(&self, start: &ResponseStart<'_>) -> Option<Box<dyn BodyTap>> {
            Some(Box::new(Counting {
                chunks: Vec::new(),
                request_body_ended: start.request_body.is_some(),
            }))
        }
        fn on_exchange(&self, exchange: &Exchange) {
            let tap = exchange
                .response_tap
                .as_deref()
                .and_then(|tap| tap.as_any().downcast_ref::<Counting>())
                .expect("the tap comes back on the exchange");
            self.0.lock().unwrap().push((
                tap.chunks.clone(),
                tap.request_body_ended,
                exchange.response_body.bytes,
                exchange.response_body.captured.clone(),
            ));
        }
    }

    /// Issue 13: the body capture (here 4 bytes) must not limit what an observer reads of the
    /// body: its tap sees every chunk, and comes back with the exchange.
    #[tokio::test]
    async fn a_body_tap_reads_every_chunk_past_the_capture() {
        let tapping = Arc::new(Tapping::default());
        let recorder =
            ExchangeRecorder::new(Observers::new(vec![tapping.clone()]), Span::none(), head());
        // A GET: its empty request body is over before it is sent.
        let request = TapBody::new(
            Full::new(Bytes::new()),
            Some(Tap::new(recorder.clone(), Side::Request, 4)),
        );
        let body_tap = recorder.response_head(ResponseRecord {
            status: http::StatusCode::OK,
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
        });
        let chunks = ["hello ", "world", "! and more"]
            .map(|chunk| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(chunk))));
        let response = TapBody::new(
            StreamBody::new(futures_util::stream::iter(chunks)),
            Some(Tap::new(recorder, Side::Response, 4).with_body_tap(body_tap)),
        );
        let bytes = response.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "hello world! and more", "the body passes untouched");
        drop(request);
        let seen = tapping.0.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (chunks, request_body_ended, bytes, captured) = &seen[0];
        assert_eq!(chunks, &[6, 5, 10]);
        assert!(
            request_body_ended,
            "the response began after the empty request"
        );
        assert_eq!(*bytes, 21);
        assert_eq!(captured, "hell");
    }

    #[tokio::test]
    async fn a_dropped_body_is_reported_as_interrupted() {
        let collect = Arc::new(Collect::default());
        let recorder =
            ExchangeRecorder::new(Observers::new(vec![collect.clone()]), Span::none(), head());
        let body = TapBody::new(
            Full::new(Bytes::from_static(b"abc")),
            Some(Tap::new(recorder, Side::Response, 0)),
        );
        drop(body);
        let seen = collect.0.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(!seen[0].3);
        assert!(matches!(seen[0].4, Outcome::Interrupted { .. }));
    }

    /// Log output kept in memory, for a test's own subscriber.
    #[derive(Clone, Default)]
    struct LogBuffer(Arc<StdMutex<Vec<u8>>>);

    impl std::io::Write for LogBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Remembers the span it was called in, and logs from it as a layer above would.
    #[derive(Default)]
    struct SpanWitness(StdMutex<Option<&'static str>>);

    impl Observer for SpanWitness {
        fn on_exchange(&self, _: &Exchange) {
            *self.0.lock().unwrap() = Span::current().metadata().map(|meta| meta.name());
            tracing::debug!("observed");
        }
    }

    #[test]
    fn observers_run_inside_the_exchange_span_with_its_status() {
        let log = LogBuffer::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        let witness = Arc::new(SpanWitness::default());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::debug_span!(
                "exchange",
                id = 1,
                host = "s3.amazonaws.com",
                status = tracing::field::Empty
            );
            let recorder = ExchangeRecorder::new(
                Observers::new(vec![witness.clone() as Arc<dyn Observer>]),
                span,
                head(),
            );
            recorder.response_head(ResponseRecord {
                status: http::StatusCode::NOT_FOUND,
                version: Version::HTTP_11,
                headers: HeaderMap::new(),
            });
            // Reported from wherever the last holder lets go: here, outside any span.
            drop(recorder);
        });
        assert_eq!(*witness.0.lock().unwrap(), Some("exchange"));
        let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        let ended = lines
            .iter()
            .position(|line| line.contains("exchange ended"));
        let observed = lines.iter().position(|line| line.contains("observed"));
        assert!(ended.is_some() && ended < observed, "{log}");
        for line in &lines {
            assert!(
                line.contains("exchange{id=1 host=\"s3.amazonaws.com\" status=404}"),
                "{log}"
            );
        }
    }
}
