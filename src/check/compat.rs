//! `docs/compatibility.md`, generated from the annotation and ConfigMap catalogs (printed by the
//! hidden `gatehouse check --print-compatibility-table`; a test holds the file equal to it).

use std::fmt::Write;

use gatehouse_controller::translate::annotations::{catalog, configmap, OWN};

use super::report::Status;

/// The whole compatibility document, in Markdown.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Compatibility with ingress-nginx\n\n\
         <!-- Generated from controller/src/translate/annotations/{catalog,configmap}.rs by\n\
         `gatehouse check --print-compatibility-table`; do not edit by hand. -->\n\n\
         How gatehouse treats every annotation and controller ConfigMap key ingress-nginx\n\
         documents. `gatehouse check` reads the same tables: run it on your Ingresses before\n\
         switching (see the README). Statuses:\n\n\
         - **supported**: honoured as ingress-nginx does;\n\
         - **supported-with-difference**: honoured, with the difference in the notes;\n\
         - **ignored**: not read, and nothing you rely on changes (the notes say why);\n\
         - **unsupported**: not read; the notes say what changes.\n\n\
         *Access control* marks keys whose absence could let through a request ingress-nginx\n\
         refuses; an Ingress asking for unsupported access control answers 503 on every route\n\
         (`--unsupported-annotations`). *Blocks check* marks what makes `gatehouse check` exit 2:\n\
         unsupported access control, snippets, and unsupported annotations that change routing\n\
         (a value that turns such a switch off, like `use-regex: \"false\"`, does not block).\n\n",
    );
    annotations(&mut out);
    config_keys(&mut out);
    out
}

fn annotations(out: &mut String) {
    let _ = writeln!(
        out,
        "## Annotations\n\n\
         Read under `nginx.ingress.kubernetes.io/` and under gatehouse's own `gatehouse.dev/`\n\
         (which wins when both are set). Keys only under `gatehouse.dev/`: {}.\n",
        OWN.iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str("| annotation | status | access control | blocks check | notes |\n");
    out.push_str("|---|---|---|---|---|\n");
    for a in catalog::ANNOTATIONS {
        let (status, note) = Status::of(a.support);
        let blocks = status == Status::Unsupported
            && (a.access_control
                || catalog::changes_routing(a.name)
                || catalog::is_snippet(a.name));
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            a.name,
            status.as_str(),
            yes(a.access_control),
            yes(blocks),
            cell(note)
        );
    }
    out.push('\n');
}

fn config_keys(out: &mut String) {
    out.push_str(
        "## Controller ConfigMap keys\n\n\
         gatehouse reads no ConfigMap: global settings are flags. `gatehouse check\n\
         --nginx-configmap FILE` maps a ConfigMap's keys through this table.\n\n",
    );
    out.push_str("| key | status | gatehouse flag | access control | blocks check | notes |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for k in configmap::CONFIG_KEYS {
        let (status, note) = Status::of(k.support);
        let blocks =
            status == Status::Unsupported && (k.access_control || catalog::is_snippet(k.name));
        let flag = k.flag.map(|f| format!("`{f}`")).unwrap_or_default();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            k.name,
            status.as_str(),
            flag,
            yes(k.access_control),
            yes(blocks),
            cell(note)
        );
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        ""
    }
}

/// A table cell: pipes escaped, no line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed document is what the catalogs generate. Set `GATEHOUSE_BLESS=1` to
    /// rewrite it.
    #[test]
    fn committed_compatibility_doc_is_generated() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/compatibility.md");
        let fresh = markdown();
        if std::env::var_os("GATEHOUSE_BLESS").is_some() {
            std::fs::write(path, &fresh).expect("write docs/compatibility.md");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == fresh,
            "docs/compatibility.md differs from what the catalogs generate; regenerate it with \
             `cargo run -- check --print-compatibility-table > docs/compatibility.md` (or run this \
             test with GATEHOUSE_BLESS=1). Fresh text:\n{fresh}"
        );
    }

    #[test]
    fn every_catalog_entry_has_one_row() {
        let text = markdown();
        for a in catalog::ANNOTATIONS {
            assert_eq!(
                text.matches(&format!("\n| `{}` |", a.name)).count(),
                1 + usize::from(configmap::lookup(a.name).is_some()),
                "{}",
                a.name
            );
        }
        assert!(text.contains(
            "| `auth-tls-secret` | unsupported | yes | yes | Client certificates are not requested or verified: requests are let through without one. |"
        ));
        assert!(text.contains("| `ssl-redirect` | supported |  |  |  |"));
        assert!(text.contains("| `hsts-max-age` | supported | `--hsts-max-age` |  |  |  |"));
    }

    #[test]
    fn cells_escape_pipes() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
