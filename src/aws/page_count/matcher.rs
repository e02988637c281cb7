//! Which nodes of a streamed response document the paginator names: the syntax readers (XML,
//! JSON, CBOR) report each node as it opens and closes, and the matcher counts the result lists'
//! items and keeps the text of the tokens, in memory bounded by the paths (not the document).

/// The longest token value kept. A longer one is recorded as present but not kept: the next
/// page is then linked to its loop by its listing alone. DynamoDB's largest keys (a 2 KiB
/// partition and 1 KiB sort key, base64 for binary, with an index's keys) stay well within it.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// Paths a matcher follows at most (results, token alternatives and the more-results flag):
/// botocore's paginators have under ten.
pub(super) const MAX_TARGETS: usize = 64;

/// One step of a path from the document's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step<'m> {
    /// A member: an XML element, a JSON or CBOR map key.
    Name(&'m str),
    /// Any element of a JSON or CBOR array.
    Element,
}

/// How the syntax reader names a node as it opens.
#[derive(Debug, Clone, Copy)]
pub(super) enum Edge<'a> {
    /// The document's root (a JSON or CBOR top-level value).
    Root,
    /// An XML element (the root element too) or a map member, by its (local) name.
    Name(&'a [u8]),
    /// An array element.
    Element,
}

/// What the reader knows of a node when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Array,
    Other,
}

/// What a path is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Role {
    /// Count the nodes at the path's end, for result key `result`. The list counts as present
    /// once the node at `anchor` steps opened (and, where `anchor_array`, was an array).
    Count {
        result: usize,
        anchor: usize,
        anchor_array: bool,
    },
    /// Keep the (last) value at the path's end in slot `slot`.
    Keep { slot: usize },
    /// Hash every value at the path's end (an S3 listing's keys): kept as 64-bit hashes, never
    /// as text, however many there are.
    Hash,
}

#[derive(Debug, Clone)]
pub(super) struct Target<'m> {
    pub steps: Vec<Step<'m>>,
    pub role: Role,
}

/// A kept value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum Slot {
    #[default]
    Absent,
    /// The value's bytes: an XML element's text (entities not yet decoded), or a JSON or CBOR
    /// value's encoding.
    Kept(Vec<u8>),
    /// Present, longer than [`MAX_VALUE_BYTES`].
    TooLong,
}

/// An open node that some path still follows. Nodes no path follows are only counted (`skip`).
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// The targets whose first `level` steps lead here.
    targets: u64,
    level: usize,
}

struct Capture {
    /// The capture ends when the open frames fall below this many.
    depth: usize,
    targets: u64,
    too_long: bool,
}

pub(super) struct Matcher<'m> {
    targets: &'m [Target<'m>],
    /// Steps each target skips: 1 where an XML root element is the path's first member (a REST
    /// payload structure, such as CloudFront's `<DistributionList>`), else 0.
    skip_first: Vec<u8>,
    /// The query protocol wraps an answer's members in `<OperationResult>`: a transparent
    /// element directly under the root.
    wrapper: Option<&'m str>,
    xml: bool,
    frames: Vec<Frame>,
    /// Open nodes above the top frame that no path follows.
    skip: u32,
    started: bool,
    finished: bool,
    counts: Vec<u64>,
    seen: Vec<bool>,
    slots: Vec<Slot>,
    capture: Option<Capture>,
    buffer: Vec<u8>,
    /// The values of [`Role::Hash`] paths, hashed by `hasher`.
    hashes: Vec<u64>,
    hasher: fn(&[u8]) -> u64,
}

