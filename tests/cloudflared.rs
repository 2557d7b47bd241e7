//! gatehouse's external instance behind a Cloudflare tunnel (issue 12), through the real
//! binary. cloudflared cannot run here, so `gatehouse_testkit::cloudflared` talks to the origin
//! as it does on the wire: TLS with SNI `originServerName` (not the request's Host), HTTP/2
//! (`http2Origin`), one long-lived connection for every hostname, `CF-Connecting-IP` and an
//! appended `X-Forwarded-For` on each request, no `X-Real-IP`. The trusted proxy is the
//! loopback address 127.0.0.1 (`trusted-proxies=127.0.0.1/32`); 127.0.0.2 and 127.0.0.3 are
//! anyone else, sending the same headers.

mod tls_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gatehouse_testkit::cloudflared::{Origin, Tunnel, Visitor};
use gatehouse_testkit::tlsgen::TestCa;
use gatehouse_testkit::yaml::{tls_secret, Ingress, PathType};
use gatehouse_testkit::{echo_service, EchoBackend, Fixture, InstanceSpec, Reply};
use tls_support::{der_mentions, header, https_instance, https_of, leaf_der, with_tls, NS};

const CLASS: &str = "external";
/// cloudflared's `originServerName`: the TLS server name of every tunnel connection.
const ORIGIN_NAME: &str = "external.example.test";
/// The hostnames the tunnel serves (the visitors' Host).
const APP: &str = "app.example.test";
const OTHER: &str = "other.example.test";
const ALLOWED: &str = "allowed.example.test";
/// cloudflared's address, and the rule gatehouse is given for it.
const TUNNEL: &str = "127.0.0.1";
const TRUSTED_PROXIES: &str = "127.0.0.1/32";
/// Peers that are not the tunnel.
const STRANGER: &str = "127.0.0.2";
const OTHER_STRANGER: &str = "127.0.0.3";
/// The visitor Cloudflare saw, and an address a visitor might claim.
const VISITOR: &str = "203.0.113.7";
const CLAIMED: &str = "198.51.100.1";
const NGINX: &str = "nginx.ingress.kubernetes.io/";

/// A gatehouse external instance set up as behind cloudflared, with:
/// - `app.example.test` (TLS, its own certificate) and `other.example.test` → Services `app`
///   and `other`;
/// - `external.example.test` (TLS, its own certificate) → Service `origin`;
/// - `allowed.example.test` → `app`, admitting 203.0.113.0/24 only.
struct Site {
    fixture: Fixture,
    instance: InstanceSpec,
    app: EchoBackend,
    _other: EchoBackend,
    _origin: EchoBackend,
    app_leaf: Vec<u8>,
    origin_leaf: Vec<u8>,
}

impl Site {
    async fn start(settings: &[(&str, &str)], args: &[&str]) -> anyhow::Result<Site> {
        let ca = TestCa::new("cloudflared test ca")?;
        let app_cert = ca.leaf(&[APP])?;
        let origin_cert = ca.leaf(&[ORIGIN_NAME])?;
        let (app, app_svc) = echo_service(NS, "app", "127.0.0.1").await?;
        let (other, other_svc) = echo_service(NS, "other", "127.0.0.1").await?;
        let (origin, origin_svc) = echo_service(NS, "origin", "127.0.0.1").await?;
        let sites = with_tls(
            &Ingress::new(NS, "sites")
                .class(CLASS)
                .path(APP, "/", PathType::Prefix, "app", "http")
                .path(OTHER, "/", PathType::Prefix, "other", "http")
                .yaml(),
            &[(&[APP], "app-tls")],
            &[],
        )?;
        let origin_ingress = with_tls(
            &Ingress::new(NS, "origin")
                .class(CLASS)
                .path(ORIGIN_NAME, "/", PathType::Prefix, "origin", "http")
                .yaml(),
            &[(&[ORIGIN_NAME], "origin-tls")],
            &[],
        )?;
        let allowed = Ingress::new(NS, "allowed")
            .class(CLASS)
            .annotation(&format!("{NGINX}whitelist-source-range"), "203.0.113.0/24")
            .path(ALLOWED, "/", PathType::Prefix, "app", "http")
            .yaml();
        let instance = settings.iter().fold(
            https_instance(CLASS, "127.0.0.1")
                .setting("trusted-proxies", TRUSTED_PROXIES)
                .setting("real-ip-header", "CF-Connecting-IP"),
            |spec, (k, v)| spec.setting(k, v),
        );
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let fixture = Fixture::start_with_args(
            tls_support::bin(),
            vec![instance.clone()],
            &[
                ("app-svc.yaml", app_svc),
                ("other-svc.yaml", other_svc),
                ("origin-svc.yaml", origin_svc),
                ("sites.yaml", sites),
                ("origin.yaml", origin_ingress),
                ("allowed.yaml", allowed),
                (
                    "app-tls.yaml",
                    tls_secret(NS, "app-tls", &app_cert.chain_pem, &app_cert.key_pem),
                ),
                (
                    "origin-tls.yaml",
                    tls_secret(
                        NS,
                        "origin-tls",
                        &origin_cert.chain_pem,
                        &origin_cert.key_pem,
                    ),
                ),
            ],
            &args,
        )
        .await?;
        Ok(Site {
            fixture,
            app_leaf: leaf_der(&app_cert)?,
            origin_leaf: leaf_der(&origin_cert)?,
            instance,
            app,
            _other: other,
            _origin: origin,
        })
    }

