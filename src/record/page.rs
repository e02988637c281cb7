//! What a paginated call says about its loop (read from the wire by `aws::pages`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFacts {
    /// The input tokens the request carried, canonical; empty when it starts a listing.
    pub continues_from: Vec<String>,
    /// A digest of the request's parameters other than its tokens: the same listing has the
    /// same fingerprint.
    pub listing: String,
    /// The page size asked for (the paginator's limit key).
    pub page_size: Option<u64>,
    /// Read from a successful response.
    pub answer: Option<PageAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageAnswer {
    /// The output tokens, canonical; empty when this was the last page.
    pub next: Vec<String>,
    /// Items in the page (the first result key that is a list); `None` if they could not be
    /// counted, and then `items_unknown` says why.
    pub items: Option<u64>,
    /// Why `items` is `None`.
    pub items_unknown: Option<ItemsUnknown>,
    /// The token could not be read (the body was cut short or could not be parsed before it,
    /// or the token was too long to keep): the next page is linked by its listing alone.
    pub unreadable: bool,
}

/// Why a page's items could not be counted. Stored by its [`code`](Self::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemsUnknown {
    /// The page came compressed (`Content-Encoding`), and tollgate counts plain bodies only.
    Compressed,
    /// The response body was cut short: the client went away, or the upstream broke off.
    CutShort,
    /// The body is not the XML, JSON or CBOR document the operation answers with (or it ended
    /// before its document did).
    Unparseable,
    /// The document nests deeper than the counter follows.
    TooDeep,
    /// The answer has no list at the paginator's result key.
    NoList,
    /// Only the captured head of the body was read (the page was not counted as it streamed),
    /// and the page is longer than `--body-capture-kib`.
    BeyondCapture,
}

impl ItemsUnknown {
    pub const ALL: [ItemsUnknown; 6] = [
        Self::Compressed,
        Self::CutShort,
        Self::Unparseable,
        Self::TooDeep,
        Self::NoList,
        Self::BeyondCapture,
    ];

    /// The stable name stored in the database and shown in JSON reports.
    pub fn code(self) -> &'static str {
        match self {
            Self::Compressed => "compressed",
            Self::CutShort => "cut-short",
            Self::Unparseable => "unparseable",
            Self::TooDeep => "too-deep",
            Self::NoList => "no-list",
            Self::BeyondCapture => "beyond-capture",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.code() == code)
    }

    /// Why, for people: completes "items unknown: ...".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Compressed => {
                "a page came compressed (Content-Encoding), and tollgate counts plain bodies only"
            }
            Self::CutShort => "a page's body was cut short (the client or the upstream broke off)",
            Self::Unparseable => "a page's body could not be read as the operation's document",
            Self::TooDeep => "a page's document nests deeper than tollgate follows",
            Self::NoList => "a page had no list at the paginator's result key",
            Self::BeyondCapture => {
                "a page was not counted as it streamed and is longer than --body-capture-kib"
            }
        }
    }
}

/// A stored reason, for people: the description of a known code, else the code itself.
pub fn describe_items_unknown(code: &str) -> String {
    ItemsUnknown::from_code(code).map_or_else(|| code.to_string(), |r| r.describe().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for reason in ItemsUnknown::ALL {
            assert_eq!(ItemsUnknown::from_code(reason.code()), Some(reason));
        }
        assert_eq!(describe_items_unknown("from-the-future"), "from-the-future");
    }
}
