//! A small PromQL-aware scanner: finds the metric names and label names an expression uses.
//! Not a parser — it knows just enough syntax to tell names from functions, keywords,
//! strings, numbers, durations and Grafana `$variables`.

use std::collections::BTreeSet;

/// Metric and label names referenced by one expression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Metric names (selectors' names, `label_values`' first argument).
    pub metrics: BTreeSet<String>,
    /// Label names in matchers, `by`/`without`/`on`/`ignoring`/`group_*` lists and `label_values`.
    pub labels: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Ident(&'a str),
    Punct(char),
    /// Strings, numbers, `$variables`, `[range]`s and operators: nothing to name.
    Other,
}

/// Keywords followed by a parenthesised label list.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Other keywords that are never metric names.
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN",
];

fn tokenize(expr: &str) -> Vec<Token<'_>> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        i += 1;
        match c {
            b if b.is_ascii_whitespace() => {}
            b'"' | b'\'' | b'`' => {
                // Strings; backslash escapes apply except in backticks.
                while i < bytes.len() && bytes[i] != c {
                    i += if bytes[i] == b'\\' && c != b'`' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                out.push(Token::Other);
            }
            b'[' => {
                // Range or subquery duration, possibly with Grafana variables: skip it whole.
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
                out.push(Token::Other);
            }
            b'$' => {
                // $var, ${var}, ${var:fmt}, $__interval
                if bytes.get(i) == Some(&b'{') {
                    while i < bytes.len() && bytes[i] != b'}' {
                        i += 1;
                    }
                    i = (i + 1).min(bytes.len());
                } else {
                    while i < bytes.len() && is_ident_byte(bytes[i]) {
                        i += 1;
                    }
                }
                out.push(Token::Other);
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b if b.is_ascii_digit()
                || (b == b'.' && bytes.get(i).is_some_and(u8::is_ascii_digit)) =>
            {
                // Numbers, hex, exponents and bare durations (`5m` after `offset`).
                while i < bytes.len() {
                    let d = bytes[i];
                    let exp_sign = (d == b'+' || d == b'-')
                        && matches!(bytes[i - 1], b'e' | b'E')
                        && !expr[start..i].starts_with("0x");
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Token::Other);
            }
            b if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {
                while i < bytes.len() && (is_ident_byte(bytes[i]) || bytes[i] == b':') {
                    i += 1;
                }
                out.push(Token::Ident(&expr[start..i]));
            }
            b'(' | b')' | b'{' | b'}' | b',' => out.push(Token::Punct(c as char)),
            _ => out.push(Token::Other),
        }
    }
    out
}

