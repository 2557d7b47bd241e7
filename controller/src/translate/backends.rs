//! Service backends: an Ingress backend names a Service and a port (number or name); that
//! resolves through the Service's ports to the ready endpoints of its EndpointSlices, or for an
//! ExternalName Service to the addresses its name resolved to (see
//! `sources::external_names`).

use std::collections::BTreeSet;

use foldhash::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use gatehouse_routes::{Backend, EndpointSet};
use k8s_openapi::api::networking::v1::IngressServiceBackend;

use super::WarningKind;
use crate::snapshot::{external_name_key, EndpointSliceInfo, ResolvedNames, ServiceInfo};
use crate::snapshot::{ServicePortInfo, Snapshot};

/// A backend that could not be fully resolved; it still exists (answering 503).
#[derive(Debug, Clone)]
pub struct BackendProblem {
    pub kind: WarningKind,
    pub message: String,
}

/// Resolves and caches backends, so every route to one Service port shares one endpoint set
/// (and one round-robin position: each distinct backend gets the next slot).
pub struct BackendResolver<'a> {
    services: HashMap<(&'a str, &'a str), &'a Arc<ServiceInfo>>,
    slices: HashMap<(&'a str, &'a str), Vec<&'a Arc<EndpointSliceInfo>>>,
    /// Keyed by borrowed (namespace, service, port) so that a hit allocates nothing.
    /// The flag is `service-upstream`: such a backend differs from the endpoints' one.
    cache: HashMap<(&'a str, &'a str, PortKey<'a>, bool), Resolved>,
    /// What ExternalName Services' names resolved to.
    external_names: &'a ResolvedNames,
    /// A full translation's previous backends, reused where they are still valid (see
    /// [`BackendResolver::new`]).
    previous: Option<BackendRegistry>,
    /// When patching a translation: its backends, consulted first, and where new ones get
    /// their slots (after every slot in use, so no other backend's moves).
    registry: Option<&'a mut BackendRegistry>,
    /// When patching: the snapshot, whose Services (and their slices) are indexed one by one
    /// as a backend the registry lacks needs them, instead of all up front.
    unindexed: Option<&'a Snapshot>,
    /// Services looked up one by one so far: past [`LOOKUPS_BEFORE_INDEX`], the whole snapshot
    /// is indexed (a patch that brings many Services would otherwise scan it for each).
    scans: usize,
}

/// How many Services a patch looks up one by one (a pass over every Service and EndpointSlice
/// each) before it indexes them all at once.
const LOOKUPS_BEFORE_INDEX: usize = 2;

/// A Service by namespace and name.
pub type ServiceKey = (Arc<str>, Arc<str>);

/// Every backend of a translation by Service port, with the next free slot: what a patch of
/// that translation resolves against, so its routes share the backends (and round-robin
/// positions) of the routes it leaves alone. Entries stay valid while their Service and its
/// EndpointSlices are the same objects; the caller forgets a Service's when they change.
#[derive(Default)]
pub struct BackendRegistry {
    by_service: HashMap<ServiceKey, Vec<(OwnedPort, bool, Resolved)>>,
    /// One more than the highest slot handed out.
    pub next_slot: usize,
    /// How many backends are registered.
    pub len: usize,
}

impl BackendRegistry {
    fn get(&self, ns: &str, service: &str, port: PortKey<'_>, upstream: bool) -> Option<Resolved> {
        let entries = self.by_service.get(&(Arc::from(ns), Arc::from(service)))?;
        entries
            .iter()
            .find(|(p, u, _)| p.is(port) && *u == upstream)
            .map(|(_, _, resolved)| resolved.clone())
    }

    fn insert(&mut self, port: PortKey<'_>, upstream: bool, resolved: Resolved) {
        let key = (resolved.0.namespace.clone(), resolved.0.service.clone());
        self.next_slot = self.next_slot.max(resolved.0.slot() + 1);
        self.len += 1;
        let entries = self.by_service.entry(key).or_default();
        super::reserve_one(entries);
        entries.push((OwnedPort::of(port), upstream, resolved));
    }

    /// Forgets the backends of Service `ns/name` (it or its EndpointSlices changed).
    pub fn forget(&mut self, key: &ServiceKey) {
        if let Some(gone) = self.by_service.remove(key) {
            self.len -= gone.len();
        }
    }
}

#[derive(PartialEq, Eq)]
enum OwnedPort {
    Name(Box<str>),
    Number(i32),
    Missing,
}

impl OwnedPort {
    fn of(port: PortKey<'_>) -> Self {
        match port {
            PortKey::Name(n) => OwnedPort::Name(n.into()),
            PortKey::Number(n) => OwnedPort::Number(n),
            PortKey::Missing => OwnedPort::Missing,
        }
    }

