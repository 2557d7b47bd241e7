//! Ingress classes over real HTTP: each instance serves only its class; legacy annotation,
//! default class (instance flag or IngressClass annotation), foreign and unknown classes.

use std::path::Path;

use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, EchoBackend, Fixture, InstanceSpec};

const NS: &str = "default";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn host_ingress(name: &str, host: &str, service: &str) -> Ingress {
    Ingress::new(NS, name).path(host, "/", PathType::Prefix, service, "http")
}

/// Starts one echo service per name on 127.0.3.x and returns them with their manifest files.
async fn services(names: &[&str]) -> anyhow::Result<(Vec<EchoBackend>, Vec<(String, String)>)> {
    let mut backends = Vec::new();
    let mut files = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (echo, yaml) = echo_service(NS, name, &format!("127.0.3.{}", i + 1)).await?;
        backends.push(echo);
        files.push((format!("svc-{name}.yaml"), yaml));
    }
    Ok((backends, files))
}

fn borrow(files: &[(String, String)]) -> Vec<(&str, String)> {
    files.iter().map(|(n, y)| (n.as_str(), y.clone())).collect()
}

/// Asserts `host` is served by `backend` on `serving` and answered 404 by gatehouse on `other`.
async fn only_on(
    fixture: &Fixture,
    host: &str,
    backend: &str,
    serving: &str,
    other: &str,
) -> anyhow::Result<()> {
    let on = fixture.get(serving, host, "/").await?;
    assert_eq!(
        (on.status, on.backend().as_deref()),
        (200, Some(backend)),
        "Host {host} on {serving}: {}",
        on.summary()
    );
    let off = fixture.get(other, host, "/").await?;
    assert_eq!(
        (off.status, off.backend()),
        (404, None),
        "Host {host} must not be reachable on {other}: {}",
        off.summary()
    );
    Ok(())
}

fn two_instances(default_internal: bool) -> Vec<InstanceSpec> {
    let internal = InstanceSpec::http("internal", free_addr("127.0.0.1"));
    let internal = if default_internal {
        internal.default_class()
    } else {
        internal
    };
    vec![
        internal,
        InstanceSpec::http("external", free_addr("127.0.0.1")),
    ]
}

#[tokio::test]
async fn classes_are_separated_and_unknown_class_is_served_by_nobody() -> anyhow::Result<()> {
    let (backends, mut files) = services(&["int", "ext", "legacy", "unknown", "both"]).await?;
    files.push((
        "ingresses.yaml".into(),
        yaml::documents(&[
            host_ingress("int", "int.test", "int")
                .class("internal")
                .yaml(),
            host_ingress("ext", "ext.test", "ext")
                .class("external")
                .yaml(),
            host_ingress("legacy", "legacy.test", "legacy")
                .legacy_class("external")
                .yaml(),
            host_ingress("unknown", "unknown.test", "unknown")
                .class("other")
                .yaml(),
            // spec.ingressClassName wins over the legacy annotation.
            host_ingress("both", "both.test", "both")
                .class("internal")
                .legacy_class("external")
                .yaml(),
        ]),
    ));
    let fixture = Fixture::start(bin(), two_instances(false), &borrow(&files)).await?;

    only_on(&fixture, "int.test", "int", "internal", "external").await?;
    only_on(&fixture, "ext.test", "ext", "external", "internal").await?;
    only_on(&fixture, "legacy.test", "legacy", "external", "internal").await?;
    only_on(&fixture, "both.test", "both", "internal", "external").await?;
    for class in ["internal", "external"] {
        let reply = fixture.get(class, "unknown.test", "/").await?;
        assert_eq!(
            (reply.status, reply.backend()),
            (404, None),
            "{class}: {}",
            reply.summary()
        );
    }
    let unknown = backends
        .iter()
        .find(|b| b.name() == "unknown")
        .map(EchoBackend::hits);
    assert_eq!(
        unknown,
        Some(0),
        "an Ingress of an unknown class reached its backend"
    );
    Ok(())
}

#[tokio::test]
async fn ingress_without_class_goes_to_default_instance() -> anyhow::Result<()> {
    let (_backends, mut files) = services(&["noclass", "ext"]).await?;
    files.push((
        "ingresses.yaml".into(),
        yaml::documents(&[
            host_ingress("noclass", "noclass.test", "noclass").yaml(),
            host_ingress("ext", "ext.test", "ext")
                .class("external")
                .yaml(),
        ]),
    ));
    let fixture = Fixture::start(bin(), two_instances(true), &borrow(&files)).await?;
    only_on(&fixture, "noclass.test", "noclass", "internal", "external").await?;
    only_on(&fixture, "ext.test", "ext", "external", "internal").await?;
    Ok(())
}

