//! One Ingress's rules and default backend into its class's table builder, each route with
//! the policy its annotations ask for.

use std::sync::Arc;

use gatehouse_routes::{
    normalize_host, normalized_host, HostBuf, IngressRef, PathType, RoutePolicy, RouteTableBuilder,
    RouteTarget,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};

use super::annotations::forward_auth::GlobalAuth;
use super::annotations::{IngressAnnotations, UnsupportedAnnotations};
use super::backends::BackendResolver;
use super::basic_auth::AuthSecrets;
use super::{ObjectRef, Warning, WarningKind};
use crate::snapshot::namespace;

/// What an Ingress's routes need to know about their class.
pub struct IngressContext<'a> {
    /// The class whose table the routes go into (warnings are attributed to it).
    pub class: &'a str,
    /// Hosts with TLS anywhere in the class (normalised).
    pub tls_hosts: &'a std::collections::BTreeSet<String>,
    /// Whether the class has an HTTPS listener.
    pub has_https: bool,
    /// What access control gatehouse cannot give does to the Ingress.
    pub unsupported_annotations: UnsupportedAnnotations,
    /// The snapshot's Secrets, for basic authentication and `proxy-ssl-secret`.
    pub auth_secrets: &'a AuthSecrets<'a>,
    /// The process's global external authentication, if any.
    pub global_auth: Option<&'a GlobalAuth>,
}

impl<'a> IngressContext<'a> {
    /// The context of `class`'s Ingresses under `config`.
    pub fn new(
        class: &'a super::ClassConfig,
        config: &'a super::TranslateConfig,
        tls_hosts: &'a std::collections::BTreeSet<String>,
        auth_secrets: &'a AuthSecrets<'a>,
    ) -> Self {
        Self {
            class: &class.name,
            tls_hosts,
            has_https: class.has_https,
            unsupported_annotations: config.unsupported_annotations,
            auth_secrets,
            global_auth: config.global_auth.as_ref(),
        }
    }
}

/// Equal route policies of one translation, shared: most Ingresses' policies are equal, and
/// one `RoutePolicy` per Ingress was ~2.5 MiB of the table at 10k Ingresses.
pub type Policies = foldhash::HashSet<Arc<RoutePolicy>>;

/// What one Ingress contributes to its class's table, before conflicts are decided: its route
/// targets in the order it declares them (its default backend first, if it has one).
#[derive(Debug, Default)]
pub struct IngressRoutes {
    /// Every target the Ingress made.
    pub targets: Vec<Arc<RouteTarget>>,
    /// Whether `targets[0]` is the Ingress's default backend.
    pub has_default: bool,
}

impl IngressRoutes {
    /// The rule targets (without the default backend).
    pub fn rules(&self) -> &[Arc<RouteTarget>] {
        &self.targets[usize::from(self.has_default)..]
    }

    /// Calls `f` with the host group (normalised, `""` for host-less rules) of each rule, in
    /// order (a group appears once per rule that routes it).
    pub fn for_each_host(&self, mut f: impl FnMut(&str)) {
        for t in self.rules() {
            let mut buf = HostBuf::new();
            f(normalize_host(&t.rule_host, &mut buf));
        }
    }

    /// Calls `f` with the Service (namespace, name) of each target, in order: what the routes
    /// depend on besides the Ingress itself.
    pub fn for_each_service(&self, mut f: impl FnMut(&Arc<str>, &Arc<str>)) {
        for t in &self.targets {
            f(&t.backend.namespace, &t.backend.service);
        }
    }

