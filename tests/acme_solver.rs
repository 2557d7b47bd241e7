//! cert-manager's HTTP-01 through gatehouse, against a real Pebble: gatehouse runs without
//! built-in ACME, the host has TLS (so plain HTTP redirects), and each challenge is answered
//! by a solver Ingress + backend the way cert-manager does it. Pebble validates through
//! gatehouse's plain-HTTP listener and the order must become valid.
//!
//! Needs the `pebble` Debian package.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use gatehouse_certs::acme::{FileAccountStore, Issuer};
use gatehouse_certs::ChallengeStore;
use gatehouse_testkit::pebble::Pebble;
use gatehouse_testkit::tlsgen::TestCa;
use gatehouse_testkit::yaml::{documents, tls_secret, Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, Fixture, InstanceSpec};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CLASS: &str = "web";
const NS: &str = "default";
const HOST: &str = "app.test";
/// Whole-test bound: gatehouse and Pebble start plus issuance.
const TEST_BUDGET: Duration = Duration::from_secs(120);

/// Key authorisations by token, shared by the solver backend and the challenge store.
type Answers = Arc<Mutex<HashMap<String, String>>>;

/// cert-manager's solver pod: serves `/.well-known/acme-challenge/<token>` from `answers`.
struct SolverBackend {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SolverBackend {
    async fn start(answers: Answers) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(free_addr("127.0.0.1")).await?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicU64::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (answers, counter) = (answers.clone(), counter.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or_default();
                    let token = path.strip_prefix("/.well-known/acme-challenge/");
                    let answer = token.and_then(|t| answers.lock().ok()?.get(t).cloned());
                    counter.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = match answer {
                        Some(body) => ("200 OK", body),
                        None => ("404 Not Found", "no such token".to_owned()),
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        Ok(Self { addr, hits, task })
    }
}

impl Drop for SolverBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What cert-manager does for each challenge: the answer goes to the solver pod, a solver
/// Ingress for the token path is created, and the CA is told to validate only once the
/// answer is reachable through the ingress controller (cert-manager's self-check).
struct CertManagerSolver<'a> {
    fixture: &'a Fixture,
    answers: Answers,
    /// Tokens whose solver Ingress is not yet applied.
    pending: Mutex<Vec<String>>,
}

impl CertManagerSolver<'_> {
    fn file(token: &str) -> String {
        format!("cm-acme-http-solver-{token}.yaml")
    }

    /// The solver Ingress cert-manager creates for `token` (legacy class annotation, Exact
    /// path, admit-everyone source range).
    fn ingress(token: &str) -> String {
        Ingress::new(NS, &format!("cm-acme-http-solver-{}", token.to_lowercase()))
            .legacy_class(CLASS)
            .annotation(
                "nginx.ingress.kubernetes.io/whitelist-source-range",
                "0.0.0.0/0,::/0",
            )
            .path(
                HOST,
                &format!("/.well-known/acme-challenge/{token}"),
                PathType::Exact,
                "cm-solver",
                "http",
            )
            .yaml()
    }
}

#[async_trait::async_trait]
impl ChallengeStore for CertManagerSolver<'_> {
    fn set(&self, token: &str, key_authorization: &str) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert(token.to_owned(), key_authorization.to_owned());
        }
        if let Ok(mut pending) = self.pending.lock() {
            pending.push(token.to_owned());
        }
    }

    fn remove(&self, token: &str) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.remove(token);
        }
        let _ = self.fixture.manifests.remove(&Self::file(token));
    }

    fn get(&self, token: &str) -> Option<Arc<str>> {
        let answers = self.answers.lock().ok()?;
        answers.get(token).map(|a| Arc::from(a.as_str()))
    }

    async fn flush(&self) -> Result<(), String> {
        let tokens = std::mem::take(&mut *self.pending.lock().map_err(|e| e.to_string())?);
        for token in tokens {
            self.fixture
                .apply(&Self::file(&token), &Self::ingress(&token), CLASS)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let want = self.get(&token).unwrap_or_else(|| Arc::from(""));
            let path = format!("/.well-known/acme-challenge/{token}");
            self.fixture
                .wait_for_reply(CLASS, HOST, &path, Duration::from_secs(10), |r| {
                    r.status == 200 && r.body == *want
                })
                .await
                .map_err(|e| format!("self-check: {e:#}"))?;
        }
        Ok(())
    }
}

