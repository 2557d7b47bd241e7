//! A translation kept in the pieces it is made of — per Ingress its routes and warnings, per
//! class and host group the Ingresses routing it — so that a change can be patched in (see
//! [`super::incremental`]) instead of translating everything again. [`State::build`] is the
//! full translation; [`State::output`] the [`Translation`] it stands for.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use foldhash::HashMap;
use gatehouse_certs::{CertSet, LoadedCert};
use gatehouse_routes::{Backend, IngressRef, RouteTable, RouteTableBuilder};
use k8s_openapi::api::networking::v1::Ingress;

use super::backends::{BackendRegistry, BackendResolver, ServiceKey};
use super::ingress::{self, IngressContext, IngressRoutes, Policies};
use super::{basic_auth, default_cert, host_owners, tls, ClassResolver};
use super::{Findings, HostOwners, TranslateConfig, Translation, Warning};
use crate::snapshot::{self, Snapshot};

/// Where an Ingress stands among the others: oldest first (creation time, then namespace and
/// name), so the oldest keeps a contested rule.
pub(super) type Rank = (Option<k8s_openapi::jiff::Timestamp>, Arc<str>, Arc<str>);

/// An Ingress's rank.
pub(super) fn rank_of(ing: &Ingress) -> Rank {
    let iref = snapshot::ingress_ref(&ing.metadata);
    let created = ing.metadata.creation_timestamp.as_ref().map(|t| t.0);
    (created, iref.namespace, iref.name)
}

/// An Ingress's address in the snapshot: the key of its entry (its `Arc` is held in the entry,
/// so the address stays its own).
pub(super) fn key_of(ing: &Arc<Ingress>) -> usize {
    Arc::as_ptr(ing) as usize
}

/// The indexes an Ingress is entered into (borrowed from a [`State`] and its class, or from a
/// full translation's locals before the state exists).
pub(super) struct Indexes<'s> {
    pub hosts: &'s mut HashMap<String, HostState>,
    pub members: &'s mut BTreeMap<Rank, usize>,
    pub dependents: &'s mut HashMap<ServiceKey, Vec<usize>>,
    pub ingresses: &'s mut HashMap<usize, IngressEntry>,
}

impl Indexes<'_> {
    /// Enters `entry` (keyed by [`key_of`] its Ingress): it joins the contributors of each host
    /// group it routes (oldest first), the dependents of each Service it resolved, and its
    /// class's members. Calls `on_host` with each host group, once per rule.
    pub fn enter(&mut self, entry: IngressEntry, mut on_host: impl FnMut(&str)) {
        let key = key_of(&entry.ing);
        let hosts = &mut *self.hosts;
        entry.routes.for_each_host(|host| {
            if !hosts.contains_key(host) {
                hosts.insert(host.to_string(), HostState::default());
            }
            if let Some(group) = hosts.get_mut(host) {
                // An Ingress's own repeats have its rank, so they land on its first entry.
                let at = group.contributors.partition_point(|(r, _)| *r < entry.rank);
                if group.contributors.get(at).is_none_or(|(_, k)| *k != key) {
                    super::reserve_one(&mut group.contributors);
                    group.contributors.insert(at, (entry.rank.clone(), key));
                }
            }
            on_host(host);
        });
        let dependents = &mut *self.dependents;
        entry.routes.for_each_service(|ns, name| {
            let list = dependents.entry((ns.clone(), name.clone())).or_default();
            // One Ingress's targets are entered together, so its repeats are adjacent.
            if list.last() != Some(&key) {
                list.push(key);
            }
        });
        self.members.insert(entry.rank.clone(), key);
        self.ingresses.insert(key, entry);
    }
}

/// One Ingress of a class and what it contributes.
pub(super) struct IngressEntry {
    pub ing: Arc<Ingress>,
    /// Index of its class in the config.
    pub class: usize,
    pub rank: Rank,
    pub routes: IngressRoutes,
    /// Problems with the Ingress itself (not conflicts with others).
    pub warnings: Vec<Warning>,
}

impl IngressEntry {
    /// The Ingress's reference (sharing its rank's strings).
    pub fn iref(&self) -> IngressRef {
        let (_, namespace, name) = &self.rank;
        IngressRef {
            namespace: namespace.clone(),
            name: name.clone(),
        }
    }
}

/// One host group of a class.
#[derive(Default)]
pub(super) struct HostState {
    /// The Ingresses with rules on it, oldest first.
    pub contributors: Vec<(Rank, usize)>,
    /// Its rules that lost their slot to an older Ingress's.
    pub conflicts: Vec<Warning>,
}

/// One class's part of the translation.
pub(super) struct ClassState {
    pub table: RouteTable,
    pub certs: CertSet,
    /// Hosts with TLS in the class (normalised).
    pub tls_hosts: BTreeSet<String>,
    /// Certificate problems of the class's Ingresses.
    pub tls_warnings: Vec<Warning>,
    /// Default backends that lost to an older Ingress's.
    pub default_warnings: Vec<Warning>,
    /// Host group (normalised; `""` for host-less rules) → who routes it.
    pub hosts: HashMap<String, HostState>,
    /// The class's Ingresses (keys of [`State::ingresses`]), oldest first.
    pub members: BTreeMap<Rank, usize>,
    pub owners: HostOwners,
}