    /// Adds the routes into `builder` (the caller goes oldest Ingress first): all of them, or
    /// with `only` those of one host group (normalised, as [`IngressRoutes::for_each_host`]). A
    /// route that loses its slot to an older one, or a default backend when the class has one,
    /// becomes a warning on `ing` in `conflicts`, with the host group it concerns (`None`:
    /// the default backend).
    pub fn place(
        &self,
        ing: &Ingress,
        class: &str,
        only: Option<&str>,
        builder: &mut RouteTableBuilder,
        conflicts: &mut Vec<(Option<String>, Warning)>,
    ) {
        let conflict = |kind, message: String| {
            Warning::new(ObjectRef::ingress(ing), kind, message).in_class(class)
        };
        if let (true, None, Some(default)) = (self.has_default, only, self.targets.first()) {
            if let Err(c) = builder.set_default(default.clone()) {
                let message = format!(
                    "defaultBackend ignored: Ingress {} already sets this class's default backend",
                    c.winner.ingress
                );
                conflicts.push((None, conflict(WarningKind::DefaultBackendConflict, message)));
            }
        }
        for t in self.rules() {
            let mut buf = HostBuf::new();
            let group = normalize_host(&t.rule_host, &mut buf);
            if only.is_some_and(|only| only != group) {
                continue;
            }
            let host = &*t.rule_host;
            let added = builder.add(host, t.clone());
            // A host with a redirecting route redirects every path (ingress-nginx's per-server
            // redirect), also when this route lost its slot to an older Ingress.
            if t.policy.redirect_https && !host.is_empty() {
                if let Some(host_policy) = builder.host_policy(host) {
                    host_policy.redirect_https = true;
                }
            }
            if let Err(c) = added {
                let message = format!(
                    "{}{} ({}) is already routed by older Ingress {}; rule ignored",
                    display_host(host),
                    t.rule_path,
                    t.path_type.as_str(),
                    c.winner.ingress
                );
                conflicts.push((
                    Some(group.to_string()),
                    conflict(WarningKind::RuleConflict, message),
                ));
            }
        }
    }
}

/// Resolves every valid rule of `ing` into targets; each invalid part becomes a warning and is
/// skipped. `policies` is this translation's interned set and, if any, the previous one's;
/// `previous` the Ingress's targets from the previous translation when it is the same object,
/// reused where each resolves to the same backend and policy (`Arc` identity).
pub fn add_ingress<'a>(
    ing: &'a Ingress,
    ctx: &IngressContext<'_>,
    backends: &mut BackendResolver<'a>,
    warnings: &mut Vec<Warning>,
    policies: (&mut Policies, Option<&Policies>),
    previous: Option<IngressRoutes>,
) -> IngressRoutes {
    let previous = previous.map(|p| p.targets).unwrap_or_default();
    let mut made: Vec<Arc<RouteTarget>> = Vec::new();
    let (count, has_default) = add_ingress_routes(
        ing,
        ctx,
        backends,
        warnings,
        policies,
        (&previous, &mut made),
    );
    // Nothing recorded: every target was the previous one, so the previous list (cut to this
    // translation's count) is this one's, without a new allocation.
    let targets = if made.is_empty() {
        let mut previous = previous;
        previous.truncate(count);
        previous
    } else {
        made
    };
    IngressRoutes {
        targets,
        has_default,
    }
}

