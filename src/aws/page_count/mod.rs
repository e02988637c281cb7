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

use serde_json::Value;

use self::cbor::CborReader;
use self::json::JsonReader;
use self::matcher::{Matcher, Role, Slot, Step, Target};
use self::xml::XmlReader;
use super::document::{canonical, cbor_to_json, syntax, Syntax};
use super::model::{Paginator, PathSegment};
use crate::record::{ItemsUnknown, PageAnswer};

pub use self::matcher::MAX_VALUE_BYTES;

/// Reads one response body of a paginated operation, chunk by chunk.
pub struct PageCounter<'m> {
    reader: Reader,
    matcher: Matcher<'m>,
    /// Per output token, the slots of its alternatives, in order of preference.
    outputs: Vec<Vec<usize>>,
    more: Option<usize>,
    results: usize,
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

impl<'m> PageCounter<'m> {
    /// For a response of `operation` (which `paginator` pages) from a service speaking
    /// `protocols` (most preferred first), sent with `content_encoding`.
    pub fn new(
        paginator: &'m Paginator,
        protocols: &[&str],
        operation: &str,
        content_encoding: Option<&str>,
    ) -> Self {
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
        let mut keep = |path: &'m [PathSegment], targets: &mut Vec<Target<'m>>| {
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
        let wrapper = (protocols.first() == Some(&"query")).then(|| format!("{operation}Result"));
        let reader = match syntax {
            Syntax::Xml => Reader::Xml(XmlReader::new()),
            Syntax::Json => Reader::Json(JsonReader::new()),
            Syntax::Cbor => Reader::CborOrJson,
        };
        let compressed = content_encoding.map(str::trim).is_some_and(|encoding| {
            !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity")
        });
        Self {
            reader,
            matcher: Matcher::new(targets, paginator.wire.result.len(), slots, xml, wrapper),
            outputs,
            more,
            results: paginator.wire.result.len(),
            compressed,
        }
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
            None => (0..self.results).find_map(|result| self.matcher.count(result)),
        };
        let items_unknown = unknown.or_else(|| items.is_none().then_some(ItemsUnknown::NoList));
        let mut next = Vec::new();
        let mut unreadable = false;
        for alternatives in &self.outputs {
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
        let more = self.more.and_then(|slot| match self.matcher.slot(slot) {
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
            Reader::Json(_) => serde_json::from_slice::<Value>(bytes)
                .ok()
                .map(|value| canonical(&value)),
            Reader::Cbor(_) => ciborium::de::from_reader::<ciborium::Value, _>(bytes)
                .ok()
                .map(|value| canonical(&cbor_to_json(value))),
            Reader::CborOrJson => None,
        }
    }
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
