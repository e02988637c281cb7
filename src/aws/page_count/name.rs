//! A member or element name as a reader collects it, bounded: a longer name than any path
//! holds cannot match one, so only that it overflowed is kept.

/// Longer than any member name in the model's paginator paths.
const MAX_NAME: usize = 128;

pub(super) struct NameBuffer {
    bytes: [u8; MAX_NAME],
    length: usize,
    overflowed: bool,
}

impl Default for NameBuffer {
    fn default() -> Self {
        Self {
            bytes: [0; MAX_NAME],
            length: 0,
            overflowed: false,
        }
    }
}

impl NameBuffer {
    #[inline]
    pub fn clear(&mut self) {
        self.length = 0;
        self.overflowed = false;
    }

    #[inline]
    pub fn push(&mut self, byte: u8) {
        if self.length < MAX_NAME {
            self.bytes[self.length] = byte;
            self.length += 1;
        } else {
            self.overflowed = true;
        }
    }

    pub fn extend(&mut self, bytes: &[u8]) {
        let room = MAX_NAME - self.length;
        if bytes.len() > room {
            self.overflowed = true;
        }
        let taken = bytes.len().min(room);
        self.bytes[self.length..self.length + taken].copy_from_slice(&bytes[..taken]);
        self.length += taken;
    }

    /// Marks the name as one no path can match (an undecodable escape, a non-text CBOR key).
    pub fn spoil(&mut self) {
        self.overflowed = true;
    }

    /// The name; one byte that is never UTF-8 (so matches no path) when it overflowed.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        if self.overflowed {
            b"\xff"
        } else {
            &self.bytes[..self.length]
        }
    }
}
