//! A push reader of CBOR (RFC 8949, as smithy-rpc-v2-cbor answers in it), fed in chunks cut
//! anywhere. Reports each value to the [`Matcher`] and hands it the bytes of kept values. Map
//! keys are text (or byte) strings, as Smithy writes them. Memory: one member name and one
//! frame per open container, up to [`MAX_DEPTH`].

use super::matcher::{Edge, Kind, Matcher};
use super::name::NameBuffer;

/// Containers open at once, at most; deeper documents are not followed.
pub(super) const MAX_DEPTH: usize = 256;

/// Left of a container of indefinite length: it ends at a break (`0xff`).
const INDEFINITE: u64 = u64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before an item's first byte.
    Head,
    /// Reading an item's argument: `need` bytes in all, `have` so far.
    Argument {
        major: u8,
        need: u8,
        have: u8,
        value: u64,
    },
    /// In a string's bytes: this many left.
    Payload { left: u64 },
    /// The top-level item ended.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Array,
    /// `key`: the next item is a member name.
    Map {
        key: bool,
    },
    /// The chunks of a string of indefinite length; `key`: it is a member name.
    Chunks {
        key: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    container: Container,
    /// Items left (both names and values for a map), or [`INDEFINITE`].
    left: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    Syntax,
    TooDeep,
}

pub(super) struct CborReader {
    state: State,
    frames: Vec<Frame>,
    name: NameBuffer,
    /// The string being read is a member name.
    reading_name: bool,
    failure: Option<Failure>,
}

impl CborReader {
    pub fn new() -> Self {
        Self {
            state: State::Head,
            frames: Vec::new(),
            name: NameBuffer::default(),
            reading_name: false,
            failure: None,
        }
    }

    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the next item is a member name.
    fn at_name(&self) -> bool {
        matches!(
            self.frames.last(),
            Some(Frame {
                container: Container::Map { key: true },
                ..
            })
        )
    }

    fn in_chunks(&self) -> Option<bool> {
        match self.frames.last() {
            Some(Frame {
                container: Container::Chunks { key },
                ..
            }) => Some(*key),
            _ => None,
        }
    }

    pub fn feed(&mut self, chunk: &[u8], matcher: &mut Matcher<'_>) {
        if self.failure.is_some() {
            return;
        }
        let mut mark = 0;
        let mut at = 0;
        while at < chunk.len() {
            match self.state {
                State::Head => {
                    if matcher.skipping() && !matcher.capturing() {
                        at = self.pass_scalars(chunk, at);
                        if at == chunk.len() {
                            break;
                        }
                    }
                    let byte = chunk[at];
                    at += 1;
                    let major = byte >> 5;
                    let info = byte & 0x1f;
                    if byte == 0xff {
                        match self.frames.pop() {
                            Some(frame) if frame.left == INDEFINITE => {
                                let name = frame.container == Container::Chunks { key: true };
                                if name {
                                    self.reading_name = false;
                                }
                                self.item_end(chunk, &mut mark, at, matcher, name);
                            }
                            _ => return self.fail(Failure::Syntax),
                        }
                        continue;
                    }
                    if let Some(key) = self.in_chunks() {
                        // A chunk of a string of indefinite length: a definite string of the
                        // same kind; not an item of its own.
                        if !matches!(major, 2 | 3) || info == 31 {
                            return self.fail(Failure::Syntax);
                        }
                        self.reading_name = key;
                    } else if self.at_name() {
                        // Smithy writes member names as text; anything else names no member.
                        if !matches!(major, 2 | 3) {
                            return self.fail(Failure::Syntax);
                        }
                        self.reading_name = true;
                        self.name.clear();
                    } else if major != 6 {
                        self.reading_name = false;
                        let edge = match self.frames.last() {
                            None => Edge::Root,
                            Some(Frame {
                                container: Container::Array,
                                ..
                            }) => Edge::Element,
                            Some(_) => Edge::Name(self.name.as_bytes()),
                        };
                        let kind = if major == 4 { Kind::Array } else { Kind::Other };
                        if matcher.enter(edge, kind) {
                            mark = at - 1;
                        }
                    }
                    let need = match info {
                        0..=23 => 0,
                        24 => 1,
                        25 => 2,
                        26 => 4,
                        27 => 8,
                        31 if matches!(major, 2..=5) => {
                            self.open_indefinite(major);
                            continue;
                        }
                        _ => return self.fail(Failure::Syntax),
                    };
                    if need == 0 {
                        self.argument(major, u64::from(info), chunk, &mut mark, at, matcher);
                    } else if let Some(bytes) = chunk.get(at..at + usize::from(need)) {
                        // The whole argument is in this chunk (nearly always).
                        let value = bytes
                            .iter()
                            .fold(0u64, |value, &byte| value << 8 | u64::from(byte));
                        at += usize::from(need);
                        self.argument(major, value, chunk, &mut mark, at, matcher);
                    } else {
                        self.state = State::Argument {
                            major,
                            need,
                            have: 0,
                            value: 0,
                        };
                    }
                }
                State::Argument {
                    major,
                    need,
                    have,
                    value,
                } => {
                    let value = value << 8 | u64::from(chunk[at]);
                    at += 1;
                    if have + 1 == need {
                        self.state = State::Head;
                        self.argument(major, value, chunk, &mut mark, at, matcher);
                    } else {
                        self.state = State::Argument {
                            major,
                            need,
                            have: have + 1,
                            value,
                        };
                    }
                }
                State::Payload { left } => {
                    let available = (chunk.len() - at) as u64;
                    let taken = left.min(available) as usize;
                    if self.reading_name {
                        self.name.extend(&chunk[at..at + taken]);
                    }
                    at += taken;
                    let left = left - taken as u64;
                    if left == 0 {
                        self.state = State::Head;
                        self.string_end(chunk, &mut mark, at, matcher);
                    } else {
                        self.state = State::Payload { left };
                    }
                }
                State::Done => break,
            }
            if self.failure.is_some() {
                return;
            }
        }
        if matcher.capturing() && mark < chunk.len() {
            matcher.capture(&chunk[mark..]);
        }
    }