    fn is(&self, port: PortKey<'_>) -> bool {
        match (self, port) {
            (OwnedPort::Name(a), PortKey::Name(b)) => &**a == b,
            (OwnedPort::Number(a), PortKey::Number(b)) => *a == b,
            (OwnedPort::Missing, PortKey::Missing) => true,
            _ => false,
        }
    }
}

/// A Service port as an Ingress names it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum PortKey<'a> {
    Name(&'a str),
    Number(i32),
    Missing,
}

type Resolved = (Arc<Backend>, Option<BackendProblem>);

impl<'a> BackendResolver<'a> {
    /// Indexes the snapshot's Services and EndpointSlices. `previous` is the registry of the
    /// last translation without the Services that changed since (or whose EndpointSlices
    /// did): its backends are reused, renumbered to this translation's slots.
    pub fn new(snapshot: &'a Snapshot, previous: Option<BackendRegistry>) -> Self {
        let mut resolver = Self {
            services: HashMap::default(),
            slices: HashMap::default(),
            cache: HashMap::default(),
            external_names: &snapshot.external_names,
            previous,
            registry: None,
            unindexed: None,
            scans: 0,
        };
        resolver.index_all(snapshot);
        resolver
    }

    /// Indexes every Service and EndpointSlice of `snapshot`.
    fn index_all(&mut self, snapshot: &'a Snapshot) {
        self.services = snapshot
            .services
            .iter()
            .map(|s| ((&*s.namespace, &*s.name), s))
            .collect();
        self.slices = HashMap::default();
        for slice in &snapshot.endpoint_slices {
            if let Some(service) = &slice.service {
                self.slices
                    .entry((&slice.namespace, service))
                    .or_default()
                    .push(slice);
            }
        }
        self.unindexed = None;
    }

    /// A resolver over `snapshot` that takes existing backends from `registry` and adds new
    /// ones to it; it reads only the Services a new backend needs.
    pub fn patching(snapshot: &'a Snapshot, registry: &'a mut BackendRegistry) -> Self {
        Self {
            services: HashMap::default(),
            slices: HashMap::default(),
            cache: HashMap::default(),
            external_names: &snapshot.external_names,
            previous: None,
            registry: Some(registry),
            unindexed: Some(snapshot),
            scans: 0,
        }
    }

