//! Write operations with API server semantics: create, replace, patch, status writes, delete.

use serde_json::{json, Map, Value};

use crate::meta::{name_suffix, new_uid, now_rfc3339};
use crate::patch::{self, PatchKind};
use crate::resources::ResourceInfo;
use crate::status::ApiError;
use crate::store::{ObjectKey, State};

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: `.status` is ignored when the resource has a status subresource.
    Main,
    /// The `/status` subresource: only `.status` changes.
    Status,
    /// Test-handle writes: spec and status as given.
    Whole,
}

/// Builds the key for `name` in `namespace` ("" for cluster-scoped).
pub fn object_key(info: &ResourceInfo, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        resource: info.key(),
        namespace: if info.namespaced {
            namespace.to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj["metadata"][field].as_str().filter(|s| !s.is_empty())
}

fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    obj.get_mut("metadata").and_then(Value::as_object_mut)
}

/// Everything but metadata and status, to decide whether `generation` moves.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    v
}

/// Creates an object. `keep_status` is for test-handle seeding; HTTP creates drop `.status`
/// of resources with a status subresource like the real server does.
pub fn create(
    st: &mut State,
    info: &ResourceInfo,
    namespace: &str,
    mut obj: Value,
    keep_status: bool,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let key_res = info.key();
    if !obj.is_object() {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    let name = match (meta_str(&obj, "name"), meta_str(&obj, "generateName")) {
        (Some(n), _) => n.to_string(),
        (None, Some(prefix)) => format!("{prefix}{}", name_suffix()),
        (None, None) => {
            return Err(ApiError::invalid(
                &key_res,
                "",
                "metadata.name: Required value: name or generateName is required",
            ))
        }
    };
    if info.namespaced {
        match meta_str(&obj, "namespace") {
            Some(ns) if ns != namespace => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {}
        }
    }
    let key = object_key(info, namespace, &name);
    if st.objects.contains_key(&key) {
        return Err(ApiError::already_exists(&key_res, &name));
    }
    obj["apiVersion"] = json!(key_res.api_version());
    obj["kind"] = json!(info.kind);
    if info.has_status && !keep_status {
        if let Some(map) = obj.as_object_mut() {
            map.remove("status");
        }
    }
    if let Some(meta) = metadata_mut(&mut obj) {
        meta.insert("name".into(), json!(name));
        if info.namespaced {
            meta.insert("namespace".into(), json!(namespace));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        meta.remove("deletionTimestamp");
        meta.remove("resourceVersion");
    }
    if dry_run {
        return Ok(obj);
    }
    Ok(st.commit(key, Some(obj)).unwrap_or_default())
}

/// Fails with 409 when `wanted` names a resourceVersion other than the stored one.
fn check_rv(info: &ResourceInfo, current: &Value, wanted: Option<&str>) -> Result<(), ApiError> {
    match wanted {
        Some(rv) if Some(rv) != meta_str(current, "resourceVersion") => Err(ApiError::conflict(
            &info.key(),
            meta_str(current, "name").unwrap_or_default(),
        )),
        _ => Ok(()),
    }
}

/// Replaces (PUT) an object or its status. A stale `metadata.resourceVersion` in the body is a 409.
pub fn replace(
    st: &mut State,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
    body: Value,
    part: Part,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let key = object_key(info, namespace, name);
    let current = st
        .objects
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&info.key(), name))?;
    if let Some(body_name) = meta_str(&body, "name") {
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
    }
    check_rv(info, &current, meta_str(&body, "resourceVersion"))?;
    finish_write(st, info, key, current, body, part, dry_run)
}

/// A PATCH request body with its flavour.
#[derive(Debug, Clone, Copy)]
pub struct PatchBody<'a> {
    /// Flavour from the Content-Type.
    pub kind: PatchKind,
    /// Raw body.
    pub body: &'a [u8],
}

/// Applies a PATCH to an object or its status. Apply patches create missing objects.
pub fn patch(
    st: &mut State,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
    body: PatchBody<'_>,
    part: Part,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let key = object_key(info, namespace, name);
    let kind = body.kind;
    let patch_doc = patch::parse_body(kind, body.body)?;
    let Some(current) = st.objects.get(&key).cloned() else {
        if kind == PatchKind::Apply && part == Part::Main {
            if !patch_doc.is_object() {
                return Err(ApiError::bad_request("apply patch body must be an object"));
            }
            let mut obj = patch_doc;
            if !obj["metadata"].is_object() {
                obj["metadata"] = json!({});
            }
            obj["metadata"]["name"] = json!(name);
            return create(st, info, namespace, obj, false, dry_run);
        }
        return Err(ApiError::not_found(&info.key(), name));
    };
    let patched = patch::apply(kind, &current, &patch_doc)?;
    check_rv(info, &current, meta_str(&patched, "resourceVersion"))?;
    finish_write(st, info, key, current, patched, part, dry_run)
}

