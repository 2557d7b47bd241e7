//! `gatehouse check`, black-box: the real binary on the fixtures in tests/fixtures/check/
//! (manifests, stdin, the ingress-nginx ConfigMap) and on the in-repo test API server.

mod kube_support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use anyhow::Context;
use kube_support::Cluster;
use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/check";

fn gatehouse() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("KUBECONFIG")
        .env("RUST_LOG", "warn");
    cmd
}

/// Runs `gatehouse check ARGS`, feeding `stdin`.
fn check(args: &[&str], stdin: &str) -> anyhow::Result<Output> {
    let mut child = gatehouse()
        .arg("check")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn gatehouse check")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    Ok(child.wait_with_output()?)
}

fn json(out: &Output) -> anyhow::Result<Value> {
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "stdout is not JSON: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `namespace/name` → `status subject name [blocking]` lines, the report compared whole.
fn summary(report: &Value) -> Vec<(String, Vec<String>)> {
    let lines = |findings: &Value| -> Vec<String> {
        findings
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                let mut line = format!(
                    "{} {} {}",
                    f["status"].as_str().unwrap_or("?"),
                    f["subject"].as_str().unwrap_or("?"),
                    f["name"].as_str().unwrap_or("?")
                );
                if f["access_control"] == true {
                    line.push_str(" [access]");
                }
                if f["blocking"] == true {
                    line.push_str(" [blocks]");
                }
                line
            })
            .collect()
    };
    let mut out: Vec<(String, Vec<String>)> = report["ingresses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                format!(
                    "{}/{}",
                    i["namespace"].as_str().unwrap_or("?"),
                    i["name"].as_str().unwrap_or("?")
                ),
                lines(&i["findings"]),
            )
        })
        .collect();
    if !report["configmap"].is_null() {
        out.push(("configmap".into(), lines(&report["configmap"]["findings"])));
    }
    out
}

fn owned(groups: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    groups
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

const N: &str = "nginx.ingress.kubernetes.io";

#[test]
fn manifests_fixture_report_and_exit_code() -> anyhow::Result<()> {
    let out = check(
        &[
            "--manifests",
            &format!("{FIXTURES}/manifests"),
            "-o",
            "json",
        ],
        "",
    )?;
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out)?;
    assert_eq!(report["blocking"], true);
    let want = owned(&[
        (
            "admin/auth",
            &[
                &format!("supported-with-difference annotation {N}/auth-secret [access]"),
                &format!("supported-with-difference annotation {N}/auth-signin"),
                &format!("invalid-value annotation {N}/auth-snippet [blocks]"),
                "supported snippet-directive proxy_set_header",
                "unsupported snippet-directive return [blocks]",
                &format!("unsupported annotation {N}/auth-tls-secret [access] [blocks]"),
                &format!("unsupported annotation {N}/auth-tls-verify-client [access] [blocks]"),
                &format!("supported-with-difference annotation {N}/auth-type [access]"),
                &format!("supported-with-difference annotation {N}/auth-url [access]"),
            ],
        ),
        (
            "shop/backends",
            &[
                &format!("unknown annotation {N}/x-unknown-key"),
                "unsupported backend default backend [blocks]",
                "supported-with-difference backend legacy.example/",
            ],
        ),
        (
            "shop/differences",
            &[
                &format!("unsupported annotation {N}/affinity"),
                &format!("ignored annotation {N}/enable-modsecurity [access]"),
                &format!("ignored annotation {N}/proxy-buffering"),
                &format!("supported-with-difference annotation {N}/proxy-connect-timeout"),
                &format!("ignored annotation {N}/use-regex"),
                &format!(
                    "supported-with-difference annotation {N}/whitelist-source-range [access]"
                ),
            ],
        ),
        (
            "shop/regex",
            &[
                &format!("unsupported annotation {N}/rewrite-target [blocks]"),
                &format!("unsupported annotation {N}/use-regex [blocks]"),
                "unsupported path regex.example/api(/|$)(.*) [blocks]",
            ],
        ),
        (
            "shop/snippets",
            &[
                &format!("unsupported annotation {N}/configuration-snippet [access] [blocks]"),
                "unsupported snippet-directive more_set_headers [blocks]",
                "unsupported snippet-directive if [blocks]",
                "unsupported snippet-directive return [blocks]",
                &format!("unsupported annotation {N}/server-snippet [access] [blocks]"),
                "unsupported snippet-directive allow [blocks]",
                "unsupported snippet-directive deny [blocks]",
            ],
        ),
        (
            "shop/supported",
            &[
                "supported annotation gatehouse.dev/acme",
                &format!("supported annotation {N}/force-ssl-redirect"),
                &format!("supported annotation {N}/ssl-redirect"),
            ],
        ),
    ]);
    assert_eq!(summary(&report), want, "{report:#}");

    // Every class is checked, and the report says which file and class each Ingress has.
    let by_name = |name: &str| {
        report["ingresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_name("backends")["class"], "other");
    assert_eq!(by_name("differences")["class"], "nginx");
    assert_eq!(
        by_name("backends")["source"],
        format!("{FIXTURES}/manifests/more/backends.yaml")
    );
    assert_eq!(by_name("supported")["blocking"], false);
    let auth_tls = &by_name("auth")["findings"][5];
    assert_eq!(
        auth_tls["note"],
        "Client certificates are not requested or verified: requests are let through without one."
    );
    Ok(())
}

#[test]
fn table_output_groups_per_ingress() -> anyhow::Result<()> {
    let out = check(&["-f", &format!("{FIXTURES}/manifests/ingresses.yaml")], "")?;
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout)?;
    assert!(
        text.contains(&format!(
            "Ingress admin/auth (class nginx, from {FIXTURES}/manifests/ingresses.yaml)\n"
        )),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("auth-tls-secret")
            && l.contains("[BLOCKS, access control]")
            && l.starts_with("  unsupported")),
        "{text}"
    );
    assert!(text.contains("finding(s) marked BLOCKS"), "{text}");
    Ok(())
}

