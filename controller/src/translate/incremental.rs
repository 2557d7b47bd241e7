//! Translation that patches the previous one for a change instead of starting over.
//!
//! Snapshots share unchanged objects (`Arc`), so what changed is found by pointer comparison.
//! A change to Ingresses, Services and EndpointSlices is patched in: the Ingresses it touches
//! (changed, added, removed, routing to a changed Service, or routing a host that gained or
//! lost TLS) are taken out and translated again, and only the host groups they route are
//! rebuilt, oldest Ingress first, with the rest of the route table shared with the previous
//! one. A class whose TLS Ingresses change gets its certificate set again (certificates are
//! parsed once per Secret object). What reaches across everything — IngressClasses, Secrets,
//! resolved external names, the config, a default backend, or a change touching many
//! Ingresses — translates in full instead. Either way the result is what
//! [`translate`](super::translate) gives for the same snapshot and config, except for backend
//! slot numbers (a patch never moves a backend's slot); the property test in
//! `translate::tests::incremental` holds both to that.

use std::collections::BTreeSet;
use std::sync::Arc;

use foldhash::HashSet;
use gatehouse_certs::CertSet;
use gatehouse_routes::{Backend, RouteTable, RouteTableBuilder};
use k8s_openapi::api::networking::v1::Ingress;

use super::backends::{BackendResolver, ServiceKey};
use super::ingress::{self, IngressContext};
use super::state::{key_of, rank_of, Indexes, IngressEntry, State};
use super::{basic_auth, tls, ClassResolver, Findings, TranslateConfig, Translation};
use crate::snapshot::Snapshot;

/// Translates snapshot after snapshot, patching the previous translation where it can.
#[derive(Default)]
pub struct IncrementalTranslator {
    state: Option<State>,
    patched: bool,
}

impl IncrementalTranslator {
    /// A translator with nothing to reuse yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The translation of `snapshot` under `config`: equal to `translate(snapshot, config)`
    /// but for backend slot numbers, and much cheaper when only a few Ingresses, Services or
    /// EndpointSlices differ from the previous call's.
    pub fn translate(&mut self, snapshot: &Arc<Snapshot>, config: &TranslateConfig) -> Translation {
        self.update(snapshot, config);
        self.state.as_ref().map(State::output).unwrap_or_default()
    }

    /// Brings the translation up to `snapshot` under `config`, for [`Self::published`] and
    /// [`Self::findings`] to read: the tables can go to the proxy before the findings are
    /// copied out.
    pub fn update(&mut self, snapshot: &Arc<Snapshot>, config: &TranslateConfig) {
        let mut state = self.state.take();
        let patched = state.as_mut().is_some_and(|s| s.patch(snapshot, config));
        let state = match state {
            Some(state) if patched => state,
            previous => State::build(snapshot, config, previous),
        };
        self.state = Some(state);
        self.patched = patched;
    }

    /// What the last translation found besides its tables.
    pub fn findings(&self) -> Findings {
        self.state.as_ref().map(State::findings).unwrap_or_default()
    }

    /// Each class's table and certificates as last translated (what the last translation's
    /// output holds, without a copy).
    pub fn published(&self) -> impl Iterator<Item = (&str, &RouteTable, &CertSet)> {
        let classes = self
            .state
            .iter()
            .flat_map(|s| s.config.classes.iter().zip(&s.classes));
        classes.map(|(class, state)| (class.name.as_str(), &state.table, &state.certs))
    }

    /// Every backend the last translation's tables route to, once, if that set changed in the
    /// last translation (else `None`: the previous set stands).
    pub fn backends_if_changed(&self) -> Option<Vec<Arc<Backend>>> {
        let in_use = &self.state.as_ref()?.in_use;
        in_use.changed.then(|| in_use.backends().cloned().collect())
    }

    /// Every backend the tables route to, by address, whether or not the set changed.
    #[cfg(test)]
    pub(crate) fn backends_in_use(&self) -> std::collections::BTreeSet<usize> {
        let in_use = self.state.iter().flat_map(|s| s.in_use.backends());
        in_use.map(|b| Arc::as_ptr(b) as usize).collect()
    }

