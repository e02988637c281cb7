//! What priced a call: the price table entries and the quantities each was applied to. Kept with
//! every call so that a stored run can be priced again at another table's prices (`report
//! --reprice`, the gate's volume/price split) without the call's request, which is never stored.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Which of a call's costs a line is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    /// The call's own charge: its request and usage units.
    Own,
    /// Data transfer out for the bytes that came back.
    Transfer,
    /// A cost the call causes elsewhere (KMS behind SSE-KMS, CloudTrail data events).
    Implied,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Own => "own",
            LineKind::Transfer => "transfer",
            LineKind::Implied => "implied",
        }
    }

    /// Its one letter in the history, where every call carries it.
    fn letter(self) -> &'static str {
        match self {
            LineKind::Own => "o",
            LineKind::Transfer => "t",
            LineKind::Implied => "i",
        }
    }

    fn from_letter(letter: &str) -> Option<Self> {
        match letter {
            "o" => Some(LineKind::Own),
            "t" => Some(LineKind::Transfer),
            "i" => Some(LineKind::Implied),
            _ => None,
        }
    }
}

/// One priced quantity of a call: the entry's id, not its price, so that any table can price it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub kind: LineKind,
    pub entry: Arc<str>,
    pub quantity: Decimal,
}

/// As stored: `[["o","s3/get-object/request","1"], ...]`, exact decimal strings, compact
/// because every call carries it.
#[derive(Serialize, Deserialize)]
struct StoredLine<'a>(
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    String,
);

/// The lines as the history stores them; `None` for a call priced on nothing.
pub fn priced_json(lines: &[PricedLine]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let stored: Vec<StoredLine<'_>> = lines
        .iter()
        .map(|line| {
            StoredLine(
                std::borrow::Cow::Borrowed(line.kind.letter()),
                std::borrow::Cow::Borrowed(&line.entry),
                super::exact(line.quantity),
            )
        })
        .collect();
    serde_json::to_string(&stored).ok()
}

/// Reads what [`priced_json`] wrote. A call recorded before lines were kept (or a value this
/// version cannot read) has none: it keeps its recorded cost when re-priced.
pub fn parse_priced(text: Option<&str>) -> Vec<PricedLine> {
    let Some(text) = text else {
        return Vec::new();
    };
    let Ok(stored) = serde_json::from_str::<Vec<StoredLine<'_>>>(text) else {
        return Vec::new();
    };
    let mut lines = Vec::with_capacity(stored.len());
    for StoredLine(kind, entry, quantity) in stored {
        let (Some(kind), Ok(quantity)) =
            (LineKind::from_letter(&kind), quantity.parse::<Decimal>())
        else {
            return Vec::new();
        };
        lines.push(PricedLine {
            kind,
            entry: Arc::from(entry.as_ref()),
            quantity,
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_the_store_exactly() {
        let lines = vec![
            PricedLine {
                kind: LineKind::Own,
                entry: "dynamodb/write-request-unit".into(),
                quantity: "50".parse().unwrap(),
            },
            PricedLine {
                kind: LineKind::Transfer,
                entry: "data-transfer/out".into(),
                quantity: "0.000000953674316406250".parse().unwrap(),
            },
            PricedLine {
                kind: LineKind::Implied,
                entry: "kms/request".into(),
                quantity: Decimal::ONE,
            },
        ];
        let text = priced_json(&lines).unwrap();
        assert!(
            text.starts_with(r#"[["o","dynamodb/write-request-unit","50"]"#),
            "{text}"
        );
        assert_eq!(parse_priced(Some(&text)), lines);
        assert_eq!(priced_json(&[]), None);
    }

    #[test]
    fn unreadable_lines_are_none_not_a_guess() {
        assert!(parse_priced(None).is_empty());
        assert!(parse_priced(Some("{\"request\":\"1\"}")).is_empty());
        assert!(parse_priced(Some(r#"[["o","x","not a number"]]"#)).is_empty());
        assert!(parse_priced(Some(r#"[["z","x","1"]]"#)).is_empty());
    }
}
