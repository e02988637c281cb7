//! Request and response bodies as one document type, whatever the protocol: JSON as it is, CBOR
//! (smithy-rpc-v2-cbor) converted, XML (rest-xml, query, ec2) as nested objects. Enough to find
//! members and count lists; not a full deserializer.

use std::sync::OnceLock;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

/// A body as the proxy saw it: the first bytes, the last bytes when it was longer, its length.
#[derive(Debug, Clone, Copy)]
pub struct BodyView<'a> {
    pub head: &'a [u8],
    /// The body's last bytes when `head` is not all of it (else empty).
    pub tail: &'a [u8],
    pub length: u64,
    pub truncated: bool,
}

impl<'a> BodyView<'a> {
    pub fn whole(body: &'a [u8]) -> Self {
        Self {
            head: body,
            tail: &[],
            length: body.len() as u64,
            truncated: false,
        }
    }
}

/// A call's request and response bodies, parsed once for usage, paginator and fingerprint
/// extraction alike, and only when something reads them: most calls need neither document (an
/// S3 listing's page is counted as it streams), and parsing a body into a document is the
/// dearest step of a recorded call.
#[derive(Debug)]
pub struct Documents<'a> {
    syntax: Syntax,
    /// The request body to parse, `None` when it is not parsed (a form, or cut short).
    request_body: Option<&'a [u8]>,
    /// The response body to parse, `None` when it is not parsed (cut-short JSON or CBOR).
    response_body: Option<&'a [u8]>,
    request: OnceLock<Option<Value>>,
    response: OnceLock<Option<Value>>,
    response_complete: bool,
}

/// Nothing to parse.
pub static NO_DOCUMENTS: Documents<'static> = Documents {
    syntax: Syntax::Json,
    request_body: None,
    response_body: None,
    request: OnceLock::new(),
    response: OnceLock::new(),
    response_complete: true,
};

impl<'a> Documents<'a> {
    /// Query and EC2 requests are forms (read as such where needed), and a cut-short request is
    /// not parsed; a cut-short XML response is read as far as it goes.
    pub fn parse(protocols: &[&str], request: &BodyView<'a>, response: &BodyView<'a>) -> Self {
        let syntax = syntax(protocols);
        let form = matches!(protocols.first(), Some(&"query" | &"ec2"));
        let request_body = (!(form || request.truncated)).then_some(request.head);
        let response_body =
            (!(response.truncated && syntax != Syntax::Xml)).then_some(response.head);
        Self {
            syntax,
            request_body,
            response_body,
            request: OnceLock::new(),
            response: OnceLock::new(),
            response_complete: !response.truncated,
        }
    }

    pub fn request(&self) -> Option<&Value> {
        self.request
            .get_or_init(|| self.request_body.and_then(|body| parse(self.syntax, body)))
            .as_ref()
    }

    /// The response, when it was read whole.
    pub fn response(&self) -> Option<&Value> {
        if self.response_complete {
            self.response_prefix()
        } else {
            None
        }
    }

    /// The response, or the part of a cut-short XML response that was read.
    pub fn response_prefix(&self) -> Option<&Value> {
        self.response
            .get_or_init(|| self.response_body.and_then(|body| parse(self.syntax, body)))
            .as_ref()
    }
}

/// Which syntax a service's bodies use, from its protocols (most preferred first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Cbor,
    Xml,
}

pub fn syntax(protocols: &[&str]) -> Syntax {
    match protocols.first().copied() {
        Some("smithy-rpc-v2-cbor") => Syntax::Cbor,
        Some("rest-xml" | "query" | "ec2") => Syntax::Xml,
        _ => Syntax::Json,
    }
}

/// Parses a body. A CBOR service may still answer JSON (a `{` first byte), and a truncated XML
/// body yields what was read before the cut.
pub fn parse(syntax: Syntax, body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    match syntax {
        Syntax::Cbor if body[0] != b'{' => {
            let value: ciborium::Value = ciborium::de::from_reader(body).ok()?;
            Some(cbor_to_json(value))
        }
        Syntax::Xml if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') => {
            xml_to_json(body)
        }
        _ => serde_json::from_slice(body).ok(),
    }
}

