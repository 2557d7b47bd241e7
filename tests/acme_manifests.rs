//! ACME against Pebble (Let's Encrypt's test server) in manifests mode: Pebble really fetches
//! the HTTP-01 answer from gatehouse's HTTP listener. First issuance, renewal of a certificate
//! near its end, and a failing validation that backs off and keeps the old certificate.

mod acme_support;

use std::path::Path;
use std::time::{Duration, Instant};

use acme_support::{
    client_trusting, foreign_secret_yaml, nearly_expired, secret_yaml, wait_verified,
};
use gatehouse_testkit::pebble::Pebble;
use gatehouse_testkit::{any_port, echo_service, free_addr, EchoBackend, Fixture, InstanceSpec};

const HOST: &str = "app.acme.test";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn acme_ingress() -> String {
    acme_support::acme_ingress("default", "app", "web", HOST, "app", "app-tls")
}

struct Setup {
    fixture: Fixture,
    https: std::net::SocketAddr,
    state: tempfile::TempDir,
    _echo: EchoBackend,
}

/// gatehouse with an HTTP listener on `http`, ACME against `pebble`, `state` pre-filled by `prefill`.
async fn start(
    pebble: &Pebble,
    http: std::net::SocketAddr,
    prefill: Option<String>,
) -> anyhow::Result<Setup> {
    let state = tempfile::tempdir()?;
    if let Some(secret) = prefill {
        std::fs::create_dir_all(state.path().join("secrets"))?;
        std::fs::write(state.path().join("secrets/default--app-tls.yaml"), secret)?;
    }
    let (echo, backend) = echo_service("default", "app", "127.0.9.1").await?;
    let https = free_addr("127.0.0.1");
    let mut instance = InstanceSpec::http("web", http);
    instance.https = Some(https);
    let args: Vec<String> = [
        "--state-dir",
        &state.path().display().to_string(),
        "--acme-directory",
        &pebble.directory_url(),
        "--acme-ca-file",
        &pebble.ca_file().display().to_string(),
        "--acme-email",
        "ops@example.com",
        "--acme-check-interval",
        "1",
        "--acme-backoff-initial",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let fixture = Fixture::start_with_args(
        bin(),
        vec![instance],
        &[("app.yaml", backend), ("ingress.yaml", acme_ingress())],
        &args,
    )
    .await?;
    Ok(Setup {
        fixture,
        https,
        state,
        _echo: echo,
    })
}

async fn pebble_roots(pebble: &Pebble) -> anyhow::Result<String> {
    Ok(format!(
        "{}{}",
        pebble.issuing_roots_pem().await?,
        pebble.intermediates_pem().await?
    ))
}

#[tokio::test]
async fn first_issuance_end_to_end() -> anyhow::Result<()> {
    if !Pebble::require()? {
        return Ok(()); // skipped: Pebble is not installed (said on stderr)
    }
    let http = free_addr("127.0.0.1");
    let pebble = Pebble::start(http.port()).await?;
    let started = Instant::now();
    let s = start(&pebble, http, None).await?;
    let client = client_trusting(&pebble_roots(&pebble).await?, HOST, s.https)?;
    let took = wait_verified(
        &client,
        HOST,
        s.https.port(),
        Duration::from_secs(60),
        || s.fixture.gatehouse.stderr_text(),
    )
    .await?;
    eprintln!("ACME first issuance: verified HTTPS {took:?} after gatehouse was ready ({:?} including start-up)", started.elapsed());

    // A real request through the issued certificate reaches the backend.
    let reply = client
        .get(format!("https://{HOST}:{}/hello", s.https.port()))
        .send()
        .await?;
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await?;
    assert_eq!(body["backend"], "app");
    assert_eq!(body["headers"]["x-forwarded-proto"], "https");
    // The account and the certificate are kept in the state directory; the key is private.
    assert!(s.state.path().join("acme-account.json").is_file());
    let secret = s.state.path().join("secrets/default--app-tls.yaml");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret)?.permissions());
    assert_eq!(mode & 0o077, 0, "the Secret file holds a private key");
    let stderr = s.fixture.gatehouse.stderr_text();
    assert_eq!(
        stderr.matches("ordering certificate").count(),
        1,
        "one order only:\n{stderr}"
    );
    // The order is counted and the next renewal exposed.
    let (_, metrics) = gatehouse_testkit::admin::get(s.fixture.admin, "/metrics").await?;
    assert!(
        metrics
            .lines()
            .any(|l| l == "gatehouse_acme_orders_total{result=\"issued\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "gatehouse_certificate_next_renewal_timestamp_seconds{host=\"app.acme.test\"}"
        )),
        "next renewal exposed"
    );
    Ok(())
}

