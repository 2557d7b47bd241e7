//! The status page of the real binary's admin listener, rendered by headless Chromium: the
//! test manifest's hosts, paths, services, endpoints and warnings appear in the DOM, and a
//! screenshot lands in target/test-artifacts/status_page_live.png. Also checks routes.json.
//! Needs `chromium` (Debian package) or `CHROMIUM=/path/to/browser`; without it the test is
//! skipped, and under `CI=true` it fails (`gatehouse_testkit::tools`).

mod obs_support;

use anyhow::Context as _;
use gatehouse_proxy::admin::status_view::StatusView;
use gatehouse_testkit::admin;
use gatehouse_testkit::browser::{artifacts_dir, require_chromium, run_chromium};
use gatehouse_testkit::yaml::{self, Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, Fixture, InstanceSpec};
use obs_support::bin;

#[tokio::test]
async fn the_live_status_page_shows_the_manifest_routes_in_chromium() -> anyhow::Result<()> {
    if require_chromium()?.is_none() {
        return Ok(()); // skipped: Chromium is not installed (said on stderr)
    }
    let (_web, web_svc) = echo_service("shop", "storefront", "127.0.13.1").await?;
    let (_api, api_svc) = echo_service("shop", "cart-api", "127.0.13.2").await?;
    let idle = yaml::backend(
        "ops",
        "maintenance",
        free_addr("127.0.13.3").port(),
        &[("127.0.13.3", false)],
    );
    let shop = Ingress::new("shop", "shop")
        .class("public")
        .path("shop.example", "/", PathType::Prefix, "storefront", "http")
        .path("shop.example", "/api", PathType::Prefix, "cart-api", "http")
        .yaml();
    let ops = Ingress::new("ops", "maintenance")
        .class("internal")
        .path(
            "status.internal.example",
            "/maintenance",
            PathType::Exact,
            "maintenance",
            "http",
        )
        .yaml();
    let broken = Ingress::new("ops", "broken")
        .class("internal")
        .path(
            "broken.internal.example",
            "/",
            PathType::Prefix,
            "missing-svc",
            "http",
        )
        .yaml();
    let fixture = Fixture::start(
        bin(),
        vec![
            InstanceSpec::http("public", free_addr("127.0.0.1")),
            InstanceSpec::http("internal", free_addr("127.0.0.1")),
        ],
        &[
            ("web.yaml", web_svc),
            ("api.yaml", api_svc),
            ("idle.yaml", idle),
            ("shop.yaml", shop),
            ("ops.yaml", ops),
            ("broken.yaml", broken),
        ],
    )
    .await?;

    // routes.json: the same facts as data, and no key material.
    let (status, body) = admin::get(fixture.admin, "/routes.json").await?;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("PRIVATE KEY") && !body.contains("BEGIN CERTIFICATE"));
    let view: StatusView = serde_json::from_str(&body).context("routes.json shape")?;
    let public = view
        .instances
        .iter()
        .find(|i| i.class == "public")
        .context("public instance")?;
    let paths: Vec<(&str, &str, &str)> = public
        .hosts
        .iter()
        .flat_map(|h| {
            h.paths
                .iter()
                .map(move |p| (h.host.as_str(), p.path.as_str(), p.service.as_str()))
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("shop.example", "/", "storefront"),
            ("shop.example", "/api", "cart-api")
        ]
    );
    let internal = view
        .instances
        .iter()
        .find(|i| i.class == "internal")
        .context("internal instance")?;
    assert!(
        internal.warnings.iter().any(|w| w.kind == "MissingService"),
        "{body}"
    );
    assert!(
        public.warnings.is_empty(),
        "the broken Ingress is internal's: {body}"
    );

    let url = format!("http://{}/", fixture.admin);
    let profile = tempfile::tempdir()?;
    let dom = run_chromium(&["--dump-dom"], &url, profile.path())?;
    for expected in [
        "shop.example",
        "status.internal.example",
        "storefront",
        "cart-api",
        "maintenance",
        "/api",
        "shop/shop",
        "127.0.13.1:",
        "127.0.13.2:",
        "MissingService",
        "id=\"instance-public\"",
        "id=\"instance-internal\"",
        "chip ready",
        "chip notready",
    ] {
        assert!(
            dom.contains(expected),
            "{expected:?} not in the rendered DOM:\n{dom}"
        );
    }
    assert!(
        !dom.contains(r#"class="banner show""#),
        "error banner shown:\n{dom}"
    );

    let shot = artifacts_dir()?.join("status_page_live.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    run_chromium(&[&arg], &url, profile.path())?;
    let png = std::fs::read(&shot).with_context(|| format!("screenshot {}", shot.display()))?;
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
    assert!(png.len() > 10_000, "screenshot suspiciously small");
    Ok(())
}
