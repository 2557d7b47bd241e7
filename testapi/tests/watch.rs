//! kube-runtime watchers and reflectors against the test server: events, selectors,
//! 410 relists, and recovery across a server stop/restart.

mod support;

use anyhow::bail;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{eventually, expect_init, forward, next, next_ok, secret, start};

#[tokio::test]
async fn watcher_sees_added_modified_deleted() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    server.apply(secret("a", "kubernetes.io/tls", json!({})))?;
    let api: Api<Secret> = Api::namespaced(client, "default");
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    assert_eq!(expect_init(&mut stream).await?, ["a"]);

    server.apply(secret("b", "Opaque", json!({})))?;
    match next_ok(&mut stream).await? {
        watcher::Event::Apply(s) => assert_eq!(s.name_any(), "b"),
        other => bail!("expected Apply(b), got {other:?}"),
    }
    let mut changed = secret("a", "kubernetes.io/tls", json!({}));
    changed["data"]["tls.crt"] = json!("bmV3");
    server.apply(changed)?;
    match next_ok(&mut stream).await? {
        watcher::Event::Apply(s) => {
            assert_eq!(s.name_any(), "a");
            let crt = s
                .data
                .as_ref()
                .and_then(|d| d.get("tls.crt"))
                .map(|b| b.0.clone());
            assert_eq!(crt.as_deref(), Some(&b"new"[..]));
        }
        other => bail!("expected Apply(a), got {other:?}"),
    }
    assert!(server
        .delete("", "v1", "secrets", Some("default"), "a")
        .is_some());
    match next_ok(&mut stream).await? {
        watcher::Event::Delete(s) => assert_eq!(s.name_any(), "a"),
        other => bail!("expected Delete(a), got {other:?}"),
    }
    let watches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_watch())
        .collect();
    assert!(!watches.is_empty());
    for w in &watches {
        assert_eq!(
            w.query_param("allowWatchBookmarks").as_deref(),
            Some("true")
        );
        assert!(w
            .query_param("resourceVersion")
            .is_some_and(|rv| rv.parse::<u64>().is_ok()));
    }
    Ok(())
}

