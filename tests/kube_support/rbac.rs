//! RBAC: what a manifest grants, and what a request log needs.

use std::collections::{BTreeMap, BTreeSet};

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

/// A permission and where it holds: `None` cluster-wide (every namespace and cluster-scoped
/// resources), `Some(ns)` in that namespace only.
pub type Scoped = (Option<String>, Permission);

/// Cluster-scoped resources: a RoleBinding grants nothing on them.
const CLUSTER_SCOPED: &[&str] = &["ingressclasses", "namespaces", "nodes"];

/// The permissions the RBAC objects among `objects` (rendered manifests) grant to the
/// ServiceAccount gatehouse/gatehouse, through the bindings whose role name `wanted` accepts.
pub fn granted_scoped(
    objects: &[serde_yaml::Value],
    wanted: impl Fn(&str) -> bool,
) -> BTreeSet<Scoped> {
    let role_key = |o: &serde_yaml::Value| {
        (
            o["metadata"]["namespace"].as_str().map(str::to_string),
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let roles: BTreeMap<(Option<String>, String), &serde_yaml::Value> = objects
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("ClusterRole" | "Role")))
        .map(|o| (role_key(o), o))
        .collect();
    let mut out = BTreeSet::new();
    for binding in objects.iter().filter(|o| {
        matches!(
            o["kind"].as_str(),
            Some("ClusterRoleBinding" | "RoleBinding")
        )
    }) {
        let ours = binding["subjects"]
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|s| {
                s["kind"] == "ServiceAccount"
                    && s["name"] == "gatehouse"
                    && s["namespace"] == "gatehouse"
            });
        let role_name = binding["roleRef"]["name"].as_str().unwrap_or_default();
        if !ours || !wanted(role_name) {
            continue;
        }
        let scope = match binding["kind"].as_str() {
            Some("RoleBinding") => binding["metadata"]["namespace"]
                .as_str()
                .map(str::to_string),
            _ => None,
        };
        let role = match binding["roleRef"]["kind"].as_str() {
            Some("Role") => roles.get(&(scope.clone(), role_name.to_string())),
            _ => roles.get(&(None, role_name.to_string())),
        };
        let role = role.unwrap_or_else(|| panic!("binding to a missing role: {binding:?}"));
        for rule in role["rules"].as_sequence().into_iter().flatten() {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            };
            for g in list("apiGroups") {
                for r in list("resources") {
                    if scope.is_some() && CLUSTER_SCOPED.contains(&r.as_str()) {
                        continue;
                    }
                    for verb in list("verbs") {
                        out.insert((scope.clone(), (g.clone(), r.clone(), verb)));
                    }
                }
            }
        }
    }
    out
}

/// The namespace a request goes to (`None`: cluster-scoped, or across all namespaces).
pub fn namespace_of(r: &gatehouse_testapi::RequestRecord) -> Option<String> {
    let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let rest = match parts.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _g, _v, rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => Some(ns.to_string()),
        _ => None,
    }
}

/// Every permission a request log needs, where (a server-side apply also counts as `create`).
pub fn needed_scoped(requests: &[gatehouse_testapi::RequestRecord]) -> BTreeSet<Scoped> {
    let mut out = BTreeSet::new();
    for r in requests {
        let Some((g, res, verb)) = needed(r) else {
            continue;
        };
        let ns = namespace_of(r);
        if r.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/apply-patch"))
        {
            out.insert((ns.clone(), (g.clone(), res.clone(), "create".into())));
        }
        out.insert((ns, (g, res, verb)));
    }
    out
}

/// Whether `grants` allow a needed permission (in its namespace).
pub fn allows(grants: &BTreeSet<Scoped>, (ns, perm): &Scoped) -> bool {
    grants
        .iter()
        .any(|(g_ns, g_perm)| g_perm == perm && (g_ns.is_none() || g_ns == ns))
}

/// Whether a granted permission was needed (in its namespace, or anywhere for a cluster-wide one).
pub fn uses(needed: &BTreeSet<Scoped>, (g_ns, g_perm): &Scoped) -> bool {
    needed
        .iter()
        .any(|(ns, perm)| perm == g_perm && (g_ns.is_none() || g_ns == ns))
}
