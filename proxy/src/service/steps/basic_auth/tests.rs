use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use gatehouse_routes::{IpNet, SourceRanges};

use super::*;
use crate::service::steps::tests::ctx_with;

/// The committed fixture (tests/fixtures/basic_auth): each user's password is `<user>-test-pw`.
const HTPASSWD: &str = include_str!("../../../../../tests/fixtures/basic_auth/htpasswd");

fn hash(text: &str) -> PasswordHash {
    if let Some(rest) = text.strip_prefix("$apr1$") {
        let (salt, checksum) = rest.split_once('$').expect("apr1");
        return PasswordHash::Apr1 {
            salt: salt.into(),
            checksum: checksum.into(),
        };
    }
    if let Some(b64) = text.strip_prefix("{SHA}") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        return PasswordHash::Sha1(bytes.try_into().expect("20 bytes"));
    }
    PasswordHash::Bcrypt(text.into())
}

fn fixture_auth() -> BasicAuth {
    let users: BTreeMap<Box<str>, PasswordHash> = HTPASSWD
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(u, h)| (u.into(), hash(h)))
        .collect();
    BasicAuth {
        realm: Arc::from("Staff \"only\""),
        users: Arc::new(users),
    }
}

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[test]
fn every_fixture_format_verifies_its_password_only() {
    let auth = fixture_auth();
    assert_eq!(auth.users.len(), 5);
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        let right = basic(user, &format!("{user}-test-pw"));
        assert!(authorized(&auth, right.as_bytes()), "{user}");
        let wrong = basic(user, &format!("{user}-test-pX"));
        assert!(!authorized(&auth, wrong.as_bytes()), "{user}");
        let other = basic(user, "bob-test-pw");
        assert!(
            user == "bob" || !authorized(&auth, other.as_bytes()),
            "{user}"
        );
    }
}

#[test]
fn apr1_matches_openssl() {
    // (password, salt, checksum) from `openssl passwd -apr1 -salt SALT PASSWORD`.
    let cases = [
        ("bob-test-pw", "8sFt66rZ", "pothg57uwegCA/upfE3w0/"),
        ("frank-test-pw", "x", "qQ7.lswAnc2eUpcyJULF5."),
        ("", "abc", "BfqKdn9xFDWJPa3kcp/PH0"),
        (
            "a-much-longer-test-password-over-32-bytes",
            "12345678",
            "ICVWrsu7etK3ub1Mc8v2w0",
        ),
    ];
    for (password, salt, checksum) in cases {
        assert_eq!(
            apr1(password.as_bytes(), salt.as_bytes()),
            checksum,
            "{password:?}"
        );
    }
}

#[test]
fn malformed_authorization_headers_are_refused() {
    let auth = fixture_auth();
    let good = basic("bob", "bob-test-pw");
    assert!(authorized(&auth, good.as_bytes()));
    // The scheme is case-insensitive, as in nginx.
    let lower = good.replacen("Basic", "basic", 1);
    assert!(authorized(&auth, lower.as_bytes()));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let bad = [
        String::new(),
        "Basic".to_string(),
        "Basic ".to_string(),
        format!("Bearer {}", b64("bob:bob-test-pw")),
        "Basic not*base64".to_string(),
        format!("Basic {}", b64("bob")),                // no colon
        format!("Basic {}", b64("nobody:bob-test-pw")), // unknown user
        format!("Basic {}", b64(":bob-test-pw")),       // empty user
        format!("Basic {}", b64("bob:bob-test-pw\n")),  // trailing byte
        format!("Basic {}", b64("Bob:bob-test-pw")),    // user names are case-sensitive
    ];
    for header in bad {
        assert!(!authorized(&auth, header.as_bytes()), "{header:?}");
    }
    let mut non_utf8 = b"Basic ".to_vec();
    non_utf8.extend(
        base64::engine::general_purpose::STANDARD
            .encode(b"\xffbob:bob-test-pw")
            .as_bytes(),
    );
    assert!(!authorized(&auth, &non_utf8));
}