impl ClassState {
    /// The class's Ingresses with TLS, oldest first, leaving out those in `except`.
    pub fn tls_members<'s>(
        &self,
        ingresses: &'s HashMap<usize, IngressEntry>,
        except: &foldhash::HashSet<usize>,
    ) -> Vec<(Rank, &'s Arc<Ingress>)> {
        self.members
            .iter()
            .filter(|(_, key)| !except.contains(key))
            .filter_map(|(rank, key)| ingresses.get(key).map(|e| (rank, &e.ing)))
            .filter(|(_, ing)| tls::has_tls(ing))
            .map(|(rank, ing)| (rank.clone(), ing))
            .collect()
    }
}

/// The backends the tables route to, each with its number of routes, kept up to date by
/// patches so that the metrics need not walk every route after each change.
#[derive(Default)]
pub struct BackendsInUse {
    counts: HashMap<usize, (Arc<Backend>, usize)>,
    /// Whether the set changed in the last translation (a full one always counts as changed).
    pub changed: bool,
}

impl BackendsInUse {
    /// Counts the routes of `table` (its host groups and default backend).
    fn of(tables: &[ClassState]) -> Self {
        let mut in_use = Self {
            changed: true,
            ..Self::default()
        };
        for state in tables {
            let groups = state.table.host_groups().flat_map(|(_, g)| g.targets());
            for target in groups.chain(state.table.default_backend()) {
                in_use.add(&target.backend);
            }
        }
        in_use
    }

    /// One more route to `backend`.
    pub fn add(&mut self, backend: &Arc<Backend>) {
        let count = self
            .counts
            .entry(Arc::as_ptr(backend) as usize)
            .or_insert_with(|| (backend.clone(), 0));
        if count.1 == 0 {
            self.changed = true;
        }
        count.1 += 1;
    }

    /// One route fewer to `backend`.
    pub fn remove(&mut self, backend: &Arc<Backend>) {
        let key = Arc::as_ptr(backend) as usize;
        if let Some(count) = self.counts.get_mut(&key) {
            count.1 -= 1;
            if count.1 == 0 {
                self.counts.remove(&key);
                self.changed = true;
            }
        }
    }

    /// Every backend routed to, once.
    pub fn backends(&self) -> impl Iterator<Item = &Arc<Backend>> {
        self.counts.values().map(|(backend, _)| backend)
    }
}

/// A whole translation, in pieces.
pub(super) struct State {
    /// The config and snapshot it was made from (what the next snapshot is compared with;
    /// shared, since copying 150k `Arc`s at 50k Ingresses cost more than a patch).
    pub config: TranslateConfig,
    pub snapshot: Arc<Snapshot>,
    /// IngressClass and default-certificate problems.
    pub warnings: Vec<Warning>,
    /// One per configured class, in the config's order.
    pub classes: Vec<ClassState>,
    /// Every Ingress of our classes, by [`key_of`].
    pub ingresses: HashMap<usize, IngressEntry>,
    /// Service (namespace, name) → the Ingresses whose targets resolved it.
    pub dependents: HashMap<ServiceKey, Vec<usize>>,
    pub backends: BackendRegistry,
    /// Every route policy in use, shared by the routes that are alike.
    pub policies: Policies,
    /// Certificates of the snapshot's Secrets, parsed once per Secret object.
    pub cert_cache: tls::CertCache,
    /// The default certificate and where it came from.
    pub default_cert: Option<(LoadedCert, String)>,
    /// Every backend the tables route to (by address), with how many routes do.
    pub in_use: BackendsInUse,
}

