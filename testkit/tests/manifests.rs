//! YAML builders produce parseable Kubernetes objects; ManifestDir writes atomically.

use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::ManifestDir;
use serde::Deserialize as _;

fn parse_all(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde_yaml::Value::deserialize(doc).expect("valid yaml document"))
        .collect()
}

#[test]
fn builders_render_parseable_objects() {
    let text = yaml::documents(&[
        yaml::ingress_class("internal", yaml::CONTROLLER_NAME, true),
        Ingress::new("default", "web")
            .class("internal")
            .legacy_class("external")
            .created("2024-01-01T00:00:00Z")
            .default_backend("fallback", 80)
            .path("*.foo.test", "/a", PathType::Exact, "svc-a", "http")
            .path("", "/b", PathType::ImplementationSpecific, "svc-b", 81)
            .yaml(),
        yaml::backend(
            "default",
            "svc-a",
            8080,
            &[("127.0.0.5", true), ("127.0.0.6", false)],
        ),
    ]);
    let docs = parse_all(&text);
    assert_eq!(docs.len(), 4, "{text}");

    let class = &docs[0];
    assert_eq!(class["kind"].as_str(), Some("IngressClass"));
    assert_eq!(
        class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"].as_str(),
        Some("true")
    );
    assert_eq!(
        class["spec"]["controller"].as_str(),
        Some(yaml::CONTROLLER_NAME)
    );

    let ingress = &docs[1];
    assert_eq!(
        ingress["spec"]["ingressClassName"].as_str(),
        Some("internal")
    );
    assert_eq!(
        ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"].as_str(),
        Some("external")
    );
    assert_eq!(
        ingress["metadata"]["creationTimestamp"].as_str(),
        Some("2024-01-01T00:00:00Z")
    );
    assert_eq!(
        ingress["spec"]["defaultBackend"]["service"]["port"]["number"].as_u64(),
        Some(80)
    );
    let rules = ingress["spec"]["rules"].as_sequence().expect("rules");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["host"].as_str(), Some("*.foo.test"));
    assert_eq!(
        rules[0]["http"]["paths"][0]["pathType"].as_str(),
        Some("Exact")
    );
    assert_eq!(
        rules[0]["http"]["paths"][0]["backend"]["service"]["port"]["name"].as_str(),
        Some("http")
    );
    assert!(rules[1].get("host").is_none());

    let service = &docs[2];
    assert_eq!(service["spec"]["ports"][0]["name"].as_str(), Some("http"));
    assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(80));

    let slice = &docs[3];
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"].as_str(),
        Some("svc-a")
    );
    assert_eq!(slice["ports"][0]["port"].as_u64(), Some(8080));
    assert_eq!(
        slice["endpoints"][1]["addresses"][0].as_str(),
        Some("127.0.0.6")
    );
    assert_eq!(
        slice["endpoints"][1]["conditions"]["ready"].as_bool(),
        Some(false)
    );
}

#[test]
fn manifest_dir_writes_atomically_and_removes() -> anyhow::Result<()> {
    let dir = ManifestDir::new()?;
    dir.write("a.yaml", "kind: One\n")?;
    dir.write("a.yaml", "kind: Two\n")?;
    assert_eq!(std::fs::read_to_string(dir.file("a.yaml"))?, "kind: Two\n");
    let names: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        names,
        vec!["a.yaml".to_string()],
        "no temp files left behind"
    );
    dir.remove("a.yaml")?;
    assert!(!dir.file("a.yaml").exists());
    assert!(dir.remove("a.yaml").is_err());
    Ok(())
}