/// The solver's Service: one port "http" (80) whose EndpointSlice points at `addr`.
fn solver_service(addr: SocketAddr) -> String {
    gatehouse_testkit::yaml::backend(NS, "cm-solver", addr.port(), &[("127.0.0.1", true)])
}

/// `app.test` with TLS (Secret `app-tls`): plain HTTP to it is redirected.
fn app_ingress() -> anyhow::Result<String> {
    let yaml = Ingress::new(NS, "app")
        .class(CLASS)
        .path(HOST, "/", PathType::Prefix, "app", "http")
        .yaml();
    let mut doc: Value = serde_yaml::from_str(&yaml)?;
    doc["spec"]["tls"] = json!([{ "hosts": [HOST], "secretName": "app-tls" }]);
    Ok(serde_yaml::to_string(&doc)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_manager_http01_validates_through_gatehouse() -> anyhow::Result<()> {
    if !Pebble::require()? {
        return Ok(()); // skipped: Pebble is not installed (said on stderr)
    }
    tokio::time::timeout(TEST_BUDGET, cert_manager_order()).await?
}

async fn cert_manager_order() -> anyhow::Result<()> {
    let http = free_addr("127.0.0.1");
    let pebble = Pebble::start(http.port()).await?;
    let answers = Answers::default();
    let solver = SolverBackend::start(answers.clone()).await?;
    let (app, app_svc) = echo_service(NS, "app", "127.0.9.2").await?;
    let ca = TestCa::new("self-signed before cert-manager")?;
    let leaf = ca.leaf(&[HOST])?;
    let mut instance = InstanceSpec::http(CLASS, http);
    instance.https = Some(free_addr("127.0.0.1"));
    let fixture = Fixture::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_gatehouse")),
        vec![instance],
        &[
            ("app.yaml", documents(&[app_svc, app_ingress()?])),
            ("solver-svc.yaml", solver_service(solver.addr)),
            (
                "secret.yaml",
                tls_secret(NS, "app-tls", &leaf.chain_pem, &leaf.key_pem),
            ),
        ],
    )
    .await?;

    // The host redirects plain HTTP, so without the exemption Pebble would be sent away.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?;
    let reply = client
        .get(format!("http://{http}/page"))
        .header("host", HOST)
        .send()
        .await?;
    assert_eq!(reply.status(), 308, "app.test redirects plain HTTP");

    let tmp = tempfile::tempdir()?;
    let issuer = Issuer::new(
        &pebble.directory_url(),
        Some("ops@example.com"),
        Some(&pebble.ca_file()),
        Arc::new(FileAccountStore::new(tmp.path().join("account.json"))),
    )?;
    let store = CertManagerSolver {
        fixture: &fixture,
        answers,
        pending: Mutex::new(Vec::new()),
    };
    let issued = issuer
        .issue(&[HOST.to_owned()], &store)
        .await
        .with_context(|| {
            format!(
                "order through the solver Ingress\n{}\ngatehouse:\n{}",
                pebble.logs(),
                gatehouse_testkit::process::tail(&fixture.gatehouse.stderr_text(), 4000)
            )
        })?;
    assert!(issued.chain_pem.contains("BEGIN CERTIFICATE"));

    // Pebble's validation (plus the self-check) reached the solver, never the app or a
    // redirect; the solver Ingress is gone once the order is done.
    assert!(
        solver.hits.load(Ordering::SeqCst) >= 2,
        "self-check and Pebble both reached the solver"
    );
    assert_eq!(app.hits(), 0, "no challenge request reached the app");
    assert!(fixture.manifests.path().read_dir()?.all(|e| e
        .map(|e| !e.file_name().to_string_lossy().starts_with("cm-acme"))
        .unwrap_or(true)));
    Ok(())
}