    /// Indexes Service `ns/name` and its EndpointSlices from the snapshot of a patch (one pass
    /// over each kind, for a backend the registry does not have).
    fn index_service(&mut self, ns: &'a str, name: &'a str) {
        let Some(snapshot) = self.unindexed else {
            return;
        };
        if self.services.contains_key(&(ns, name)) || self.slices.contains_key(&(ns, name)) {
            return;
        }
        self.scans += 1;
        if self.scans > LOOKUPS_BEFORE_INDEX {
            self.index_all(snapshot);
            return;
        }
        let named = |s: &&'a Arc<ServiceInfo>| &*s.namespace == ns && &*s.name == name;
        if let Some(service) = snapshot.services.iter().find(named) {
            self.services.insert((ns, name), service);
        }
        let of_service = |slice: &&'a Arc<EndpointSliceInfo>| {
            &*slice.namespace == ns && slice.service.as_deref() == Some(name)
        };
        let slices: Vec<_> = snapshot.endpoint_slices.iter().filter(of_service).collect();
        if !slices.is_empty() {
            self.slices.insert((ns, name), slices);
        }
    }

    /// Every backend this resolver resolved, as the registry a patch of this translation
    /// resolves against.
    pub fn into_registry(self) -> BackendRegistry {
        let mut registry = BackendRegistry::default();
        for ((_, _, port, upstream), resolved) in self.cache {
            registry.insert(port, upstream, resolved);
        }
        registry
    }

    /// The backend for `backend` in `ns`, plus a problem if it cannot serve (or, with
    /// `service_upstream`, cannot be reached through a cluster IP). Resolved once per Service
    /// port, `service_upstream` and translation; later routes to it share the result.
    pub fn resolve(
        &mut self,
        ns: &'a str,
        backend: &'a IngressServiceBackend,
        service_upstream: bool,
    ) -> (Arc<Backend>, Option<BackendProblem>) {
        let port = match &backend.port {
            Some(p) => match (&p.name, p.number) {
                (Some(name), _) if !name.is_empty() => PortKey::Name(name),
                (_, Some(number)) => PortKey::Number(number),
                _ => PortKey::Missing,
            },
            None => PortKey::Missing,
        };
        let key = (ns, backend.name.as_str(), port, service_upstream);
        if let Some(hit) = self.cache.get(&key) {
            return hit.clone();
        }
        if self.registry.is_some() {
            return self.resolve_patching(key, backend);
        }
        let slot = self.cache.len();
        let resolved = match self.reused(ns, &backend.name, port, service_upstream, slot) {
            Some(hit) => hit,
            None => self.build(ns, backend, port, service_upstream, slot),
        };
        self.cache.insert(key, resolved.clone());
        resolved
    }

    /// [`BackendResolver::resolve`] for a patch: the registry's backend, else a new one in the
    /// next free slot.
    fn resolve_patching(
        &mut self,
        key: (&'a str, &'a str, PortKey<'a>, bool),
        backend: &'a IngressServiceBackend,
    ) -> Resolved {
        let (ns, service, port, upstream) = key;
        let known = self
            .registry
            .as_deref()
            .and_then(|r| r.get(ns, service, port, upstream));
        let resolved = match known {
            Some(hit) => hit,
            None => {
                self.index_service(ns, service);
                let slot = self.registry.as_deref().map_or(0, |r| r.next_slot);
                let built = self.build(ns, backend, port, upstream, slot);
                if let Some(registry) = self.registry.as_deref_mut() {
                    registry.insert(port, upstream, built.clone());
                }
                built
            }
        };
        self.cache.insert(key, resolved.clone());
        resolved
    }

    /// Resolves a backend from the snapshot.
    fn build(
        &self,
        ns: &str,
        backend: &IngressServiceBackend,
        port: PortKey<'_>,
        service_upstream: bool,
        slot: usize,
    ) -> Resolved {
        let port_label = port_label(port);
        let (mut endpoints, mut problem) = self.endpoints(ns, backend, &port_label);
        if service_upstream && problem.is_none() {
            (endpoints, problem) = self.cluster_endpoint(ns, backend, endpoints);
        }
        let mut built = Backend::new(ns, &backend.name, &port_label, endpoints, slot);
        if let Some(name) = self.external_name(ns, &backend.name) {
            built = built.with_external_name(&name);
        }
        (Arc::new(built), problem)
    }

    /// The previous translation's backend for the same Service port, renumbered to `slot` if
    /// needed. ExternalName backends are resolved again: they also depend on what the names
    /// resolved to.
    fn reused(
        &self,
        ns: &str,
        service: &str,
        port: PortKey<'_>,
        service_upstream: bool,
        slot: usize,
    ) -> Option<Resolved> {
        let previous = self.previous.as_ref()?;
        let (old, problem) = previous.get(ns, service, port, service_upstream)?;
        if old.external_name().is_some() {
            return None;
        }
        if old.slot() == slot {
            return Some((old, problem));
        }
        let endpoints = old.endpoints().clone();
        let renumbered = Backend::new(&old.namespace, &old.service, &old.port, endpoints, slot);
        Some((Arc::new(renumbered), problem))
    }
}

/// A port as a backend names it (a name or a number).
fn port_label(port: PortKey<'_>) -> String {
    match port {
        PortKey::Name(name) => name.to_string(),
        PortKey::Number(n) => n.to_string(),
        PortKey::Missing => String::new(),
    }
}

