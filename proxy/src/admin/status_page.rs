//! The status page: one self-contained HTML document (inline CSS and JS, no external assets)
//! that polls `routes.json` (a [`super::status_view::StatusView`]) next to it every 5 s.

/// The page. Serve it at e.g. `/status/` with `routes.json` beside it.
pub const HTML: &str = include_str!("status_page.html");

#[cfg(test)]
mod tests {
    use super::HTML;

    #[test]
    fn is_self_contained_and_polls_routes_json() {
        assert!(HTML.contains("fetch('routes.json'"));
        assert!(HTML.contains("5000"));
        for external in ["<link", "src=\"http", "src='http", "@import", "url(http"] {
            assert!(!HTML.contains(external), "external asset via {external}");
        }
    }
}
