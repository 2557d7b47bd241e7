//! Basic authentication: the Secret an Ingress names becomes its routes' users, and every way
//! that Secret can be unusable refuses the Ingress (503) with a warning naming it.

use serde_json::json;

use super::*;
use gatehouse_routes::{PasswordHash, Satisfy};

const NGINX: &str = "nginx.ingress.kubernetes.io/";
// Well-formed hashes (their passwords do not matter here: translation does not verify).
const APR1: &str = "$apr1$salt1234$abcdefghijklmnopqrstuv";
const SHA: &str = "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=";

fn secret(ns: &str, name: &str, string_data: serde_json::Value) -> Object {
    obj(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"namespace": ns, "name": name}, "stringData": string_data}),
    )
}

/// Ingress `ns/<name>` on `<name>.example` with basic auth from Secret `secret` plus `extra`.
fn protected(name: &str, secret: &str, extra: &[(&str, &str)]) -> Object {
    let mut annotations = vec![
        (format!("{NGINX}auth-type"), "basic".to_string()),
        (format!("{NGINX}auth-secret"), secret.to_string()),
    ];
    annotations.extend(
        extra
            .iter()
            .map(|(k, v)| (format!("{NGINX}{k}"), v.to_string())),
    );
    let pairs: Vec<(&str, &str)> = annotations
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    annotated(
        ingress(
            "ns",
            name,
            Some("internal"),
            &[(&format!("{name}.example"), "/", "Prefix", "s", json!(80))],
        ),
        &pairs,
    )
}

/// (host, users with their hash kinds, realm, satisfy)
type Served = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    Satisfy,
);

#[test]
fn secrets_become_route_users_or_refusals() {
    let objects = vec![
        service("ns", "s", &[("http", 80)]),
        secret(
            "ns",
            "file",
            json!({"auth": format!("alice:{APR1}\nbob:{SHA}\n")}),
        ),
        secret("other", "map", json!({"carol": APR1, "dave": SHA})),
        secret("ns", "nokey", json!({"users": format!("alice:{APR1}\n")})),
        secret("ns", "empty", json!({"auth": "# nobody\n"})),
        secret("ns", "des", json!({"auth": "alice:abJnggxhB/yWI\n"})),
        obj(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"namespace": "ns", "name": "b64"},
            "data": {"auth": "YWxpY2U6e1NIQX1xVXFQNWN5eG02WWNUQWh6MDVIcGg1Z3Z1OU09Cg=="}}),
        ),
        protected("file", "file", &[("auth-realm", "Staff")]),
        protected(
            "map",
            "other/map",
            &[("auth-secret-type", "auth-map"), ("satisfy", "any")],
        ),
        protected("b64", "b64", &[]),
        protected("missing", "gone", &[]),
        protected("nokey", "nokey", &[]),
        protected("empty", "empty", &[]),
        protected("des", "des", &[]),
        protected("maptype", "file", &[("auth-secret-type", "auth-map")]),
        protected("digest", "file", &[]),
        ingress(
            "ns",
            "plain",
            Some("internal"),
            &[("plain.example", "/", "Prefix", "s", json!(80))],
        ),
    ];
    // Digest: switch the type of the last protected Ingress.
    let objects: Vec<Object> = objects
        .into_iter()
        .map(|o| match o {
            Object::Ingress(i) if i.metadata.name.as_deref() == Some("digest") => annotated(
                Object::Ingress(i),
                &[("nginx.ingress.kubernetes.io/auth-type", "digest")],
            ),
            o => o,
        })
        .collect();
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let policy = |host: &str| table.lookup(host, "/").expect("route").policy.clone();

    let served: [Served; 3] = [
        (
            "file.example",
            &[("alice", "apr1"), ("bob", "sha1")],
            "Staff",
            Satisfy::All,
        ),
        (
            "map.example",
            &[("carol", "apr1"), ("dave", "sha1")],
            "",
            Satisfy::Any,
        ),
        ("b64.example", &[("alice", "sha1")], "", Satisfy::All),
    ];
    for (host, users, realm, satisfy) in served {
        let p = policy(host);
        assert_eq!(p.refuse, None, "{host}");
        assert_eq!(p.satisfy, satisfy, "{host}");
        let auth = p.basic_auth.as_ref().expect("basic auth");
        assert_eq!(&*auth.realm, realm, "{host}");
        let got: Vec<(&str, String)> = auth
            .users
            .iter()
            .map(|(u, h)| (&**u, format!("{h:?}")))
            .collect();
        let want: Vec<(&str, String)> = users.iter().map(|(u, k)| (*u, k.to_string())).collect();
        assert_eq!(got, want, "{host}");
    }
    let b64 = policy("b64.example");
    let users = &b64.basic_auth.as_ref().expect("auth").users;
    assert!(matches!(users.get("alice"), Some(PasswordHash::Sha1(_))));

    // (Ingress, what its warning says); the public 503 reason names only the annotation.
    let refused = [
        ("missing", "Secret ns/gone not found"),
        ("nokey", "Secret ns/nokey has no key \"auth\""),
        ("empty", "holds no users"),
        ("des", "line 1 (user \"alice\"): hash format not supported"),
        // auth-map over an htpasswd Secret: "auth" is read as a user whose hash is a file.
        ("maptype", "user \"auth\": hash format not supported"),
    ];
    for (name, why) in refused {
        let p = policy(&format!("{name}.example"));
        let reason = p.refuse.as_deref().unwrap_or_default();
        assert!(
            reason.ends_with(
                "nginx.ingress.kubernetes.io/auth-secret (its Secret is missing or unusable)"
            ),
            "{name}: {reason}"
        );
        assert!(
            !reason.contains("alice"),
            "{name}: no user names in the 503 body"
        );
        assert!(
            p.basic_auth.is_none(),
            "{name}: a refused route carries no users"
        );
        let object = format!("Ingress ns/{name}");
        assert!(
            t.warnings
                .iter()
                .any(|w| w.kind == WarningKind::InvalidAnnotation
                    && w.object.to_string() == object
                    && w.message.contains(why)),
            "{name}: {:?}",
            t.warnings
        );
    }
    let digest = policy("digest.example");
    let reason = digest.refuse.as_deref().unwrap_or_default();
    assert!(reason.contains("auth-type (not supported)"), "{reason}");
    assert_eq!(policy("plain.example").basic_auth, None);

    // One warning per refused Ingress, naming it.
    let warned = warning_list(&t);
    for name in ["missing", "nokey", "empty", "des", "maptype"] {
        let want = (WarningKind::InvalidAnnotation, format!("Ingress ns/{name}"));
        assert!(warned.contains(&want), "{name}: {warned:?}");
    }
    assert!(warned.contains(&(
        WarningKind::UnsupportedAccessControl,
        "Ingress ns/digest".to_string()
    )));
    assert_eq!(warned.len(), 6, "{warned:?}");
}
