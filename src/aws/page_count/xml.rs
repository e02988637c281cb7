//! A push reader of XML as AWS answers it (rest-xml, query, ec2): elements, text, CDATA,
//! comments, processing instructions and a DOCTYPE, fed in chunks cut anywhere. Reports each
//! element to the [`Matcher`] and hands it the text of kept values. Memory: one element name.
//! End tags are not checked against their start tags: the counts only need the nesting.

use memchr::memchr;

use super::matcher::{Edge, Kind, Matcher};
use super::name::NameBuffer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between tags.
    Text,
    /// After `<`.
    Open,
    /// In a start tag's name.
    StartName,
    /// In a start tag after its name. `quote`: inside an attribute value; `slash`: the last
    /// byte outside quotes was `/` (a `/>` ends an empty element).
    Attributes { quote: u8, slash: bool },
    /// In an end tag, up to its `>`.
    EndTag,
    /// After `<!`, `seen` bytes of `[CDATA[` or `--` so far.
    Bang { seen: u8 },
    /// In a comment, after this many `-` in a row.
    Comment { dashes: u8 },
    /// In a CDATA section, after this many `]` in a row.
    CData { brackets: u8 },
    /// In a processing instruction (`<?xml ...?>`), after a `?` or not.
    Instruction { question: bool },
    /// In a `<!DOCTYPE ...>`, inside this many `[`.
    Declaration { nesting: u32 },
}

pub(super) struct XmlReader {
    state: State,
    name: NameBuffer,
    /// Open elements.
    depth: u64,
    /// An end tag came with no element open.
    broken: bool,
}

const CDATA: &[u8] = b"[CDATA[";

impl XmlReader {
    pub fn new() -> Self {
        Self {
            state: State::Text,
            name: NameBuffer::default(),
            depth: 0,
            broken: false,
        }
    }

    pub fn broken(&self) -> bool {
        self.broken
    }

