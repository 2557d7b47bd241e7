//! The log of every HTTP request the server answered, for assertions in tests.

use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method ("GET", "PATCH", …).
    pub method: String,
    /// URL path without the query.
    pub path: String,
    /// Raw (still percent-encoded) query string, "" when absent.
    pub query: String,
    /// Content-Type header, if any.
    pub content_type: Option<String>,
    /// HTTP status code of the response.
    pub status: u16,
    /// When the request arrived.
    pub at: SystemTime,
}

impl RequestRecord {
    /// The decoded value of a query parameter, e.g. `query_param("fieldSelector")`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Whether this was a watch request (`watch=true` or `watch=1`).
    pub fn is_watch(&self) -> bool {
        matches!(self.query_param("watch").as_deref(), Some("true" | "1"))
    }
}

/// Append-only, shared request log.
#[derive(Debug, Default)]
pub struct RequestLog {
    records: Mutex<Vec<RequestRecord>>,
}

impl RequestLog {
    /// Appends a record.
    pub fn push(&self, record: RequestRecord) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }

    /// A copy of all records so far.
    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets all records.
    pub fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