    /// Whether the last translation patched the one before (else it was a full one).
    pub fn patched(&self) -> bool {
        self.patched
    }
}

/// A change may touch at most this many Ingresses, or an eighth of them if more, to be patched:
/// beyond that a full translation costs about as much.
const PATCH_LIMIT: usize = 64;

/// Slots a run of patches may leave unused before a full translation numbers them afresh.
const SLOT_SLACK: usize = 1024;

impl State {
    /// Patches this state into the translation of `snapshot`; `false` (and nothing changed)
    /// when the change needs a full translation.
    pub(super) fn patch(&mut self, snapshot: &Arc<Snapshot>, config: &TranslateConfig) -> bool {
        if !same_config(&self.config, config)
            || !same_objects(&self.snapshot.ingress_classes, &snapshot.ingress_classes)
            || !same_objects(&self.snapshot.secrets, &snapshot.secrets)
            || self.snapshot.external_names != snapshot.external_names
            || self.backends.next_slot > 2 * self.backends.len + SLOT_SLACK
        {
            return false;
        }
        let (gone, arrived) = diff(&self.snapshot.ingresses, &snapshot.ingresses);
        let touched = touched_services(&self.snapshot, snapshot);

        // Out: Ingresses gone, and those routing to a changed Service. In: Ingresses arrived
        // and those same ones again, each with its class.
        let mut out: Vec<usize> = Vec::new();
        let mut seen: HashSet<usize> = HashSet::default();
        for ing in &gone {
            let key = key_of(ing);
            if self.ingresses.contains_key(&key) && seen.insert(key) {
                out.push(key);
            }
        }
        let classes = ClassResolver::new(config, &snapshot.ingress_classes, &mut Vec::new());
        let mut incoming: Vec<(Arc<Ingress>, usize)> = Vec::new();
        for ing in arrived {
            let class = classes.class_of(&ing);
            if let Some(index) = config.classes.iter().position(|c| Some(&*c.name) == class) {
                incoming.push((ing, index));
            }
        }
        for service in &touched {
            for key in self.dependents.get(service).into_iter().flatten() {
                if let Some(entry) = self.ingresses.get(key).filter(|_| seen.insert(*key)) {
                    out.push(*key);
                    incoming.push((entry.ing.clone(), entry.class));
                }
            }
        }
        let leaving = out.iter().filter_map(|key| self.ingresses.get(key));
        if leaving.clone().any(|e| has_default(&e.ing))
            || incoming.iter().any(|(ing, _)| has_default(ing))
        {
            return false;
        }

        // A class whose TLS Ingresses change gets its certificates and TLS hosts again, and the
        // rules on hosts that gained or lost TLS are translated again (their redirects).
        let mut tls_classes: BTreeSet<usize> = leaving
            .filter(|e| tls::has_tls(&e.ing))
            .map(|e| e.class)
            .collect();
        tls_classes.extend(
            incoming
                .iter()
                .filter(|(ing, _)| tls::has_tls(ing))
                .map(|(_, index)| *index),
        );
        let mut new_tls = Vec::new();
        let mut again: Vec<(Arc<Ingress>, usize)> = Vec::new();
        for index in tls_classes {
            let (Some(class), Some(state)) = (config.classes.get(index), self.classes.get(index))
            else {
                continue;
            };
            let mut members = state.tls_members(&self.ingresses, &seen);
            let arriving = incoming
                .iter()
                .filter(|(ing, i)| *i == index && tls::has_tls(ing));
            members.extend(arriving.map(|(ing, _)| (rank_of(ing), ing)));
            members.sort_by(|a, b| a.0.cmp(&b.0));
            let members: Vec<&Arc<Ingress>> = members.into_iter().map(|(_, ing)| ing).collect();
            let mut secrets = tls::SecretIndex::new(&snapshot.secrets, &mut self.cert_cache);
            let default = self.default_cert.as_ref().map(|(c, s)| (c, s.as_str()));
            let mut warnings = Vec::new();
            let result =
                tls::class_tls(&class.name, &members, &mut secrets, default, &mut warnings);
            for host in state.tls_hosts.symmetric_difference(&result.hosts) {
                let routing = state.hosts.get(host).map(|g| g.contributors.as_slice());
                for (_, key) in routing.unwrap_or_default() {
                    if let Some(entry) = self.ingresses.get(key).filter(|_| seen.insert(*key)) {
                        out.push(*key);
                        again.push((entry.ing.clone(), entry.class));
                    }
                }
            }
            new_tls.push((index, result, warnings));
        }
        incoming.extend(again);
        if out.len() + incoming.len() > PATCH_LIMIT.max(self.ingresses.len() / 8) {
            return false;
        }

        // Nothing has changed yet; from here on the patch always completes.
        let mut dirty: Vec<BTreeSet<String>> = vec![BTreeSet::new(); self.classes.len()];
        for key in out {
            let Some(entry) = self.ingresses.remove(&key) else {
                continue;
            };
            let Some(class) = self.classes.get_mut(entry.class) else {
                continue;
            };
            class.members.remove(&entry.rank);
            entry.routes.for_each_host(|host| {
                if let Some(group) = class.hosts.get_mut(host) {
                    group.contributors.retain(|(_, k)| *k != key);
                }
                dirty[entry.class].insert(host.to_string());
            });
            let dependents = &mut self.dependents;
            entry.routes.for_each_service(|ns, name| {
                let service = (ns.clone(), name.clone());
                if let Some(list) = dependents.get_mut(&service) {
                    list.retain(|k| *k != key);
                    if list.is_empty() {
                        dependents.remove(&service);
                    }
                }
            });
        }
        for service in &touched {
            self.backends.forget(service);
        }
        for (index, result, warnings) in new_tls {
            if let Some(state) = self.classes.get_mut(index) {
                state.certs = result.certs;
                state.tls_hosts = result.hosts;
                state.tls_warnings = warnings;
            }
        }

        let auth_secrets = basic_auth::AuthSecrets::new(&snapshot.secrets);
        let mut backends = BackendResolver::patching(snapshot, &mut self.backends);
        for (ing, index) in &incoming {
            let (Some(class), Some(state)) =
                (config.classes.get(*index), self.classes.get_mut(*index))
            else {
                continue;
            };
            let ctx = IngressContext::new(class, config, &state.tls_hosts, &auth_secrets);
            let mut own = Vec::new();
            let routes = ingress::add_ingress(
                ing,
                &ctx,
                &mut backends,
                &mut own,
                (&mut self.policies, None),
                None,
            );
            let rank = rank_of(ing);
            let mut indexes = Indexes {
                hosts: &mut state.hosts,
                members: &mut state.members,
                dependents: &mut self.dependents,
                ingresses: &mut self.ingresses,
            };
            let entry = IngressEntry {
                ing: ing.clone(),
                class: *index,
                rank,
                routes,
                warnings: own,
            };
            indexes.enter(entry, |host| {
                dirty[*index].insert(host.to_string());
            });
        }
        drop(backends);

        // The touched host groups again, each from its Ingresses oldest first.
        let slots = self.backends.next_slot;
        self.in_use.changed = false;
        for ((class, state), hosts) in config.classes.iter().zip(&mut self.classes).zip(dirty) {
            if hosts.is_empty() {
                continue;
            }
            let mut builder = RouteTableBuilder::new();
            for host in &hosts {
                let Some(group) = state.hosts.get_mut(host) else {
                    continue;
                };
                let mut conflicts = Vec::new();
                for (_, key) in &group.contributors {
                    if let Some(entry) = self.ingresses.get(key) {
                        let only = Some(host.as_str());
                        entry.routes.place(
                            &entry.ing,
                            &class.name,
                            only,
                            &mut builder,
                            &mut conflicts,
                        );
                    }
                }
                group.conflicts = conflicts.into_iter().map(|(_, w)| w).collect();
                // The oldest Ingress routing a host owns it (its first rule there always wins).
                let owner = group
                    .contributors
                    .first()
                    .and_then(|(_, key)| self.ingresses.get(key));
                match owner {
                    Some(entry) if !host.is_empty() => {
                        state.owners.insert(host.clone(), entry.iref());
                    }
                    _ => {
                        state.owners.remove(host);
                    }
                }
                if group.contributors.is_empty() {
                    state.hosts.remove(host);
                }
            }
            let rebuilt = builder.build();
            for host in &hosts {
                let old = state.table.host_routes(host).into_iter();
                for target in old.flat_map(|g| g.targets()) {
                    self.in_use.remove(&target.backend);
                }
            }
            for target in rebuilt.host_groups().flat_map(|(_, g)| g.targets()) {
                self.in_use.add(&target.backend);
            }
            let replaced = hosts.iter().map(String::as_str);
            state.table = state.table.patched(rebuilt, replaced, slots);
        }
        self.snapshot = Arc::clone(snapshot);
        true
    }
}