/// [`add_ingress`] without the bookkeeping of reuse: `targets` are the previous targets of
/// this Ingress and where this translation's go once they differ. Returns how many targets the
/// Ingress made and whether the first is its default backend.
fn add_ingress_routes<'a>(
    ing: &'a Ingress,
    ctx: &IngressContext<'_>,
    backends: &mut BackendResolver<'a>,
    warnings: &mut Vec<Warning>,
    policies: (&mut Policies, Option<&Policies>),
    targets: (&[Arc<RouteTarget>], &mut Vec<Arc<RouteTarget>>),
) -> (usize, bool) {
    let (interned, previous_policies) = policies;
    let (previous_targets, made) = targets;
    let mut has_default = false;
    // How many targets this Ingress has made so far: the position of the next one.
    let mut nth = 0;
    let ns = namespace(&ing.metadata);
    let name = ing.metadata.name.as_deref().unwrap_or("");
    let object = ObjectRef::ingress(ing);
    let ingress_ref = IngressRef::new(ns, name);
    let (mut notes, problems) = IngressAnnotations::parse(ing, ctx.unsupported_annotations);
    warnings.extend(problems.into_iter().map(|w| w.in_class(ctx.class)));
    let basic_auth = match &notes.basic_auth {
        None => None,
        Some(request) => match ctx.auth_secrets.resolve(request) {
            Ok(auth) => Some(auth),
            Err(why) => {
                let key = request.secret_key.clone();
                let problem = format!("{why}; every route of this Ingress answers 503 until it is fixed (basic authentication is never dropped)");
                refuse_for_secret(&mut notes, &key, problem, &object, ctx.class, warnings);
                None
            }
        },
    };
    if let Some(request) = &notes.proxy_ssl_secret {
        match super::proxy_ssl::resolve(ctx.auth_secrets, request) {
            Ok(ssl) => {
                notes.upstream_tls.ca = ssl.ca;
                notes.upstream_tls.client_cert = ssl.client_cert;
            }
            Err(why) => {
                let key = request.secret_key.clone();
                let problem = format!("{why}; every route of this Ingress answers 503 until it is fixed (backend TLS settings are never dropped)");
                refuse_for_secret(&mut notes, &key, problem, &object, ctx.class, warnings);
            }
        }
    }
    let mut warn = |kind, message: String| {
        warnings.push(Warning::new(object.clone(), kind, message).in_class(ctx.class))
    };
    let redirect_for = |host: &str| {
        ctx.has_https
            && (notes.force_ssl_redirect
                || (notes.ssl_redirect
                    && !host.is_empty()
                    && ctx.tls_hosts.contains(&normalized_host(host))))
    };
    // The global auth URL applies to an Ingress without its own that does not opt out, except
    // on the no-auth locations (ACME challenges).
    let global_auth = ctx
        .global_auth
        .filter(|_| notes.forward_auth.is_none() && notes.global_auth);
    // The Ingress's routes share one policy per redirect decision and global-auth exemption,
    // built when first used and shared with equal ones of other Ingresses.
    let mut policies: [[Option<Arc<RoutePolicy>>; 2]; 2] = Default::default();
    let mut policy = |redirect: bool, path: &str| {
        let exempt = global_auth.is_some_and(|g| g.exempts(path));
        let cell = &mut policies[usize::from(redirect)][usize::from(exempt)];
        cell.get_or_insert_with(|| {
            let mut policy = notes.route_policy(redirect, basic_auth.clone());
            if let (Some(global), false) = (global_auth, exempt) {
                policy.forward_auth = Some(global.auth.clone());
            }
            match interned.get(&policy) {
                Some(shared) => shared.clone(),
                None => {
                    // The previous translation's equal policy, so that unchanged routes keep
                    // theirs and can be reused.
                    let policy = match previous_policies.and_then(|p| p.get(&policy)) {
                        Some(previous) => previous.clone(),
                        None => Arc::new(policy),
                    };
                    interned.insert(policy.clone());
                    policy
                }
            }
        })
        .clone()
    };
    let Some(spec) = &ing.spec else {
        return (nth, has_default);
    };

    if let Some(default) = &spec.default_backend {
        match target(
            (&ingress_ref, ns),
            &Arc::from(""),
            "",
            PathType::Prefix,
            default,
            backends,
            TargetSettings {
                policy: policy(notes.force_ssl_redirect && ctx.has_https, "/"),
                service_upstream: notes.service_upstream,
                previous: previous_targets.get(nth),
            },
        ) {
            Ok((t, problem)) => {
                made_one(&mut nth, made, previous_targets, &t);
                has_default = true;
                if let Some(p) = problem {
                    warn(p.kind, format!("defaultBackend: {}", p.message));
                }
            }
            Err(msg) => warn(
                WarningKind::InvalidBackend,
                format!("defaultBackend: {msg}"),
            ),
        }
    }

    for rule in spec.rules.as_deref().unwrap_or_default() {
        let host = rule.host.as_deref().unwrap_or("");
        if let Err(msg) = validate_host(host) {
            warn(
                WarningKind::InvalidHost,
                format!("host {host:?}: {msg}; rule skipped"),
            );
            continue;
        }
        let Some(http) = &rule.http else {
            continue;
        };
        // One copy of the host for all the rule's routes.
        let rule_host: Arc<str> = host.into();
        for p in &http.paths {
            let raw_path = p.path.as_deref().unwrap_or("/");
            let path_type = match p.path_type.as_str() {
                "Exact" => PathType::Exact,
                // ImplementationSpecific is served as Prefix (documented).
                "Prefix" | "ImplementationSpecific" | "" => PathType::Prefix,
                other => {
                    warn(
                        WarningKind::InvalidPath,
                        format!("path {raw_path:?}: unknown pathType {other:?}; skipped"),
                    );
                    continue;
                }
            };
            if !raw_path.starts_with('/') {
                warn(
                    WarningKind::InvalidPath,
                    format!("path {raw_path:?} must start with '/'; skipped"),
                );
                continue;
            }
            let redirect = redirect_for(host);
            let problem = match target(
                (&ingress_ref, ns),
                &rule_host,
                raw_path,
                path_type,
                &p.backend,
                backends,
                TargetSettings {
                    policy: policy(redirect, raw_path),
                    service_upstream: notes.service_upstream,
                    previous: previous_targets.get(nth),
                },
            ) {
                Ok((t, problem)) => {
                    made_one(&mut nth, made, previous_targets, &t);
                    problem
                }
                Err(msg) => {
                    warn(
                        WarningKind::InvalidBackend,
                        format!("{host}{raw_path}: {msg}; skipped"),
                    );
                    continue;
                }
            };
            if let Some(problem) = problem {
                warn(
                    problem.kind,
                    format!("{}{raw_path}: {}", display_host(host), problem.message),
                );
            }
        }
    }
    (nth, has_default)
}

