//! `proxy-ssl-secret`: the Secret an Ingress names becomes its routes' backend CAs and client
//! certificate, and every way that Secret can be unusable refuses the Ingress (503) with a
//! warning naming it.

use serde_json::json;

use super::*;
use gatehouse_testkit::tlsgen::TestCa;

const NGINX: &str = "nginx.ingress.kubernetes.io/";

fn secret(ns: &str, name: &str, string_data: serde_json::Value) -> Object {
    obj(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"namespace": ns, "name": name}, "stringData": string_data}),
    )
}

/// Ingress `ns/<name>` on `<name>.example`, HTTPS backend, verified, with `proxy-ssl-secret`.
fn with_secret(name: &str, value: &str) -> Object {
    annotated(
        ingress(
            "ns",
            name,
            Some("internal"),
            &[(&format!("{name}.example"), "/", "Prefix", "s", json!(443))],
        ),
        &[
            (&format!("{NGINX}backend-protocol"), "HTTPS"),
            (&format!("{NGINX}proxy-ssl-verify"), "on"),
            (&format!("{NGINX}proxy-ssl-secret"), value),
        ],
    )
}

#[test]
fn secrets_become_backend_tls_or_refusals() {
    let ca = TestCa::new("Backend CA").expect("ca");
    let other = TestCa::new("Other CA").expect("ca");
    let client = ca.leaf(&["gatehouse.client"]).expect("leaf");
    let foreign = other.leaf(&["x.test"]).expect("leaf");
    let bad_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let objects = vec![
        service("ns", "s", &[("https", 443)]),
        secret(
            "ns",
            "full",
            json!({"tls.crt": client.chain_pem, "tls.key": client.key_pem, "ca.crt": ca.cert_pem()}),
        ),
        // Another namespace: allowed, the value always names it.
        secret(
            "certs",
            "ca-only",
            json!({"ca.crt": ca.cert_pem(), "tls.crt": ""}),
        ),
        secret(
            "ns",
            "cert-only",
            json!({"tls.crt": client.chain_pem, "tls.key": client.key_pem}),
        ),
        secret("ns", "nothing", json!({"other": "x"})),
        secret("ns", "half", json!({"tls.crt": client.chain_pem})),
        secret(
            "ns",
            "mismatch",
            json!({"tls.crt": client.chain_pem, "tls.key": foreign.key_pem}),
        ),
        secret("ns", "badca", json!({"ca.crt": bad_pem})),
        secret("ns", "notpem", json!({"ca.crt": "hello"})),
        with_secret("full", "ns/full"),
        with_secret("caonly", "certs/ca-only"),
        with_secret("certonly", "ns/cert-only"),
        with_secret("missing", "ns/gone"),
        with_secret("nothing", "ns/nothing"),
        with_secret("half", "ns/half"),
        with_secret("mismatch", "ns/mismatch"),
        with_secret("badca", "ns/badca"),
        with_secret("notpem", "ns/notpem"),
        with_secret("nonamespace", "full"),
        ingress(
            "ns",
            "plain",
            Some("internal"),
            &[("plain.example", "/", "Prefix", "s", json!(443))],
        ),
    ];
    let t = translate(&Snapshot::from_objects(objects), &two_classes());
    let table = &t.tables["internal"];
    let policy = |host: &str| table.lookup(host, "/").expect("route").policy.clone();

    // (Ingress, CA certificates, client chain length)
    let served = [
        ("full", Some(1), Some(2)),
        ("caonly", Some(1), None),
        ("certonly", None, Some(2)),
    ];
    for (name, cas, chain) in served {
        let p = policy(&format!("{name}.example"));
        assert_eq!(p.refuse, None, "{name}");
        let tls = &p.upstream_tls;
        assert!(tls.verify, "{name}");
        assert_eq!(tls.ca.as_ref().map(|c| c.certs.len()), cas, "{name}");
        assert_eq!(
            tls.client_cert.as_ref().map(|c| c.chain.len()),
            chain,
            "{name}"
        );
        assert!(
            tls.client_cert.as_ref().is_none_or(|c| !c.key.is_empty()),
            "{name}"
        );
    }
    let plain = policy("plain.example");
    assert!(plain.upstream_tls.ca.is_none() && plain.upstream_tls.client_cert.is_none());

    // (Ingress, what its warning says); the public 503 reason names only the annotation.
    let refused = [
        ("missing", "Secret ns/gone not found"),
        ("nothing", "has neither tls.crt and tls.key nor ca.crt"),
        ("half", "has tls.crt but no tls.key"),
        ("mismatch", "does not match the leaf certificate"),
        ("badca", "ca.crt: cannot parse"),
        ("notpem", "ca.crt: no certificate found"),
        ("nonamespace", "does not name its namespace"),
    ];
    for (name, why) in refused {
        let p = policy(&format!("{name}.example"));
        let reason = p.refuse.as_deref().unwrap_or_default();
        assert!(
            reason.contains("nginx.ingress.kubernetes.io/proxy-ssl-secret ("),
            "{name}: {reason}"
        );
        assert!(
            p.upstream_tls.ca.is_none() && p.upstream_tls.client_cert.is_none(),
            "{name}"
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
    let warned = warning_list(&t);
    assert_eq!(warned.len(), refused.len(), "{warned:?}");
}
