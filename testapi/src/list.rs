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

/// Where a paginated list left off; clients see it only as an opaque string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContinueToken {
    /// resourceVersion every page of the list is served at.
    rv: u64,
    /// Matching objects after `namespace`/`name` at `rv`, counted once on the first page so
    /// later pages need not scan to the end for `remainingItemCount`.
    remaining: usize,
    /// Namespace of the last object served.
    namespace: String,
    /// Name of the last object served.
    name: String,
}

impl ContinueToken {
    /// `rv:remaining:namespace/name`; namespaces hold neither ':' nor '/', and the name is
    /// everything after the first '/'.
    fn encode(&self) -> String {
        format!(
            "{}:{}:{}/{}",
            self.rv, self.remaining, self.namespace, self.name
        )
    }

    fn decode(token: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::bad_request("continue key is not valid");
        let (rv, rest) = token.split_once(':').ok_or_else(bad)?;
        let (remaining, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (namespace, name) = rest.split_once('/').ok_or_else(bad)?;
        Ok(Self {
            rv: rv.parse().map_err(|_| bad())?,
            remaining: remaining.parse().map_err(|_| bad())?,
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }
}

/// Chooses the snapshot version: unset = latest, "0" = any (latest), Exact = that version,
/// NotOlderThan or legacy = latest but 410 when older than the retained history. A continued
/// list stays at its token's version.
fn snapshot_version(
    st: &State,
    q: &ListQuery,
    token: Option<&ContinueToken>,
) -> Result<Option<u64>, ApiError> {
    if let Some(token) = token {
        if token.rv < st.floor {
            return Err(ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter.",
            ));
        }
        return Ok(Some(token.rv));
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
    let token = match q.continue_token.as_str() {
        "" => None,
        text => Some(ContinueToken::decode(text)?),
    };
    let at = snapshot_version(st, q, token.as_ref())?;
    let after = token
        .as_ref()
        .map(|t| (t.namespace.as_str(), t.name.as_str()));
    let (rv, scan) = st.scan(&filter.info.key(), filter.namespace.as_deref(), at, after)?;
    let mut matching = scan.filter(|(_, o)| filter.matches(o));
    let limit = if q.limit == 0 { usize::MAX } else { q.limit };
    let page: Vec<_> = matching.by_ref().take(limit).collect();
    let remaining = match &token {
        _ if page.len() < limit => 0, // the scan ran out
        None => matching.count(),
        Some(token) => token.remaining.saturating_sub(page.len()),
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if remaining > 0 {
        if let Some((last, _)) = page.last() {
            let next = ContinueToken {
                rv,
                remaining,
                namespace: last.namespace.clone(),
                name: last.name.clone(),
            };
            metadata["continue"] = json!(next.encode());
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    let items: Vec<Value> = page.iter().map(|(_, o)| list_item(filter, o)).collect();
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
    use crate::writes::{create, delete, upsert};

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

    fn filter(namespace: Option<&str>, labels: &str) -> Result<WatchFilter, ApiError> {
        Ok(WatchFilter {
            info: by_plural("", "v1", "secrets").ok_or_else(ApiError::no_route)?,
            namespace: namespace.map(str::to_string),
            labels: LabelSelector::parse(labels)?,
            fields: FieldSelector::default(),
            metadata_only: false,
        })
    }

    fn key_of(obj: &Value) -> (String, String) {
        let meta = &obj["metadata"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        (text(&meta["namespace"]), text(&meta["name"]))
    }

    /// Pages through a whole list, checking each page's remainingItemCount against what the
    /// following pages actually return; the items in the order served.
    fn page_all(
        st: &State,
        filter: &WatchFilter,
        first: ListQuery,
    ) -> Result<Vec<Value>, ApiError> {
        let mut q = first;
        let mut items = Vec::new();
        let mut promised = Vec::new();
        loop {
            let page = list(st, filter, &q)?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            let Some(token) = page["metadata"]["continue"].as_str() else {
                assert!(page["metadata"].get("remainingItemCount").is_none());
                break;
            };
            promised.push((items.len(), page["metadata"]["remainingItemCount"].clone()));
            q.continue_token = token.to_string();
        }
        for (served, remaining) in promised {
            assert_eq!(remaining, json!(items.len() - served), "after {served}");
        }
        Ok(items)
    }

    #[test]
    fn small_pages_return_every_object_once_in_order() -> Result<(), ApiError> {
        let secrets = by_plural("", "v1", "secrets").ok_or_else(ApiError::no_route)?;
        let config_maps = by_plural("", "v1", "configmaps").ok_or_else(ApiError::no_route)?;
        let store = Store::default();
        let mut st = store.lock();
        // Namespaces and names are created out of order; another kind sits next to them.
        for i in (0..3000).rev() {
            let ns = ["b", "a", "c"][i % 3];
            let labels = json!({"parity": if i % 2 == 0 { "even" } else { "odd" }});
            let obj = json!({"metadata": {"name": format!("s-{i:05}"), "labels": labels}});
            create(&mut st, secrets, ns, obj.clone(), false, false)?;
            create(&mut st, config_maps, ns, obj, false, false)?;
        }
        for (namespace, labels) in [(None, ""), (None, "parity=odd"), (Some("b"), "parity=even")] {
            let filter = filter(namespace, labels)?;
            let mut want: Vec<(String, String)> = st
                .objects
                .iter()
                .filter(|(k, o)| {
                    k.resource == secrets.key()
                        && namespace.is_none_or(|ns| k.namespace == ns)
                        && filter.matches(o)
                })
                .map(|(_, o)| key_of(o))
                .collect();
            assert!(want.len() >= 500, "{namespace:?} {labels:?}");
            want.sort();
            for limit in [1, 7, 500, 0] {
                let q = ListQuery {
                    limit,
                    ..Default::default()
                };
                let got: Vec<_> = page_all(&st, &filter, q)?.iter().map(key_of).collect();
                assert_eq!(got, want, "{namespace:?} {labels:?} limit {limit}");
            }
        }
        Ok(())
    }

    #[test]
    fn continued_pages_keep_their_version_across_writes() -> Result<(), ApiError> {
        let info = by_plural("", "v1", "secrets").ok_or_else(ApiError::no_route)?;
        let store = Store::default();
        let mut st = store.lock();
        let secret = |i: usize, v: &str| json!({"metadata": {"name": format!("s-{i:04}")}, "v": v});
        for i in (0..2000).step_by(2) {
            create(&mut st, info, "ns", secret(i, "old"), false, false)?;
        }
        let filter = filter(None, "")?;
        let (old_rv, want) = st.snapshot(&info.key(), None, None)?;
        let q = ListQuery {
            limit: 100,
            ..Default::default()
        };
        let first = list(&st, &filter, &q)?;
        let token = first["metadata"]["continue"].as_str().unwrap_or_default();
        // Changes before and after the cursor: new objects, updates and deletes.
        for i in [1, 151, 153, 1999] {
            create(&mut st, info, "ns", secret(i, "new"), false, false)?;
        }
        for i in [0, 150, 1000, 1998] {
            upsert(&mut st, info, "ns", secret(i, "new"))?;
        }
        for i in [2, 152, 1996] {
            delete(&mut st, info, "ns", &format!("s-{i:04}"), &json!({}), false)?;
        }
        let continued = ListQuery {
            continue_token: token.to_string(),
            ..q.clone()
        };
        let mut got = first["items"].as_array().cloned().unwrap_or_default();
        got.extend(page_all(&st, &filter, continued)?);
        assert_eq!(got.len(), want.len());
        for (got, want) in got.iter().zip(&want) {
            assert_eq!(key_of(got), key_of(want));
            assert_eq!(got["v"], "old");
            assert_eq!(
                got["metadata"]["resourceVersion"],
                want["metadata"]["resourceVersion"]
            );
        }
        // An Exact list at the old version pages through the same snapshot.
        let exact = ListQuery {
            resource_version: old_rv.to_string(),
            version_match: "Exact".into(),
            limit: 33,
            ..Default::default()
        };
        let paged: Vec<_> = page_all(&st, &filter, exact)?.iter().map(key_of).collect();
        assert_eq!(paged, want.iter().map(key_of).collect::<Vec<_>>());
        // The latest version sees the writes.
        let now: Vec<_> = page_all(&st, &filter, q)?.iter().map(key_of).collect();
        assert_eq!(now.len(), want.len() + 4 - 3);
        assert!(now.contains(&("ns".into(), "s-0151".into())));
        assert!(!now.contains(&("ns".into(), "s-0152".into())));
        Ok(())
    }
}
