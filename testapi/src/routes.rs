//! URL routing and verb dispatch: turns one HTTP request into a store operation and a reply.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde_json::{json, Value};

use crate::discovery;
use crate::list::{self, ListQuery};
use crate::patch::PatchKind;
use crate::resources::{self, ResourceInfo};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{parse_rv, Store};
use crate::watch::{self, WatchFilter, WatchStart};
use crate::writes::{self, Part};

/// Watches without timeoutSeconds end after this long (the real server picks 30–60 minutes).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// The parts of an HTTP request routing needs.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Content-Type header.
    pub content_type: Option<String>,
    /// Accept header.
    pub accept: Option<String>,
    /// Request body.
    pub body: Bytes,
}

impl ApiRequest {
    fn param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn param_or_empty(&self, name: &str) -> String {
        self.param(name).unwrap_or_default()
    }

    fn dry_run(&self) -> bool {
        self.param("dryRun").is_some()
    }

    fn metadata_only(&self) -> bool {
        self.accept
            .as_deref()
            .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// A stream of watch event lines.
pub type EventStream = Pin<Box<dyn Stream<Item = Bytes> + Send + 'static>>;

/// What to send back.
pub enum Reply {
    /// A complete JSON body with a status code.
    Json(u16, Value),
    /// A chunked stream of watch events (status 200).
    Watch(EventStream),
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply::Json(e.code, e.to_status())
    }
}

/// A request for objects of one resource.
struct ResourceTarget {
    info: &'static ResourceInfo,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

enum Target {
    Json(Value),
    Resource(ResourceTarget),
}

fn route(path: &str) -> Result<Target, ApiError> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let found = |v: Option<Value>| v.map(Target::Json).ok_or_else(ApiError::no_route);
    match segs.as_slice() {
        ["version"] => Ok(Target::Json(discovery::version())),
        ["api"] => Ok(Target::Json(discovery::core_versions())),
        ["apis"] => Ok(Target::Json(discovery::group_list())),
        ["api", v] => found(discovery::resource_list("", v)),
        ["apis", g, v] => found(discovery::resource_list(g, v)),
        ["api", v, rest @ ..] => resource_target("", v, rest),
        ["apis", g, v, rest @ ..] => resource_target(g, v, rest),
        _ => Err(ApiError::no_route()),
    }
}

fn resource_target(group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, ..] if !matches!(*plural, "status" | "finalize") => {
            (Some(ns.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, s] => (*p, Some(n.to_string()), Some(*s)),
        _ => return Err(ApiError::no_route()),
    };
    let info = resources::by_plural(group, version, plural).ok_or_else(ApiError::no_route)?;
    let scope_ok = match (&namespace, &name) {
        (Some(_), _) => info.namespaced,
        (None, Some(_)) => !info.namespaced,
        (None, None) => true,
    };
    let sub_ok = sub.is_none() || (sub == Some("status") && info.has_status);
    if !scope_ok || !sub_ok {
        return Err(ApiError::no_route());
    }
    Ok(Target::Resource(ResourceTarget {
        info,
        namespace,
        name,
        status: sub.is_some(),
    }))
}

/// Answers one request against the store.
pub fn dispatch(store: &Arc<Store>, bookmark_every: Duration, req: &ApiRequest) -> Reply {
    match dispatch_inner(store, bookmark_every, req) {
        Ok(reply) => reply,
        Err(e) => e.into(),
    }
}

fn dispatch_inner(
    store: &Arc<Store>,
    bookmark_every: Duration,
    req: &ApiRequest,
) -> Result<Reply, ApiError> {
    let target = match route(&req.path)? {
        Target::Json(body) if req.method == "GET" => return Ok(Reply::Json(200, body)),
        Target::Json(_) => return Err(ApiError::method_not_allowed(&req.method)),
        Target::Resource(t) => t,
    };
    let info = target.info;
    let ns = target.namespace.clone().unwrap_or_default();
    let part = if target.status {
        Part::Status
    } else {
        Part::Main
    };
    let dry = req.dry_run();
    let ok = |code: u16, v: Value| Ok(Reply::Json(code, v));
    match (req.method.as_str(), &target.name) {
        ("GET", None) if matches!(req.param("watch").as_deref(), Some("true" | "1")) => {
            watch(store, bookmark_every, req, &target)
        }
        ("GET", None) => {
            let filter = filter_for(req, &target)?;
            let q = ListQuery {
                resource_version: req.param_or_empty("resourceVersion"),
                version_match: req.param_or_empty("resourceVersionMatch"),
                limit: req.param("limit").and_then(|l| l.parse().ok()).unwrap_or(0),
                continue_token: req.param_or_empty("continue"),
            };
            ok(200, list::list(&store.lock(), &filter, &q)?)
        }
        ("GET", Some(name)) => {
            let st = store.lock();
            let key = writes::object_key(info, &ns, name);
            let obj = st
                .objects
                .get(&key)
                .ok_or_else(|| ApiError::not_found(&info.key(), name))?;
            let filter = filter_for(req, &target)?;
            ok(200, filter.present(obj))
        }
        ("POST", None) if !target.status => {
            if info.namespaced && target.namespace.is_none() {
                return Err(ApiError::no_route());
            }
            let obj = writes::create(&mut store.lock(), info, &ns, req.json_body()?, false, dry)?;
            ok(201, obj)
        }
        ("PUT", Some(name)) => ok(
            200,
            writes::replace(
                &mut store.lock(),
                info,
                &ns,
                name,
                req.json_body()?,
                part,
                dry,
            )?,
        ),
        ("PATCH", Some(name)) => {
            let kind = PatchKind::from_content_type(req.content_type.as_deref().unwrap_or(""))?;
            let mut st = store.lock();
            let existed = st
                .objects
                .contains_key(&writes::object_key(info, &ns, name));
            let obj = writes::patch(
                &mut st,
                info,
                &ns,
                name,
                writes::PatchBody {
                    kind,
                    body: &req.body,
                },
                part,
                dry,
            )?;
            ok(if existed { 200 } else { 201 }, obj)
        }
        ("DELETE", Some(name)) if !target.status => {
            let options = if req.body.is_empty() {
                json!({})
            } else {
                req.json_body()?
            };
            ok(
                200,
                writes::delete(&mut store.lock(), info, &ns, name, &options, dry)?,
            )
        }
        ("DELETE", None) => delete_collection(store, req, &target),
        (method, _) => Err(ApiError::method_not_allowed(method)),
    }
}

fn filter_for(req: &ApiRequest, target: &ResourceTarget) -> Result<WatchFilter, ApiError> {
    Ok(WatchFilter {
        info: target.info,
        namespace: target.namespace.clone(),
        labels: LabelSelector::parse(&req.param_or_empty("labelSelector"))?,
        fields: FieldSelector::parse(&req.param_or_empty("fieldSelector"), target.info)?,
        metadata_only: req.metadata_only(),
    })
}

fn watch(
    store: &Arc<Store>,
    bookmark_every: Duration,
    req: &ApiRequest,
    target: &ResourceTarget,
) -> Result<Reply, ApiError> {
    let filter = filter_for(req, target)?;
    let rv = parse_rv(&req.param_or_empty("resourceVersion"))?;
    let send_initial = req.param("sendInitialEvents").as_deref() == Some("true");
    let start = match rv {
        _ if send_initial => WatchStart::Initial { end_bookmark: true },
        None | Some(0) => WatchStart::Initial {
            end_bookmark: false,
        },
        Some(rv) => WatchStart::After(rv),
    };
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs);
    let bookmarks = req.param("allowWatchBookmarks").as_deref() == Some("true");
    let (id, rx) = store.lock().subscribe(filter, start, bookmarks);
    let stream = watch::event_stream(store.clone(), id, rx, timeout, bookmark_every);
    Ok(Reply::Watch(Box::pin(stream)))
}

