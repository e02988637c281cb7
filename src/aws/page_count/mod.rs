//! Counting a listing page's items, and keeping its next token, as the response streams past:
//! a push parser of the whole body (XML, JSON or CBOR, by the service's protocol) that follows
//! only the paginator's result keys, output tokens and more-results flag, in memory bounded by
//! those paths and not by the page. Whatever `--body-capture-kib` keeps of the body, the count
//! is of all of it; where no count can be had, the answer says why.

mod cbor;
mod json;
mod matcher;
mod name;
mod xml;

use std::sync::{OnceLock, PoisonError, RwLock};

use rustc_hash::FxHashMap;
use serde_json::Value;

use self::cbor::CborReader;
use self::json::JsonReader;
use self::matcher::{Matcher, Role, Slot, Step, Target, MAX_TARGETS};
use self::xml::XmlReader;
use super::document::{canonical, cbor_to_json, syntax, Syntax};
use super::model::{Paginator, PathSegment};
use crate::record::{ItemsUnknown, PageAnswer};

pub use self::matcher::MAX_VALUE_BYTES;

/// Reads one response body of a paginated operation, chunk by chunk.
pub struct PageCounter {
    plan: &'static Plan,
    reader: Reader,
    matcher: Matcher<'static>,
    /// The body came with a `Content-Encoding`: not read.
    compressed: bool,
}

enum Reader {
    Xml(XmlReader),
    Json(JsonReader),
    Cbor(CborReader),
    /// A CBOR service may still answer in JSON: told by the first byte.
    CborOrJson,
}

/// What a paginator's paths compile to: made once per paginator, on its first page, and kept
/// for the process (the model is).
struct Plan {
    targets: Vec<Target<'static>>,
    /// Per output token, the slots of its alternatives, in order of preference.
    outputs: Vec<Vec<usize>>,
    more: Option<usize>,
    results: usize,
    slots: usize,
    syntax: Syntax,
    /// The query protocol's `<OperationResult>`.
    wrapper: Option<String>,
}

impl Plan {
    fn compile(paginator: &'static Paginator, protocols: &[&str], operation: &str) -> Self {
        let syntax = syntax(protocols);
        let xml = syntax == Syntax::Xml;
        let mut targets = Vec::new();
        for (result, path) in paginator.wire.result.iter().enumerate() {
            let Some(path) = path else { continue };
            let Some((last, parents)) = path.split_last() else {
                continue;
            };
            let mut steps = steps(parents, xml);
            // An XML list is present once its container is; a JSON one must be an array.
            let anchor = steps.len();
            steps.extend(steps_of(last, xml));
            if !xml {
                steps.push(Step::Element);
            }
            let anchor = if xml { anchor } else { steps.len() - 1 };
            targets.push(Target {
                steps,
                role: Role::Count {
                    result,
                    anchor,
                    anchor_array: !xml,
                },
            });
        }
        let mut slots = 0;
        let mut keep = |path: &'static [PathSegment], targets: &mut Vec<Target<'static>>| {
            let slot = slots;
            slots += 1;
            targets.push(Target {
                steps: steps(path, xml),
                role: Role::Keep { slot },
            });
            slot
        };
        let outputs = paginator
            .wire
            .output
            .iter()
            .map(|alternatives| {
                alternatives
                    .iter()
                    .flatten()
                    .filter(|path| !path.is_empty())
                    .map(|path| keep(path, &mut targets))
                    .collect()
            })
            .collect();
        let more = paginator
            .wire
            .more
            .as_deref()
            .filter(|path| !path.is_empty())
            .map(|path| keep(path, &mut targets));
        // An S3 listing's keys, hashed (for a HEAD of a listed key, later in the run).
        if xml {
            if let Some((_, path)) = super::listed::KEY_PATHS
                .iter()
                .find(|(listing, _)| *listing == operation)
            {
                targets.push(Target {
                    steps: path.iter().map(|name| Step::Name(name)).collect(),
                    role: Role::Hash,
                });
            }
        }
        targets.truncate(MAX_TARGETS);
        Self {
            targets,
            outputs,
            more,
            results: paginator.wire.result.len(),
            slots,
            syntax,
            wrapper: (protocols.first() == Some(&"query")).then(|| format!("{operation}Result")),
        }
    }