/// Counts a target an Ingress made and records it once the Ingress's targets differ from
/// `previous` (an unchanged Ingress records nothing and keeps its previous list: no
/// allocation).
fn made_one(
    nth: &mut usize,
    made: &mut Vec<Arc<RouteTarget>>,
    previous: &[Arc<RouteTarget>],
    target: &Arc<RouteTarget>,
) {
    let same_so_far = made.is_empty() && previous.get(*nth).is_some_and(|p| Arc::ptr_eq(p, target));
    if !same_so_far {
        if made.is_empty() {
            made.extend(previous.iter().take(*nth).cloned());
        }
        made.push(target.clone());
    }
    *nth += 1;
}

/// The Secret that annotation `key` names cannot be used (`problem` says why): a warning on
/// the Ingress with the details, and every route of it refused. The 503 body is public, so it
/// names the annotation only, never the Secret's contents.
fn refuse_for_secret(
    notes: &mut IngressAnnotations,
    key: &str,
    problem: String,
    object: &ObjectRef,
    class: &str,
    warnings: &mut Vec<Warning>,
) {
    warnings.push(
        Warning::new(
            object.clone(),
            WarningKind::InvalidAnnotation,
            format!("annotation {key}: {problem}"),
        )
        .in_class(class),
    );
    notes.refuse_because(key, "its Secret is missing or unusable");
}

fn display_host(host: &str) -> &str {
    if host.is_empty() {
        "*"
    } else {
        host
    }
}

type Resolved = (Arc<RouteTarget>, Option<super::backends::BackendProblem>);

/// The route for one path; `origin` is the Ingress and its namespace (borrowed from the
/// snapshot, which the backend cache keys on).
/// What an Ingress's annotations give each of its targets.
struct TargetSettings<'p> {
    /// The route's policy.
    policy: Arc<RoutePolicy>,
    /// `service-upstream`: route to the Service's cluster IP.
    service_upstream: bool,
    /// The previous translation's target in this position of the same Ingress, reused if it
    /// is the same route.
    previous: Option<&'p Arc<RouteTarget>>,
}

fn target<'a>(
    origin: (&IngressRef, &'a str),
    host: &Arc<str>,
    path: &str,
    path_type: PathType,
    backend: &'a IngressBackend,
    backends: &mut BackendResolver<'a>,
    settings: TargetSettings<'_>,
) -> Result<Resolved, String> {
    let TargetSettings {
        policy,
        service_upstream,
        previous,
    } = settings;
    let (ingress, ns) = origin;
    let service = match (&backend.service, &backend.resource) {
        (Some(s), _) => s,
        (None, Some(_)) => return Err("resource backends are not supported".to_string()),
        (None, None) => return Err("backend names no service".to_string()),
    };
    if service.port.is_none() {
        return Err(format!("backend service {:?} names no port", service.name));
    }
    let (backend, problem) = backends.resolve(ns, service, service_upstream);
    if let Some(old) = previous.filter(|old| {
        Arc::ptr_eq(&old.backend, &backend)
            && Arc::ptr_eq(&old.policy, &policy)
            && old.path_type == path_type
            && *old.rule_host == **host
            && *old.rule_path == *path
            && old.ingress == *ingress
    }) {
        return Ok((old.clone(), problem));
    }
    Ok((
        Arc::new(RouteTarget {
            ingress: ingress.clone(),
            rule_host: host.clone(),
            rule_path: path.into(),
            path_type,
            backend,
            policy,
            observed: Default::default(),
        }),
        problem,
    ))
}

/// A host is a DNS name (lowercase or not), or `*.` followed by one; IP addresses are not
/// allowed by the Ingress spec.
pub fn validate_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Ok(());
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    if name.contains('*') {
        return Err("a wildcard may only be the whole first label".into());
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err("IP addresses are not allowed as hosts".into());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("label {label:?} is not a valid DNS label"));
        }
    }
    Ok(())
}
