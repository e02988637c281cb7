//! One AWS call, as every layer above the profile sees it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rust_decimal::Decimal;
use serde::Serialize;

use super::page::PageFacts;
use super::unit::Unit;

/// What an exchange was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// A known operation of a known service.
    Operation,
    /// An operation the AWS model does not have, named by the request itself (`X-Amz-Target`,
    /// `Action=`, the RPCv2 CBOR path): real service and operation names, but unpriced and
    /// without a paginator.
    NotInModel,
    /// An AWS request the model does not know and that does not name its operation (REST);
    /// `operation` holds its path template.
    Unknown,
    /// Not an AWS API call.
    NotAws,
}

impl CallKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operation => "operation",
            Self::NotInModel => "not-in-model",
            Self::Unknown => "unknown",
            Self::NotAws => "not-aws",
        }
    }

    /// How reports label it beside the operation's name, if at all.
    pub fn label(self) -> Option<&'static str> {
        match self {
            Self::NotInModel => Some("not in model"),
            _ => None,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Operation,
            Self::NotInModel,
            Self::Unknown,
            Self::NotAws,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// Why no response came from upstream: the proxy answered 502 or 504 itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Connect, Self::Tls, Self::Timeout, Self::Protocol]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// How a call ended, in one word for every format: the HTTP status's class, or why no status
/// came (the proxy answered 502/504 itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusClass {
    /// 1xx-3xx.
    Ok,
    ClientError,
    ServerError,
    ConnectError,
    TlsError,
    Timeout,
    ProtocolError,
    /// No response and no recorded reason.
    NoResponse,
}

impl StatusClass {
    pub fn of(status: Option<u16>, failure: Option<UpstreamFailure>) -> Self {
        match (status, failure) {
            (Some(status), _) if status >= 500 => Self::ServerError,
            (Some(status), _) if status >= 400 => Self::ClientError,
            (Some(_), _) => Self::Ok,
            (None, Some(UpstreamFailure::Connect)) => Self::ConnectError,
            (None, Some(UpstreamFailure::Tls)) => Self::TlsError,
            (None, Some(UpstreamFailure::Timeout)) => Self::Timeout,
            (None, Some(UpstreamFailure::Protocol)) => Self::ProtocolError,
            (None, None) => Self::NoResponse,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ClientError => "client_error",
            Self::ServerError => "server_error",
            Self::ConnectError => "connect_error",
            Self::TlsError => "tls_error",
            Self::Timeout => "timeout",
            Self::ProtocolError => "protocol_error",
            Self::NoResponse => "no_response",
        }
    }
}

/// Whether and how a call is priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum PriceStatus {
    /// At least one price applied.
    Priced,
    /// The table says this operation costs nothing.
    Free { reason: String },
    /// AWS does not bill this failed attempt (per the service's error rules).
    NotBilled { reason: String },
    /// No price in the table: shown as unpriced, never as $0.
    Unpriced { reason: String },
}

impl PriceStatus {
    /// The class as stored: `priced`, `free`, `not_billed`, `unpriced`.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Priced => "priced",
            Self::Free { .. } => "free",
            Self::NotBilled { .. } => "not_billed",
            Self::Unpriced { .. } => "unpriced",
        }
    }
}

/// A cost the call causes elsewhere (KMS behind SSE-KMS, CloudTrail data events).
#[derive(Debug, Clone, PartialEq)]
pub struct ImpliedCost {
    pub service: String,
    /// The price table entry.
    pub entry: Arc<str>,
    /// Why (`SSE-KMS without a bucket key`, ...).
    pub implied_by: Option<&'static str>,
    pub amount: Decimal,
}

/// The process on this machine that made a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProcess {
    pub pid: u32,
    pub command: String,
}