    pub fn feed(&mut self, chunk: &[u8], matcher: &mut Matcher<'_>) {
        if self.broken {
            return;
        }
        let mut at = 0;
        while at < chunk.len() {
            match self.state {
                State::Text => {
                    let rest = &chunk[at..];
                    match find(b'<', rest) {
                        Some(offset) => {
                            if matcher.capturing() {
                                matcher.capture(&rest[..offset]);
                            }
                            at += offset + 1;
                            self.state = State::Open;
                        }
                        None => {
                            if matcher.capturing() {
                                matcher.capture(rest);
                            }
                            at = chunk.len();
                        }
                    }
                }
                State::Open => {
                    self.state = match chunk[at] {
                        b'/' => State::EndTag,
                        b'?' => State::Instruction { question: false },
                        b'!' => State::Bang { seen: 0 },
                        _ => {
                            self.name.clear();
                            // The name's first byte is read in `StartName`.
                            self.state = State::StartName;
                            continue;
                        }
                    };
                    at += 1;
                }
                State::StartName => {
                    let rest = &chunk[at..];
                    let end = rest
                        .iter()
                        .position(|&byte| {
                            matches!(byte, b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n')
                        })
                        .unwrap_or(rest.len());
                    let name = &rest[..end];
                    // A namespace prefix: the local name follows its colon.
                    match name.iter().rposition(|&byte| byte == b':') {
                        Some(colon) => {
                            self.name.clear();
                            self.name.extend(&name[colon + 1..]);
                        }
                        None => self.name.extend(name),
                    }
                    at += end;
                    if end < rest.len() {
                        self.state = State::Attributes {
                            quote: 0,
                            slash: false,
                        };
                    }
                }
                State::Attributes { quote, slash } => {
                    let byte = chunk[at];
                    at += 1;
                    if quote != 0 {
                        if byte == quote {
                            self.state = State::Attributes { quote: 0, slash };
                        }
                        continue;
                    }
                    match byte {
                        b'"' | b'\'' => {
                            self.state = State::Attributes {
                                quote: byte,
                                slash: false,
                            }
                        }
                        b'/' => {
                            self.state = State::Attributes {
                                quote: 0,
                                slash: true,
                            }
                        }
                        b'>' => {
                            self.state = State::Text;
                            self.depth += 1;
                            matcher.enter(Edge::Name(self.name.as_bytes()), Kind::Other);
                            if slash {
                                self.close(matcher);
                            }
                        }
                        b' ' | b'\t' | b'\r' | b'\n' => {}
                        _ => {
                            self.state = State::Attributes {
                                quote: 0,
                                slash: false,
                            }
                        }
                    }
                }
                State::EndTag => match find(b'>', &chunk[at..]) {
                    Some(offset) => {
                        at += offset + 1;
                        self.state = State::Text;
                        if self.depth == 0 {
                            self.broken = true;
                            return;
                        }
                        self.close(matcher);
                    }
                    None => at = chunk.len(),
                },
                State::Bang { seen } => {
                    let byte = chunk[at];
                    let seen = usize::from(seen);
                    self.state = if seen < CDATA.len() && byte == CDATA[seen] {
                        if seen + 1 == CDATA.len() {
                            State::CData { brackets: 0 }
                        } else {
                            State::Bang {
                                seen: seen as u8 + 1,
                            }
                        }
                    } else if byte == b'-' && seen == 0 {
                        State::Bang { seen: 0x80 }
                    } else if byte == b'-' && seen == 0x80 {
                        State::Comment { dashes: 0 }
                    } else {
                        State::Declaration {
                            nesting: u32::from(byte == b'['),
                        }
                    };
                    at += 1;
                }
                State::Comment { dashes } => {
                    let byte = chunk[at];
                    at += 1;
                    self.state = match byte {
                        b'>' if dashes >= 2 => State::Text,
                        b'-' => State::Comment {
                            dashes: dashes.saturating_add(1),
                        },
                        _ => State::Comment { dashes: 0 },
                    };
                }
                State::CData { brackets } => {
                    let byte = chunk[at];
                    at += 1;
                    match byte {
                        b'>' if brackets >= 2 => {
                            self.state = State::Text;
                            continue;
                        }
                        b']' if brackets >= 2 => {
                            // `]]]`: the first is text.
                            self.cdata_text(b"]", matcher);
                            continue;
                        }
                        b']' => {
                            self.state = State::CData {
                                brackets: brackets + 1,
                            };
                            continue;
                        }
                        _ => {}
                    }
                    for _ in 0..brackets {
                        self.cdata_text(b"]", matcher);
                    }
                    self.state = State::CData { brackets: 0 };
                    self.cdata_text(&[byte], matcher);
                }
                State::Instruction { question } => {
                    let byte = chunk[at];
                    at += 1;
                    self.state = if question && byte == b'>' {
                        State::Text
                    } else {
                        State::Instruction {
                            question: byte == b'?',
                        }
                    };
                }
                State::Declaration { nesting } => {
                    let byte = chunk[at];
                    at += 1;
                    self.state = match byte {
                        b'>' if nesting == 0 => State::Text,
                        b'[' => State::Declaration {
                            nesting: nesting + 1,
                        },
                        b']' => State::Declaration {
                            nesting: nesting.saturating_sub(1),
                        },
                        _ => State::Declaration { nesting },
                    };
                }
            }
        }
    }

    fn close(&mut self, matcher: &mut Matcher<'_>) {
        self.depth -= 1;
        matcher.leave();
    }

    /// CDATA text, kept escaped so that a kept value decodes as one.
    fn cdata_text(&self, text: &[u8], matcher: &mut Matcher<'_>) {
        if !matcher.capturing() {
            return;
        }
        for &byte in text {
            match byte {
                b'&' => matcher.capture(b"&amp;"),
                b'<' => matcher.capture(b"&lt;"),
                _ => matcher.capture(&[byte]),
            }
        }
    }
}

/// The first `needle` in `haystack`. Most runs between tags are short (a size, a date, an end
/// tag's name): a plain loop over the first bytes costs less there than memchr's set-up.
#[inline]
fn find(needle: u8, haystack: &[u8]) -> Option<usize> {
    let head = haystack.len().min(32);
    match haystack[..head].iter().position(|&byte| byte == needle) {
        Some(offset) => Some(offset),
        None => memchr(needle, &haystack[head..]).map(|offset| offset + head),
    }
}