impl<'m> Matcher<'m> {
    /// `results` result keys and `slots` kept values, addressed by the targets' roles (at most
    /// [`MAX_TARGETS`] targets).
    pub fn new(
        targets: &'m [Target<'m>],
        results: usize,
        slots: usize,
        xml: bool,
        wrapper: Option<&'m str>,
    ) -> Self {
        let targets = &targets[..targets.len().min(MAX_TARGETS)];
        Self {
            skip_first: vec![0; targets.len()],
            targets,
            wrapper,
            xml,
            frames: Vec::with_capacity(4),
            skip: 0,
            started: false,
            finished: false,
            counts: vec![0; results],
            seen: vec![false; results],
            slots: vec![Slot::Absent; slots],
            capture: None,
            buffer: Vec::new(),
            hashes: Vec::new(),
            hasher: |_| 0,
        }
    }

    /// How the values of [`Role::Hash`] paths are hashed (their raw bytes as read).
    pub fn hash_with(&mut self, hasher: fn(&[u8]) -> u64) {
        self.hasher = hasher;
    }

    /// The hashes of the values of [`Role::Hash`] paths, in document order.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// Whether the value being read is kept: the reader then hands its bytes to
    /// [`capture`](Self::capture).
    #[inline]
    pub fn capturing(&self) -> bool {
        self.capture.is_some()
    }

    #[inline]
    pub fn capture(&mut self, bytes: &[u8]) {
        if let Some(capture) = &mut self.capture {
            if capture.too_long || self.buffer.len() + bytes.len() > MAX_VALUE_BYTES {
                capture.too_long = true;
            } else {
                self.buffer.extend_from_slice(bytes);
            }
        }
    }

    /// Whether the innermost open node is one no path follows (nor any node inside it).
    #[inline]
    pub fn skipping(&self) -> bool {
        self.skip > 0
    }

    /// A node opens. Returns true when a kept value starts at it (the reader then captures from
    /// the node's first byte).
    #[inline]
    pub fn enter(&mut self, edge: Edge<'_>, kind: Kind) -> bool {
        if self.skip > 0 {
            self.skip += 1;
            return false;
        }
        let Some(parent) = self.frames.last().copied() else {
            if self.started {
                // A second root (trailing content): nothing of the answer.
                self.skip = 1;
                return false;
            }
            return self.enter_root(edge);
        };
        if let (Edge::Name(name), Some(wrapper)) = (edge, self.wrapper) {
            if self.frames.len() == 1 && name == wrapper.as_bytes() {
                self.frames.push(parent);
                return false;
            }
        }
        let mut matched = 0u64;
        let mut remaining = parent.targets;
        while remaining != 0 {
            let index = remaining.trailing_zeros() as usize;
            remaining &= remaining - 1;
            let steps = &self.targets[index].steps[usize::from(self.skip_first[index])..];
            if steps
                .get(parent.level)
                .is_some_and(|step| step_matches(*step, edge))
            {
                matched |= 1 << index;
            }
        }
        if matched == 0 {
            self.skip = 1;
            return false;
        }
        let level = parent.level + 1;
        self.frames.push(Frame {
            targets: matched,
            level,
        });
        self.reached(matched, level, kind)
    }

    fn enter_root(&mut self, edge: Edge<'_>) -> bool {
        self.started = true;
        if let (true, Edge::Name(root)) = (self.xml, edge) {
            for (index, target) in self.targets.iter().enumerate() {
                if target.steps.len() > 1 && target.steps[0] == Step::Name(as_str(root)) {
                    self.skip_first[index] = 1;
                }
            }
        }
        let all = if self.targets.len() == 64 {
            u64::MAX
        } else {
            (1u64 << self.targets.len()) - 1
        };
        self.frames.push(Frame {
            targets: all,
            level: 0,
        });
        // A list whose container is the root is present once the root is.
        self.reached(all, 0, Kind::Other)
    }

    /// The targets `matched` lead to a node `level` steps down: count, mark lists present,
    /// start keeping values.
    fn reached(&mut self, matched: u64, level: usize, kind: Kind) -> bool {
        let mut keep = 0u64;
        let mut remaining = matched;
        while remaining != 0 {
            let index = remaining.trailing_zeros() as usize;
            remaining &= remaining - 1;
            let target = &self.targets[index];
            let skipped = usize::from(self.skip_first[index]);
            let length = target.steps.len() - skipped;
            match target.role {
                Role::Count {
                    result,
                    anchor,
                    anchor_array,
                } => {
                    if level == length {
                        self.counts[result] += 1;
                    }
                    if anchor >= skipped
                        && level == anchor - skipped
                        && (!anchor_array || kind == Kind::Array)
                    {
                        self.seen[result] = true;
                    }
                }
                Role::Keep { .. } | Role::Hash if level == length && level > 0 => {
                    keep |= 1 << index;
                }
                Role::Keep { .. } | Role::Hash => {}
            }
        }
        if keep == 0 || self.capture.is_some() {
            return false;
        }
        self.buffer.clear();
        self.capture = Some(Capture {
            depth: self.frames.len(),
            targets: keep,
            too_long: false,
        });
        true
    }

    /// The node opened last closes.
    #[inline]
    pub fn leave(&mut self) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        if self.frames.pop().is_none() {
            return;
        }
        if self.frames.is_empty() {
            self.finished = true;
        }
        if self
            .capture
            .as_ref()
            .is_some_and(|capture| self.frames.len() < capture.depth)
        {
            let capture = self.capture.take().expect("checked above");
            let mut remaining = capture.targets;
            while remaining != 0 {
                let index = remaining.trailing_zeros() as usize;
                remaining &= remaining - 1;
                match self.targets[index].role {
                    Role::Keep { slot } => {
                        self.slots[slot] = if capture.too_long {
                            Slot::TooLong
                        } else {
                            Slot::Kept(self.buffer.clone())
                        };
                    }
                    Role::Hash if !capture.too_long => {
                        self.hashes.push((self.hasher)(&self.buffer));
                    }
                    _ => {}
                }
            }
        }
    }

    /// The root node has closed.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Items counted for result key `result`, when its list was present.
    pub fn count(&self, result: usize) -> Option<u64> {
        self.seen[result].then_some(self.counts[result])
    }

    pub fn slot(&self, slot: usize) -> &Slot {
        &self.slots[slot]
    }
}

#[inline]
fn step_matches(step: Step<'_>, edge: Edge<'_>) -> bool {
    match (step, edge) {
        (Step::Name(name), Edge::Name(seen)) => name.as_bytes() == seen,
        (Step::Element, Edge::Element) => true,
        _ => false,
    }
}

fn as_str(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}
