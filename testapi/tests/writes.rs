//! Writes through kube's Api against the test server: status subresource, conflicts,
//! leases, events, selectors, patches, discovery and injected failures.

mod support;

use anyhow::bail;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{secret, start};

fn api_code<T: std::fmt::Debug>(result: kube::Result<T>) -> anyhow::Result<(u16, String)> {
    match result {
        Err(kube::Error::Api(status)) => Ok((status.code, status.reason.clone())),
        other => bail!("expected an API error, got {other:?}"),
    }
}

fn ingress(name: &str) -> anyhow::Result<Ingress> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ingressClassName": "internal", "rules": [{"host": "a.example.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.9.9.9"}]}},
    }))?)
}

#[tokio::test]
async fn ingress_status_subresource_and_conflicts() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    let api: Api<Ingress> = Api::namespaced(client, "default");
    let created = api.create(&PostParams::default(), &ingress("web")?).await?;
    assert!(
        created.status.is_none(),
        "create ignores status for a status subresource"
    );
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert_eq!(
        api_code(api.create(&PostParams::default(), &ingress("web")?).await)?,
        (409, "AlreadyExists".into())
    );

    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.10"}]}}});
    let patched = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    let ip = |i: &Ingress| {
        i.status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .and_then(|v| v.first())
            .and_then(|e| e.ip.clone())
    };
    assert_eq!(ip(&patched).as_deref(), Some("127.0.0.10"));
    assert_eq!(patched.spec, created.spec, "status patch leaves spec alone");
    assert_eq!(patched.metadata.generation, Some(1));
    assert_ne!(patched.resource_version(), created.resource_version());
    let stored = server.get(
        "networking.k8s.io",
        "v1",
        "ingresses",
        Some("default"),
        "web",
    );
    assert_eq!(
        stored.map(|s| s["status"]["loadBalancer"]["ingress"][0]["ip"].clone()),
        Some(json!("127.0.0.10"))
    );

    // A status patch that sneaks in a spec change does not change spec.
    let sneaky = json!({"spec": {"ingressClassName": "external"}, "status": {"loadBalancer": {}}});
    let after = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&sneaky))
        .await?;
    assert_eq!(after.spec, created.spec);

    // A main-resource write ignores status and bumps generation on spec changes.
    let main = json!({"spec": {"ingressClassName": "external"}, "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}});
    let after = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&main))
        .await?;
    assert_eq!(
        after
            .spec
            .as_ref()
            .and_then(|s| s.ingress_class_name.as_deref()),
        Some("external")
    );
    assert_eq!(after.metadata.generation, Some(2));
    assert_eq!(
        ip(&after).as_deref(),
        Some("127.0.0.10"),
        "a main-resource write keeps the status the status writer left"
    );

    // PUT with a stale resourceVersion is a conflict; with the fresh one it succeeds.
    let stale = created.clone();
    assert_eq!(
        api_code(api.replace("web", &PostParams::default(), &stale).await)?,
        (409, "Conflict".into())
    );
    let mut fresh = api.get("web").await?;
    fresh.labels_mut().insert("team".into(), "edge".into());
    let replaced = api.replace("web", &PostParams::default(), &fresh).await?;
    assert_eq!(
        replaced.labels().get("team").map(String::as_str),
        Some("edge")
    );
    // A merge patch carrying a stale resourceVersion is a conflict too.
    let guarded =
        json!({"metadata": {"resourceVersion": created.resource_version(), "labels": {"x": "y"}}});
    assert_eq!(
        api_code(
            api.patch("web", &PatchParams::default(), &Patch::Merge(&guarded))
                .await
        )?
        .0,
        409
    );

    assert_eq!(
        api_code(api.get("missing").await)?,
        (404, "NotFound".into())
    );
    api.delete("web", &DeleteParams::default()).await?;
    assert_eq!(api_code(api.get("web").await)?.0, 404);
    Ok(())
}

