//! API errors rendered as `kind: Status` bodies, the way the real API server reports failures.

use serde_json::{json, Value};

use crate::resources::ResourceKey;

/// A failed API call: HTTP code, machine-readable reason and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code (also `.code` in the body).
    pub code: u16,
    /// `StatusReason` such as "NotFound", "Conflict", "Expired".
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Optional `details` (name, group, kind) of the object concerned.
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_object(mut self, key: &ResourceKey, name: &str) -> Self {
        self.details = Some(json!({"name": name, "group": key.group, "kind": key.plural}));
        self
    }

    /// 404 for a named object that does not exist.
    pub fn not_found(key: &ResourceKey, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", key.qualified()),
        )
        .with_object(key, name)
    }

    /// 404 for a URL that names no served resource.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409 on create when the name is taken.
    pub fn already_exists(key: &ResourceKey, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", key.qualified()),
        )
        .with_object(key, name)
    }

    /// 409 on a write carrying a stale resourceVersion or failed precondition.
    pub fn conflict(key: &ResourceKey, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                key.qualified()
            ),
        )
        .with_object(key, name)
    }

    /// 410 for a resourceVersion older than the retained history.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 400 for malformed input.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 422 for an object that fails validation.
    pub fn invalid(key: &ResourceKey, name: &str, message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message).with_object(key, name)
    }

    /// 405 for a verb the resource does not allow.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method ({method}) on the requested resource"),
        )
    }

    /// 415 for a patch content type the server does not understand.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format ({content_type})"),
        )
    }

    /// An injected failure (see `TestApiServer::set_fail_next`).
    pub fn injected(code: u16) -> Self {
        let reason = match code {
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            410 => "Expired",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        Self::new(code, reason, format!("injected failure ({code})"))
    }

    /// The `kind: Status` JSON body.
    pub fn to_status(&self) -> Value {
        let mut body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(map)) = (&self.details, body.as_object_mut()) {
            map.insert("details".into(), details.clone());
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_body_matches_api_server_shape() {
        let key = ResourceKey::new("coordination.k8s.io", "v1", "leases");
        let body = ApiError::conflict(&key, "leader").to_status();
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["code"], 409);
        assert_eq!(body["reason"], "Conflict");
        assert_eq!(body["details"]["name"], "leader");
        assert!(body["message"]
            .as_str()
            .is_some_and(|m| m.contains("leases.coordination.k8s.io \"leader\"")));
    }
}
