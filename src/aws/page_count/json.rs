//! A push reader of JSON (the json and rest-json protocols), fed in chunks cut anywhere. Reports
//! each value to the [`Matcher`] and hands it the bytes of kept values. Memory: one member name
//! and one bit per open container, up to [`MAX_DEPTH`].

use memchr::memchr2;

use super::matcher::{Edge, Kind, Matcher};
use super::name::NameBuffer;

/// Containers open at once, at most; deeper documents are not followed.
pub(super) const MAX_DEPTH: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a value.
    Value,
    /// After `[`: a value or `]`.
    ValueOrEnd,
    /// After `{`: a member name or `}`.
    NameOrEnd,
    /// After `,` in an object: a member name.
    Name,
    /// In a member name; `escape`: how far into an escape (1 after `\`, 2..=5 in `\uXXXX`).
    InName { escape: u8 },
    /// After a member name: `:`.
    Colon,
    /// In a string value, after a `\` or not.
    InString { escape: bool },
    /// In a number, `true`, `false` or `null`.
    Literal,
    /// After a value: `,`, or the end of its container.
    After,
    /// The top-level value ended.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    Syntax,
    TooDeep,
}

pub(super) struct JsonReader {
    state: State,
    /// One bit per open container: set for an array.
    arrays: [u64; MAX_DEPTH / 64],
    depth: usize,
    name: NameBuffer,
    /// The `\uXXXX` escape being read in a member name.
    code: u32,
    failure: Option<Failure>,
}

impl JsonReader {
    pub fn new() -> Self {
        Self {
            state: State::Value,
            arrays: [0; MAX_DEPTH / 64],
            depth: 0,
            name: NameBuffer::default(),
            code: 0,
            failure: None,
        }
    }

    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    fn in_array(&self) -> bool {
        let index = self.depth - 1;
        self.arrays[index / 64] & (1 << (index % 64)) != 0
    }

    pub fn feed(&mut self, chunk: &[u8], matcher: &mut Matcher<'_>) {
        if self.failure.is_some() {
            return;
        }
        // Bytes of a kept value from `mark` on are not yet handed to the matcher.
        let mut mark = 0;
        let mut at = 0;
        while at < chunk.len() {
            let byte = chunk[at];
            match self.state {
                State::Value | State::ValueOrEnd => {
                    if is_space(byte) {
                        at += 1;
                        continue;
                    }
                    if byte == b']' && self.state == State::ValueOrEnd {
                        self.end_container(chunk, &mut mark, at, matcher);
                        at += 1;
                        continue;
                    }
                    let edge = if self.depth == 0 {
                        Edge::Root
                    } else if self.in_array() {
                        Edge::Element
                    } else {
                        Edge::Name(self.name.as_bytes())
                    };
                    let (kind, next) = match byte {
                        b'{' => (Kind::Other, State::NameOrEnd),
                        b'[' => (Kind::Array, State::ValueOrEnd),
                        b'"' => (Kind::Other, State::InString { escape: false }),
                        b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => (Kind::Other, State::Literal),
                        _ => return self.fail(Failure::Syntax),
                    };
                    if matcher.enter(edge, kind) {
                        mark = at;
                    }
                    if matches!(byte, b'{' | b'[') && !self.open(byte == b'[') {
                        return;
                    }
                    self.state = next;
                    at += 1;
                }
                State::NameOrEnd | State::Name => {
                    at += 1;
                    match byte {
                        b'"' => {
                            self.name.clear();
                            self.state = State::InName { escape: 0 };
                        }
                        b'}' if self.state == State::NameOrEnd => {
                            self.end_container(chunk, &mut mark, at - 1, matcher)
                        }
                        _ if is_space(byte) => {}
                        _ => return self.fail(Failure::Syntax),
                    }
                }
                State::InName { escape: 0 } => {
                    // The plain run of the name at once.
                    let rest = &chunk[at..];
                    let end = rest
                        .iter()
                        .position(|&byte| byte == b'"' || byte == b'\\')
                        .unwrap_or(rest.len());
                    self.name.extend(&rest[..end]);
                    at += end;
                    if end < rest.len() {
                        at += 1;
                        self.name_byte(rest[end], 0);
                    }
                }
                State::InName { escape } => {
                    at += 1;
                    self.name_byte(byte, escape);
                }
                State::Colon => {
                    at += 1;
                    match byte {
                        b':' => self.state = State::Value,
                        _ if is_space(byte) => {}
                        _ => return self.fail(Failure::Syntax),
                    }
                }
                State::InString { escape } => {
                    if escape {
                        self.state = State::InString { escape: false };
                        at += 1;
                        continue;
                    }
                    match memchr2(b'"', b'\\', &chunk[at..]) {
                        Some(offset) => {
                            at += offset;
                            if chunk[at] == b'\\' {
                                self.state = State::InString { escape: true };
                                at += 1;
                            } else {
                                at += 1;
                                self.end_value(chunk, &mut mark, at, matcher);
                            }
                        }
                        None => at = chunk.len(),
                    }
                }
                State::Literal => {
                    let rest = &chunk[at..];
                    match rest.iter().position(|&byte| !is_literal(byte)) {
                        Some(end) => {
                            at += end;
                            // The delimiter is read again after the value.
                            self.end_value(chunk, &mut mark, at, matcher);
                        }
                        None => at = chunk.len(),
                    }
                }
                State::After => {
                    match byte {
                        b',' if self.depth > 0 => {
                            self.state = if self.in_array() {
                                State::Value
                            } else {
                                State::Name
                            }
                        }
                        b']' | b'}' if self.depth > 0 && self.in_array() == (byte == b']') => {
                            self.end_container(chunk, &mut mark, at, matcher)
                        }
                        _ if is_space(byte) => {}
                        _ => return self.fail(Failure::Syntax),
                    }
                    at += 1;
                }
                State::Done => {
                    // Trailing bytes after the document are not part of the answer.
                    break;
                }
            }
        }
        if matcher.capturing() && mark < chunk.len() {
            matcher.capture(&chunk[mark..]);
        }
    }