    /// cloudflared's connection: `https://` to the HTTPS listener, SNI `external.example.test`,
    /// HTTP/2, from `source`.
    fn tunnel(&self, source: &str) -> Origin {
        Origin::https(https_of(&self.instance), ORIGIN_NAME).from(source)
    }

    /// `http://` to the plain listener (`http2Origin: false`: HTTP/1.1), from `source`.
    fn plain(&self, source: &str) -> Origin {
        Origin::h2c(self.instance.http).http1().from(source)
    }
}

/// The request headers the echo backend saw, and the access log's client_ip for the request.
async fn seen(fixture: &Fixture, reply: &Reply) -> anyhow::Result<(Echoed, String)> {
    anyhow::ensure!(reply.status == 200, "{}", reply.summary());
    let id = reply
        .echoed_header("x-request-id")
        .context("the upstream got no X-Request-ID")?;
    let line = fixture.access_log_line(&id).await?;
    let logged = line["client_ip"].as_str().unwrap_or_default().to_string();
    Ok((Echoed::of(reply), logged))
}

/// The forwarded headers an upstream received.
#[derive(Debug, PartialEq, Eq)]
struct Echoed {
    real_ip: Option<String>,
    forwarded_for: Option<String>,
    cf_connecting_ip: Option<String>,
    proto: Option<String>,
}

impl Echoed {
    fn of(reply: &Reply) -> Echoed {
        Echoed {
            real_ip: reply.echoed_header("x-real-ip"),
            forwarded_for: reply.echoed_header("x-forwarded-for"),
            cf_connecting_ip: reply.echoed_header("cf-connecting-ip"),
            proto: reply.echoed_header("x-forwarded-proto"),
        }
    }

    fn expect(real_ip: &str, forwarded_for: &str, cf: &str, proto: &str) -> Echoed {
        Echoed {
            real_ip: Some(real_ip.into()),
            forwarded_for: Some(forwarded_for.into()),
            cf_connecting_ip: Some(cf.into()),
            proto: Some(proto.into()),
        }
    }
}