/// Whether an Ingress has a default backend (one per class, decided across the class).
fn has_default(ing: &Ingress) -> bool {
    ing.spec
        .as_ref()
        .is_some_and(|s| s.default_backend.is_some())
}

/// Whether the config translates the same (a changed config translates in full).
fn same_config(a: &TranslateConfig, b: &TranslateConfig) -> bool {
    let same_fallback = match (&a.fallback_cert, &b.fallback_cert) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            Arc::ptr_eq(&x.key, &y.key)
                && x.names == y.names
                && (x.not_before, x.not_after) == (y.not_before, y.not_after)
        }
        _ => false,
    };
    same_fallback
        && a.controller_name == b.controller_name
        && a.classes == b.classes
        && a.default_secret == b.default_secret
        && a.unsupported_annotations == b.unsupported_annotations
        && a.global_auth == b.global_auth
}

/// Whether two lists hold the same objects in the same order.
fn same_objects<T>(a: &[Arc<T>], b: &[Arc<T>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

/// The objects of `old` that are not in `new` and those of `new` that are not in `old`, by
/// identity. Sources keep their order between snapshots, so the common prefix and suffix are
/// skipped before the rest is compared as sets.
fn diff<T>(old: &[Arc<T>], new: &[Arc<T>]) -> (Vec<Arc<T>>, Vec<Arc<T>>) {
    let same = |(a, b): (&Arc<T>, &Arc<T>)| Arc::ptr_eq(a, b);
    let prefix = old.iter().zip(new).take_while(|p| same(*p)).count();
    let (old, new) = (&old[prefix..], &new[prefix..]);
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take_while(|p| same(*p))
        .count();
    let (old, new) = (&old[..old.len() - suffix], &new[..new.len() - suffix]);
    let addresses =
        |list: &[Arc<T>]| -> HashSet<*const T> { list.iter().map(Arc::as_ptr).collect() };
    let (in_old, in_new) = (addresses(old), addresses(new));
    let gone = old
        .iter()
        .filter(|o| !in_new.contains(&Arc::as_ptr(o)))
        .cloned()
        .collect();
    let arrived = new
        .iter()
        .filter(|o| !in_old.contains(&Arc::as_ptr(o)))
        .cloned()
        .collect();
    (gone, arrived)
}

/// The Services (namespace, name) that changed, or whose EndpointSlices did, between two
/// snapshots.
pub(super) fn touched_services(old: &Snapshot, new: &Snapshot) -> HashSet<ServiceKey> {
    let mut touched = HashSet::default();
    let (gone, arrived) = diff(&old.services, &new.services);
    for service in gone.iter().chain(&arrived) {
        touched.insert((Arc::from(&*service.namespace), Arc::from(&*service.name)));
    }
    let (gone, arrived) = diff(&old.endpoint_slices, &new.endpoint_slices);
    for slice in gone.iter().chain(&arrived) {
        if let Some(service) = &slice.service {
            touched.insert((Arc::from(&*slice.namespace), Arc::from(&**service)));
        }
    }
    touched
}