    fn fail(&mut self, failure: Failure) {
        self.failure = Some(failure);
    }

    fn open(&mut self, array: bool) -> bool {
        if self.depth == MAX_DEPTH {
            self.fail(Failure::TooDeep);
            return false;
        }
        let word = &mut self.arrays[self.depth / 64];
        let bit = 1 << (self.depth % 64);
        if array {
            *word |= bit;
        } else {
            *word &= !bit;
        }
        self.depth += 1;
        true
    }

    /// The container closed by the byte at `at`.
    fn end_container(
        &mut self,
        chunk: &[u8],
        mark: &mut usize,
        at: usize,
        matcher: &mut Matcher<'_>,
    ) {
        self.depth -= 1;
        self.end_value(chunk, mark, at + 1, matcher);
    }

    /// A value ended just before `end`: hand over its last bytes, close it.
    fn end_value(&mut self, chunk: &[u8], mark: &mut usize, end: usize, matcher: &mut Matcher<'_>) {
        if matcher.capturing() {
            matcher.capture(&chunk[*mark..end]);
            *mark = end;
        }
        matcher.leave();
        self.state = if self.depth == 0 {
            State::Done
        } else {
            State::After
        };
        if matcher.capturing() {
            *mark = end;
        }
    }

    /// One byte of a member name, decoding escapes (a name that cannot be decoded matches no
    /// path).
    fn name_byte(&mut self, byte: u8, escape: u8) {
        self.state = match (escape, byte) {
            (0, b'"') => State::Colon,
            (0, b'\\') => State::InName { escape: 1 },
            (0, _) => {
                self.name.push(byte);
                State::InName { escape: 0 }
            }
            (1, b'u') => {
                self.code = 0;
                State::InName { escape: 2 }
            }
            (1, _) => {
                match byte {
                    b'"' | b'\\' | b'/' => self.name.push(byte),
                    b'b' => self.name.push(0x08),
                    b'f' => self.name.push(0x0c),
                    b'n' => self.name.push(b'\n'),
                    b'r' => self.name.push(b'\r'),
                    b't' => self.name.push(b'\t'),
                    _ => self.name.spoil(),
                }
                State::InName { escape: 0 }
            }
            (_, _) => {
                let digit = (byte as char).to_digit(16);
                match digit {
                    Some(digit) => self.code = self.code * 16 + digit,
                    None => self.name.spoil(),
                }
                if escape < 5 {
                    State::InName { escape: escape + 1 }
                } else {
                    match char::from_u32(self.code) {
                        Some(c) => {
                            let mut utf8 = [0; 4];
                            self.name.extend(c.encode_utf8(&mut utf8).as_bytes());
                        }
                        // Half of a surrogate pair: no member name in the model has one.
                        None => self.name.spoil(),
                    }
                    State::InName { escape: 0 }
                }
            }
        };
    }
}

#[inline]
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

#[inline]
fn is_literal(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'+' | b'.')
}
