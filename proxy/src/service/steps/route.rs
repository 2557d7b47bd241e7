//! Route matching: the class's current table finds the route for the request's host and path.
//! It never answers; the steps after it decide what an unmatched request gets.

use std::ops::ControlFlow;

use arc_swap::ArcSwap;
use pingora::http::RequestHeader;

use super::Flow;
use crate::instance::LiveTable;
use crate::service::{headers, RequestCtx};

/// Matches the request and keeps the table, the route and the host facts in `ctx`.
pub fn step(table: &ArcSwap<LiveTable>, req: &RequestHeader, ctx: &mut RequestCtx) -> Flow {
    // The request keeps this table (and so its backends and balancing state) until it ends,
    // even when a new table is swapped in meanwhile.
    let table = table.load_full();
    let found = table.find(headers::request_host(req), req.uri.path());
    ctx.target = found.target.cloned();
    ctx.host_redirects_https = found.fallback && found.host.redirect_https;
    ctx.table = Some(table);
    ControlFlow::Continue(())
}