#[tokio::test]
async fn a_certificate_near_its_end_is_renewed() -> anyhow::Result<()> {
    if !Pebble::require()? {
        return Ok(()); // skipped: Pebble is not installed (said on stderr)
    }
    let http = free_addr("127.0.0.1");
    let pebble = Pebble::start(http.port()).await?;
    let (old_ca, old_leaf) = nearly_expired(HOST)?;
    let s = start(&pebble, http, Some(secret_yaml("app-tls", &old_leaf))).await?;
    let renewed_client = client_trusting(&pebble_roots(&pebble).await?, HOST, s.https)?;
    let took = wait_verified(
        &renewed_client,
        HOST,
        s.https.port(),
        Duration::from_secs(60),
        || s.fixture.gatehouse.stderr_text(),
    )
    .await?;
    eprintln!("ACME renewal: new certificate served {took:?} after start");
    let stderr = s.fixture.gatehouse.stderr_text();
    assert!(
        stderr.contains("Renewal"),
        "the order was a renewal:\n{stderr}"
    );
    // The old certificate is gone from new connections.
    let old_client = client_trusting(old_ca.cert_pem(), HOST, s.https)?;
    assert!(old_client
        .get(format!("https://{HOST}:{}/", s.https.port()))
        .send()
        .await
        .is_err());
    Ok(())
}

#[tokio::test]
async fn a_failing_validation_backs_off_and_keeps_the_old_certificate() -> anyhow::Result<()> {
    if !Pebble::require()? {
        return Ok(()); // skipped: Pebble is not installed (said on stderr)
    }
    // Pebble validates against a port where a backend answers wrongly, not gatehouse.
    let wrong = EchoBackend::start("wrong", any_port("127.0.0.1")).await?;
    let pebble = Pebble::start(wrong.addr().port()).await?;
    let (old_ca, old_leaf) = nearly_expired(HOST)?;
    let s = start(
        &pebble,
        free_addr("127.0.0.1"),
        Some(secret_yaml("app-tls", &old_leaf)),
    )
    .await?;
    let old_client = client_trusting(old_ca.cert_pem(), HOST, s.https)?;

    // Wait for three failed attempts.
    let deadline = Instant::now() + Duration::from_secs(60);
    while s
        .fixture
        .gatehouse
        .stderr_text()
        .matches("ACME order failed")
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "no repeated failures:\n{}",
            s.fixture.gatehouse.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stderr = s.fixture.gatehouse.stderr_text();
    let delays: Vec<f64> = stderr
        .lines()
        .filter(|l| l.contains("ACME order failed"))
        .filter_map(|l| l.split("retry_in=").nth(1))
        .filter_map(|d| d.split_whitespace().next())
        .filter_map(humantime_secs)
        .collect();
    assert!(delays.len() >= 3, "retry delays logged: {stderr}");
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "backoff grows: {delays:?}"
    );
    assert!(
        stderr.contains("validation") || stderr.contains("invalid"),
        "{stderr}"
    );
    // The old certificate keeps serving, and the file was not touched.
    let reply = old_client
        .get(format!("https://{HOST}:{}/", s.https.port()))
        .send()
        .await?;
    assert_eq!(reply.status(), 200);
    let kept = std::fs::read_to_string(s.state.path().join("secrets/default--app-tls.yaml"))?;
    assert!(kept.contains(old_leaf.cert_pem.lines().nth(1).unwrap_or_default()));
    Ok(())
}

#[tokio::test]
async fn a_secret_gatehouse_did_not_create_is_never_overwritten() -> anyhow::Result<()> {
    if !Pebble::require()? {
        return Ok(()); // skipped: Pebble is not installed (said on stderr)
    }
    let http = free_addr("127.0.0.1");
    let pebble = Pebble::start(http.port()).await?;
    let (_, old_leaf) = nearly_expired(HOST)?;
    let s = start(
        &pebble,
        http,
        Some(foreign_secret_yaml("app-tls", &old_leaf)),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s
        .fixture
        .gatehouse
        .stderr_text()
        .contains("gatehouse did not create it")
    {
        assert!(
            Instant::now() < deadline,
            "no warning about the foreign Secret:\n{}",
            s.fixture.gatehouse.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Anchor for the negatives: a later round orders for another Ingress. Rounds run one at a
    // time and order in (namespace, Secret) order, so once `zz-later-tls` is being ordered the
    // round that warned is over and this round has passed `app-tls` too.
    s.fixture.manifests.write(
        "later.yaml",
        &acme_support::acme_ingress(
            "default",
            "later",
            "web",
            "later.acme.test",
            "app",
            "zz-later-tls",
        ),
    )?;
    let ordering = |secret: &str| {
        s.fixture
            .gatehouse
            .stderr_text()
            .lines()
            .any(|l| l.contains("ordering certificate") && l.contains(secret))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ordering("default/zz-later-tls") {
        assert!(
            Instant::now() < deadline,
            "no order for the later Ingress:\n{}",
            s.fixture.gatehouse.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stderr = s.fixture.gatehouse.stderr_text();
    assert!(!ordering("default/app-tls"), "{stderr}");
    assert_eq!(
        stderr.matches("gatehouse did not create it").count(),
        1,
        "warned once: {stderr}"
    );
    let kept = std::fs::read_to_string(s.state.path().join("secrets/default--app-tls.yaml"))?;
    assert_eq!(kept, foreign_secret_yaml("app-tls", &old_leaf));
    Ok(())
}

/// Parses Debug durations such as `1.8s`, `950ms`, `3.2µs`.
fn humantime_secs(d: &str) -> Option<f64> {
    let d = d.trim_matches(|c: char| c == ',' || c == '"');
    if let Some(v) = d.strip_suffix("ms") {
        return v.parse::<f64>().ok().map(|v| v / 1000.0);
    }
    if let Some(v) = d.strip_suffix('s') {
        return v.parse().ok();
    }
    None
}