/// `sum by (...)(...)`: an aggregation followed by its grouping clause is no metric.
fn is_grouping_keyword(token: Option<&Token<'_>>) -> bool {
    matches!(token, Some(Token::Ident("by" | "without")))
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Finds the metric and label names in a PromQL expression or a Grafana `label_values(...)`
/// variable query.
pub fn names(expr: &str) -> Names {
    let tokens = tokenize(expr);
    let mut names = Names::default();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct('{') => i = matchers(&tokens, i + 1, &mut names),
            Token::Ident(word) => {
                let next = tokens.get(i + 1);
                if LABEL_LIST_KEYWORDS.contains(word) {
                    if next == Some(&Token::Punct('(')) {
                        i = label_list(&tokens, i + 2, &mut names);
                        continue;
                    }
                } else if *word == "label_values" && next == Some(&Token::Punct('(')) {
                    i = label_values(&tokens, i + 2, &mut names);
                    continue;
                } else if next != Some(&Token::Punct('('))
                    && !KEYWORDS.contains(word)
                    && !is_grouping_keyword(next)
                {
                    names.metrics.insert((*word).to_owned());
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    names
}

/// Reads `name op "value", ...}` from `i`; returns the index after the closing brace.
fn matchers(tokens: &[Token<'_>], mut i: usize, names: &mut Names) -> usize {
    let mut expect_name = true;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct('}') => return i + 1,
            Token::Punct(',') => expect_name = true,
            Token::Ident(label) if expect_name => {
                if *label != "__name__" {
                    names.labels.insert((*label).to_owned());
                }
                expect_name = false;
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Reads `a, b)` from `i`; returns the index after the closing parenthesis.
fn label_list(tokens: &[Token<'_>], mut i: usize, names: &mut Names) -> usize {
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct(')') => return i + 1,
            Token::Ident(label) => {
                names.labels.insert((*label).to_owned());
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Grafana's `label_values(label)` or `label_values(metric{...}, label)`.
fn label_values(tokens: &[Token<'_>], mut i: usize, names: &mut Names) -> usize {
    let mut args: Vec<&str> = Vec::new();
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct(')') => {
                i += 1;
                break;
            }
            Token::Punct('{') => {
                i = matchers(tokens, i + 1, names);
                continue;
            }
            Token::Ident(word) => args.push(word),
            _ => {}
        }
        i += 1;
    }
    match args.as_slice() {
        [label] => {
            names.labels.insert((*label).to_owned());
        }
        [metric, .., label] => {
            names.metrics.insert((*metric).to_owned());
            names.labels.insert((*label).to_owned());
        }
        [] => {}
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn selector_functions_and_by_clause() {
        let n = names(
            r#"round(sum(irate(nginx_ingress_controller_requests{controller_pod=~"$controller",controller_class=~"$controller_class",controller_namespace=~"$namespace",exported_namespace=~"$exported_namespace",ingress=~"$ingress"}[2m])) by (ingress), 0.001)"#,
        );
        assert_eq!(n.metrics, set(&["nginx_ingress_controller_requests"]));
        assert_eq!(
            n.labels,
            set(&[
                "controller_class",
                "controller_namespace",
                "controller_pod",
                "exported_namespace",
                "ingress"
            ])
        );
    }

    #[test]
    fn multiline_by_before_parens_and_negative_regex() {
        let n = names(
            "histogram_quantile(\n  .5,\n  sum by (le, method, host, path)(\n    rate(\n      nginx_ingress_controller_response_duration_seconds_bucket{\n        ingress =~ \"$ingress\",\n        status !~\"[4-5].*\",\n      }[5m]\n    )\n  )\n)",
        );
        assert_eq!(
            n.metrics,
            set(&["nginx_ingress_controller_response_duration_seconds_bucket"])
        );
        assert_eq!(
            n.labels,
            set(&["host", "ingress", "le", "method", "path", "status"])
        );
    }

    #[test]
    fn binary_ops_time_and_comparison() {
        let n = names(
            r#"avg(nginx_ingress_controller_ssl_expire_time_seconds{kubernetes_pod_name=~"$controller",namespace=~"$namespace"}) by (host) - time()"#,
        );
        assert_eq!(
            n.metrics,
            set(&["nginx_ingress_controller_ssl_expire_time_seconds"])
        );
        assert_eq!(n.labels, set(&["host", "kubernetes_pod_name", "namespace"]));
        let n = names(
            r#"count(nginx_ingress_controller_config_last_reload_successful{controller_pod=~"$controller"} == 0) offset 5m"#,
        );
        assert_eq!(
            n.metrics,
            set(&["nginx_ingress_controller_config_last_reload_successful"])
        );
    }

    #[test]
    fn label_values_forms() {
        let n = names("label_values(nginx_ingress_controller_config_hash, controller_namespace)");
        assert_eq!(n.metrics, set(&["nginx_ingress_controller_config_hash"]));
        assert_eq!(n.labels, set(&["controller_namespace"]));
        let n = names(
            r#"label_values(nginx_ingress_controller_requests{namespace=~"$namespace",controller_class=~"$controller_class"}, ingress) "#,
        );
        assert_eq!(n.metrics, set(&["nginx_ingress_controller_requests"]));
        assert_eq!(n.labels, set(&["controller_class", "ingress", "namespace"]));
        let n = names("label_values(job)");
        assert!(n.metrics.is_empty());
        assert_eq!(n.labels, set(&["job"]));
    }

    #[test]
    fn variables_numbers_and_strings_are_not_names() {
        let n = names(
            r#"sum(rate(up{job="a b", x='y'}[$__rate_interval])) * 1e-3 + ${factor} > bool 0x1F"#,
        );
        assert_eq!(n.metrics, set(&["up"]));
        assert_eq!(n.labels, set(&["job", "x"]));
    }
}
