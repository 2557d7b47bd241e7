//! The pure part of `gatehouse check`: what of each Ingress (and of ingress-nginx's ConfigMap)
//! carries over, classified by the annotation catalog. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use gatehouse_controller::translate::annotations::{
    self, catalog, configmap, IngressAnnotations, UnsupportedAnnotations,
};
use gatehouse_controller::translate::WarningKind;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend};
use serde::Serialize;

/// How one annotation, key, directive, path or backend carries over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Honoured as ingress-nginx does.
    Supported,
    /// Honoured, with a difference.
    SupportedWithDifference,
    /// Not read, and nothing the user relies on changes.
    Ignored,
    /// Not read or not served: something changes.
    Unsupported,
    /// Read, but the value does not parse.
    InvalidValue,
    /// Under one of the prefixes, but not a key ingress-nginx documents.
    Unknown,
}

impl Status {
    /// The status and text of a catalog entry.
    pub fn of(support: catalog::Support) -> (Self, &'static str) {
        match support {
            catalog::Support::Supported => (Status::Supported, ""),
            catalog::Support::SupportedWithDifference(t) => (Status::SupportedWithDifference, t),
            catalog::Support::Ignored(t) => (Status::Ignored, t),
            catalog::Support::Unsupported(t) => (Status::Unsupported, t),
        }
    }

    /// The name used in both outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Supported => "supported",
            Status::SupportedWithDifference => "supported-with-difference",
            Status::Ignored => "ignored",
            Status::Unsupported => "unsupported",
            Status::InvalidValue => "invalid-value",
            Status::Unknown => "unknown",
        }
    }
}

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subject {
    /// An annotation (the full key).
    Annotation,
    /// One nginx directive of a snippet.
    SnippetDirective,
    /// A rule's path (`host/path`).
    Path,
    /// A rule's or the default backend.
    Backend,
    /// A key of ingress-nginx's controller ConfigMap.
    ConfigmapKey,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is about.
    pub subject: Subject,
    /// The annotation key, directive, path or backend.
    pub name: String,
    /// How it carries over.
    pub status: Status,
    /// The catalog marks it as access control.
    pub access_control: bool,
    /// It changes routing or security, so `gatehouse check` exits 2.
    pub blocking: bool,
    /// What differs, why it is harmless, or what changes.
    pub note: String,
    /// The gatehouse flag that replaces a ConfigMap key (with its value when it carries over
    /// unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
}

impl Finding {
    fn new(subject: Subject, name: impl Into<String>, status: Status, note: &str) -> Self {
        Self {
            subject,
            name: name.into(),
            status,
            access_control: false,
            blocking: false,
            note: note.to_string(),
            flag: None,
        }
    }
}

/// Everything found on one Ingress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IngressReport {
    /// Its namespace (`default` when unset).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its class (`spec.ingressClassName`, else the legacy annotation).
    pub class: Option<String>,
    /// The file it came from (manifests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Some finding blocks.
    pub blocking: bool,
    /// Annotations in key order (snippet directives after their snippet), then paths and
    /// backends in rule order.
    pub findings: Vec<Finding>,
}

/// Everything found in ingress-nginx's controller ConfigMap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigMapReport {
    /// The file it came from.
    pub source: String,
    /// Some finding blocks.
    pub blocking: bool,
    /// Keys in order (snippet directives after their snippet).
    pub findings: Vec<Finding>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Some Ingress or the ConfigMap has a blocking finding.
    pub blocking: bool,
    /// Every Ingress checked, by namespace and name.
    pub ingresses: Vec<IngressReport>,
    /// The ConfigMap, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configmap: Option<ConfigMapReport>,
}

impl Report {
    /// Sorts the Ingresses and sets the overall verdict.
    pub fn new(mut ingresses: Vec<IngressReport>, configmap: Option<ConfigMapReport>) -> Self {
        ingresses.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let blocking =
            ingresses.iter().any(|i| i.blocking) || configmap.as_ref().is_some_and(|c| c.blocking);
        Self {
            blocking,
            ingresses,
            configmap,
        }
    }
}