/// An identified, priced AWS call: no credentials, no parameter values, no bodies.
#[derive(Debug, Clone)]
pub struct Call {
    /// The exchange's number: unique within one proxy run, in arrival order.
    pub seq: u64,
    /// The client connection it came on (which process made it is looked up from this).
    pub client: SocketAddr,
    pub kind: CallKind,
    /// botocore's service name, or the best guess for an unknown call (`unknown` if none).
    pub service: String,
    /// The operation name; for unknown calls `unknown: GET /{}/path`.
    pub operation: String,
    pub region: Option<String>,
    pub host: String,
    /// A fingerprint of the access key id, never the key.
    pub access_key: Option<String>,
    pub sdk: Option<String>,
    pub app_id: Option<String>,
    /// The line of the client's program that made it (`sync.py:42 copy_all`), when the client
    /// said (the `x-tollgate-callsite` header): a label, never trusted for anything else.
    pub callsite: Option<String>,
    /// The test that was running when it was made (`tests/t.py::test_a`), when the client said.
    pub test: Option<String>,
    pub invocation_id: Option<String>,
    pub attempt: Option<u32>,
    /// `None` when no response came back (the proxy answered 502/504 itself).
    pub status: Option<u16>,
    pub error_code: Option<String>,
    pub request_id: Option<String>,
    pub resource: Option<String>,
    pub started_at: SystemTime,
    /// From the request's arrival to the end of the response (or the failure): the one latency.
    pub duration: Duration,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The proxy's own failure, when the upstream was not reached.
    pub upstream_failure: Option<UpstreamFailure>,
    /// The response body was cut short.
    pub interrupted: bool,
    pub price: PriceStatus,
    /// The call's own charge (request and usage units), data transfer out, and the costs it
    /// implies elsewhere.
    pub cost: Decimal,
    pub transfer: Decimal,
    pub implied: Vec<ImpliedCost>,
    /// The quantities its own cost was priced on, by unit.
    pub units: Vec<(Unit, Decimal)>,
    /// Every priced quantity (own, transfer, implied) by price table entry: what re-pricing
    /// reads.
    pub priced: Vec<super::PricedLine>,
    /// GB that came back (whether or not data transfer was billed for them).
    pub gb_out: Option<Decimal>,
    /// GB of data transfer out that were priced.
    pub transfer_gb: Option<Decimal>,
    /// Why the cost is an estimate.
    pub estimated: Option<String>,
    /// A digest of its parameters: identical calls have the same one.
    pub fingerprint: Option<String>,
    /// For paginated operations: tokens, page size, next token, items.
    pub page: Option<PageFacts>,
    /// The documented maximum page size of the operation's paginator.
    pub page_size_max: Option<u64>,
    /// The paginator loop this page belongs to.
    pub loop_id: Option<u64>,
    /// For a call about one S3 object that a listing describes (HeadObject): whether an
    /// earlier listing in the run returned its key. `None` for other calls.
    pub listed_before: Option<bool>,
    /// In memory only, never stored: hashes of the keys an S3 listing page returned, and of
    /// the key a per-key call names (`aws::listed`). Keys themselves are never kept.
    pub listed_keys: Vec<u64>,
    pub object_key: Option<u64>,
    /// For an S3 GetObject: whether it came after a HEAD of the same object in the run, one
    /// that no listing had named and no other GET had answered (the HEAD it makes unneeded).
    /// `None` for other calls.
    pub after_head: Option<bool>,
    /// For an S3 GetObject whose bytes came back whole: how many of them earlier GETs of the same
    /// object (same ETag) in the run had already received, by other requests (an identical
    /// request is a repeat: 0 here). `None` for other calls, or where it is not known.
    pub refetched_bytes: Option<u64>,
    /// In memory only, never stored: the object's bytes a GetObject received (`start..end`,
    /// from `Content-Range`, or the whole object) and a hash of its ETag.
    pub span: Option<(u64, u64)>,
    pub etag: Option<u64>,
    /// For a receive or poll (SQS ReceiveMessage, Kinesis GetRecords): the messages or records
    /// it returned, where they could be counted.
    pub received: Option<u64>,
}

impl Call {
    /// A retry: the SDK said this is attempt 2 or later of one logical call.
    pub fn is_retry(&self) -> bool {
        is_retry(self.attempt)
    }

    /// Answered with 4xx/5xx, not answered, or a 200 that carried an error (S3).
    pub fn is_error(&self) -> bool {
        is_error(self.status, self.error_code.as_deref())
    }