/// Shared tail of PUT and PATCH: keep server-owned fields, honour the status subresource,
/// bump generation on spec changes, skip no-op writes, finish deletion once finalizers are gone.
fn finish_write(
    st: &mut State,
    info: &ResourceInfo,
    key: ObjectKey,
    current: Value,
    body: Value,
    part: Part,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    let mut new = match part {
        Part::Status => {
            let mut new = current.clone();
            new["status"] = body.get("status").cloned().unwrap_or(Value::Null);
            new
        }
        Part::Main | Part::Whole => {
            let mut new = body;
            if info.has_status && part == Part::Main {
                match current.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(map) = new.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            if !new["metadata"].is_object() {
                new["metadata"] = json!({});
            }
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "generation",
            ] {
                if let Some(meta) = metadata_mut(&mut new) {
                    match current["metadata"].get(field) {
                        Some(v) => meta.insert(field.into(), v.clone()),
                        None => meta.remove(field),
                    };
                }
            }
            new
        }
    };
    new["apiVersion"] = json!(info.key().api_version());
    new["kind"] = json!(info.kind);
    if let (Some(meta), Some(rv)) = (
        metadata_mut(&mut new),
        current["metadata"].get("resourceVersion"),
    ) {
        meta.insert("resourceVersion".into(), rv.clone());
    }
    if spec_part(&new) != spec_part(&current) {
        let generation = current["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        new["metadata"]["generation"] = json!(generation);
    }
    if new == current || dry_run {
        return Ok(new);
    }
    let finalizers_gone = new["metadata"]["finalizers"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if meta_str(&new, "deletionTimestamp").is_some() && finalizers_gone {
        return Ok(st.commit(key, None).unwrap_or_default());
    }
    Ok(st.commit(key, Some(new)).unwrap_or_default())
}

/// Deletes an object, honouring DeleteOptions preconditions and finalizers
/// (objects with finalizers only get a deletionTimestamp). Returns the object.
pub fn delete(
    st: &mut State,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
    options: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let key = object_key(info, namespace, name);
    let current = st
        .objects
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&info.key(), name))?;
    let pre = &options["preconditions"];
    check_rv(info, &current, pre["resourceVersion"].as_str())?;
    if let Some(uid) = pre["uid"].as_str() {
        if Some(uid) != meta_str(&current, "uid") {
            return Err(ApiError::conflict(&info.key(), name));
        }
    }
    if dry_run {
        return Ok(current);
    }
    let has_finalizers = current["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if meta_str(&current, "deletionTimestamp").is_some() {
            return Ok(current);
        }
        let mut marked = current;
        marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        return Ok(st.commit(key, Some(marked)).unwrap_or_default());
    }
    Ok(st.commit(key, None).unwrap_or_default())
}

/// Test-handle upsert: creates or replaces whatever is stored, including status, ignoring
/// resourceVersion preconditions.
pub fn upsert(
    st: &mut State,
    info: &ResourceInfo,
    namespace: &str,
    mut obj: Value,
) -> Result<Value, ApiError> {
    let name = meta_str(&obj, "name")
        .map(str::to_string)
        .unwrap_or_default();
    let key = object_key(info, namespace, &name);
    let Some(current) = st.objects.get(&key).cloned() else {
        return create(st, info, namespace, obj, true, false);
    };
    if let Some(meta) = metadata_mut(&mut obj) {
        meta.remove("resourceVersion");
    }
    finish_write(st, info, key, current, obj, Part::Whole, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_plural;
    use crate::store::Store;

    #[test]
    fn malformed_bodies_are_rejected_not_panicking() -> Result<(), ApiError> {
        let info = by_plural("", "v1", "secrets").ok_or_else(ApiError::no_route)?;
        let store = Store::default();
        let mut st = store.lock();
        fn apply(body: &[u8]) -> PatchBody<'_> {
            PatchBody {
                kind: PatchKind::Apply,
                body,
            }
        }
        let err = patch(&mut st, info, "ns", "x", apply(b"[1]"), Part::Main, false);
        assert_eq!(err.map_err(|e| e.code).err(), Some(400));
        let err = patch(&mut st, info, "ns", "x", apply(b"\"s\""), Part::Main, false);
        assert_eq!(err.map_err(|e| e.code).err(), Some(400));
        assert_eq!(
            create(&mut st, info, "ns", json!(5), false, false)
                .map_err(|e| e.code)
                .err(),
            Some(400)
        );
        create(
            &mut st,
            info,
            "ns",
            json!({"metadata": {"name": "x"}}),
            false,
            false,
        )?;
        let root = PatchBody {
            kind: PatchKind::Json,
            body: br#"[{"op":"replace","path":"","value":5}]"#,
        };
        assert_eq!(
            patch(&mut st, info, "ns", "x", root, Part::Main, false)
                .map_err(|e| e.code)
                .err(),
            Some(400)
        );
        assert_eq!(
            replace(&mut st, info, "ns", "x", json!([]), Part::Main, false)
                .map_err(|e| e.code)
                .err(),
            Some(400)
        );
        Ok(())
    }

    #[test]
    fn finalizers_delay_deletion_until_removed() -> Result<(), ApiError> {
        let info = by_plural("", "v1", "secrets").ok_or_else(ApiError::no_route)?;
        let store = Store::default();
        let mut st = store.lock();
        create(
            &mut st,
            info,
            "ns",
            json!({"metadata": {"name": "f", "finalizers": ["x/y"]}}),
            false,
            false,
        )?;
        let marked = delete(&mut st, info, "ns", "f", &json!({}), false)?;
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        assert_eq!(st.objects.len(), 1);
        let clear = PatchBody {
            kind: PatchKind::Merge,
            body: br#"{"metadata":{"finalizers":null}}"#,
        };
        patch(&mut st, info, "ns", "f", clear, Part::Main, false)?;
        assert!(st.objects.is_empty());
        Ok(())
    }
}
