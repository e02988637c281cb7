//! What the profiler learns when a response head arrives: the request's identification (made
//! once, here, and used again when the exchange ends) and, for a page of a paginated operation,
//! a counter of its items and next token that reads the whole body as it streams, whatever
//! `--body-capture-kib` keeps of it.

use std::any::Any;

use http::header::CONTENT_ENCODING;

use crate::aws::identify::{Identification, Identifier, Identity, Request};
use crate::aws::model::Model;
use crate::aws::page_count::PageCounter;
use crate::proxy::{BodyTap, Exchange, ResponseStart};

pub(super) struct CallTap {
    pub identification: Identification,
    /// For a successful answer of a paginated operation.
    pub page: Option<PageCounter>,
}

impl BodyTap for CallTap {
    fn feed(&mut self, chunk: &[u8]) {
        if let Some(page) = &mut self.page {
            page.feed(chunk);
        }
    }

    fn wants_chunks(&self) -> bool {
        self.page.is_some()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Identifies the request once its response begins; `None` while the request body is still on
/// its way (then the exchange is identified when it ends, and pages are read from the captured
/// body only).
pub(super) fn call_tap(start: &ResponseStart<'_>) -> Option<Box<dyn BodyTap>> {
    let body = start.request_body?;
    // The model the profiler names calls by: the installed one (`tollgate model update`) when
    // newer. Its indices are not the bundled model's.
    let model = Model::in_use();
    let identification = Identifier::new(model).identify(&Request {
        method: start.method,
        host: start.host,
        path: start.uri.path(),
        query: start.uri.query(),
        headers: start.request_headers,
        body: &body.captured,
    });
    let page = match &identification.identity {
        Identity::Operation {
            service, operation, ..
        } if start.response.status.is_success() => {
            let service_model = model.service(*service);
            let name = model.operation(*service, *operation).name;
            service_model.paginators.get(name).map(|paginator| {
                let encoding = start
                    .response
                    .headers
                    .get(CONTENT_ENCODING)
                    .and_then(|value| value.to_str().ok());
                PageCounter::new(paginator, &service_model.protocols, name, encoding)
                    .url_encoded_keys(crate::aws::listed::url_encoded(start.uri.query()))
            })
        }
        _ => None,
    };
    Some(Box::new(CallTap {
        identification,
        page,
    }))
}

/// The profiler's tap on an exchange, if it made one.
pub(super) fn of(exchange: &Exchange) -> Option<&CallTap> {
    exchange
        .response_tap
        .as_deref()?
        .as_any()
        .downcast_ref::<CallTap>()
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, Method, StatusCode, Uri, Version};

    use super::*;
    use crate::proxy::{BodyRecord, ResponseRecord};

    fn ok() -> ResponseRecord {
        ResponseRecord {
            status: StatusCode::OK,
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
        }
    }

    #[test]
    fn only_pages_are_read_and_a_request_still_on_its_way_is_identified_later() {
        let uri: Uri = "/bucket/key.txt".parse().unwrap();
        let headers = HeaderMap::new();
        let request_body = BodyRecord::default();
        let response = ok();
        let start = |request_body| ResponseStart {
            id: 1,
            client: "127.0.0.1:1".parse().unwrap(),
            host: "s3.amazonaws.com",
            method: &Method::GET,
            uri: &uri,
            request_headers: &headers,
            request_body,
            response: &response,
        };
        let get_object = call_tap(&start(Some(&request_body))).unwrap();
        assert!(!get_object.wants_chunks(), "GetObject has no paginator");
        assert!(call_tap(&start(None)).is_none());
    }
}