fn delete_collection(
    store: &Arc<Store>,
    req: &ApiRequest,
    target: &ResourceTarget,
) -> Result<Reply, ApiError> {
    let filter = filter_for(req, target)?;
    let mut st = store.lock();
    let (_, objects) = st.snapshot(&target.info.key(), target.namespace.as_deref(), None)?;
    let mut deleted = Vec::new();
    for obj in objects.iter().filter(|o| filter.matches(o)) {
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        deleted.push(writes::delete(
            &mut st,
            target.info,
            ns,
            name,
            &json!({}),
            req.dry_run(),
        )?);
    }
    let list = json!({
        "kind": target.info.list_kind(), "apiVersion": target.info.key().api_version(),
        "metadata": {"resourceVersion": st.rv.to_string()}, "items": deleted,
    });
    Ok(Reply::Json(200, list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_like_the_api_server() {
        let t = |p: &str| match route(p) {
            Ok(Target::Resource(t)) => Some((t.info.plural, t.namespace, t.name, t.status)),
            _ => None,
        };
        assert_eq!(t("/api/v1/secrets"), Some(("secrets", None, None, false)));
        assert_eq!(
            t("/apis/networking.k8s.io/v1/namespaces/ns/ingresses/web/status"),
            Some(("ingresses", Some("ns".into()), Some("web".into()), true))
        );
        assert_eq!(
            t("/api/v1/namespaces/ns"),
            Some(("namespaces", None, Some("ns".into()), false))
        );
        assert_eq!(
            t("/api/v1/namespaces/ns/status"),
            Some(("namespaces", None, Some("ns".into()), true))
        );
        assert_eq!(
            t("/apis/networking.k8s.io/v1/ingressclasses/x"),
            Some(("ingressclasses", None, Some("x".into()), false))
        );
        assert!(
            t("/api/v1/secrets/x").is_none(),
            "namespaced object needs a namespace"
        );
        assert!(
            t("/api/v1/namespaces/ns/secrets/x/status").is_none(),
            "secrets have no status"
        );
        assert!(t("/apis/apps/v1/deployments").is_none());
        assert!(matches!(route("/apis"), Ok(Target::Json(_))));
    }
}