    pub fn status_class(&self) -> StatusClass {
        StatusClass::of(self.status, self.upstream_failure)
    }

    /// Throttling, by the error codes AWS services use for it.
    pub fn is_throttled(&self) -> bool {
        is_throttling(self.error_code.as_deref())
    }

    /// The implied costs together.
    pub fn implied_total(&self) -> Decimal {
        self.implied.iter().map(|cost| cost.amount).sum()
    }

    /// All its money: own charge, transfer and implied costs.
    pub fn all_money(&self) -> Decimal {
        self.cost + self.transfer + self.implied_total()
    }

    /// What the history keeps of its units: the priced quantities, and the GB that came back.
    pub fn recorded_units(&self) -> impl Iterator<Item = (Unit, Decimal)> + '_ {
        let gb_out = self
            .gb_out
            .filter(|_| !self.units.iter().any(|(unit, _)| *unit == Unit::GbOut))
            .map(|gb| (Unit::GbOut, gb));
        self.units.iter().copied().chain(gb_out)
    }
}

/// Attempt 2 or later of one logical call (an unknown attempt is not a retry).
pub fn is_retry(attempt: Option<u32>) -> bool {
    attempt.is_some_and(|attempt| attempt > 1)
}

/// No response, an HTTP error, or an error code in a 200.
pub fn is_error(status: Option<u16>, error_code: Option<&str>) -> bool {
    status.is_none_or(|status| status >= 400) || error_code.is_some()
}

/// Whether an error code means the request was throttled.
pub fn is_throttling(code: Option<&str>) -> bool {
    const THROTTLING: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    ];
    code.is_some_and(|code| THROTTLING.contains(&code))
}

/// For tests and benches, inside the crate and out (integration tests write histories through
/// the store's own write path with these).
impl Call {
    /// A priced, successful first attempt of `service`/`operation`, for tests to adjust.
    pub fn sample(service: &str, operation: &str) -> Call {
        Call {
            seq: 0,
            client: SocketAddr::from(([127, 0, 0, 1], 40000)),
            kind: CallKind::Operation,
            service: service.into(),
            operation: operation.into(),
            region: Some("us-east-1".into()),
            host: format!("{service}.us-east-1.amazonaws.com"),
            access_key: None,
            sdk: None,
            app_id: None,
            callsite: None,
            test: None,
            invocation_id: None,
            attempt: Some(1),
            status: Some(200),
            error_code: None,
            request_id: None,
            resource: None,
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(1),
            bytes_sent: 10,
            bytes_received: 20,
            upstream_failure: None,
            interrupted: false,
            price: PriceStatus::Priced,
            cost: Decimal::ZERO,
            transfer: Decimal::ZERO,
            implied: Vec::new(),
            units: Vec::new(),
            priced: Vec::new(),
            gb_out: None,
            transfer_gb: None,
            estimated: None,
            fingerprint: None,
            page: None,
            page_size_max: None,
            loop_id: None,
            listed_before: None,
            listed_keys: Vec::new(),
            object_key: None,
            after_head: None,
            refetched_bytes: None,
            span: None,
            etag: None,
            received: None,
        }
    }

    /// Started `at_us` µs after the epoch.
    pub fn at_us(mut self, at_us: i64) -> Call {
        self.started_at = SystemTime::UNIX_EPOCH + Duration::from_micros(at_us.max(0) as u64);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_a_status_class() {
        let class = |status, failure| StatusClass::of(status, failure).as_str();
        assert_eq!(class(Some(200), None), "ok");
        assert_eq!(class(Some(304), None), "ok");
        assert_eq!(class(Some(404), None), "client_error");
        assert_eq!(class(Some(503), None), "server_error");
        assert_eq!(class(None, Some(UpstreamFailure::Connect)), "connect_error");
        assert_eq!(class(None, Some(UpstreamFailure::Tls)), "tls_error");
        assert_eq!(class(None, Some(UpstreamFailure::Timeout)), "timeout");
        assert_eq!(
            class(None, Some(UpstreamFailure::Protocol)),
            "protocol_error"
        );
        assert_eq!(class(None, None), "no_response");
    }
}