impl State {
    /// Translates `snapshot` in full, reusing of `previous` (the last state) every backend,
    /// route target and policy whose inputs are the same objects.
    pub fn build(
        snapshot: &Arc<Snapshot>,
        config: &TranslateConfig,
        previous: Option<State>,
    ) -> State {
        let (mut previous_ingresses, previous_policies, previous_backends, mut cert_cache) =
            match previous {
                Some(p) => {
                    // Backends stay valid while their Service and EndpointSlices do.
                    let mut backends = p.backends;
                    for service in super::incremental::touched_services(&p.snapshot, snapshot) {
                        backends.forget(&service);
                    }
                    (p.ingresses, p.policies, Some(backends), p.cert_cache)
                }
                None => Default::default(),
            };
        let mut warnings = Vec::new();
        let resolver = ClassResolver::new(config, &snapshot.ingress_classes, &mut warnings);
        let mut backends = BackendResolver::new(snapshot, previous_backends);
        let mut secrets = tls::SecretIndex::new(&snapshot.secrets, &mut cert_cache);
        let default_cert = default_cert(config, &mut secrets, &mut warnings);
        let auth_secrets = basic_auth::AuthSecrets::new(&snapshot.secrets);

        // Oldest first, so that the oldest Ingress keeps a contested rule or certificate.
        let mut ingresses: Vec<_> = snapshot.ingresses.iter().collect();
        ingresses.sort_by(|a, b| super::age_key(&a.metadata).cmp(&super::age_key(&b.metadata)));
        let mut by_class: Vec<Vec<&Arc<Ingress>>> = vec![Vec::new(); config.classes.len()];
        for ing in ingresses {
            let class = resolver.class_of(ing);
            if let Some(i) = config.classes.iter().position(|c| Some(&*c.name) == class) {
                by_class[i].push(ing);
            }
        }

        let mut entries = HashMap::default();
        let mut dependents: HashMap<ServiceKey, Vec<usize>> = HashMap::default();
        let mut policies = Policies::default();
        let mut classes = Vec::with_capacity(config.classes.len());
        for ((index, class), ingresses) in config.classes.iter().enumerate().zip(by_class) {
            let mut tls_warnings = Vec::new();
            let mut default_warnings = Vec::new();
            let default = default_cert.as_ref().map(|(c, s)| (c, s.as_str()));
            let class_tls = tls::class_tls(
                &class.name,
                &ingresses,
                &mut secrets,
                default,
                &mut tls_warnings,
            );
            let mut builder = RouteTableBuilder::new();
            let mut conflicts = Vec::new();
            let mut hosts: HashMap<String, HostState> = HashMap::default();
            let mut members = BTreeMap::new();
            for ing in ingresses {
                let ctx = IngressContext::new(class, config, &class_tls.hosts, &auth_secrets);
                let key = key_of(ing);
                let reuse = previous_ingresses
                    .remove(&key)
                    .filter(|e| Arc::ptr_eq(&e.ing, ing))
                    .map(|e| e.routes);
                let mut own = Vec::new();
                let routes = ingress::add_ingress(
                    ing,
                    &ctx,
                    &mut backends,
                    &mut own,
                    (&mut policies, Some(&previous_policies)),
                    reuse,
                );
                routes.place(ing, &class.name, None, &mut builder, &mut conflicts);
                let rank = rank_of(ing);
                let mut indexes = Indexes {
                    hosts: &mut hosts,
                    members: &mut members,
                    dependents: &mut dependents,
                    ingresses: &mut entries,
                };
                let entry = IngressEntry {
                    ing: ing.clone(),
                    class: index,
                    rank,
                    routes,
                    warnings: own,
                };
                indexes.enter(entry, |_| {});
            }
            for (host, warning) in conflicts {
                match host {
                    Some(host) => hosts.entry(host).or_default().conflicts.push(warning),
                    None => default_warnings.push(warning),
                }
            }
            let table = builder.build();
            let ranked: Vec<IngressRef> = members
                .values()
                .filter_map(|key| entries.get(key).map(IngressEntry::iref))
                .collect();
            classes.push(ClassState {
                owners: host_owners(&table, &ranked),
                table,
                certs: class_tls.certs,
                tls_hosts: class_tls.hosts,
                tls_warnings,
                default_warnings,
                hosts,
                members,
            });
        }
        let backends = backends.into_registry();
        drop(secrets);
        cert_cache.retain_in(&snapshot.secrets);
        let in_use = BackendsInUse::of(&classes);
        State {
            in_use,
            config: config.clone(),
            snapshot: Arc::clone(snapshot),
            warnings,
            classes,
            ingresses: entries,
            dependents,
            backends,
            policies,
            cert_cache,
            default_cert,
        }
    }

    /// The translation this state stands for.
    pub fn output(&self) -> Translation {
        let Findings {
            warnings,
            members,
            host_owners,
        } = self.findings();
        let mut out = Translation {
            warnings,
            members,
            host_owners,
            ..Translation::default()
        };
        for (class, state) in self.config.classes.iter().zip(&self.classes) {
            out.tables.insert(class.name.clone(), state.table.clone());
            out.certs.insert(class.name.clone(), state.certs.clone());
        }
        out
    }

    /// The translation's findings (all of it but the tables and certificates).
    pub fn findings(&self) -> Findings {
        let mut out = Findings::default();
        let mut warnings = self.warnings.clone();
        for (class, state) in self.config.classes.iter().zip(&self.classes) {
            let name = &class.name;
            let members = state.members.values();
            let members = members.filter_map(|key| self.ingresses.get(key));
            out.members
                .insert(name.clone(), members.map(IngressEntry::iref).collect());
            out.host_owners.insert(name.clone(), state.owners.clone());
            warnings.extend(state.tls_warnings.iter().cloned());
            warnings.extend(state.default_warnings.iter().cloned());
            for host in state.hosts.values() {
                warnings.extend(host.conflicts.iter().cloned());
            }
        }
        for entry in self.ingresses.values() {
            warnings.extend(entry.warnings.iter().cloned());
        }
        warnings.sort();
        warnings.dedup();
        out.warnings = warnings;
        out
    }
}
