//! Label and field selectors as the API server parses them from query strings.

use serde_json::Value;

use crate::resources::ResourceInfo;
use crate::status::ApiError;

/// One label requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelTerm {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed `labelSelector` (all terms must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    terms: Vec<LabelTerm>,
}

impl LabelSelector {
    /// Parses `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma-joined.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let terms = split_top_level(text)
            .into_iter()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(parse_label_term)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { terms })
    }

    /// Whether an object's `metadata.labels` satisfy every term.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.terms.iter().all(|term| match term {
            LabelTerm::Equals(k, v) => get(k) == Some(v.as_str()),
            LabelTerm::NotEquals(k, v) => get(k) != Some(v.as_str()),
            LabelTerm::Exists(k) => get(k).is_some(),
            LabelTerm::NotExists(k) => get(k).is_none(),
            LabelTerm::In(k, vs) => get(k).is_some_and(|have| vs.iter().any(|v| v == have)),
            LabelTerm::NotIn(k, vs) => get(k).is_none_or(|have| vs.iter().all(|v| v != have)),
        })
    }
}

/// Splits on commas that are not inside parentheses (`a in (x,y),b`).
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_label_term(term: &str) -> Result<LabelTerm, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "unable to parse requirement: invalid label selector term {term:?}"
        ))
    };
    if let Some((k, v)) = term.split_once("!=") {
        return Ok(LabelTerm::NotEquals(
            label_key(k, term)?,
            v.trim().to_string(),
        ));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(LabelTerm::Equals(label_key(k, term)?, v.trim().to_string()));
    }
    if let Some(k) = term.strip_prefix('!') {
        return Ok(LabelTerm::NotExists(label_key(k, term)?));
    }
    if let Some(open) = term.find('(') {
        let head: Vec<&str> = term[..open].split_whitespace().collect();
        let inner = term[open + 1..].strip_suffix(')').ok_or_else(bad)?;
        let values = inner.split(',').map(|v| v.trim().to_string()).collect();
        return match head.as_slice() {
            [k, "in"] => Ok(LabelTerm::In(label_key(k, term)?, values)),
            [k, "notin"] => Ok(LabelTerm::NotIn(label_key(k, term)?, values)),
            _ => Err(bad()),
        };
    }
    Ok(LabelTerm::Exists(label_key(term, term)?))
}

fn label_key(key: &str, term: &str) -> Result<String, ApiError> {
    let key = key.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(ApiError::bad_request(format!(
            "unable to parse requirement: invalid label key in {term:?}"
        )));
    }
    Ok(key.to_string())
}

/// A parsed `fieldSelector`: `path=value`, `path==value`, `path!=value`, comma-joined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses the selector and rejects field labels the real server does not index for `info`.
    pub fn parse(text: &str, info: &ResourceInfo) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                )));
            };
            let field = field.trim();
            if !info.supports_field(field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(Self { terms })
    }

    /// Whether an object's fields satisfy every term (missing fields compare as "").
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|(field, equal, want)| {
            let have = field
                .split('.')
                .try_fold(obj, |v, part| v.get(part))
                .and_then(Value::as_str)
                .unwrap_or("");
            (have == want) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_plural;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}, "type": "kubernetes.io/tls"})
    }

    #[test]
    fn label_selector_terms() -> Result<(), ApiError> {
        let o = obj(json!({"app": "web", "tier": "front"}));
        assert!(LabelSelector::parse("app=web")?.matches(&o));
        assert!(LabelSelector::parse("app==web,tier")?.matches(&o));
        assert!(!LabelSelector::parse("app!=web")?.matches(&o));
        assert!(LabelSelector::parse("!missing,app in (api, web)")?.matches(&o));
        assert!(!LabelSelector::parse("tier notin (front,back)")?.matches(&o));
        assert!(!LabelSelector::parse("missing")?.matches(&o));
        assert!(LabelSelector::parse("")?.matches(&o));
        assert!(LabelSelector::parse("a b").is_err());
        Ok(())
    }

    #[test]
    fn field_selector_terms_and_allow_list() -> Result<(), ApiError> {
        let secrets = by_plural("", "v1", "secrets").ok_or_else(ApiError::no_route)?;
        let o = obj(json!({}));
        assert!(FieldSelector::parse("type=kubernetes.io/tls", secrets)?.matches(&o));
        assert!(
            FieldSelector::parse("metadata.name=a,metadata.namespace==ns", secrets)?.matches(&o)
        );
        assert!(!FieldSelector::parse("metadata.name!=a", secrets)?.matches(&o));
        let leases =
            by_plural("coordination.k8s.io", "v1", "leases").ok_or_else(ApiError::no_route)?;
        assert_eq!(
            FieldSelector::parse("type=x", leases).map_err(|e| e.code),
            Err(400)
        );
        Ok(())
    }
}
