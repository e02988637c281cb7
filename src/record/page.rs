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
    /// Items in the page (the first result key that is a list); `None` if unreadable.
    pub items: Option<u64>,
    /// The token could not be read (body cut short with the token beyond the kept bytes).
    pub unreadable: bool,
}