#[tokio::test]
async fn ingress_class_annotation_makes_default_class() -> anyhow::Result<()> {
    let (_backends, mut files) = services(&["noclass"]).await?;
    files.push((
        "classes.yaml".into(),
        yaml::documents(&[
            yaml::ingress_class("internal", yaml::CONTROLLER_NAME, false),
            yaml::ingress_class("external", yaml::CONTROLLER_NAME, true),
        ]),
    ));
    files.push((
        "ingress.yaml".into(),
        host_ingress("noclass", "noclass.test", "noclass").yaml(),
    ));
    let fixture = Fixture::start(bin(), two_instances(false), &borrow(&files)).await?;
    only_on(&fixture, "noclass.test", "noclass", "external", "internal").await?;
    Ok(())
}

#[tokio::test]
async fn without_any_default_class_unclassed_ingress_is_not_served() -> anyhow::Result<()> {
    let (backends, mut files) = services(&["noclass"]).await?;
    files.push((
        "ingress.yaml".into(),
        host_ingress("noclass", "noclass.test", "noclass").yaml(),
    ));
    let fixture = Fixture::start(bin(), two_instances(false), &borrow(&files)).await?;
    for class in ["internal", "external"] {
        let reply = fixture.get(class, "noclass.test", "/").await?;
        assert_eq!(
            (reply.status, reply.backend()),
            (404, None),
            "{class}: {}",
            reply.summary()
        );
    }
    assert_eq!(backends[0].hits(), 0);
    Ok(())
}

#[tokio::test]
async fn ingress_class_of_another_controller_is_not_ours() -> anyhow::Result<()> {
    let (backends, mut files) = services(&["ext", "int"]).await?;
    files.push((
        "classes.yaml".into(),
        yaml::documents(&[
            yaml::ingress_class("external", "example.com/other-controller", false),
            yaml::ingress_class("internal", yaml::CONTROLLER_NAME, false),
        ]),
    ));
    files.push((
        "ingresses.yaml".into(),
        yaml::documents(&[
            host_ingress("ext", "ext.test", "ext")
                .class("external")
                .yaml(),
            host_ingress("int", "int.test", "int")
                .class("internal")
                .yaml(),
        ]),
    ));
    let fixture = Fixture::start(bin(), two_instances(false), &borrow(&files)).await?;
    only_on(&fixture, "int.test", "int", "internal", "external").await?;
    for class in ["internal", "external"] {
        let reply = fixture.get(class, "ext.test", "/").await?;
        assert_eq!(
            (reply.status, reply.backend()),
            (404, None),
            "{class}: {}",
            reply.summary()
        );
    }
    let ext = backends
        .iter()
        .find(|b| b.name() == "ext")
        .map(EchoBackend::hits);
    assert_eq!(ext, Some(0));
    Ok(())
}

#[tokio::test]
async fn controller_name_flag_decides_which_ingress_classes_are_ours() -> anyhow::Result<()> {
    let (_backends, mut files) = services(&["mine", "theirs"]).await?;
    files.push((
        "classes.yaml".into(),
        yaml::documents(&[
            yaml::ingress_class("internal", "example.com/custom", false),
            yaml::ingress_class("external", yaml::CONTROLLER_NAME, false),
        ]),
    ));
    files.push((
        "ingresses.yaml".into(),
        yaml::documents(&[
            host_ingress("mine", "mine.test", "mine")
                .class("internal")
                .yaml(),
            host_ingress("theirs", "theirs.test", "theirs")
                .class("external")
                .yaml(),
        ]),
    ));
    let args = [
        "--controller-name".to_string(),
        "example.com/custom".to_string(),
    ];
    let fixture =
        Fixture::start_with_args(bin(), two_instances(false), &borrow(&files), &args).await?;
    only_on(&fixture, "mine.test", "mine", "internal", "external").await?;
    // With a custom controller name, the default name's IngressClass belongs to someone else.
    let reply = fixture.get("external", "theirs.test", "/").await?;
    assert_eq!(
        (reply.status, reply.backend()),
        (404, None),
        "{}",
        reply.summary()
    );
    Ok(())
}