#[tokio::test]
async fn the_visitor_address_reaches_the_upstream_and_the_log() -> anyhow::Result<()> {
    let site = Site::start(&[], &[]).await?;
    let fixture = &site.fixture;
    let visitor = Visitor::at(VISITOR).sending_forwarded_for(CLAIMED);

    // The tunnel (HTTP/2 over TLS, and HTTP/1.1 over plain TCP): the visitor's address is the
    // client; its chain is kept and the tunnel appended; CF-Connecting-IP is passed on.
    let chain = format!("{CLAIMED}, {VISITOR}, {TUNNEL}");
    for origin in [site.tunnel(TUNNEL), site.plain(TUNNEL)] {
        let tunnel = Tunnel::connect(&origin).await?;
        let reply = tunnel.get(APP, "/whoami", &visitor).await?;
        assert_eq!(
            reply.backend().as_deref(),
            Some("app"),
            "{}",
            reply.summary()
        );
        let (echoed, logged) = seen(fixture, &reply).await?;
        assert_eq!(
            echoed,
            Echoed::expect(VISITOR, &chain, VISITOR, "https"),
            "{origin:?}"
        );
        assert_eq!(logged, VISITOR, "access log client_ip, {origin:?}");
    }

    // Anyone else sending the same headers: every one of them replaced by its own address.
    let tunnel = Tunnel::connect(&site.tunnel(STRANGER)).await?;
    let reply = tunnel.get(APP, "/whoami", &visitor).await?;
    let (echoed, logged) = seen(fixture, &reply).await?;
    assert_eq!(
        echoed,
        Echoed::expect(STRANGER, STRANGER, STRANGER, "https")
    );
    assert_eq!(logged, STRANGER, "access log client_ip");
    // The plain listener from a stranger (on a host without TLS: APP's plain-HTTP requests are
    // redirected, see below): X-Forwarded-Proto is the connection's scheme too.
    let tunnel = Tunnel::connect(&site.plain(OTHER_STRANGER)).await?;
    let reply = tunnel.get(OTHER, "/whoami", &visitor).await?;
    let (echoed, logged) = seen(fixture, &reply).await?;
    assert_eq!(
        echoed,
        Echoed::expect(OTHER_STRANGER, OTHER_STRANGER, OTHER_STRANGER, "http")
    );
    assert_eq!(logged, OTHER_STRANGER);
    Ok(())
}

#[tokio::test]
async fn the_allow_list_admits_the_visitor_not_a_claim() -> anyhow::Result<()> {
    let site = Site::start(&[], &[]).await?;
    let tunnel = Tunnel::connect(&site.tunnel(TUNNEL)).await?;
    // The visitor Cloudflare saw is inside 203.0.113.0/24, whatever X-Forwarded-For it sent.
    let admitted = tunnel
        .get(
            ALLOWED,
            "/",
            &Visitor::at(VISITOR).sending_forwarded_for(CLAIMED),
        )
        .await?;
    assert_eq!(admitted.status, 200, "{}", admitted.summary());
    assert_eq!(admitted.backend().as_deref(), Some("app"));
    // A visitor outside it is refused, even claiming an admitted address in X-Forwarded-For.
    let outside = tunnel
        .get(
            ALLOWED,
            "/",
            &Visitor::at(CLAIMED).sending_forwarded_for(VISITOR),
        )
        .await?;
    assert_eq!(outside.status, 403, "{}", outside.summary());

    // A stranger sending the admitted visitor's CF-Connecting-IP (and X-Forwarded-For): 403,
    // over TLS and over plain HTTP.
    let hits = site.app.hits();
    for origin in [site.tunnel(STRANGER), site.plain(OTHER_STRANGER)] {
        let spoof = Tunnel::connect(&origin).await?;
        let refused = spoof.get(ALLOWED, "/", &Visitor::at(VISITOR)).await?;
        assert_eq!(refused.status, 403, "{origin:?}: {}", refused.summary());
    }
    assert_eq!(
        site.app.hits(),
        hits,
        "a refused request reaches no backend"
    );
    Ok(())
}