/// The Services an Ingress may point at, as far as check cares: `(namespace, name)` of those of
/// type ExternalName.
pub type ExternalNames = BTreeSet<(String, String)>;

/// Checks one Ingress; `source` names its file.
pub fn check_ingress(
    ing: &Ingress,
    external_names: &ExternalNames,
    source: Option<&str>,
) -> IngressReport {
    let object = gatehouse_controller::translate::ObjectRef::ingress(ing);
    let mut findings = annotation_findings(ing);
    findings.extend(rule_findings(ing, &object.namespace, external_names));
    let class = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.clone())
        .or_else(|| annotations::legacy_class(ing).map(str::to_string));
    IngressReport {
        blocking: findings.iter().any(|f| f.blocking),
        namespace: object.namespace,
        name: object.name,
        class,
        source: source.map(str::to_string),
        findings,
    }
}

/// Every annotation under either prefix, with the directives of snippets.
fn annotation_findings(ing: &Ingress) -> Vec<Finding> {
    let Some(map) = ing.metadata.annotations.as_ref() else {
        return Vec::new();
    };
    // The values gatehouse reads are checked by the same parser translation uses.
    let (notes, warnings) = IngressAnnotations::parse(ing, UnsupportedAnnotations::FailClosed);
    // Keys whose value refuses the Ingress (its routes answer 503).
    let refuses = |key: &str| {
        notes
            .refuse
            .as_deref()
            .is_some_and(|r| r.contains(&format!("{key} (")))
    };
    let invalid: Vec<&str> = warnings
        .iter()
        .filter(|w| w.kind == WarningKind::InvalidAnnotation)
        .map(|w| w.message.as_str())
        .collect();
    // Access control refused for its value (e.g. `auth-type: digest`), not for its key.
    let refused: Vec<&str> = warnings
        .iter()
        .filter(|w| w.kind == WarningKind::UnsupportedAccessControl)
        .map(|w| w.message.as_str())
        .collect();
    let mut findings = Vec::new();
    for (key, value) in map {
        let Some(name) = catalog::strip_prefix(key) else {
            continue;
        };
        if annotations::OWN.contains(&key.as_str()) {
            findings.push(Finding::new(
                Subject::Annotation,
                key,
                Status::Supported,
                "gatehouse's own annotation.",
            ));
            continue;
        }
        let Some(info) = catalog::lookup(name) else {
            findings.push(Finding::new(
                Subject::Annotation,
                key,
                Status::Unknown,
                "Not an annotation ingress-nginx documents: gatehouse does not read it.",
            ));
            continue;
        };
        let mut finding = classify(Subject::Annotation, key, name, value, info.support);
        finding.access_control = info.access_control;
        finding.blocking = finding.status == Status::Unsupported
            && (info.access_control || catalog::changes_routing(name) || catalog::is_snippet(name));
        let asks = format!("annotation {key} asks for access control");
        let by_value = finding.status != Status::Unsupported;
        if let Some(message) = refused.iter().find(|m| by_value && m.starts_with(&asks)) {
            finding.status = Status::Unsupported;
            finding.note = message.to_string();
            finding.blocking = true;
        }
        let prefix = format!("annotation {key}:");
        if let Some(message) = invalid.iter().find(|m| m.starts_with(&prefix)) {
            finding.status = Status::InvalidValue;
            finding.note = message.to_string();
            // Invalid access control refuses the Ingress (its routes answer 503).
            finding.blocking = info.access_control || refuses(key);
        }
        let directives = snippet_findings(key, name, value, finding.status);
        findings.push(finding);
        findings.extend(directives);
    }
    findings
}

