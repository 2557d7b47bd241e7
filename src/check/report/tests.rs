use super::*;

const N: &str = "nginx.ingress.kubernetes.io/";

/// An Ingress from YAML (the tests' inputs read like manifests).
fn ingress(yaml: &str) -> Ingress {
    serde_yaml::from_str(yaml).expect("test Ingress parses")
}

fn annotated(annotations: &[(&str, &str)]) -> Ingress {
    let mut ing = ingress(
        "metadata: {name: web, namespace: apps}\n\
         spec: {ingressClassName: nginx, rules: [{host: a.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]}",
    );
    ing.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    ing
}

/// `(status, access control, blocking)` of the finding named `name`.
fn verdict(report: &IngressReport, name: &str) -> Option<(Status, bool, bool)> {
    report
        .findings
        .iter()
        .find(|f| f.name == name)
        .map(|f| (f.status, f.access_control, f.blocking))
}

#[test]
fn annotations_are_classified_by_the_catalog() {
    use Status::*;
    // (key, value, want: status, access control, blocking)
    let cases: &[(&str, &str, (Status, bool, bool))] = &[
        (
            "nginx.ingress.kubernetes.io/ssl-redirect",
            "false",
            (Supported, false, false),
        ),
        (
            "gatehouse.dev/ssl-redirect",
            "true",
            (Supported, false, false),
        ),
        (
            "nginx.ingress.kubernetes.io/proxy-connect-timeout",
            "5",
            (SupportedWithDifference, false, false),
        ),
        (
            "nginx.ingress.kubernetes.io/whitelist-source-range",
            "10.0.0.0/8",
            (SupportedWithDifference, true, false),
        ),
        (
            "nginx.ingress.kubernetes.io/proxy-buffering",
            "on",
            (Ignored, false, false),
        ),
        (
            "nginx.ingress.kubernetes.io/affinity",
            "cookie",
            (Unsupported, false, false),
        ),
        (
            "nginx.ingress.kubernetes.io/proxy-body-size",
            "8m",
            (Supported, false, false),
        ),
        (
            "nginx.ingress.kubernetes.io/limit-rps",
            "10",
            (Unsupported, false, false),
        ),
        (
            "nginx.ingress.kubernetes.io/rewrite-target",
            "/$1",
            (Unsupported, false, true),
        ),
        (
            "nginx.ingress.kubernetes.io/use-regex",
            "true",
            (Unsupported, false, true),
        ),
        (
            "nginx.ingress.kubernetes.io/use-regex",
            "false",
            (Ignored, false, false),
        ),
        (
            "nginx.ingress.kubernetes.io/auth-url",
            "http://auth/",
            (SupportedWithDifference, true, false),
        ),
        (
            "nginx.ingress.kubernetes.io/auth-url",
            "auth/verify",
            (InvalidValue, true, true),
        ),
        (
            "nginx.ingress.kubernetes.io/auth-tls-secret",
            "ns/ca",
            (Unsupported, true, true),
        ),
        (
            "nginx.ingress.kubernetes.io/auth-type",
            "basic",
            (SupportedWithDifference, true, false),
        ),
        (
            "nginx.ingress.kubernetes.io/auth-type",
            "digest",
            (Unsupported, true, true),
        ),
        (
            "nginx.ingress.kubernetes.io/enable-modsecurity",
            "false",
            (Ignored, true, false),
        ),
        // Without auth-url it asks for nothing; its value is still fine.
        (
            "nginx.ingress.kubernetes.io/auth-signin",
            "http://x/",
            (SupportedWithDifference, false, false),
        ),
        (
            "nginx.ingress.kubernetes.io/no-such-thing",
            "1",
            (Unknown, false, false),
        ),
        ("gatehouse.dev/acme", "true", (Supported, false, false)),
        (
            "nginx.ingress.kubernetes.io/whitelist-source-range",
            "not-an-ip",
            (InvalidValue, true, true),
        ),
        (
            "nginx.ingress.kubernetes.io/proxy-connect-timeout",
            "soon",
            (InvalidValue, false, false),
        ),
    ];
    for (key, value, want) in cases {
        let report = check_ingress(&annotated(&[(key, value)]), &ExternalNames::new(), None);
        assert_eq!(verdict(&report, key), Some(*want), "{key}: {value:?}");
        assert_eq!(report.blocking, want.2, "{key}: {value:?}");
    }
}

