//! LIST responses: resourceVersion semantics, selectors, limit/continue pagination.

use serde_json::{json, Value};

use crate::status::ApiError;
use crate::store::{parse_rv, State};
use crate::watch::WatchFilter;

/// The list-related query parameters.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `resourceVersion` ("" when absent).
    pub resource_version: String,
    /// `resourceVersionMatch` ("" when absent).
    pub version_match: String,
    /// `limit` (0 = unlimited).
    pub limit: usize,
    /// `continue` token ("" when absent).
    pub continue_token: String,
}

/// Opaque-to-clients continue token: the list's resourceVersion and the last key served.
fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    format!("{rv}:{namespace}/{name}")
}

fn decode_continue(token: &str) -> Result<(u64, String, String), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid");
    let (rv, rest) = token.split_once(':').ok_or_else(bad)?;
    let (ns, name) = rest.split_once('/').ok_or_else(bad)?;
    Ok((
        rv.parse().map_err(|_| bad())?,
        ns.to_string(),
        name.to_string(),
    ))
}

/// Chooses the snapshot version: unset = latest, "0" = any (latest), Exact = that version,
/// NotOlderThan or legacy = latest but 410 when older than the retained history.
fn snapshot_version(st: &State, q: &ListQuery) -> Result<Option<u64>, ApiError> {
    if !q.continue_token.is_empty() {
        let (rv, _, _) = decode_continue(&q.continue_token)?;
        if rv < st.floor {
            return Err(ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter.",
            ));
        }
        return Ok(Some(rv));
    }
    let Some(rv) = parse_rv(&q.resource_version)? else {
        return Ok(None);
    };
    if rv == 0 {
        return Ok(None);
    }
    if rv < st.floor {
        return Err(ApiError::gone(format!(
            "too old resource version: {rv} ({})",
            st.floor
        )));
    }
    Ok(if q.version_match == "Exact" {
        Some(rv)
    } else {
        None
    })
}

/// Builds the `kind: XList` body for a filter and query.
pub fn list(st: &State, filter: &WatchFilter, q: &ListQuery) -> Result<Value, ApiError> {
    let at = snapshot_version(st, q)?;
    let (rv, objects) = st.snapshot(&filter.info.key(), filter.namespace.as_deref(), at)?;
    let after = match q.continue_token.is_empty() {
        true => None,
        false => decode_continue(&q.continue_token)
            .map(|(_, ns, name)| (ns, name))
            .ok(),
    };
    let mut matching = objects
        .into_iter()
        .filter(|o| filter.matches(o))
        .filter(|o| {
            after.as_ref().is_none_or(|(ns, name)| {
                let key = (
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or(""),
                );
                key > (ns.as_str(), name.as_str())
            })
        });
    let mut items: Vec<Value> = Vec::new();
    let limit = if q.limit == 0 { usize::MAX } else { q.limit };
    items.extend(matching.by_ref().take(limit));
    let remaining = matching.count();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if remaining > 0 {
        if let Some(last) = items.last() {
            let ns = last["metadata"]["namespace"].as_str().unwrap_or("");
            let name = last["metadata"]["name"].as_str().unwrap_or("");
            metadata["continue"] = json!(encode_continue(rv, ns, name));
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    let items: Vec<Value> = items.iter().map(|o| list_item(filter, o)).collect();
    let (kind, api_version) = if filter.metadata_only {
        (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
        )
    } else {
        (filter.info.list_kind(), filter.info.key().api_version())
    };
    Ok(json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items}))
}

/// List items carry no kind/apiVersion on the real server (the list names them), except metadata lists.
fn list_item(filter: &WatchFilter, obj: &Value) -> Value {
    if filter.metadata_only {
        return filter.present(obj);
    }
    let mut item = obj.clone();
    if let Some(map) = item.as_object_mut() {
        map.remove("kind");
        map.remove("apiVersion");
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_plural;
    use crate::selectors::{FieldSelector, LabelSelector};
    use crate::store::Store;
    use crate::writes::create;

    #[test]
    fn pages_are_consistent_and_expire_after_compaction() -> Result<(), ApiError> {
        let info = by_plural("", "v1", "secrets").ok_or_else(ApiError::no_route)?;
        let store = Store::default();
        let mut st = store.lock();
        for name in ["a", "b", "c"] {
            create(
                &mut st,
                info,
                "ns",
                json!({"metadata": {"name": name}}),
                false,
                false,
            )?;
        }
        let filter = WatchFilter {
            info,
            namespace: None,
            labels: LabelSelector::default(),
            fields: FieldSelector::default(),
            metadata_only: false,
        };
        let q = ListQuery {
            limit: 2,
            ..Default::default()
        };
        let page1 = list(&st, &filter, &q)?;
        assert_eq!(page1["kind"], "SecretList");
        assert_eq!(page1["items"].as_array().map(Vec::len), Some(2));
        assert!(page1["items"][0].get("kind").is_none());
        assert_eq!(page1["metadata"]["remainingItemCount"], 1);
        let token = page1["metadata"]["continue"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // A write between pages must not show up in the continued list.
        create(
            &mut st,
            info,
            "ns",
            json!({"metadata": {"name": "d"}}),
            false,
            false,
        )?;
        let q2 = ListQuery {
            limit: 2,
            continue_token: token.clone(),
            ..Default::default()
        };
        let page2 = list(&st, &filter, &q2)?;
        assert_eq!(page2["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(page2["items"][0]["metadata"]["name"], "c");
        assert!(page2["metadata"].get("continue").is_none());
        st.compact();
        assert_eq!(list(&st, &filter, &q2).map_err(|e| e.code).err(), Some(410));
        Ok(())
    }
}