/// The finding for a catalog entry, with switches turned off counted as ignored.
fn classify(
    subject: Subject,
    key: &str,
    name: &str,
    value: &str,
    support: catalog::Support,
) -> Finding {
    let (status, note) = Status::of(support);
    if status == Status::Unsupported && catalog::asks_for_nothing(name, value) {
        return Finding::new(
            subject,
            key,
            Status::Ignored,
            "This value turns it off, so nothing is lost.",
        );
    }
    Finding::new(subject, key, status, note)
}

/// One finding per directive of a snippet (none for other keys); they block unless the
/// snippet itself is harmless to ignore.
fn snippet_findings(key: &str, name: &str, value: &str, status: Status) -> Vec<Finding> {
    if !catalog::is_snippet(name) {
        return Vec::new();
    }
    let blocking = status != Status::Ignored;
    // External authentication's snippet: its proxy_set_header lines are applied.
    let auth = name == "auth-snippet" || name == "global-auth-snippet";
    snippet_directives(value)
        .into_iter()
        .map(|directive| match (auth, directive == "proxy_set_header") {
            (true, true) => Finding::new(
                Subject::SnippetDirective,
                directive,
                Status::Supported,
                &format!("In {key}: set on the auth subrequest."),
            ),
            (true, false) => Finding {
                blocking: true,
                ..Finding::new(
                    Subject::SnippetDirective,
                    directive,
                    Status::Unsupported,
                    &format!("In {key}: only `proxy_set_header` lines are applied; any other directive refuses the Ingress (503), or stops gatehouse from starting in `--global-auth-snippet`."),
                )
            },
            (false, _) => Finding {
            blocking,
            ..Finding::new(
                Subject::SnippetDirective,
                directive,
                Status::Unsupported,
                &format!("In {key}: gatehouse never applies nginx directives."),
            )
            },
        })
        .collect()
}

/// The directive names of an nginx snippet, in order: the first word of each statement, where
/// statements end at `;`, `{` or `}` outside quotes and `#` starts a comment.
pub fn snippet_directives(snippet: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut statement = String::new();
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut escaped = false;
    for c in snippet.chars() {
        if comment {
            comment = c != '\n';
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            statement.push(c);
            continue;
        }
        match c {
            '"' | '\'' => {
                quote = Some(c);
                statement.push(c);
            }
            '#' => comment = true,
            ';' | '{' | '}' => {
                push_directive(&statement, &mut names);
                statement.clear();
            }
            _ => statement.push(c),
        }
    }
    push_directive(&statement, &mut names);
    names
}

fn push_directive(statement: &str, names: &mut Vec<String>) {
    if let Some(word) = statement.split_whitespace().next() {
        names.push(word.to_string());
    }
}

/// True when a path is written as a regular expression rather than literal text.
pub fn looks_like_regex(path: &str) -> bool {
    path.contains(['(', ')', '[', ']', '*', '$', '^', '?', '|', '{', '}', '\\'])
        || path.contains(".+")
}

/// Regex paths and backends gatehouse cannot route to, in rule order.
fn rule_findings(ing: &Ingress, namespace: &str, external_names: &ExternalNames) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(spec) = ing.spec.as_ref() else {
        return findings;
    };
    let use_regex = read_bool(ing, "use-regex");
    if let Some(backend) = &spec.default_backend {
        findings.extend(backend_finding(
            "default backend",
            backend,
            namespace,
            external_names,
        ));
    }
    for rule in spec.rules.iter().flatten() {
        let host = rule.host.as_deref().unwrap_or("*");
        for path in rule.http.iter().flat_map(|h| &h.paths) {
            let text = path.path.as_deref().unwrap_or("/");
            let place = format!("{host}{text}");
            let implementation_specific = path.path_type == "ImplementationSpecific";
            if (implementation_specific || use_regex) && looks_like_regex(text) {
                findings.push(Finding {
                    blocking: true,
                    ..Finding::new(
                        Subject::Path,
                        &place,
                        Status::Unsupported,
                        "A regular expression in ingress-nginx; gatehouse matches the literal text as a prefix, so the requests it meant get 404 or another route.",
                    )
                });
            }
            findings.extend(backend_finding(
                &place,
                &path.backend,
                namespace,
                external_names,
            ));
        }
    }
    findings
}

