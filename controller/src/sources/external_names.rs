//! ExternalName Services: a stage between a source and the reconciler that resolves the DNS
//! names they point at (with the system resolver, `getaddrinfo` through tokio's
//! `lookup_host`, which reports no TTL), puts the addresses into each snapshot it passes on,
//! and re-resolves every name at a fixed interval, passing the last snapshot on again when an
//! answer changed. Translation stays pure: it only reads [`Snapshot::external_names`]. The
//! request path never waits for DNS.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::{SourceUpdate, UpdateReceiver, UpdateSender};
use crate::snapshot::{external_name_key, ResolvedNames, Snapshot};

/// How often every name is resolved again (the system resolver gives no TTL to follow).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// How long one lookup may take before the name counts as unresolved this round.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The names the snapshot's ExternalName Services point at, in lookup form.
pub fn wanted_names(snapshot: &Snapshot) -> BTreeSet<String> {
    snapshot
        .services
        .iter()
        .filter_map(|s| s.external_name.as_deref())
        .map(external_name_key)
        .filter(|name| !name.is_empty())
        .collect()
}

/// Resolves one name: its addresses, sorted and without duplicates, or why there are none.
pub async fn resolve(name: &str) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let lookup = tokio::net::lookup_host((name, 0));
    match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
        Err(_) => Err(format!("no DNS answer within {LOOKUP_TIMEOUT:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(addrs)) => {
            let ips: BTreeSet<IpAddr> = addrs.map(|a| a.ip().to_canonical()).collect();
            if ips.is_empty() {
                Err("no addresses".to_string())
            } else {
                Ok(ips.into_iter().collect())
            }
        }
    }
}

/// Runs until either side is gone: passes every update from `input` on to `output` with
/// the ExternalName answers filled in (a new name is resolved before its snapshot is passed
/// on), and every `refresh` resolves all names again.
pub async fn run(input: UpdateReceiver, output: UpdateSender, refresh: Duration) {
    run_with(input, output, refresh, |name| async move {
        resolve(&name).await
    })
    .await
}

/// [`run`] with the lookup given (tests replace DNS with answers they control).
pub async fn run_with<F, Fut>(
    mut input: UpdateReceiver,
    output: UpdateSender,
    refresh: Duration,
    lookup: F,
) where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<IpAddr>, String>>,
{
    let mut latest: Option<Arc<SourceUpdate>> = None;
    let mut resolved = ResolvedNames::new();
    let mut tick = tokio::time::interval(refresh);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let refreshing = tokio::select! {
            changed = input.changed() => {
                if changed.is_err() {
                    return;
                }
                latest = input.borrow_and_update().clone();
                false
            }
            _ = tick.tick() => true,
        };
        let Some(update) = &latest else { continue };
        let wanted = wanted_names(&update.snapshot);
        let mut fresh = ResolvedNames::new();
        for name in wanted {
            let answer = match resolved.get(&name) {
                Some(known) if !refreshing => known.clone(),
                _ => lookup(name.clone()).await,
            };
            fresh.insert(name, answer);
        }
        if refreshing && fresh == resolved {
            continue;
        }
        resolved = fresh;
        let mut snapshot = (*update.snapshot).clone();
        snapshot.external_names = resolved.clone();
        let passed_on = SourceUpdate {
            snapshot: Arc::new(snapshot),
            publish_services: update.publish_services.clone(),
        };
        if output.send(Some(Arc::new(passed_on))).is_err() {
            return;
        }
        tracing::debug!(names = resolved.len(), "external names passed on");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Object;
    use k8s_openapi::api::core::v1::Service;
    use serde_json::json;

    fn service(name: &str, spec: serde_json::Value) -> Object {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"namespace": "ns", "name": name}, "spec": spec
        }))
        .expect("service fixture");
        Object::from(svc)
    }

    #[test]
    fn only_external_names_are_wanted() {
        let snapshot = Snapshot::from_objects([
            service(
                "a",
                json!({"type": "ExternalName", "externalName": "API.Example.com."}),
            ),
            service(
                "b",
                json!({"type": "ExternalName", "externalName": "api.example.com"}),
            ),
            service(
                "c",
                json!({"type": "ClusterIP", "externalName": "ignored.example"}),
            ),
            service("d", json!({"type": "ExternalName"})),
        ]);
        assert_eq!(
            wanted_names(&snapshot).into_iter().collect::<Vec<_>>(),
            ["api.example.com"]
        );
    }

    #[tokio::test]
    async fn localhost_and_literal_addresses_resolve_and_nonsense_does_not() {
        let local = resolve("localhost").await.expect("localhost resolves");
        assert!(local.iter().all(IpAddr::is_loopback), "{local:?}");
        assert_eq!(
            resolve("192.0.2.7").await,
            Ok(vec!["192.0.2.7".parse().expect("ip")])
        );
        // `.invalid` never resolves (RFC 6761), and the system resolver answers it locally.
        assert!(resolve("no-such-name.invalid").await.is_err());
    }

    #[tokio::test]
    async fn updates_pass_on_with_answers() {
        let (in_tx, in_rx) = super::super::channel();
        let (out_tx, mut out_rx) = super::super::channel();
        tokio::spawn(run(in_rx, out_tx, Duration::from_secs(3600)));
        let snapshot = Snapshot::from_objects([service(
            "a",
            json!({"type": "ExternalName", "externalName": "localhost"}),
        )]);
        in_tx
            .send(Some(Arc::new(SourceUpdate {
                snapshot: Arc::new(snapshot),
                publish_services: Vec::new(),
            })))
            .expect("stage listening");
        let passed = out_rx
            .wait_for(Option::is_some)
            .await
            .expect("stage running")
            .clone()
            .expect("update");
        let answer = passed.snapshot.external_names.get("localhost");
        assert!(
            matches!(answer, Some(Ok(ips)) if !ips.is_empty()),
            "{answer:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn names_are_resolved_again_every_refresh() {
        use std::sync::Mutex;
        let answer = Arc::new(Mutex::new(vec!["192.0.2.1".parse::<IpAddr>().expect("ip")]));
        let lookup = {
            let answer = answer.clone();
            move |_name: String| {
                let now = answer.lock().map(|a| a.clone()).unwrap_or_default();
                async move { Ok(now) }
            }
        };
        let (in_tx, in_rx) = super::super::channel();
        let (out_tx, mut out_rx) = super::super::channel();
        tokio::spawn(run_with(in_rx, out_tx, Duration::from_secs(30), lookup));
        let snapshot = Snapshot::from_objects([service(
            "a",
            json!({"type": "ExternalName", "externalName": "api.example"}),
        )]);
        in_tx
            .send(Some(Arc::new(SourceUpdate {
                snapshot: Arc::new(snapshot),
                publish_services: Vec::new(),
            })))
            .expect("stage listening");
        let has = |update: &Option<Arc<SourceUpdate>>, ip: &str| {
            let want: IpAddr = ip.parse().expect("ip");
            update.as_ref().is_some_and(|u| {
                matches!(u.snapshot.external_names.get("api.example"), Some(Ok(ips)) if ips == &[want])
            })
        };
        out_rx
            .wait_for(|u| has(u, "192.0.2.1"))
            .await
            .expect("first answer");
        if let Ok(mut a) = answer.lock() {
            *a = vec!["192.0.2.2".parse().expect("ip")];
        }
        // Time is paused: the runtime jumps to the next refresh as soon as all is idle.
        out_rx
            .wait_for(|u| has(u, "192.0.2.2"))
            .await
            .expect("answer after a refresh");
    }
}
