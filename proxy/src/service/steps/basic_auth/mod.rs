//! Per-route basic authentication (`auth-type: basic`): a request without credentials that
//! match one of the route's users gets 401 with `WWW-Authenticate: Basic realm="…"`. The
//! `Authorization` header is passed to the backend untouched, as nginx's `auth_basic` does.
//!
//! With `satisfy: any` a client that the route's source lists admit needs no credentials
//! (the source-range step then leaves the decision to this one); with no source list, or
//! `satisfy: all`, credentials are always needed.
//!
//! Hashes are verified with the `bcrypt` crate (its comparison is constant-time) and, for
//! `$apr1$` and `{SHA}`, with RustCrypto's `md-5` and `sha1`, compared with `subtle`.

use std::ops::ControlFlow;

use base64::Engine;
use gatehouse_routes::{BasicAuth, PasswordHash, RoutePolicy, Satisfy};
use md5::{Digest, Md5};
use pingora::http::RequestHeader;
use subtle::ConstantTimeEq;

use super::{source_range, Answer, Flow};
use crate::service::RequestCtx;

/// Answers 401 with the route's challenge unless the request may pass.
pub fn step(req: &RequestHeader, ctx: &RequestCtx) -> Flow {
    let Some(target) = &ctx.target else {
        return ControlFlow::Continue(());
    };
    let policy = &target.policy;
    let Some(auth) = &policy.basic_auth else {
        return ControlFlow::Continue(());
    };
    if policy.satisfy == Satisfy::Any && sources_admit(policy, ctx) {
        return ControlFlow::Continue(());
    }
    let header = req.headers.get(http::header::AUTHORIZATION);
    if header.is_some_and(|h| authorized(auth, h.as_bytes())) {
        return ControlFlow::Continue(());
    }
    ControlFlow::Break(Answer::Unauthorized {
        challenge: challenge(&auth.realm),
    })
}

/// True when the route has a source list and it admits the client.
fn sources_admit(policy: &RoutePolicy, ctx: &RequestCtx) -> bool {
    (policy.allow_sources.is_some() || policy.deny_sources.is_some())
        && source_range::admits(policy, ctx.client_ip)
}

/// `Basic realm="…"`, the realm quoted (`"` and `\` escaped).
fn challenge(realm: &str) -> String {
    let mut out = String::with_capacity(realm.len() + 16);
    out.push_str("Basic realm=\"");
    for c in realm.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// True when `value` (an `Authorization` header) holds a user of `auth` and its password.
fn authorized(auth: &BasicAuth, value: &[u8]) -> bool {
    let Some((scheme, rest)) = value.split_first_chunk::<6>() else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return false;
    }
    let encoded = rest.trim_ascii();
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let Ok(user) = std::str::from_utf8(user) else {
        return false;
    };
    auth.users
        .get(user)
        .is_some_and(|hash| verify(hash, password))
}

/// True when `password` matches `hash`.
pub fn verify(hash: &PasswordHash, password: &[u8]) -> bool {
    match hash {
        PasswordHash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
        PasswordHash::Apr1 { salt, checksum } => {
            let computed = apr1(password, salt.as_bytes());
            bool::from(computed.as_bytes().ct_eq(checksum.as_bytes()))
        }
        PasswordHash::Sha1(digest) => {
            let computed = sha1::Sha1::digest(password);
            bool::from(computed.as_slice().ct_eq(digest))
        }
    }
}

/// crypt's base-64 alphabet.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 22-character checksum of Apache's MD5 crypt (`$apr1$`), as APR's
/// `apr_md5_encode` computes it (Poul-Henning Kamp's MD5 crypt with the `$apr1$` magic).
fn apr1(password: &[u8], salt: &[u8]) -> String {
    const MAGIC: &[u8] = b"$apr1$";
    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(MAGIC)
        .chain_update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alternate[..n]);
        left -= n;
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut digest = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(digest);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(digest);
        } else {
            c.update(password);
        }
        digest = c.finalize();
    }
    let d = digest;
    let mut out = String::with_capacity(22);
    let mut push = |v: u32, n: usize| {
        let mut v = v;
        for _ in 0..n {
            out.push(char::from(ITOA64[(v & 0x3f) as usize]));
            v >>= 6;
        }
    };
    let triple = |a: u8, b: u8, c: u8| (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    push(triple(d[0], d[6], d[12]), 4);
    push(triple(d[1], d[7], d[13]), 4);
    push(triple(d[2], d[8], d[14]), 4);
    push(triple(d[3], d[9], d[15]), 4);
    push(triple(d[4], d[10], d[5]), 4);
    push(u32::from(d[11]), 2);
    out
}

#[cfg(test)]
mod tests;