    /// The plan of `paginator`, compiled on its first use. Paginators live in the model, for the
    /// whole process, so their address names them; the plans (a few hundred bytes each, one per
    /// paginator used) live as long.
    fn of(paginator: &'static Paginator, protocols: &[&str], operation: &str) -> &'static Plan {
        static PLANS: OnceLock<RwLock<FxHashMap<usize, &'static Plan>>> = OnceLock::new();
        let plans = PLANS.get_or_init(Default::default);
        let key = std::ptr::from_ref(paginator) as usize;
        if let Some(plan) = plans
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return plan;
        }
        let compiled = Plan::compile(paginator, protocols, operation);
        plans
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert_with(|| Box::leak(Box::new(compiled)))
    }
}

impl PageCounter {
    /// For a response of `operation` (which `paginator` pages) from a service speaking
    /// `protocols` (most preferred first), sent with `content_encoding`.
    pub fn new(
        paginator: &'static Paginator,
        protocols: &[&str],
        operation: &str,
        content_encoding: Option<&str>,
    ) -> Self {
        let plan = Plan::of(paginator, protocols, operation);
        let reader = match plan.syntax {
            Syntax::Xml => Reader::Xml(XmlReader::new()),
            Syntax::Json => Reader::Json(JsonReader::new()),
            Syntax::Cbor => Reader::CborOrJson,
        };
        let compressed = content_encoding.map(str::trim).is_some_and(|encoding| {
            !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity")
        });
        let mut matcher = Matcher::new(
            &plan.targets,
            plan.results,
            plan.slots,
            plan.syntax == Syntax::Xml,
            plan.wrapper.as_deref(),
        );
        matcher.hash_with(super::listed::xml_key_hash);
        Self {
            plan,
            reader,
            matcher,
            compressed,
        }
    }

    /// The listing was asked with `encoding-type=url`: its keys are URL-encoded.
    #[must_use]
    pub fn url_encoded_keys(mut self, encoded: bool) -> Self {
        if encoded {
            self.matcher.hash_with(super::listed::xml_url_key_hash);
        }
        self
    }

    /// The hashes of the keys an S3 listing page returned (all of them, whatever
    /// `--body-capture-kib` keeps), as [`listed::key_hash`](super::listed::key_hash) hashes a
    /// key. Empty for other operations, and for a compressed or unread body.
    pub fn listed_keys(&self) -> &[u64] {
        self.matcher.hashes()
    }