/// A finding when `backend` is one gatehouse cannot route to.
fn backend_finding(
    place: &str,
    backend: &IngressBackend,
    namespace: &str,
    external_names: &ExternalNames,
) -> Option<Finding> {
    let note = if let Some(resource) = &backend.resource {
        let group = resource.api_group.as_deref().unwrap_or("core");
        format!(
            "Resource backend {group}/{} {}: gatehouse supports only Service backends, so it gets no route.",
            resource.kind, resource.name
        )
    } else {
        let service = backend.service.as_ref()?;
        if !external_names.contains(&(namespace.to_string(), service.name.clone())) {
            return None;
        }
        // Routed since ExternalName support landed; the differences are worth a line.
        let note = format!(
            "Service {namespace}/{} is of type ExternalName: gatehouse resolves the name (again every 30 s; a name that does not resolve answers 503) and keeps the client's Host, as ingress-nginx does; set upstream-vhost (and backend-protocol: HTTPS for a TLS device) as needed.",
            service.name
        );
        return Some(Finding::new(
            Subject::Backend,
            place,
            Status::SupportedWithDifference,
            &note,
        ));
    };
    Some(Finding {
        blocking: true,
        ..Finding::new(Subject::Backend, place, Status::Unsupported, &note)
    })
}

/// A boolean annotation under either prefix (gatehouse's first); false when unset or invalid.
fn read_bool(ing: &Ingress, name: &str) -> bool {
    let Some(map) = ing.metadata.annotations.as_ref() else {
        return false;
    };
    [annotations::GATEHOUSE_PREFIX, annotations::NGINX_PREFIX]
        .iter()
        .find_map(|prefix| map.get(&format!("{prefix}{name}")))
        .is_some_and(|v| annotations::values::parse_bool(v) == Ok(true))
}

/// Checks ingress-nginx's controller ConfigMap `data`; `source` names its file.
pub fn check_configmap(data: &BTreeMap<String, String>, source: &str) -> ConfigMapReport {
    let mut findings = Vec::new();
    for (key, value) in data {
        let Some(info) = configmap::lookup(key) else {
            findings.push(Finding::new(
                Subject::ConfigmapKey,
                key,
                Status::Unknown,
                "Not a key ingress-nginx documents: gatehouse has no equivalent.",
            ));
            continue;
        };
        let mut finding = classify(Subject::ConfigmapKey, key, key, value, info.support);
        finding.access_control = info.access_control;
        finding.blocking = finding.status == Status::Unsupported
            && (info.access_control || catalog::is_snippet(key));
        // A supported key's value carries over as is (checked by the flag's own parser); a
        // different one needs the note read.
        finding.flag = match finding.status {
            Status::Supported => info.flag.map(|flag| format!("{flag}={value}")),
            Status::SupportedWithDifference => info.flag.map(str::to_string),
            _ => None,
        };
        if let (Status::Supported, Some(flag), Some(with_value)) =
            (finding.status, info.flag, finding.flag.clone())
        {
            if let Err(why) = flag_accepts(&with_value) {
                finding.status = Status::InvalidValue;
                finding.note = format!("gatehouse's {flag} does not take this value: {why}");
                finding.flag = Some(flag.to_string());
            }
        }
        let directives = snippet_findings(key, key, value, finding.status);
        findings.push(finding);
        findings.extend(directives);
    }
    ConfigMapReport {
        blocking: findings.iter().any(|f| f.blocking),
        source: source.to_string(),
        findings,
    }
}

/// Whether the command line accepts `--flag=value`, by the binary's own flag parsers; the
/// error is clap's first line.
fn flag_accepts(flag_with_value: &str) -> Result<(), String> {
    crate::cli::parse_from(["gatehouse", flag_with_value])
        .map(|_| ())
        .map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").to_string()
        })
}

#[cfg(test)]
mod tests;
