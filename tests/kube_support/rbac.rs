//! RBAC: what a manifest grants, and what a request log needs.

use std::collections::BTreeSet;

use serde_json::Value;

pub type Permission = (String, String, String); // (apiGroup, resource[/subresource], verb)

/// What the manifests allow, from every ClusterRole and Role in them (paths from the repo root).
pub fn granted(files: &[&str]) -> anyhow::Result<BTreeSet<Permission>> {
    let mut out = BTreeSet::new();
    for file in files {
        let text =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)?;
            if !matches!(v["kind"].as_str(), Some("ClusterRole" | "Role")) {
                continue;
            }
            for rule in v["rules"].as_array().into_iter().flatten() {
                for g in rule["apiGroups"].as_array().into_iter().flatten() {
                    for r in rule["resources"].as_array().into_iter().flatten() {
                        for verb in rule["verbs"].as_array().into_iter().flatten() {
                            out.insert((s(g), s(r), s(verb)));
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The permission an API request needs, from its method, path and query.
pub fn needed(r: &gatehouse_testapi::RequestRecord) -> Option<Permission> {
    let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", g, _v, rest @ ..] => (*g, rest),
        _ => return None, // discovery and /version need no RBAC rule
    };
    let rest = match rest {
        ["namespaces", _ns, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let (resource, named) = match rest {
        [res] => (res.to_string(), false),
        [res, _name] => (res.to_string(), true),
        [res, _name, sub] => (format!("{res}/{sub}"), true),
        _ => return None,
    };
    let verb = match (r.method.as_str(), named) {
        ("GET", false) if r.is_watch() => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        // Server-side apply may create the object: it needs both verbs (see `needed_all`).
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => return None,
    };
    Some((group.to_string(), resource, verb.to_string()))
}

/// Every permission a request log needs; a server-side apply also counts as `create`.
pub fn needed_all(requests: &[gatehouse_testapi::RequestRecord]) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for r in requests {
        if let Some((g, res, verb)) = needed(r) {
            let apply = r
                .content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/apply-patch"));
            if apply {
                out.insert((g.clone(), res.clone(), "create".to_string()));
            }
            out.insert((g, res, verb));
        }
    }
    out
}
