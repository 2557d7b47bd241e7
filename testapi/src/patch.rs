//! Applying PATCH bodies by content type.
//!
//! Strategic merge and server-side apply are approximated by JSON merge patch: lists are
//! replaced whole and field ownership is not tracked. That is enough for controllers that
//! write status or small labelled fields; tests that depend on list merging need a real server.

use serde_json::Value;

use crate::status::ApiError;

/// The patch flavours kube-rs sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json`, treated as merge.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply), treated as merge; creates if missing.
    Apply,
}

impl PatchKind {
    /// Maps a Content-Type header to a patch kind.
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        match mime {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Parses a patch body: JSON, or YAML for apply patches.
pub fn parse_body(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(json_err) if kind == PatchKind::Apply => serde_yaml::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("invalid apply patch (json: {json_err}; yaml: {e})"))
        }),
        Err(e) => Err(ApiError::bad_request(format!("invalid patch body: {e}"))),
    }
}

/// Returns `target` with the parsed `patch` applied.
pub fn apply(kind: PatchKind, target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let mut doc = target.clone();
    match kind {
        PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "merge patch body must be a JSON object",
                ));
            }
            json_patch::merge(&mut doc, patch);
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid json patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| ApiError {
                code: 422,
                reason: "Invalid",
                message: format!("json patch failed: {e}"),
                details: None,
            })?;
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_json_patches() -> Result<(), ApiError> {
        let doc = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"n": 1}});
        let merged = apply(
            PatchKind::Merge,
            &doc,
            &json!({"metadata": {"labels": {"x": null, "y": "2"}}}),
        )?;
        assert_eq!(merged["metadata"]["labels"], json!({"y": "2"}));
        let ops = json!([{"op": "test", "path": "/spec/n", "value": 1}, {"op": "replace", "path": "/spec/n", "value": 2}]);
        assert_eq!(apply(PatchKind::Json, &doc, &ops)?["spec"]["n"], 2);
        let failing = json!([{"op": "test", "path": "/spec/n", "value": 5}]);
        assert_eq!(
            apply(PatchKind::Json, &doc, &failing).map_err(|e| e.code),
            Err(422)
        );
        assert_eq!(
            PatchKind::from_content_type("application/apply-patch+yaml; charset=utf-8")?,
            PatchKind::Apply
        );
        assert!(PatchKind::from_content_type("text/plain").is_err());
        let yaml = parse_body(PatchKind::Apply, b"metadata:\n  name: a\n")?;
        assert_eq!(yaml["metadata"]["name"], "a");
        Ok(())
    }
}
