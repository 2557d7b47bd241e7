//! `gatehouse check`'s two outputs: a table grouped per Ingress, and JSON.

use std::fmt::Write;

use super::report::{Finding, Report};

/// `-o` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable, grouped per Ingress.
    Table,
    /// The whole report as one JSON document.
    Json,
}

/// The report in the chosen format.
pub fn render(report: &Report, format: OutputFormat) -> Result<String, serde_json::Error> {
    match format {
        OutputFormat::Table => Ok(table(report)),
        OutputFormat::Json => serde_json::to_string_pretty(report).map(|s| s + "\n"),
    }
}

/// The human-readable report.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    for ing in &report.ingresses {
        let mut about = Vec::new();
        about.push(format!(
            "class {}",
            ing.class.as_deref().unwrap_or("(none)")
        ));
        if let Some(source) = &ing.source {
            about.push(format!("from {source}"));
        }
        let _ = writeln!(
            out,
            "Ingress {}/{} ({})",
            ing.namespace,
            ing.name,
            about.join(", ")
        );
        section(&mut out, &ing.findings, "no annotations or rules to report");
        out.push('\n');
    }
    if let Some(cm) = &report.configmap {
        let _ = writeln!(out, "ConfigMap {}", cm.source);
        section(&mut out, &cm.findings, "no keys");
        out.push('\n');
    }
    let blocking: usize = report
        .ingresses
        .iter()
        .flat_map(|i| &i.findings)
        .chain(report.configmap.iter().flat_map(|c| &c.findings))
        .filter(|f| f.blocking)
        .count();
    let _ = write!(out, "{} Ingress(es) checked", report.ingresses.len());
    if blocking == 0 {
        out.push_str(": nothing that changes routing or access control.\n");
    } else {
        let _ = writeln!(
            out,
            ": {blocking} finding(s) marked BLOCKS change routing or access control; fix them before switching."
        );
    }
    out
}

/// The lines of one Ingress or ConfigMap.
fn section(out: &mut String, findings: &[Finding], empty: &str) {
    if findings.is_empty() {
        let _ = writeln!(out, "  ({empty})");
        return;
    }
    let width = findings.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in findings {
        let mut tags = Vec::new();
        if f.blocking {
            tags.push("BLOCKS");
        }
        if f.access_control {
            tags.push("access control");
        }
        let mut line = format!(
            "  {:<25} {:<16} {:<width$}",
            f.status.as_str(),
            subject(f),
            f.name
        );
        if !tags.is_empty() {
            let _ = write!(line, "  [{}]", tags.join(", "));
        }
        if let Some(flag) = &f.flag {
            let _ = write!(line, "  use {flag}");
        }
        if !f.note.is_empty() {
            let _ = write!(line, "  {}", f.note);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn subject(f: &Finding) -> &'static str {
    use super::report::Subject;
    match f.subject {
        Subject::Annotation => "annotation",
        Subject::SnippetDirective => "directive",
        Subject::Path => "path",
        Subject::Backend => "backend",
        Subject::ConfigmapKey => "configmap key",
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::{IngressReport, Status, Subject};
    use super::*;

    fn finding(name: &str, status: Status, blocking: bool) -> Finding {
        Finding {
            subject: Subject::Annotation,
            name: name.into(),
            status,
            access_control: blocking,
            blocking,
            note: "A note.".into(),
            flag: None,
        }
    }

    #[test]
    fn table_groups_per_ingress_and_marks_blocking() {
        let report = Report::new(
            vec![IngressReport {
                namespace: "apps".into(),
                name: "web".into(),
                class: Some("nginx".into()),
                source: Some("web.yaml".into()),
                blocking: true,
                findings: vec![
                    finding(
                        "nginx.ingress.kubernetes.io/ssl-redirect",
                        Status::Supported,
                        false,
                    ),
                    finding(
                        "nginx.ingress.kubernetes.io/auth-url",
                        Status::Unsupported,
                        true,
                    ),
                ],
            }],
            None,
        );
        let text = table(&report);
        assert!(
            text.starts_with("Ingress apps/web (class nginx, from web.yaml)\n"),
            "{text}"
        );
        assert!(text.contains("unsupported"), "{text}");
        assert!(
            text.contains(
                "nginx.ingress.kubernetes.io/auth-url      [BLOCKS, access control]  A note."
            ),
            "{text}"
        );
        assert!(text.ends_with("1 finding(s) marked BLOCKS change routing or access control; fix them before switching.\n"), "{text}");
        let clean = Report::new(vec![], None);
        assert_eq!(
            table(&clean),
            "0 Ingress(es) checked: nothing that changes routing or access control.\n"
        );
    }
}
