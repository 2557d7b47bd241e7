//! Path spelling cannot bypass a route: requests are written byte for byte (HTTP clients would
//! normalise them first), `Exact /admin` goes to one backend and `Prefix /` to another, and
//! every spelling of `/admin` must reach the first with the path it was matched on. Paths
//! without a normal form and encoded slashes are refused with 400 before any backend sees
//! them, except encoded slashes on an Ingress that allows them.

use std::path::Path;

use gatehouse_testkit::yaml::{Ingress, PathType};
use gatehouse_testkit::{echo_service, free_addr, raw_http, Fixture, InstanceSpec, Reply};

const NS: &str = "default";
const CLASS: &str = "web";
const SITE: &str = "site.test";
const GIT: &str = "git.test";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
}

/// What a request must get.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// This backend answers and saw this path (and query).
    Backend(&'static str, &'static str),
    /// gatehouse answers 400 itself.
    Refused,
}

use Want::{Backend, Refused};

#[tokio::test]
async fn path_spellings_reach_the_route_they_mean() -> anyhow::Result<()> {
    let (admin, admin_svc) = echo_service(NS, "admin", "127.0.7.1").await?;
    let (root, root_svc) = echo_service(NS, "root", "127.0.7.2").await?;
    let (git, git_svc) = echo_service(NS, "git", "127.0.7.3").await?;
    let site = Ingress::new(NS, "site")
        .class(CLASS)
        .path(SITE, "/admin", PathType::Exact, "admin", "http")
        .path(SITE, "/", PathType::Prefix, "root", "http")
        .yaml();
    let gitlab = Ingress::new(NS, "gitlab")
        .class(CLASS)
        .annotation("gatehouse.dev/allow-encoded-slashes", "true")
        .path(GIT, "/api", PathType::Prefix, "git", "http")
        .yaml();
    let fixture = Fixture::start(
        bin(),
        vec![InstanceSpec::http(CLASS, free_addr("127.0.0.1"))],
        &[
            ("admin.yaml", admin_svc),
            ("root.yaml", root_svc),
            ("git.yaml", git_svc),
            ("site.yaml", site),
            ("gitlab.yaml", gitlab),
        ],
    )
    .await?;

    // (host, request target as sent, what must happen)
    let cases: &[(&str, &str, Want)] = &[
        (SITE, "/admin", Backend("admin", "/admin")),
        (SITE, "/%61dmin", Backend("admin", "/admin")),
        (SITE, "//admin", Backend("admin", "/admin")),
        (SITE, "/./admin", Backend("admin", "/admin")),
        (SITE, "/x/../admin", Backend("admin", "/admin")),
        (SITE, "/%2e/admin", Backend("admin", "/admin")),
        (SITE, "/x/%2E%2E/admin", Backend("admin", "/admin")),
        // The query is not part of the path: it reaches the backend as sent.
        (
            SITE,
            "/x/../admin?a=%2F..",
            Backend("admin", "/admin?a=%2F.."),
        ),
        // Exact does not match a trailing slash, however the path is spelled.
        (SITE, "/admin/", Backend("root", "/admin/")),
        (SITE, "/admin//", Backend("root", "/admin/")),
        (SITE, "/%7Euser/a%c3%a9", Backend("root", "/~user/a%C3%A9")),
        (SITE, "/%2Fadmin", Refused),
        (SITE, "/a%5Cb", Refused),
        (SITE, "/a%2fb", Refused),
        (SITE, "/a\\b", Refused), // a raw backslash, which some backends read as a slash
        (SITE, "/%00", Refused),
        (SITE, "/../etc/passwd", Refused),
        (SITE, "/%2e%2e/etc/passwd", Refused),
        (SITE, "/%zz", Refused),
        (SITE, "/a%", Refused),
        // Encoded slashes are ordinary characters where the Ingress allows them.
        (
            GIT,
            "/api/v4/projects/group%2Fproject",
            Backend("git", "/api/v4/projects/group%2Fproject"),
        ),
        (
            GIT,
            "/api/v4/projects/group%2fproject/x/..",
            Backend("git", "/api/v4/projects/group%2Fproject/"),
        ),
        // Allowing encoded slashes does not allow paths without a normal form.
        (GIT, "/api/../../etc/passwd", Refused),
    ];

    let listener = fixture.http(CLASS);
    let mut failures = Vec::new();
    for &(host, target, want) in cases {
        let reply = raw_http::get(listener, host, target).await?;
        println!("{host}{target} -> {}", reply.summary());
        if !answers(&reply, want) {
            failures.push(format!(
                "{host}{target}: want {want:?}, got {}",
                reply.summary()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Refused requests never reached a backend: each backend counts exactly the requests
    // meant for it.
    for echo in [&admin, &root, &git] {
        let meant = cases
            .iter()
            .filter(|(_, _, want)| matches!(want, Backend(name, _) if *name == echo.name()))
            .count() as u64;
        assert_eq!(echo.hits(), meant, "requests that reached {}", echo.name());
    }
    Ok(())
}

/// True when `reply` is what `want` asks for.
fn answers(reply: &Reply, want: Want) -> bool {
    match want {
        Backend(name, seen) => {
            reply.status == 200
                && reply.backend().as_deref() == Some(name)
                && reply.echoed("uri").as_deref() == Some(seen)
        }
        Refused => reply.status == 400 && reply.backend().is_none(),
    }
}