#[test]
fn annotations_of_other_prefixes_are_not_reported() {
    let report = check_ingress(
        &annotated(&[
            ("kubernetes.io/ingress.class", "nginx"),
            ("cert-manager.io/cluster-issuer", "le"),
        ]),
        &ExternalNames::new(),
        Some("a.yaml"),
    );
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.class.as_deref(), Some("nginx"));
    assert_eq!(report.source.as_deref(), Some("a.yaml"));
    assert_eq!(
        (report.namespace.as_str(), report.name.as_str()),
        ("apps", "web")
    );
}

#[test]
fn snippets_report_each_directive_after_the_snippet() {
    let key = format!("{N}configuration-snippet");
    let snippet = "more_set_headers \"X-A: b;c\";\n# deny all;\nif ($host = x) { return 403; }\nlimit_req zone=z";
    let report = check_ingress(&annotated(&[(&key, snippet)]), &ExternalNames::new(), None);
    let names: Vec<(&str, Subject, bool)> = report
        .findings
        .iter()
        .map(|f| (f.name.as_str(), f.subject, f.blocking))
        .collect();
    assert_eq!(
        names,
        [
            (key.as_str(), Subject::Annotation, true),
            ("more_set_headers", Subject::SnippetDirective, true),
            ("if", Subject::SnippetDirective, true),
            ("return", Subject::SnippetDirective, true),
            ("limit_req", Subject::SnippetDirective, true),
        ]
    );
    assert!(report.findings[1].note.contains(&key));
}

#[test]
fn snippet_directives_split_like_nginx() {
    // (snippet, directive names)
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        ("  ;;  ", &[]),
        ("deny all;", &["deny"]),
        ("allow 10.0.0.0/8; deny all;", &["allow", "deny"]),
        (
            "add_header X \"a;b{c}\"; return 200",
            &["add_header", "return"],
        ),
        (
            "location /x { proxy_pass http://b; }",
            &["location", "proxy_pass"],
        ),
        ("# comment; not a directive\nexpires 1h;", &["expires"]),
        ("set $a 'it\\'s;'; rewrite ^ /b break;", &["set", "rewrite"]),
    ];
    for (snippet, want) in cases {
        assert_eq!(snippet_directives(snippet), *want, "{snippet:?}");
    }
}

#[test]
fn regex_paths_are_recognised() {
    // (path, regex-looking)
    let cases = [
        ("/", false),
        ("/api/v1", false),
        ("/static/app.js", false),
        ("/c++", false),
        ("/api(/|$)(.*)", true),
        ("/user/[0-9]+", true),
        ("/files/.+", true),
        ("/*", true),
        ("^/exact$", true),
        ("/a|/b", true),
        ("/x{2}", true),
    ];
    for (path, want) in cases {
        assert_eq!(looks_like_regex(path), want, "{path}");
    }
}

#[test]
fn rule_paths_and_backends() {
    let ing = ingress(
        r#"
metadata: {name: rules, namespace: apps}
spec:
  defaultBackend: {resource: {apiGroup: k8s.example.com, kind: Bucket, name: static}}
  rules:
  - host: a.example
    http:
      paths:
      - {path: "/api(/|$)(.*)", pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 80}}}}
      - {path: "/literal(1)", pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /ext, pathType: Prefix, backend: {service: {name: outside, port: {number: 80}}}}
      - {path: /plain, pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 80}}}}
"#,
    );
    let external: ExternalNames = [("apps".to_string(), "outside".to_string())].into();
    let report = check_ingress(&ing, &external, None);
    let got: Vec<(Subject, &str, bool)> = report
        .findings
        .iter()
        .map(|f| (f.subject, f.name.as_str(), f.blocking))
        .collect();
    assert_eq!(
        got,
        [
            (Subject::Backend, "default backend", true),
            (Subject::Path, "a.example/api(/|$)(.*)", true),
            (Subject::Backend, "a.example/ext", false),
        ]
    );
    assert!(report.findings[0]
        .note
        .contains("k8s.example.com/Bucket static"));
    assert!(report.findings[2].note.contains("apps/outside"));
    // An ExternalName Service of another namespace is not this backend.
    let elsewhere: ExternalNames = [("other".to_string(), "outside".to_string())].into();
    assert_eq!(check_ingress(&ing, &elsewhere, None).findings.len(), 2);
}