#[tokio::test]
async fn leases_create_get_and_replace_with_resource_version() -> anyhow::Result<()> {
    let (_server, client, _dir) = start().await?;
    let api: Api<Lease> = Api::namespaced(client, "default");
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("gatehouse-leader".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("pod-a".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let created = api.create(&PostParams::default(), &lease).await?;
    let got = api.get("gatehouse-leader").await?;
    assert_eq!(
        got.spec.as_ref().and_then(|s| s.holder_identity.as_deref()),
        Some("pod-a")
    );
    assert_eq!(got.resource_version(), created.resource_version());

    let mut takeover = got.clone();
    if let Some(spec) = takeover.spec.as_mut() {
        spec.holder_identity = Some("pod-b".into());
        spec.lease_transitions = Some(1);
    }
    let replaced = api
        .replace("gatehouse-leader", &PostParams::default(), &takeover)
        .await?;
    assert_eq!(
        replaced
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref()),
        Some("pod-b")
    );

    // The loser still holds the old resourceVersion: its write must conflict.
    let mut loser = got;
    if let Some(spec) = loser.spec.as_mut() {
        spec.holder_identity = Some("pod-c".into());
    }
    assert_eq!(
        api_code(
            api.replace("gatehouse-leader", &PostParams::default(), &loser)
                .await
        )?,
        (409, "Conflict".into())
    );
    let now = api.get("gatehouse-leader").await?;
    assert_eq!(
        now.spec.as_ref().and_then(|s| s.holder_identity.as_deref()),
        Some("pod-b")
    );
    Ok(())
}

#[tokio::test]
async fn recorder_publishes_events_and_series() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "gatehouse".into(),
            instance: Some("pod-a".into()),
        },
    );
    let reference = ObjectReference {
        api_version: Some("networking.k8s.io/v1".into()),
        kind: Some("Ingress".into()),
        name: Some("web".into()),
        namespace: Some("apps".into()),
        ..Default::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "BackendMissing".into(),
        note: Some("service apps/api not found".into()),
        action: "Translate".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await?;
    recorder.publish(&event, &reference).await?;
    let stored = server.list("events.k8s.io", "v1", "events", Some("apps"));
    assert_eq!(
        stored.len(),
        1,
        "the repeat is a series patch on the same event"
    );
    assert_eq!(stored[0]["reason"], "BackendMissing");
    assert_eq!(stored[0]["regarding"]["name"], "web");
    assert_eq!(stored[0]["series"]["count"], 2);
    let events: Api<K8sEvent> = Api::namespaced(client, "apps");
    let listed = events.list(&ListParams::default()).await?;
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        listed.items[0].reporting_controller.as_deref(),
        Some("gatehouse")
    );
    Ok(())
}

#[tokio::test]
async fn secrets_field_selector_filters_and_is_logged() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    server.apply(secret("tls-a", "kubernetes.io/tls", json!({})))?;
    server.apply(secret("tls-b", "kubernetes.io/tls", json!({})))?;
    server.apply(secret("opaque", "Opaque", json!({})))?;
    let api: Api<Secret> = Api::all(client.clone());
    let lp = ListParams::default().fields("type=kubernetes.io/tls");
    let mut names: Vec<String> = api
        .list(&lp)
        .await?
        .items
        .iter()
        .map(|s| s.name_any())
        .collect();
    names.sort();
    assert_eq!(names, ["tls-a", "tls-b"]);
    let secret_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/secrets"))
        .collect();
    assert_eq!(secret_requests.len(), 1);
    assert!(secret_requests
        .iter()
        .all(|r| r.query_param("fieldSelector").as_deref() == Some("type=kubernetes.io/tls")));
    assert_eq!(secret_requests[0].path, "/api/v1/secrets");

    let bad = ListParams::default().fields("spec.nodeName=x");
    assert_eq!(
        api_code(api.list(&bad).await)?.0,
        400,
        "unsupported field labels are rejected like the real server"
    );

    // Pagination with limit/continue walks the whole set.
    let page = api.list(&ListParams::default().limit(2)).await?;
    assert_eq!(page.items.len(), 2);
    let token = page.metadata.continue_.clone().unwrap_or_default();
    assert!(!token.is_empty());
    let rest = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await?;
    assert_eq!(rest.items.len(), 1);
    Ok(())
}

#[tokio::test]
async fn patch_flavours_discovery_and_injected_failures() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    let api: Api<Secret> = Api::namespaced(client.clone(), "default");
    let applied = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ssa"}, "type": "Opaque"});
    let created = api
        .patch(
            "ssa",
            &PatchParams::apply("gatehouse"),
            &Patch::Apply(&applied),
        )
        .await?;
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    let ops: json_patch::Patch = serde_json::from_value(
        json!([{"op": "add", "path": "/metadata/labels", "value": {"k": "v"}}]),
    )?;
    let patched = api
        .patch("ssa", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await?;
    assert_eq!(patched.labels().get("k").map(String::as_str), Some("v"));
    let strategic = json!({"metadata": {"labels": {"k2": "v2"}}});
    let patched = api
        .patch(
            "ssa",
            &PatchParams::default(),
            &Patch::Strategic(&strategic),
        )
        .await?;
    assert_eq!(patched.labels().len(), 2);
    // A no-op write does not bump the resourceVersion.
    let again = api
        .patch(
            "ssa",
            &PatchParams::default(),
            &Patch::Strategic(&strategic),
        )
        .await?;
    assert_eq!(again.resource_version(), patched.resource_version());

    let version = client.apiserver_version().await?;
    assert_eq!(version.major, "1");
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await?;
    assert!(discovery.has_group("networking.k8s.io"));
    let (ingress_resource, caps) = kube::discovery::pinned_kind(
        &client,
        &kube::api::GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress"),
    )
    .await?;
    assert_eq!(ingress_resource.plural, "ingresses");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    // kube retries 503 by itself; a 500 reaches the caller.
    server.set_fail_next(1, 503);
    assert!(api.get("ssa").await.is_ok(), "kube retried the 503");
    server.set_fail_next(1, 500);
    assert_eq!(api_code(api.get("ssa").await)?.0, 500);
    assert!(api.get("ssa").await.is_ok(), "only the next request fails");
    let codes: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert!(codes.contains(&503) && codes.contains(&500));
    Ok(())
}
