//! Billing units.

use std::fmt;
use std::str::FromStr;

/// A billing unit. The names are the ones `pricing/*.toml` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    Request,
    Chunk64Kb,
    PayloadUnit25Kb,
    ReadRequestUnit,
    WriteRequestUnit,
    MetricRequested,
    InputTokens1k,
    OutputTokens1k,
    TbScanned,
    GbScanned,
    GbIngested,
    GbUploadAbove512Kb,
    GbRetrievalAbove512Kb,
    GbPayload,
    GbOut,
    DataEvent,
}

impl Unit {
    pub const ALL: &'static [Unit] = &[
        Unit::Request,
        Unit::Chunk64Kb,
        Unit::PayloadUnit25Kb,
        Unit::ReadRequestUnit,
        Unit::WriteRequestUnit,
        Unit::MetricRequested,
        Unit::InputTokens1k,
        Unit::OutputTokens1k,
        Unit::TbScanned,
        Unit::GbScanned,
        Unit::GbIngested,
        Unit::GbUploadAbove512Kb,
        Unit::GbRetrievalAbove512Kb,
        Unit::GbPayload,
        Unit::GbOut,
        Unit::DataEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Request => "request",
            Unit::Chunk64Kb => "chunk-64kb",
            Unit::PayloadUnit25Kb => "payload-unit-25kb",
            Unit::ReadRequestUnit => "read-request-unit",
            Unit::WriteRequestUnit => "write-request-unit",
            Unit::MetricRequested => "metric-requested",
            Unit::InputTokens1k => "1k-input-tokens",
            Unit::OutputTokens1k => "1k-output-tokens",
            Unit::TbScanned => "tb-scanned",
            Unit::GbScanned => "gb-scanned",
            Unit::GbIngested => "gb-ingested",
            Unit::GbUploadAbove512Kb => "gb-upload-above-512kb",
            Unit::GbRetrievalAbove512Kb => "gb-retrieval-above-512kb",
            Unit::GbPayload => "gb-payload",
            Unit::GbOut => "gb-out",
            Unit::DataEvent => "data-event",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl FromStr for Unit {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Unit::ALL
            .iter()
            .copied()
            .find(|unit| unit.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Unit::ALL.iter().map(|u| u.as_str()).collect();
                format!("unknown unit `{name}` (known: {})", known.join(", "))
            })
    }
}