#[tokio::test]
async fn label_selector_turns_moves_out_of_scope_into_deletes() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    server.apply(secret("web", "Opaque", json!({"app": "web"})))?;
    server.apply(secret("db", "Opaque", json!({"app": "db"})))?;
    let api: Api<Secret> = Api::namespaced(client, "default");
    let mut stream = watcher(api, watcher::Config::default().labels("app=web")).boxed();
    assert_eq!(expect_init(&mut stream).await?, ["web"]);

    server.apply(secret("web", "Opaque", json!({"app": "other"})))?;
    match next_ok(&mut stream).await? {
        watcher::Event::Delete(s) => assert_eq!(s.name_any(), "web"),
        other => bail!("expected Delete(web) on leaving the selector, got {other:?}"),
    }
    server.apply(secret("db", "Opaque", json!({"app": "web"})))?;
    match next_ok(&mut stream).await? {
        watcher::Event::Apply(s) => assert_eq!(s.name_any(), "db"),
        other => bail!("expected Apply(db) on entering the selector, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn compaction_forces_a_relist_and_the_store_keeps_everything() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    server.apply(secret("x", "Opaque", json!({})))?;
    server.apply(secret("y", "Opaque", json!({})))?;
    let api: Api<Secret> = Api::namespaced(client, "default");
    let (reader, writer) = reflector::store();
    let mut stream = forward(reflector(writer, watcher(api, watcher::Config::default())));
    assert_eq!(expect_init(&mut stream).await?, ["x", "y"]);
    eventually("watch open", || server.open_watches() == 1).await?;

    server.compact();
    match next(&mut stream).await? {
        Err(watcher::Error::WatchError(status)) => assert_eq!(status.code, 410),
        other => bail!("expected a 410 watch error, got {other:?}"),
    }
    assert_eq!(
        expect_init(&mut stream).await?,
        ["x", "y"],
        "relist after 410"
    );
    assert_eq!(reader.state().len(), 2);

    server.apply(secret("z", "Opaque", json!({})))?;
    match next_ok(&mut stream).await? {
        watcher::Event::Apply(s) => assert_eq!(s.name_any(), "z"),
        other => bail!("expected Apply(z), got {other:?}"),
    }
    let mut names: Vec<String> = reader.state().iter().map(|s| s.name_any()).collect();
    names.sort();
    assert_eq!(names, ["x", "y", "z"]);
    let lists = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/secrets") && !r.is_watch())
        .count();
    assert_eq!(lists, 2, "one initial list and one relist");
    Ok(())
}

#[tokio::test]
async fn watch_from_compacted_version_gets_an_error_event_and_list_gets_410() -> anyhow::Result<()>
{
    let (server, client, _dir) = start().await?;
    server.apply(secret("x", "Opaque", json!({})))?;
    let old = server.resource_version();
    server.apply(secret("y", "Opaque", json!({})))?;
    server.compact();
    let api: Api<Secret> = Api::namespaced(client, "default");
    let mut events = api
        .watch(&kube::api::WatchParams::default(), &old.to_string())
        .await?
        .boxed();
    match next(&mut events).await? {
        Ok(kube::api::WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => bail!("expected ERROR 410, got {other:?}"),
    }
    assert!(
        next(&mut events).await.is_err(),
        "stream closes after the error"
    );
    let lp = kube::api::ListParams::default()
        .at(&old.to_string())
        .matching(kube::api::VersionMatch::Exact);
    match api.list(&lp).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 410),
        other => bail!("expected 410 on list, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn watcher_errors_while_stopped_and_recovers_after_restart() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    server.apply(secret("keep", "Opaque", json!({})))?;
    server.apply(secret("gone", "Opaque", json!({})))?;
    let api: Api<Secret> = Api::namespaced(client.clone(), "default");
    let (reader, writer) = reflector::store();
    let mut stream = forward(
        reflector(writer, watcher(api.clone(), watcher::Config::default())).default_backoff(),
    );
    assert_eq!(expect_init(&mut stream).await?, ["gone", "keep"]);
    eventually("watch open", || server.open_watches() == 1).await?;

    server.stop().await;
    assert!(!server.is_running());
    match next(&mut stream).await? {
        // Either the open stream breaks or the re-watch is refused; both surface as errors.
        Err(watcher::Error::WatchStartFailed(_) | watcher::Error::WatchFailed(_)) => {}
        other => bail!("expected a watch failure while stopped, got {other:?}"),
    }
    assert!(api.get("keep").await.is_err(), "no answers while stopped");
    server.apply(secret("new", "Opaque", json!({})))?;
    server.delete("", "v1", "secrets", Some("default"), "gone");

    server.restart().await?;
    let mut seen_new = false;
    let mut seen_gone = false;
    for _ in 0..20 {
        match next(&mut stream).await? {
            Ok(watcher::Event::Apply(s)) if s.name_any() == "new" => seen_new = true,
            Ok(watcher::Event::Delete(s)) if s.name_any() == "gone" => seen_gone = true,
            Ok(other) => bail!("unexpected event {other:?}"),
            Err(_) => {} // retries that raced the restart
        }
        if seen_new && seen_gone {
            break;
        }
    }
    assert!(
        seen_new && seen_gone,
        "changes made while stopped are replayed"
    );
    let mut names: Vec<String> = reader.state().iter().map(|s| s.name_any()).collect();
    names.sort();
    assert_eq!(names, ["keep", "new"]);
    assert!(api.get("keep").await.is_ok());
    Ok(())
}

#[tokio::test]
async fn streaming_list_and_metadata_watch_work() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    server.apply(secret("a", "Opaque", json!({})))?;
    let api: Api<Secret> = Api::namespaced(client.clone(), "default");
    let mut stream = watcher(api, watcher::Config::default().streaming_lists()).boxed();
    assert_eq!(expect_init(&mut stream).await?, ["a"]);
    let watch = server.requests().into_iter().find(|r| r.is_watch());
    assert_eq!(
        watch
            .and_then(|r| r.query_param("sendInitialEvents"))
            .as_deref(),
        Some("true")
    );
    server.apply(secret("b", "Opaque", json!({})))?;
    assert!(matches!(next_ok(&mut stream).await?, watcher::Event::Apply(s) if s.name_any() == "b"));

    let meta_api: Api<kube::core::PartialObjectMeta<Secret>> = Api::namespaced(client, "default");
    let mut meta = watcher(meta_api, watcher::Config::default()).boxed();
    assert_eq!(expect_init(&mut meta).await?, ["a", "b"]);
    server.delete("", "v1", "secrets", Some("default"), "a");
    assert!(matches!(next_ok(&mut meta).await?, watcher::Event::Delete(m) if m.name_any() == "a"));
    Ok(())
}

#[tokio::test]
async fn watch_timeout_and_bookmarks_are_honoured() -> anyhow::Result<()> {
    let (server, client, _dir) = start().await?;
    server.set_bookmark_interval(std::time::Duration::from_millis(100));
    let api: Api<Secret> = Api::namespaced(client, "default");
    let wp = kube::api::WatchParams::default().timeout(1);
    let rv = server.resource_version().to_string();
    let mut events = api.watch(&wp, &rv).await?.boxed();
    server.apply(secret("a", "Opaque", json!({})))?;
    let started = tokio::time::Instant::now();
    let (mut added, mut bookmarks) = (0, 0);
    for _ in 0..100 {
        match tokio::time::timeout(support::STEP, events.next()).await {
            Ok(Some(Ok(kube::api::WatchEvent::Added(_)))) => added += 1,
            Ok(Some(Ok(kube::api::WatchEvent::Bookmark(b)))) => {
                assert_eq!(
                    b.metadata.resource_version,
                    server.resource_version().to_string()
                );
                bookmarks += 1;
            }
            Ok(Some(other)) => bail!("unexpected {other:?}"),
            Ok(None) => break,
            Err(_) => bail!("watch did not end after timeoutSeconds"),
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(added, 1);
    assert!(bookmarks >= 3, "bookmarks every 100ms, got {bookmarks}");
    assert!(
        elapsed < std::time::Duration::from_secs(3),
        "ended after {elapsed:?}"
    );
    Ok(())
}

#[tokio::test]
async fn field_selected_watcher_carries_the_selector_and_resumes_after_expiry() -> anyhow::Result<()>
{
    let (server, client, _dir) = start().await?;
    server.apply(secret("tls", "kubernetes.io/tls", json!({})))?;
    server.apply(secret("opaque", "Opaque", json!({})))?;
    let api: Api<Secret> = Api::all(client);
    let config = watcher::Config::default().fields("type=kubernetes.io/tls");
    let mut stream = forward(watcher(api, config).default_backoff());
    assert_eq!(expect_init(&mut stream).await?, ["tls"]);
    eventually("watch open", || server.open_watches() == 1).await?;

    // An expired watch (like a server-side timeout) resumes from its resourceVersion: no relist.
    server.expire_watches();
    eventually("watch reopened", || {
        server.open_watches() == 1 && server.requests().iter().filter(|r| r.is_watch()).count() == 2
    })
    .await?;
    server.apply(secret("opaque-2", "Opaque", json!({})))?;
    server.apply(secret("tls-2", "kubernetes.io/tls", json!({})))?;
    match next_ok(&mut stream).await? {
        watcher::Event::Apply(s) => {
            assert_eq!(s.name_any(), "tls-2", "opaque secrets are filtered out")
        }
        other => bail!("expected Apply(tls-2), got {other:?}"),
    }
    let secret_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/secrets")
        .collect();
    let lists = secret_requests.iter().filter(|r| !r.is_watch()).count();
    assert_eq!(lists, 1, "resuming after expiry must not relist");
    assert!(secret_requests.len() >= 3);
    for r in &secret_requests {
        assert_eq!(
            r.query_param("fieldSelector").as_deref(),
            Some("type=kubernetes.io/tls"),
            "{r:?}"
        );
    }
    Ok(())
}