/// Sends `count` GETs at once over `tunnel` and checks every one: 200 from `app`, the whole
/// streamed body.
async fn many_streams(tunnel: &Tunnel, count: usize) -> anyhow::Result<()> {
    let visitor = Visitor::at(VISITOR);
    // Three chunks 20 ms apart: each stream stays open a while, so many are open at once.
    let path = "/stream?chunks=3&size=64&delay_ms=20";
    let requests = (0..count).map(|_| tunnel.get(APP, path, &visitor));
    let replies = futures::future::join_all(requests).await;
    let mut failed = Vec::new();
    for (i, reply) in replies.into_iter().enumerate() {
        match reply {
            Ok(r)
                if r.status == 200
                    && r.body.len() == 3 * 64
                    && r.backend().as_deref() == Some("app") => {}
            Ok(r) => failed.push(format!("#{i}: {}", r.summary())),
            Err(e) => failed.push(format!("#{i}: {e:#}")),
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {count} streams failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    Ok(())
}

#[tokio::test]
async fn two_hundred_streams_share_one_connection() -> anyhow::Result<()> {
    const LIMIT: u32 = 32;
    let site = Site::start(&[("http2-max-concurrent-streams", "32")], &[]).await?;

    // HTTP/2 over TLS (ALPN h2, SNI external.example.test, Host app.example.test) and
    // cleartext HTTP/2 with prior knowledge: one connection each.
    for origin in [
        site.tunnel(TUNNEL),
        Origin::h2c(site.instance.http).from(TUNNEL),
    ] {
        let started = Instant::now();
        let tunnel = Tunnel::connect(&origin).await?;
        many_streams(&tunnel, 200).await?;
        assert_eq!(
            tunnel.max_concurrent_streams(),
            Some(LIMIT),
            "{origin:?}: the SETTINGS gatehouse sent: {:?}",
            tunnel.frames().first()
        );
        assert_eq!(
            tunnel.refused_streams(),
            0,
            "{origin:?}: a client keeping to the SETTINGS has no stream refused"
        );
        assert!(tunnel.closed().is_none(), "{origin:?}: still open");
        assert!(tunnel.goaways().is_empty(), "{origin:?}: no GOAWAY");
        eprintln!(
            "{origin:?}: 200 streams in {:?}; at most {} at once at the backend",
            started.elapsed(),
            site.app.most_in_flight()
        );
    }
    let most = site.app.most_in_flight();
    assert!(
        most <= u64::from(LIMIT),
        "{most} requests at once through one connection limited to {LIMIT} streams"
    );
    assert!(most > 1, "the streams ran concurrently ({most} at most)");

    // A client that opens streams before the SETTINGS arrive (Go assumes 100 until then): the
    // streams over the limit are refused with REFUSED_STREAM, which it sends again; the
    // connection itself lives on, and every request is answered.
    let eager = Tunnel::connect(&site.tunnel(TUNNEL).eager()).await?;
    many_streams(&eager, 200).await?;
    eprintln!(
        "eager client: {} streams refused and sent again",
        eager.refused_streams()
    );
    assert!(eager.closed().is_none() && eager.goaways().is_empty());
    let most = site.app.most_in_flight();
    assert!(
        most <= u64::from(LIMIT),
        "{most} at once with an eager client"
    );
    Ok(())
}

#[tokio::test]
async fn sni_chooses_the_certificate_and_host_the_route() -> anyhow::Result<()> {
    let site = Site::start(&[], &[]).await?;
    let visitor = Visitor::at(VISITOR);

    // SNI external.example.test: its certificate, whatever Host the requests carry.
    for origin in [site.tunnel(TUNNEL), site.tunnel(TUNNEL).http1()] {
        let tunnel = Tunnel::connect(&origin).await?;
        let leaf = tunnel.leaf_der().context("a TLS origin")?;
        assert!(
            leaf == site.origin_leaf,
            "{origin:?}: the certificate for the SNI"
        );
        assert!(der_mentions(leaf, ORIGIN_NAME));
        // One connection, every hostname, each routed by its Host: never 421.
        for (host, backend) in [(APP, "app"), (OTHER, "other"), (ORIGIN_NAME, "origin")] {
            let reply = tunnel.get(host, "/", &visitor).await?;
            assert_eq!(reply.status, 200, "{origin:?} {host}: {}", reply.summary());
            assert_eq!(reply.backend().as_deref(), Some(backend), "{host}");
            assert_eq!(reply.echoed_header("host").as_deref(), Some(host));
        }
    }
    // SNI app.example.test gets app's certificate; a name without one gets the default (a
    // wildcard would do the same); both serve any Host.
    let by_app =
        Tunnel::connect(&Origin::https(https_of(&site.instance), APP).from(TUNNEL)).await?;
    assert!(by_app.leaf_der() == Some(&site.app_leaf[..]));
    let reply = by_app.get(OTHER, "/", &visitor).await?;
    assert_eq!(
        reply.backend().as_deref(),
        Some("other"),
        "{}",
        reply.summary()
    );
    let unknown = "tunnel.example.test";
    let by_default =
        Tunnel::connect(&Origin::https(https_of(&site.instance), unknown).from(TUNNEL)).await?;
    let leaf = by_default.leaf_der().context("a TLS origin")?;
    assert!(leaf != site.origin_leaf && leaf != site.app_leaf);
    assert!(der_mentions(leaf, tls_support::BUILT_IN_DEFAULT_CN));
    let reply = by_default.get(APP, "/", &visitor).await?;
    assert_eq!(
        reply.backend().as_deref(),
        Some("app"),
        "{}",
        reply.summary()
    );
    Ok(())
}

#[tokio::test]
async fn a_trusted_proxy_saying_https_is_not_redirected() -> anyhow::Result<()> {
    let site = Site::start(&[], &[]).await?;
    let visitor = Visitor::at(VISITOR);
    // app.example.test has spec.tls. The tunnel over plain HTTP says X-Forwarded-Proto: https:
    // served, with HSTS, and the upstream is told https.
    for origin in [
        site.plain(TUNNEL),
        Origin::h2c(site.instance.http).from(TUNNEL),
    ] {
        let tunnel = Tunnel::connect(&origin).await?;
        let reply = tunnel.get(APP, "/page?q=1", &visitor).await?;
        assert_eq!(reply.status, 200, "{origin:?}: {}", reply.summary());
        assert_eq!(
            reply.echoed_header("x-forwarded-proto").as_deref(),
            Some("https")
        );
        assert!(
            header(&reply, "strict-transport-security").is_some(),
            "{origin:?}: HSTS on what the client got over HTTPS"
        );
        // The same tunnel relaying a plain-HTTP visitor is redirected.
        let plain = tunnel
            .request(APP, "/page?q=1", &[("x-forwarded-proto", "http")])
            .await?;
        assert_eq!(plain.status, 308, "{}", plain.summary());
    }
    // Anyone else saying https over plain HTTP is redirected.
    for origin in [
        site.plain(STRANGER),
        Origin::h2c(site.instance.http).from(STRANGER),
    ] {
        let tunnel = Tunnel::connect(&origin).await?;
        let reply = tunnel.get(APP, "/page?q=1", &visitor).await?;
        assert_eq!(reply.status, 308, "{origin:?}: {}", reply.summary());
        assert_eq!(
            header(&reply, "location").as_deref(),
            Some("https://app.example.test/page?q=1")
        );
        assert!(header(&reply, "strict-transport-security").is_none());
    }
    Ok(())
}

#[tokio::test]
async fn shutdown_sends_goaway_and_lets_the_stream_finish() -> anyhow::Result<()> {
    let site = Site::start(&[], &["--shutdown-delay", "1s", "--shutdown-grace", "10s"]).await?;
    let tunnel = Arc::new(Tunnel::connect(&site.tunnel(TUNNEL)).await?);
    // A slow answer: 40 chunks 100 ms apart (about 4 s), still streaming when the listeners
    // close (1 s after SIGTERM).
    let hits = site.app.hits();
    let slow = {
        let tunnel = tunnel.clone();
        tokio::spawn(async move {
            tunnel
                .get(
                    APP,
                    "/stream?chunks=40&size=100&delay_ms=100",
                    &Visitor::at(VISITOR),
                )
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while site.app.hits() == hits {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the slow request never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    site.fixture.gatehouse.terminate()?;
    let signalled = Instant::now();

    // GOAWAY arrives while the stream is still in flight.
    let deadline = signalled + Duration::from_secs(10);
    while tunnel.goaways().is_empty() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no GOAWAY within 10 s of SIGTERM; frames: {:?}; connection: {:?}",
            tunnel.frames().iter().map(|f| f.kind).collect::<Vec<_>>(),
            tunnel.closed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let goaway_after = signalled.elapsed();
    assert!(
        !slow.is_finished(),
        "GOAWAY came after the stream had ended ({goaway_after:?})"
    );

    let reply = slow.await??;
    assert_eq!(reply.status, 200, "{}", reply.summary());
    assert_eq!(reply.body.len(), 40 * 100, "the whole answer");
    let finished_after = signalled.elapsed();
    let closed = tunnel.wait_closed(Duration::from_secs(10)).await?;
    let goaways = tunnel.goaways();
    assert!(
        goaways.iter().all(|(_, code)| *code == 0),
        "graceful (NO_ERROR): {goaways:?}"
    );
    assert!(
        goaways.iter().any(|(last, _)| *last >= 1),
        "the in-flight stream 1 is below the last stream id: {goaways:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while site.fixture.gatehouse.exited().is_none() {
        anyhow::ensure!(Instant::now() < deadline, "gatehouse did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "GOAWAY {goaways:?} {goaway_after:?} after SIGTERM; stream finished after {finished_after:?}; connection {closed}; exited after {:?}",
        signalled.elapsed()
    );
    Ok(())
}

/// The one long test (90 s of wall time): cloudflared keeps idle origin connections open
/// (`keepAliveTimeout: 3600s`), and an instance with `keep-alive=1h` keeps them too, over
/// HTTP/2 (`http2Origin`) and HTTP/1.1; an instance with `keep-alive=2s` closes them.
#[tokio::test]
async fn idle_tunnel_connections_stay_open_for_the_keep_alive() -> anyhow::Result<()> {
    const IDLE: Duration = Duration::from_secs(90);
    let (app, svc) = echo_service(NS, "app", "127.0.0.1").await?;
    let long = https_instance(CLASS, "127.0.0.1")
        .setting("trusted-proxies", TRUSTED_PROXIES)
        .setting("keep-alive", "1h");
    let short = https_instance("brief", "127.0.0.1")
        .setting("trusted-proxies", TRUSTED_PROXIES)
        .setting("keep-alive", "2s");
    let route = |class: &str| {
        Ingress::new(NS, class)
            .class(class)
            .path(APP, "/", PathType::Prefix, "app", "http")
            .yaml()
    };
    let _fixture = Fixture::start(
        tls_support::bin(),
        vec![long.clone(), short.clone()],
        &[
            ("svc.yaml", svc),
            ("long.yaml", route(CLASS)),
            ("short.yaml", route("brief")),
        ],
    )
    .await?;
    let origins = |instance: &InstanceSpec| {
        vec![
            Origin::https(https_of(instance), ORIGIN_NAME).from(TUNNEL),
            Origin::https(https_of(instance), ORIGIN_NAME)
                .http1()
                .from(TUNNEL),
            Origin::h2c(instance.http).from(TUNNEL),
            Origin::h2c(instance.http).http1().from(TUNNEL),
        ]
    };
    let visitor = Visitor::at(VISITOR);
    let mut kept = Vec::new();
    for origin in origins(&long) {
        let tunnel = Tunnel::connect(&origin).await?;
        let reply = tunnel.get(APP, "/", &visitor).await?;
        assert_eq!(reply.status, 200, "{origin:?}: {}", reply.summary());
        kept.push((origin, tunnel));
    }
    let idle_from = Instant::now();

    // The control: keep-alive=2s closes each idle connection after about 2 s.
    for origin in origins(&short) {
        let tunnel = Tunnel::connect(&origin).await?;
        let reply = tunnel.get(APP, "/", &visitor).await?;
        assert_eq!(reply.status, 200, "{origin:?}: {}", reply.summary());
        let idle = Instant::now();
        let how = tunnel
            .wait_closed(Duration::from_secs(15))
            .await
            .with_context(|| format!("{origin:?} with keep-alive=2s"))?;
        let after = idle.elapsed();
        assert!(
            after >= Duration::from_millis(1500),
            "{origin:?}: closed after {after:?}, before the keep-alive"
        );
        eprintln!("keep-alive=2s: {origin:?} closed ({how}) after {after:?} idle");
    }

    // keep-alive=1h: still open after 90 s idle, and the same connection serves again.
    let rest = IDLE.saturating_sub(idle_from.elapsed());
    tokio::time::sleep(rest).await;
    for (origin, tunnel) in &kept {
        assert_eq!(tunnel.closed(), None, "{origin:?} closed within {IDLE:?}");
        assert!(
            tunnel.goaways().is_empty(),
            "{origin:?}: {:?}",
            tunnel.goaways()
        );
        let reply = tunnel.get(APP, "/", &visitor).await?;
        assert_eq!(
            reply.status,
            200,
            "{origin:?} after {:?} idle",
            idle_from.elapsed()
        );
    }
    assert_eq!(app.hits(), 12, "every request reached the backend");
    Ok(())
}