#[test]
fn challenge_quotes_the_realm() {
    assert_eq!(challenge(""), "Basic realm=\"\"");
    assert_eq!(
        challenge("Staff \"only\""),
        "Basic realm=\"Staff \\\"only\\\"\""
    );
    assert_eq!(challenge("a\\b"), "Basic realm=\"a\\\\b\"");
}

fn ranges(list: &[&str]) -> Option<SourceRanges> {
    SourceRanges::new(
        list.iter()
            .map(|s| s.parse::<IpNet>().expect("cidr"))
            .collect(),
    )
}

fn request(authorization: Option<&str>) -> RequestHeader {
    let mut req = RequestHeader::build("GET", b"/", None).expect("request");
    if let Some(value) = authorization {
        req.insert_header("authorization", value).expect("header");
    }
    req
}

/// (satisfy, allow-list, credentials right, the client in the list → step passes)
type Case = (Satisfy, Option<&'static [&'static str]>, Option<bool>, bool);

#[test]
fn satisfy_all_and_any() {
    let inside = "127.0.0.2";
    let cases: &[Case] = &[
        // No list: credentials decide, whatever satisfy says.
        (Satisfy::All, None, Some(true), true),
        (Satisfy::All, None, Some(false), false),
        (Satisfy::All, None, None, false),
        (Satisfy::Any, None, None, false),
        (Satisfy::Any, None, Some(true), true),
        // all: the list is the source-range step's; this step still wants credentials.
        (Satisfy::All, Some(&["127.0.0.2/32"]), None, false),
        (Satisfy::All, Some(&["127.0.0.2/32"]), Some(true), true),
        // any: an admitted client needs none; another needs right ones.
        (Satisfy::Any, Some(&["127.0.0.2/32"]), None, true),
        (Satisfy::Any, Some(&["127.0.0.2/32"]), Some(false), true),
        (Satisfy::Any, Some(&["10.0.0.0/8"]), None, false),
        (Satisfy::Any, Some(&["10.0.0.0/8"]), Some(false), false),
        (Satisfy::Any, Some(&["10.0.0.0/8"]), Some(true), true),
    ];
    for (satisfy, allow, creds, pass) in cases {
        let mut ctx = ctx_with(RoutePolicy {
            basic_auth: Some(fixture_auth()),
            satisfy: *satisfy,
            allow_sources: allow.and_then(ranges),
            ..RoutePolicy::default()
        });
        ctx.client_ip = Some(inside.parse().expect("ip"));
        let header = creds.map(|ok| basic("carol", if ok { "carol-test-pw" } else { "nope" }));
        let flow = step(&request(header.as_deref()), &ctx);
        let label = format!("{satisfy:?} {allow:?} {creds:?}");
        if *pass {
            assert_eq!(flow, ControlFlow::Continue(()), "{label}");
        } else {
            assert_eq!(
                flow,
                ControlFlow::Break(Answer::Unauthorized {
                    challenge: "Basic realm=\"Staff \\\"only\\\"\"".to_string()
                }),
                "{label}"
            );
        }
    }
}

#[test]
fn routes_without_auth_and_unmatched_requests_continue() {
    let plain = ctx_with(RoutePolicy::default());
    assert_eq!(step(&request(None), &plain), ControlFlow::Continue(()));
    assert_eq!(
        step(&request(None), &RequestCtx::new(None)),
        ControlFlow::Continue(())
    );
}

#[test]
fn satisfy_any_lets_credentials_past_the_deny_list_as_nginx_does() {
    let mut ctx = ctx_with(RoutePolicy {
        basic_auth: Some(fixture_auth()),
        satisfy: Satisfy::Any,
        deny_sources: ranges(&["127.0.0.1/32"]),
        ..RoutePolicy::default()
    });
    ctx.client_ip = Some("127.0.0.1".parse().expect("ip"));
    let good = basic("carol", "carol-test-pw");
    assert_eq!(step(&request(Some(&good)), &ctx), ControlFlow::Continue(()));
    assert!(matches!(
        step(&request(None), &ctx),
        ControlFlow::Break(Answer::Unauthorized { .. })
    ));
    // A client the deny-list does not name passes without credentials.
    ctx.client_ip = Some("127.0.0.2".parse().expect("ip"));
    assert_eq!(step(&request(None), &ctx), ControlFlow::Continue(()));
}