    /// In an array no path follows, passes over a run of scalars (numbers, simple values,
    /// strings, tags) whole in this chunk, without reporting each to the matcher: a metric's
    /// thousands of values cost a few instructions each. Stops before the array's last item
    /// (which ends the array, and is read the usual way) and before anything else. Returns where
    /// it stopped.
    fn pass_scalars(&mut self, chunk: &[u8], mut at: usize) -> usize {
        let Some(frame) = self.frames.last_mut() else {
            return at;
        };
        if frame.container != Container::Array {
            return at;
        }
        while let Some(&byte) = chunk.get(at) {
            let need = match byte & 0x1f {
                0..=23 => 0,
                24 => 1,
                25 => 2,
                26 => 4,
                27 => 8,
                _ => return at,
            };
            let mut end = at + 1 + need;
            let Some(argument) = chunk.get(at + 1..end) else {
                return at;
            };
            match byte >> 5 {
                // A tag: the item it tags follows.
                6 => {
                    at = end;
                    continue;
                }
                0 | 1 | 7 => {}
                2 | 3 => {
                    let length = if need == 0 {
                        u64::from(byte & 0x1f)
                    } else {
                        argument
                            .iter()
                            .fold(0, |value, &b| value << 8 | u64::from(b))
                    };
                    match usize::try_from(length)
                        .ok()
                        .and_then(|l| end.checked_add(l))
                    {
                        Some(string_end) if string_end <= chunk.len() => end = string_end,
                        _ => return at,
                    }
                }
                _ => return at,
            }
            if frame.left != INDEFINITE {
                if frame.left <= 1 {
                    return at;
                }
                frame.left -= 1;
            }
            at = end;
        }
        at
    }

    fn fail(&mut self, failure: Failure) {
        self.failure = Some(failure);
    }

    /// An item's argument is known (its head ended just before `at`).
    fn argument(
        &mut self,
        major: u8,
        value: u64,
        chunk: &[u8],
        mark: &mut usize,
        at: usize,
        matcher: &mut Matcher<'_>,
    ) {
        match major {
            // Integers, and simple values and floats (whose bytes were the argument).
            0 | 1 | 7 => self.item_end(chunk, mark, at, matcher, false),
            2 | 3 if value == 0 => self.string_end(chunk, mark, at, matcher),
            2 | 3 => self.state = State::Payload { left: value },
            4 | 5 => {
                let left = if major == 5 {
                    match value.checked_mul(2) {
                        Some(left) if left != INDEFINITE => left,
                        _ => return self.fail(Failure::Syntax),
                    }
                } else {
                    value
                };
                if left == 0 {
                    self.item_end(chunk, mark, at, matcher, false);
                } else {
                    let container = if major == 4 {
                        Container::Array
                    } else {
                        Container::Map { key: true }
                    };
                    self.push(container, left);
                }
            }
            // A tag: the item it tags follows, and stands for it.
            _ => {}
        }
    }

    fn open_indefinite(&mut self, major: u8) {
        let container = match major {
            2 | 3 => Container::Chunks {
                key: self.reading_name,
            },
            4 => Container::Array,
            _ => Container::Map { key: true },
        };
        self.push(container, INDEFINITE);
    }

    fn push(&mut self, container: Container, left: u64) {
        if self.frames.len() == MAX_DEPTH {
            return self.fail(Failure::TooDeep);
        }
        self.frames.push(Frame { container, left });
    }

    /// A string (or one chunk of one) ended.
    fn string_end(&mut self, chunk: &[u8], mark: &mut usize, at: usize, matcher: &mut Matcher<'_>) {
        if self.in_chunks().is_some() {
            return;
        }
        let name = self.reading_name;
        self.reading_name = false;
        self.item_end(chunk, mark, at, matcher, name);
    }

    /// An item ended just before `at` (a member name when `name`): close it, and each container
    /// it completes.
    fn item_end(
        &mut self,
        chunk: &[u8],
        mark: &mut usize,
        at: usize,
        matcher: &mut Matcher<'_>,
        mut name: bool,
    ) {
        loop {
            if !name {
                if matcher.capturing() {
                    matcher.capture(&chunk[*mark..at]);
                    *mark = at;
                }
                matcher.leave();
                *mark = at;
            }
            let Some(frame) = self.frames.last_mut() else {
                self.state = State::Done;
                return;
            };
            if let Container::Map { key } = &mut frame.container {
                *key = !*key;
            }
            if frame.left == INDEFINITE {
                return;
            }
            frame.left -= 1;
            if frame.left > 0 {
                return;
            }
            // The container is complete: it is a value (names are strings), so it closes too.
            self.frames.pop();
            name = false;
        }
    }
}
