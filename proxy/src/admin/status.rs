//! The status document (`routes.json`): what each instance serves right now, built from its
//! current route table and certificate set plus the controller's warnings. Names, addresses
//! and dates only; never key or certificate material.

use super::status_view::{
    BackendView, CertificateView, EndpointView, HostView, InstanceView, ListenersView, PathView,
    StatusView, WarningView,
};

use crate::instance::{Instance, InstanceSet};
use crate::routes::{EndpointSet, RouteTarget};

/// The controller's translation warnings, per class (the proxy cannot name the controller's
/// types, so the controller implements this).
pub trait WarningSource: Send + Sync {
    /// Warnings that concern `class`.
    fn warnings(&self, class: &str) -> Vec<WarningView>;
}

/// The whole status document at `now` (Unix seconds).
pub fn status_view(
    instances: &InstanceSet,
    warnings: Option<&dyn WarningSource>,
    now: i64,
) -> StatusView {
    StatusView {
        generated_at: now,
        instances: instances
            .iter()
            .map(|i| instance_view(i, warnings))
            .collect(),
    }
}

fn instance_view(inst: &Instance, warnings: Option<&dyn WarningSource>) -> InstanceView {
    let table = inst.table().load();
    let mut hosts: Vec<HostView> = Vec::new();
    for (host, target) in table.routes() {
        let path = path_view(&target);
        match hosts.last_mut() {
            Some(last) if last.host == host => last.paths.push(path),
            _ => hosts.push(HostView {
                host,
                paths: vec![path],
            }),
        }
    }
    InstanceView {
        class: inst.class.to_string(),
        generation: table.info().generation,
        last_swap_unix: i64::try_from(table.info().swapped_at_unix).unwrap_or(i64::MAX),
        listeners: ListenersView {
            http: inst.listeners.http.clone(),
            https: inst.listeners.https.clone(),
        },
        hosts,
        default_backend: table.default_backend().map(|t| BackendView {
            ingress: t.ingress.to_string(),
            service: t.backend.service.to_string(),
            port: t.backend.port.to_string(),
            endpoints: endpoints(t.backend.endpoints()),
        }),
        certificates: inst
            .certs()
            .load()
            .infos()
            .into_iter()
            .map(|c| CertificateView {
                host: c.host,
                not_after: c.not_after,
                source: c.source,
            })
            .collect(),
        warnings: warnings
            .map(|w| w.warnings(&inst.class))
            .unwrap_or_default(),
    }
}

fn path_view(t: &RouteTarget) -> PathView {
    PathView {
        path: t.rule_path.to_string(),
        path_type: t.path_type.as_str().to_string(),
        ingress: t.ingress.to_string(),
        service: t.backend.service.to_string(),
        port: t.backend.port.to_string(),
        endpoints: endpoints(t.backend.endpoints()),
    }
}

fn endpoints(set: &EndpointSet) -> Vec<EndpointView> {
    let view = |ready: bool| {
        move |a: &std::net::SocketAddr| EndpointView {
            address: a.to_string(),
            ready,
        }
    };
    set.ready
        .iter()
        .map(view(true))
        .chain(set.not_ready.iter().map(view(false)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::ListenerSpec;
    use crate::routes::{
        Backend, IngressRef, PathType, RoutePolicy, RouteTableBuilder, RouteTarget,
    };
    use std::sync::Arc;

    struct OneWarning;

    impl WarningSource for OneWarning {
        fn warnings(&self, class: &str) -> Vec<WarningView> {
            vec![WarningView {
                object: "default/bad".into(),
                kind: "MissingService".into(),
                message: format!("about {class}"),
            }]
        }
    }

    #[test]
    fn groups_routes_by_host_with_endpoints_and_warnings() {
        let inst = Instance::new(
            "web",
            ListenerSpec {
                http: Some("127.0.0.1:8080".into()),
                https: None,
            },
            false,
        );
        let backend = Arc::new(Backend::new(
            "default",
            "app",
            "http",
            EndpointSet {
                ready: vec!["127.0.0.1:9001".parse().expect("addr")],
                not_ready: vec!["127.0.0.1:9002".parse().expect("addr")],
            },
            0,
        ));
        let mut b = RouteTableBuilder::new();
        for path in ["/api", "/"] {
            let target = RouteTarget {
                ingress: IngressRef::new("default", "app"),
                rule_host: "app.test".into(),
                rule_path: path.into(),
                path_type: PathType::Prefix,
                backend: backend.clone(),
                policy: Arc::new(RoutePolicy::default()),
                observed: Default::default(),
            };
            b.add("app.test", Arc::new(target)).expect("no conflict");
        }
        inst.publish(b.build());
        let set = InstanceSet::new(vec![Arc::new(inst)]);
        let view = status_view(&set, Some(&OneWarning), 42);
        assert_eq!(view.generated_at, 42);
        let i = &view.instances[0];
        assert_eq!((i.class.as_str(), i.generation), ("web", 1));
        assert_eq!(i.hosts.len(), 1);
        assert_eq!(i.hosts[0].host, "app.test");
        let paths: Vec<&str> = i.hosts[0].paths.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/", "/api"]);
        let p = &i.hosts[0].paths[0];
        assert_eq!(
            (p.ingress.as_str(), p.service.as_str()),
            ("default/app", "app")
        );
        assert_eq!(
            p.endpoints,
            [
                EndpointView {
                    address: "127.0.0.1:9001".into(),
                    ready: true
                },
                EndpointView {
                    address: "127.0.0.1:9002".into(),
                    ready: false
                },
            ]
        );
        assert_eq!(i.warnings[0].message, "about web");
    }
}