/// CBOR to JSON for reading members: byte strings become strings of as many NULs (their length
/// is what counts), tags are dropped.
pub fn cbor_to_json(value: ciborium::Value) -> Value {
    use ciborium::Value as C;
    match value {
        C::Integer(i) => {
            let n = i128::from(i);
            i64::try_from(n)
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(n as f64))
        }
        C::Float(f) => Value::from(f),
        C::Text(t) => Value::String(t),
        C::Bytes(b) => Value::String("\0".repeat(b.len())),
        C::Bool(b) => Value::Bool(b),
        C::Null => Value::Null,
        C::Tag(_, inner) => cbor_to_json(*inner),
        C::Array(items) => Value::Array(items.into_iter().map(cbor_to_json).collect()),
        C::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .filter_map(|(k, v)| Some((k.into_text().ok()?, cbor_to_json(v))))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// XML to JSON: the root element's content as an object; an element with children becomes an
/// object, one with only text a string; repeated names become arrays. Attributes are ignored.
pub fn xml_to_json(body: &[u8]) -> Option<Value> {
    // Read in place: events borrow from `body` (no copy of each event into a buffer).
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    // Open elements: name, children so far, text so far.
    let mut stack: Vec<(String, Map<String, Value>, String)> = Vec::new();
    let mut root: Option<Value> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                stack.push((name, Map::new(), String::new()));
            }
            Ok(Event::Empty(start)) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                match stack.last_mut() {
                    Some((_, children, _)) => insert(children, name, Value::String(String::new())),
                    None => root = Some(Value::Object(Map::new())),
                }
            }
            Ok(Event::Text(text)) => {
                if let Some((_, _, content)) = stack.last_mut() {
                    if let Ok(text) = text.unescape() {
                        content.push_str(&text);
                    }
                }
            }
            Ok(Event::CData(data)) => {
                if let Some((_, _, content)) = stack.last_mut() {
                    content.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Ok(Event::End(_)) => {
                let Some((name, children, text)) = stack.pop() else {
                    break;
                };
                let value = close(children, text);
                match stack.last_mut() {
                    Some((_, parent, _)) => insert(parent, name, value),
                    None => {
                        root = Some(value);
                        break;
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // A truncated body: close what is still open, keeping what was read.
    while let Some((name, children, text)) = stack.pop() {
        let value = close(children, text);
        match stack.last_mut() {
            Some((_, parent, _)) => insert(parent, name, value),
            None => root = Some(value),
        }
    }
    root
}

fn close(children: Map<String, Value>, text: String) -> Value {
    if children.is_empty() {
        Value::String(text)
    } else {
        Value::Object(children)
    }
}

fn insert(map: &mut Map<String, Value>, name: String, value: Value) {
    use serde_json::map::Entry;
    match map.entry(name) {
        Entry::Occupied(mut existing) => match existing.get_mut() {
            Value::Array(items) => items.push(value),
            existing => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        },
        Entry::Vacant(slot) => {
            slot.insert(value);
        }
    }
}

/// A value in canonical form, for comparing tokens: strings as themselves, everything else as
/// JSON with sorted keys (serde_json's map is ordered).
pub fn canonical(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn xml_becomes_nested_objects_with_arrays_for_repeats() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>true</IsTruncated>
<Contents><Key>a</Key></Contents><Contents><Key>b&amp;c</Key></Contents><NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#;
        let value = xml_to_json(xml).unwrap();
        assert_eq!(value["IsTruncated"], json!("true"));
        assert_eq!(value["Contents"][1]["Key"], json!("b&c"));
        assert_eq!(value["NextContinuationToken"], json!("tok"));
    }

    /// What the parse gave when it copied each event into a buffer, for the constructs AWS's XML
    /// uses: a declaration, namespaces, attributes, empty elements, entities, CDATA, comments,
    /// whitespace between elements, and a repeated element with an empty one among them.
    #[test]
    fn xml_read_in_place_gives_the_same_objects() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeThingsResponse xmlns="urn:x"><!-- a comment -->
  <requestId>r-1</requestId>
  <thingSet>
    <item id="1"><name>a &lt;b&gt; &amp; c</name><tags/></item>
    <item><name><![CDATA[x<y]]></name></item>
    <item/>
  </thingSet>
  <s3:Key xmlns:s3="urn:s3">k</s3:Key>
  <nextToken>n&#x41;</nextToken>
</DescribeThingsResponse>"#;
        let value = xml_to_json(xml).unwrap();
        assert_eq!(
            value,
            json!({
                "requestId": "r-1",
                "thingSet": {"item": [
                    {"name": "a <b> & c", "tags": ""},
                    {"name": "x<y"},
                    ""
                ]},
                "Key": "k",
                "nextToken": "nA"
            })
        );
        assert_eq!(xml_to_json(b"<Empty/>"), Some(json!({})));
        assert_eq!(xml_to_json(b"<a>"), Some(json!("")));
        assert_eq!(xml_to_json(b"   "), None);
    }

    #[test]
    fn truncated_xml_keeps_what_was_read() {
        let xml = b"<R><requestId>1</requestId><set><item><id>x</id></item><item><id>y";
        let value = xml_to_json(xml).unwrap();
        assert_eq!(value["requestId"], json!("1"));
        assert_eq!(value["set"]["item"][0]["id"], json!("x"));
    }

    #[test]
    fn cbor_and_json_bodies() {
        let mut cbor = Vec::new();
        ciborium::ser::into_writer(
            &ciborium::Value::Map(vec![(
                ciborium::Value::Text("NextToken".into()),
                ciborium::Value::Text("t".into()),
            )]),
            &mut cbor,
        )
        .unwrap();
        assert_eq!(parse(Syntax::Cbor, &cbor).unwrap()["NextToken"], json!("t"));
        assert_eq!(parse(Syntax::Cbor, b"{\"a\":1}").unwrap()["a"], json!(1));
        assert_eq!(
            canonical(&json!({"b": 1, "a": {"S": "x"}})),
            r#"{"a":{"S":"x"},"b":1}"#
        );
    }
}