impl BackendResolver<'_> {
    fn endpoints(
        &self,
        ns: &str,
        backend: &IngressServiceBackend,
        port_label: &str,
    ) -> (EndpointSet, Option<BackendProblem>) {
        let problem = |kind, message| {
            (
                EndpointSet::default(),
                Some(BackendProblem { kind, message }),
            )
        };
        let Some(service) = self.services.get(&(ns, backend.name.as_str())) else {
            return problem(
                WarningKind::MissingService,
                format!("Service {ns}/{} not found", backend.name),
            );
        };
        let ports = &service.ports;
        if let Some(external) = &service.external_name {
            return match self.external_endpoints(external, ports, backend) {
                Ok(endpoints) => (endpoints, None),
                Err((kind, why)) => problem(
                    kind,
                    format!("ExternalName Service {ns}/{}: {why}", backend.name),
                ),
            };
        }
        let Some(port) = find_port(ports, backend) else {
            return problem(
                WarningKind::MissingServicePort,
                format!("Service {ns}/{} has no port {port_label:?}", backend.name),
            );
        };
        let slices = self
            .slices
            .get(&(ns, backend.name.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        (collect_endpoints(slices, port), None)
    }
}

impl BackendResolver<'_> {
    /// `service-upstream`: the Service's cluster IP on the Service port instead of
    /// `endpoints`. A headless Service keeps `endpoints`, with a problem saying so; an
    /// ExternalName Service keeps its own (as ingress-nginx).
    fn cluster_endpoint(
        &self,
        ns: &str,
        backend: &IngressServiceBackend,
        endpoints: EndpointSet,
    ) -> (EndpointSet, Option<BackendProblem>) {
        let Some(service) = self.services.get(&(ns, backend.name.as_str())) else {
            return (endpoints, None);
        };
        if service.external_name.is_some() {
            return (endpoints, None);
        }
        let port = find_port(&service.ports, backend).and_then(|p| u16::try_from(p.port).ok());
        let Some(port) = port else {
            return (endpoints, None);
        };
        match service.cluster_ip {
            Some(ip) => (
                EndpointSet {
                    ready: vec![SocketAddr::new(ip, port)],
                    not_ready: Vec::new(),
                },
                None,
            ),
            None => (
                endpoints,
                Some(BackendProblem {
                    kind: WarningKind::InvalidAnnotation,
                    message: format!(
                        "service-upstream: Service {ns}/{} has no cluster IP (headless), so its endpoints are used",
                        backend.name
                    ),
                }),
            ),
        }
    }

    /// The name an ExternalName Service points at, in lookup form.
    fn external_name(&self, ns: &str, service: &str) -> Option<String> {
        let external = self
            .services
            .get(&(ns, service))?
            .external_name
            .as_deref()?;
        let key = external_name_key(external);
        (!key.is_empty()).then_some(key)
    }

    /// The addresses an ExternalName Service's name resolved to, on the port the Ingress
    /// names: the Service port's numeric `targetPort` (else its `port`) when the Service
    /// lists it, else the Ingress's port number (ExternalName Services often list no ports).
    fn external_endpoints(
        &self,
        external: &str,
        ports: &[ServicePortInfo],
        backend: &IngressServiceBackend,
    ) -> Result<EndpointSet, (WarningKind, String)> {
        let port = match find_port(ports, backend) {
            Some(p) => p.target_port.unwrap_or(p.port),
            None => match backend.port.as_ref().and_then(|p| p.number) {
                Some(number) => number,
                None => {
                    return Err((
                        WarningKind::MissingServicePort,
                        "the Ingress names a port by name and the Service has no such port"
                            .to_string(),
                    ))
                }
            },
        };
        let Ok(port) = u16::try_from(port) else {
            return Err((
                WarningKind::MissingServicePort,
                format!("port {port} is out of range"),
            ));
        };
        let key = external_name_key(external);
        if key.is_empty() {
            return Err((
                WarningKind::UnresolvedName,
                "spec.externalName is empty".to_string(),
            ));
        }
        match self.external_names.get(&key) {
            Some(Ok(ips)) => Ok(EndpointSet {
                ready: ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
                not_ready: Vec::new(),
            }),
            Some(Err(why)) => Err((
                WarningKind::UnresolvedName,
                format!("{key} does not resolve ({why}); its routes answer 503 until it does"),
            )),
            None => Err((
                WarningKind::UnresolvedName,
                format!("{key} has not been resolved yet; its routes answer 503 until it is"),
            )),
        }
    }
}

/// The Service port an Ingress backend names, by name or by number.
fn find_port<'s>(
    ports: &'s [ServicePortInfo],
    backend: &IngressServiceBackend,
) -> Option<&'s ServicePortInfo> {
    let wanted = backend.port.as_ref()?;
    match (&wanted.name, wanted.number) {
        (Some(name), _) if !name.is_empty() => ports.iter().find(|p| *p.name == **name),
        (_, Some(number)) => ports.iter().find(|p| p.port == number),
        _ => None,
    }
}

/// Ready endpoints of the slices' port whose name matches the Service port's name.
fn collect_endpoints(slices: &[&Arc<EndpointSliceInfo>], port: &ServicePortInfo) -> EndpointSet {
    let mut ready = BTreeSet::new();
    let mut not_ready = BTreeSet::new();
    for slice in slices {
        let slice_port = slice.ports.iter().find(|(name, _)| *name == port.name);
        let Some((_, Some(slice_port))) = slice_port else {
            continue;
        };
        for &(ip, is_ready) in &slice.endpoints {
            let addr = SocketAddr::new(ip, *slice_port);
            if is_ready {
                ready.insert(addr);
            } else {
                not_ready.insert(addr);
            }
        }
    }
    // An address listed ready in one slice and not ready in another counts as ready.
    not_ready.retain(|a| !ready.contains(a));
    EndpointSet {
        ready: ready.into_iter().collect(),
        not_ready: not_ready.into_iter().collect(),
    }
}
