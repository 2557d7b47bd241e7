//! Shared by the scale harnesses (`scale_timing.rs`, `scale_memory.rs`).

use std::fmt::Write as _;

/// How many Ingresses a harness makes: `SCALE_INGRESSES`, else 10,000.
pub fn scale_count() -> usize {
    std::env::var("SCALE_INGRESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// The objects `benches/harness/manifests.py::scale_objects` writes, of the given kinds
/// (`Ingress`, `Service`, `EndpointSlice`), each object's documents together.
pub fn scale_yaml(count: usize, kinds: &[&str]) -> String {
    let mut s = String::new();
    for i in 0..count {
        let name = format!("app-{i:05}");
        let host = if i % 10 == 9 {
            format!("*.w{i:05}.scale.local")
        } else {
            format!("{name}.scale.local")
        };
        let created = format!("2024-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60);
        for kind in kinds {
            match *kind {
                "Ingress" => {
                    let _ = write!(
                    s,
                    "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: default\n  creationTimestamp: \"{created}\"\n  annotations:\n    nginx.ingress.kubernetes.io/ssl-redirect: \"false\"\nspec:\n  ingressClassName: bench\n  rules:\n  - host: \"{host}\"\n    http:\n      paths:\n"
                );
                    for p in ["/", "/api/v1", "/api/v2", "/api/v3"] {
                        let _ = write!(s, "      - path: {p}\n        pathType: Prefix\n        backend:\n          service:\n            name: {name}\n            port:\n              name: http\n");
                    }
                }
                "Service" => {
                    let _ = write!(
                    s,
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n    protocol: TCP\n"
                );
                }
                _ => {
                    let _ = write!(
                    s,
                    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-s1\n  namespace: default\n  labels:\n    kubernetes.io/service-name: {name}\naddressType: IPv4\nports:\n- name: http\n  port: 8080\n  protocol: TCP\nendpoints:\n"
                );
                    for k in 0..3 {
                        let _ = writeln!(
                            s,
                            "- addresses: [\"127.{}.{}.{}\"]\n  conditions:\n    ready: true",
                            1 + k,
                            (i >> 8) & 255,
                            i & 255
                        );
                    }
                }
            }
            s.push_str("---\n");
        }
    }
    s
}
