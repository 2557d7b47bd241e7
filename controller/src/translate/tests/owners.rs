//! `host_owners` walks host groups unsorted (it runs on every publish); it must give what the
//! former walk over every route, sorted, gave: per host, the lowest-ranked Ingress.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use serde_json::json;

use super::*;

/// The former implementation, over `RouteTable::routes` (sorted, one `String` per route).
fn reference(table: &RouteTable, members: &[IngressRef]) -> HostOwners {
    let rank: HashMap<&IngressRef, usize> =
        members.iter().enumerate().map(|(i, r)| (r, i)).collect();
    let mut owners: BTreeMap<String, (usize, IngressRef)> = BTreeMap::new();
    for (host, target) in table.routes() {
        if host == "*" {
            continue;
        }
        let this = rank.get(&target.ingress).copied().unwrap_or(usize::MAX);
        match owners.get(&host) {
            Some((best, _)) if *best <= this => {}
            _ => {
                owners.insert(host, (this, target.ingress.clone()));
            }
        }
    }
    owners.into_iter().map(|(h, (_, r))| (h, r)).collect()
}

/// One Ingress: its age (seconds) and its rules as (host index, path index, wildcard).
type IngressSpec = (u32, Vec<(u8, u8, bool)>);

fn ingresses() -> impl Strategy<Value = Vec<IngressSpec>> {
    prop::collection::vec(
        (
            0u32..5,
            prop::collection::vec((0u8..4, 0u8..3, any::<bool>()), 0..4),
        ),
        0..8,
    )
}

proptest! {
    #[test]
    fn owners_match_the_sorted_walk(spec in ingresses()) {
        let objects: Vec<_> = spec
            .iter()
            .enumerate()
            .map(|(i, (age, rules))| {
                let rules: Vec<_> = rules
                    .iter()
                    .map(|(h, p, wild)| {
                        let host = match (h, wild) {
                            (0, _) => String::new(),
                            (h, true) => format!("*.h{h}.example"),
                            (h, false) => format!("h{h}.example"),
                        };
                        let path = ["/", "/a", "/a/b"][usize::from(*p)];
                        json!({"host": host, "http": {"paths": [{"path": path, "pathType": "Prefix",
                            "backend": {"service": {"name": "svc", "port": {"number": 80}}}}]}})
                    })
                    .collect();
                obj(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                    "metadata": {"namespace": "ns", "name": format!("i{i}"),
                        "creationTimestamp": format!("2024-01-01T00:00:0{age}Z")},
                    "spec": {"ingressClassName": "internal", "rules": rules}}))
            })
            .collect();
        let config = TranslateConfig::new(vec![ClassConfig {
            name: "internal".into(),
            is_default: true,
            has_https: false,
        }]);
        let t = translate(&Snapshot::from_objects(objects), &config);
        let table = &t.tables["internal"];
        let members = &t.members["internal"];
        prop_assert_eq!(&t.host_owners["internal"], &reference(table, members));
        prop_assert_eq!(host_owners(table, members), reference(table, members));
    }
}