#[test]
fn use_regex_makes_every_path_type_a_regex() {
    let mut ing = ingress(
        r#"
metadata: {name: r}
spec:
  rules:
  - http:
      paths:
      - {path: "/literal(1)", pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
"#,
    );
    let plain = check_ingress(&ing, &ExternalNames::new(), None);
    assert!(plain.findings.is_empty());
    assert_eq!(plain.namespace, "default");
    ing.metadata.annotations = Some([(format!("{N}use-regex"), "true".to_string())].into());
    let report = check_ingress(&ing, &ExternalNames::new(), None);
    assert_eq!(
        verdict(&report, "*/literal(1)"),
        Some((Status::Unsupported, false, true))
    );
}

#[test]
fn configmap_keys_map_to_flags() {
    use Status::*;
    // (key, value, want: status, flag, blocking)
    let cases: &[(&str, &str, Status, Option<&str>, bool)] = &[
        (
            "proxy-body-size",
            "8m",
            Supported,
            Some("--proxy-body-size=8m"),
            false,
        ),
        (
            "hsts",
            "false",
            SupportedWithDifference,
            Some("--hsts-max-age"),
            false,
        ),
        ("proxy-buffering", "on", Ignored, None, false),
        ("use-gzip", "true", Unsupported, None, false),
        (
            "global-auth-url",
            "http://auth/",
            Supported,
            Some("--global-auth-url=http://auth/"),
            false,
        ),
        ("enable-modsecurity", "false", Ignored, None, false),
        (
            "enable-owasp-modsecurity-crs",
            "false",
            Ignored,
            None,
            false,
        ),
        ("no-such-key", "1", Unknown, None, false),
        (
            "keep-alive",
            "75",
            Supported,
            Some("--keep-alive=75"),
            false,
        ),
        (
            "keep-alive",
            "forever",
            InvalidValue,
            Some("--keep-alive"),
            false,
        ),
        (
            "hsts-max-age",
            "-1",
            InvalidValue,
            Some("--hsts-max-age"),
            false,
        ),
        (
            "hsts-include-subdomains",
            "false",
            Supported,
            Some("--hsts-include-subdomains=false"),
            false,
        ),
    ];
    for (key, value, status, flag, blocking) in cases {
        let data = [(key.to_string(), value.to_string())].into();
        let report = check_configmap(&data, "cm.yaml");
        let f = &report.findings[0];
        assert_eq!(
            (f.status, f.flag.as_deref(), f.blocking),
            (*status, *flag, *blocking),
            "{key}"
        );
        assert_eq!(report.blocking, *blocking, "{key}");
        if *status == InvalidValue {
            assert!(
                f.note.contains("does not take this value: invalid value"),
                "{}",
                f.note
            );
        }
    }
}

#[test]
fn configmap_snippets_list_their_directives() {
    let data = [
        (
            "http-snippet".to_string(),
            "map $a $b { default 1; }".to_string(),
        ),
        (
            "stream-snippet".to_string(),
            "server { listen 9000; }".to_string(),
        ),
    ]
    .into();
    let report = check_configmap(&data, "cm.yaml");
    let got: Vec<(&str, Status, bool)> = report
        .findings
        .iter()
        .map(|f| (f.name.as_str(), f.status, f.blocking))
        .collect();
    assert_eq!(
        got,
        [
            ("http-snippet", Status::Unsupported, true),
            ("map", Status::Unsupported, true),
            ("default", Status::Unsupported, true),
            ("stream-snippet", Status::Ignored, false),
            ("server", Status::Unsupported, false),
            ("listen", Status::Unsupported, false),
        ]
    );
}

#[test]
fn the_report_sorts_and_sums_up() {
    let clean = check_ingress(&annotated(&[]), &ExternalNames::new(), None);
    let mut bad = check_ingress(
        &annotated(&[(&format!("{N}auth-tls-secret"), "ns/ca")]),
        &ExternalNames::new(),
        None,
    );
    bad.namespace = "a".into();
    let report = Report::new(vec![clean.clone(), bad.clone()], None);
    assert!(report.blocking);
    assert_eq!(report.ingresses[0].namespace, "a");
    assert!(!Report::new(vec![clean], None).blocking);
}