    /// The next bytes of the body.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.compressed || chunk.is_empty() {
            return;
        }
        if let Reader::CborOrJson = self.reader {
            self.reader = if matches!(chunk[0], b'{' | b' ' | b'\t' | b'\r' | b'\n') {
                Reader::Json(JsonReader::new())
            } else {
                Reader::Cbor(CborReader::new())
            };
        }
        match &mut self.reader {
            Reader::Xml(reader) => reader.feed(chunk, &mut self.matcher),
            Reader::Json(reader) => reader.feed(chunk, &mut self.matcher),
            Reader::Cbor(reader) => reader.feed(chunk, &mut self.matcher),
            Reader::CborOrJson => {}
        }
    }

    /// Why the items cannot be counted, if they cannot, once the body ended (`complete`: it
    /// was read to its end).
    fn unknown(&self, complete: bool) -> Option<ItemsUnknown> {
        if self.compressed {
            return Some(ItemsUnknown::Compressed);
        }
        if !complete {
            return Some(ItemsUnknown::CutShort);
        }
        let (too_deep, broken, done) = match &self.reader {
            Reader::Xml(reader) => (false, reader.broken(), self.matcher.finished()),
            Reader::Json(reader) => (
                reader.failure() == Some(json::Failure::TooDeep),
                reader.failure().is_some(),
                reader.done(),
            ),
            Reader::Cbor(reader) => (
                reader.failure() == Some(cbor::Failure::TooDeep),
                reader.failure().is_some(),
                reader.done(),
            ),
            Reader::CborOrJson => (false, false, false),
        };
        if too_deep {
            Some(ItemsUnknown::TooDeep)
        } else if broken || !done {
            Some(ItemsUnknown::Unparseable)
        } else {
            None
        }
    }

    /// What the page said: its items and next token, as far as they could be read.
    pub fn answer(&self, complete: bool) -> PageAnswer {
        let unknown = self.unknown(complete);
        let items = match unknown {
            Some(_) => None,
            None => (0..self.plan.results).find_map(|result| self.matcher.count(result)),
        };
        let items_unknown = unknown.or_else(|| items.is_none().then_some(ItemsUnknown::NoList));
        let mut next = Vec::new();
        let mut unreadable = false;
        for alternatives in &self.plan.outputs {
            let found = alternatives
                .iter()
                .find_map(|&slot| match self.matcher.slot(slot) {
                    Slot::Absent => None,
                    Slot::Kept(bytes) => Some(self.decode(bytes)),
                    Slot::TooLong => Some(None),
                });
            match found {
                Some(Some(token)) if !token.is_empty() && token != "null" => next.push(token),
                Some(Some(_)) => {}
                // Present, but too long to keep or not decodable.
                Some(None) => unreadable = true,
                // Not in what could be read: it may have been in what could not.
                None if unknown.is_some() => unreadable = true,
                None => {}
            }
        }
        let more = self
            .plan
            .more
            .and_then(|slot| match self.matcher.slot(slot) {
                Slot::Kept(bytes) => self.decode(bytes),
                _ => None,
            });
        // As botocore reads it: anything but true says there is no more.
        if more.is_some_and(|more| more != "true") {
            next.clear();
            unreadable = false;
        }
        PageAnswer {
            next,
            items,
            items_unknown,
            unreadable,
        }
    }

    /// A kept value in canonical form (as `document::canonical` gives it).
    fn decode(&self, bytes: &[u8]) -> Option<String> {
        match &self.reader {
            Reader::Xml(_) => {
                let text = String::from_utf8_lossy(bytes);
                let text = text.trim();
                Some(
                    quick_xml::escape::unescape(text)
                        .map(|s| s.into_owned())
                        .unwrap_or_else(|_| text.to_string()),
                )
            }
            Reader::Json(_) => plain_json_string(bytes).map(str::to_string).or_else(|| {
                serde_json::from_slice::<Value>(bytes)
                    .ok()
                    .map(|value| canonical(&value))
            }),
            Reader::Cbor(_) => plain_cbor_text(bytes).map(str::to_string).or_else(|| {
                ciborium::de::from_reader::<ciborium::Value, _>(bytes)
                    .ok()
                    .map(|value| canonical(&cbor_to_json(value)))
            }),
            Reader::CborOrJson => None,
        }
    }
}

/// A JSON string without escapes (as most tokens are): its text, without a parse.
fn plain_json_string(bytes: &[u8]) -> Option<&str> {
    let inner = bytes.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner
        .iter()
        .any(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
    {
        return None;
    }
    std::str::from_utf8(inner).ok()
}

/// A CBOR text string of definite length (as most tokens are): its text, without a parse.
fn plain_cbor_text(bytes: &[u8]) -> Option<&str> {
    let (&head, rest) = bytes.split_first()?;
    if head >> 5 != 3 {
        return None;
    }
    let (length, text) = match head & 0x1f {
        short @ 0..=23 => (usize::from(short), rest),
        24 => (usize::from(*rest.first()?), rest.get(1..)?),
        25 => (
            usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            rest.get(2..)?,
        ),
        _ => return None,
    };
    if text.len() != length {
        return None;
    }
    std::str::from_utf8(text).ok()
}

/// A path's steps: an XML list's items are elements of their own inside the list's (unless
/// flattened); a JSON list's last element (`[-1]`) is any element, the last one kept.
fn steps(path: &[PathSegment], xml: bool) -> Vec<Step<'_>> {
    path.iter()
        .flat_map(|segment| steps_of(segment, xml))
        .collect()
}

fn steps_of(segment: &PathSegment, xml: bool) -> impl Iterator<Item = Step<'_>> {
    let inner = match (xml, &segment.item) {
        (true, Some(item)) => Some(Step::Name(item.as_str())),
        (false, _) if segment.index.is_some() => Some(Step::Element),
        _ => None,
    };
    std::iter::once(Step::Name(segment.name.as_str())).chain(inner)
}

#[cfg(test)]
mod tests;