#[test]
fn stdin_clean_ingress_exits_zero() -> anyhow::Result<()> {
    let clean = std::fs::read_to_string(format!(
        "{}/{FIXTURES}/clean.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))?;
    let out = check(&["-f", "-", "-o", "json"], &clean)?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out)?;
    assert_eq!(
        summary(&report),
        owned(&[(
            "default/clean",
            &[&format!("supported annotation {N}/ssl-redirect")]
        )])
    );
    assert_eq!(report["ingresses"][0]["source"], "<stdin>");
    assert_eq!(report["blocking"], false);

    // What `kubectl get ingress -A -o yaml` prints: a List.
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.k8s.io/v1\n  kind: Ingress\n  metadata: {name: listed, namespace: web, annotations: {nginx.ingress.kubernetes.io/auth-tls-verify-client: \"on\"}}\n";
    let out = check(&["-f", "-", "-o", "json"], list)?;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        summary(&json(&out)?),
        owned(&[(
            "web/listed",
            &[&format!(
                "unsupported annotation {N}/auth-tls-verify-client [access] [blocks]"
            )]
        )])
    );
    Ok(())
}

#[test]
fn nginx_configmap_maps_keys_to_flags() -> anyhow::Result<()> {
    let clean = format!("{FIXTURES}/clean.yaml");
    let cm = format!("{FIXTURES}/nginx-configmap.yaml");
    let out = check(&["-f", &clean, "--nginx-configmap", &cm, "-o", "json"], "")?;
    assert_eq!(out.status.code(), Some(2), "http-snippet blocks");
    let report = json(&out)?;
    let groups = summary(&report);
    assert_eq!(
        groups.last(),
        owned(&[(
            "configmap",
            &[
                "supported configmap-key global-auth-url [access]",
                "supported-with-difference configmap-key hsts",
                "unsupported configmap-key http-snippet [access] [blocks]",
                "unsupported snippet-directive map [blocks]",
                "unsupported snippet-directive default [blocks]",
                "supported configmap-key keep-alive",
                "supported configmap-key proxy-body-size",
                "ignored configmap-key proxy-buffering",
                "unsupported configmap-key use-gzip",
            ]
        )])
        .last()
    );
    let flags: Vec<&str> = report["configmap"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["flag"].as_str())
        .collect();
    assert_eq!(
        flags,
        [
            "--global-auth-url=http://auth.auth.svc/check",
            "--hsts-max-age",
            "--keep-alive=75",
            "--proxy-body-size=8m"
        ]
    );
    assert_eq!(report["configmap"]["source"], cm);
    Ok(())
}

#[test]
fn a_broken_file_is_an_error_naming_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec: {rules: 7}\n",
    )?;
    let out = check(&["-f", &bad.display().to_string()], "")?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&bad.display().to_string()), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = check(&["-f", "-"], "kind: [unclosed\n")?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<stdin>"));

    let out = check(
        &["--nginx-configmap", &bad.display().to_string(), "-f", "-"],
        "",
    )?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no ConfigMap"));
    Ok(())
}

#[test]
fn the_flags_without_the_subcommand_still_run_the_controller() -> anyhow::Result<()> {
    let out = gatehouse()
        .args(["--demo", "--check-config"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(json(&out)?["instances"].is_array());
    Ok(())
}

/// The cluster path: Ingresses of every namespace listed through kube's real client.
#[tokio::test]
async fn cluster_ingresses_of_every_namespace() -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let text = std::fs::read_to_string(format!(
        "{}/{FIXTURES}/manifests/ingresses.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))?;
    cluster.apply_yaml(&text)?;
    let backends = std::fs::read_to_string(format!(
        "{}/{FIXTURES}/manifests/more/backends.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))?;
    // The test API server stores what it is given; the Deployment is not needed here.
    let backends: Vec<&str> = backends
        .split("\n---\n")
        .filter(|d| !d.contains("kind: Deployment"))
        .collect();
    cluster.apply_yaml(&backends.join("\n---\n"))?;
    let kubeconfig = cluster.kubeconfig.display().to_string();
    // A blocking process would stall the API server on this runtime: use tokio's.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--kubeconfig", &kubeconfig, "-o", "json"])
        .env_remove("KUBECONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .await?;
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out)?;
    let names: Vec<String> = summary(&report).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "admin/auth",
            "shop/backends",
            "shop/differences",
            "shop/regex",
            "shop/snippets",
            "shop/supported"
        ]
    );
    // The ExternalName Service was listed too.
    let backends = summary(&report)
        .into_iter()
        .find(|(n, _)| n == "shop/backends")
        .map(|(_, lines)| lines)
        .unwrap_or_default();
    assert!(
        backends.contains(&"supported-with-difference backend legacy.example/".to_string()),
        "{backends:?}"
    );
    assert!(report["ingresses"][0]["source"].is_null());
    Ok(())
}

#[test]
fn no_cluster_is_a_clear_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = gatehouse()
        .args(["check", "--kubeconfig"])
        .arg(dir.path().join("missing"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kubeconfig"));
    Ok(())
}
