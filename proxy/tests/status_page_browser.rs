//! The status page rendered by a real headless Chromium from a loopback server: the sample
//! routes.json's hosts, services, endpoints, certificates and warnings appear in the DOM, and a
//! screenshot lands in target/test-artifacts/status_page.png.
//! Needs `chromium` (Debian package) or `CHROMIUM=/path/to/browser`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatehouse_proxy::admin::status_page::HTML;
use gatehouse_proxy::admin::status_view::{
    BackendView, CertificateView, EndpointView, HostView, InstanceView, ListenersView, PathView,
    StatusView, WarningView,
};

const DAY: i64 = 86_400;

fn ep(address: &str, ready: bool) -> EndpointView {
    EndpointView {
        address: address.into(),
        ready,
    }
}

fn path(path: &str, ingress: &str, service: &str, endpoints: Vec<EndpointView>) -> PathView {
    PathView {
        path: path.into(),
        path_type: "Prefix".into(),
        ingress: ingress.into(),
        service: service.into(),
        port: "http".into(),
        endpoints,
    }
}

fn sample(now: i64) -> StatusView {
    let cert = |host: &str, days: i64, source: &str| CertificateView {
        host: host.into(),
        not_after: now + days * DAY + 3600,
        source: source.into(),
    };
    StatusView {
        generated_at: now,
        instances: vec![
            InstanceView {
                class: "internal".into(),
                generation: 42,
                last_swap_unix: now - 125,
                listeners: ListenersView {
                    http: Some("127.0.0.1:8080".into()),
                    https: Some("127.0.0.1:8443".into()),
                },
                hosts: vec![
                    HostView {
                        host: "app.example".into(),
                        paths: vec![
                            path(
                                "/",
                                "default/app",
                                "app-frontend",
                                vec![ep("127.0.0.1:9001", true), ep("127.0.0.1:9002", false)],
                            ),
                            path(
                                "/api",
                                "default/app",
                                "app-api",
                                vec![ep("127.0.0.1:9101", true)],
                            ),
                        ],
                    },
                    HostView {
                        host: "*".into(),
                        paths: vec![path("/healthz", "ops/health", "health-svc", vec![])],
                    },
                ],
                default_backend: Some(BackendView {
                    ingress: String::new(),
                    service: "fallback-svc".into(),
                    port: "80".into(),
                    endpoints: vec![ep("127.0.0.1:9500", true)],
                }),
                certificates: vec![
                    cert("app.example", 90, "default/app-tls"),
                    cert("soon.example", 5, "default/soon-tls"),
                    cert("old.example", -3, "default/old-tls"),
                ],
                warnings: vec![WarningView {
                    object: "default/bad".into(),
                    kind: "MissingService".into(),
                    message: "Service default/nowhere not found; check spec.rules[0] backend name"
                        .into(),
                }],
            },
            InstanceView {
                class: "external".into(),
                generation: 7,
                last_swap_unix: now - 30,
                listeners: ListenersView {
                    http: Some("127.0.0.1:8081".into()),
                    https: None,
                },
                hosts: vec![HostView {
                    host: "shop.example".into(),
                    paths: vec![path(
                        "/",
                        "shop/storefront",
                        "storefront",
                        vec![ep("127.0.0.1:9201", true)],
                    )],
                }],
                default_backend: None,
                certificates: vec![],
                warnings: vec![],
            },
        ],
    }
}

/// Serves `/status/` (the page) and `/status/routes.json` until stopped or 120 s pass.
struct Server {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(routes_json: String) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut served = 0;
            while !stop_flag.load(Ordering::Relaxed) && Instant::now() < deadline && served < 500 {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        let _ = answer(stream, &routes_json);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Server {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(stream: TcpStream, routes_json: &str) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Read the rest of the header (bounded) so the client sees a clean close.
    for _ in 0..100 {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, kind, body) = match target {
        "/status/" => ("200 OK", "text/html; charset=utf-8", HTML),
        "/status/routes.json" => ("200 OK", "application/json", routes_json),
        _ => ("404 Not Found", "text/plain", "not found"),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Headless Chromium (shared with the black-box tests); panics with an install hint if absent.
fn run_chromium(extra: &[&str], url: &str, profile: &Path) -> String {
    gatehouse_testkit::browser::run_chromium(extra, url, profile)
        .unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn renders_routes_json_in_headless_chromium() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let json = serde_json::to_string(&sample(now)).expect("serialise sample");
    let server = Server::start(json);
    let url = format!("http://{}/status/", server.addr);
    let profile = tempfile::tempdir().expect("profile dir");

    let dom = run_chromium(&["--dump-dom"], &url, profile.path());
    for expected in [
        "app.example",
        "shop.example",
        ">*<",
        "app-frontend",
        "app-api",
        "health-svc",
        "storefront",
        "fallback-svc",
        "127.0.0.1:9001",
        "127.0.0.1:9201",
        "default/app",
        "MissingService",
        "Service default/nowhere not found",
        "default/soon-tls",
        "generation",
        ">42<",
        "id=\"instance-internal\"",
        "id=\"instance-external\"",
    ] {
        assert!(
            dom.contains(expected),
            "{expected:?} not in rendered DOM:\n{dom}"
        );
    }
    // Endpoint readiness and certificate urgency are visible as classes.
    assert!(dom.contains("chip ready") && dom.contains("chip notready"));
    assert!(
        dom.contains(r#"<span class="badge warn">5 days</span>"#),
        "{dom}"
    );
    assert!(dom.contains(r#"<span class="badge ok">90 days</span>"#));
    assert!(dom.contains(r#"<span class="badge bad">expired</span>"#));
    assert!(dom.contains("no endpoints"));
    assert!(
        !dom.contains(r#"class="banner show""#),
        "error banner shown:\n{dom}"
    );

    let shot = gatehouse_testkit::browser::artifacts_dir()
        .expect("create test-artifacts")
        .join("status_page.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    run_chromium(&[&arg], &url, profile.path());
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
    assert!(png.len() > 10_000, "screenshot suspiciously small");
}
