//! Answers gatehouse writes itself (ACME answers, no route, no endpoint, redirects), in one place.

use bytes::Bytes;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::steps::Answer;

/// Writes a request step's answer; `hsts` is added when the request came over TLS.
pub async fn answer(
    session: &mut Session,
    answer: Answer,
    hsts: Option<&HeaderValue>,
) -> Result<Unread> {
    let extras = Extras {
        hsts,
        ..Extras::default()
    };
    match answer {
        Answer::Text { status, body } => text(session, status, body, extras).await,
        Answer::Body {
            status,
            body,
            content_type,
        } => send(session, status, body, content_type, extras).await,
        Answer::Unauthorized { challenge } => {
            let extras = Extras {
                challenge: Some(&challenge),
                ..extras
            };
            text(session, 401, "401 authorization required\n", extras).await
        }
        Answer::Auth {
            status,
            body,
            location,
            headers,
        } => {
            let extras = Extras {
                location: location.as_deref(),
                headers: &headers,
                ..extras
            };
            if body.is_empty() {
                send(session, status, Bytes::new(), "", extras).await
            } else {
                text(session, status, body, extras).await
            }
        }
        Answer::Redirect { status, location } => {
            let extras = Extras {
                location: Some(&location),
                ..extras
            };
            send(session, status, Bytes::new(), "", extras).await
        }
    }
}

/// What a self-written response carries besides status and body.
#[derive(Clone, Copy, Default)]
pub struct Extras<'a> {
    /// HSTS value to add (only over TLS).
    pub hsts: Option<&'a HeaderValue>,
    /// Redirect target.
    pub location: Option<&'a str>,
    /// `WWW-Authenticate` value of a 401.
    pub challenge: Option<&'a str>,
    /// Further headers (from an auth service's answer), appended as they are.
    pub headers: &'a [(http::HeaderName, HeaderValue)],
}

/// Whether an answer left the request's body unread (the connection then closes after it):
/// the caller discards that body for a while first ([`Unread::Body`]), as nginx's lingering
/// close does, because closing a socket with unread bytes sends a reset that can destroy our
/// answer in flight to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// Nothing to discard: no body, or (400) no trustworthy framing to discard it by.
    Nothing,
    /// An HTTP/1 body that was not read.
    Body,
}

/// Writes a complete response. The connection stays open unless the request has a body we
/// did not read (it would be mistaken for the next request) or the answer is a 400: a request
/// gatehouse could not make sense of says nothing trustworthy about where the next one starts,
/// so bytes the client sent after it are never read as a request (nginx closes there too).
pub async fn send(
    session: &mut Session,
    status: u16,
    body: Bytes,
    content_type: &str,
    extras: Extras<'_>,
) -> Result<Unread> {
    let mut resp = ResponseHeader::build(status, Some(4))?;
    if !body.is_empty() {
        resp.insert_header("content-type", content_type)?;
    }
    resp.insert_header("content-length", body.len())?;
    if let Some(location) = extras.location {
        resp.insert_header("location", location)?;
    }
    if let Some(challenge) = extras.challenge {
        // The realm may hold UTF-8 (translation refuses control characters).
        let value = HeaderValue::from_bytes(challenge.as_bytes())
            .map_err(|e| Error::because(ErrorType::InternalError, "WWW-Authenticate", e))?;
        resp.insert_header(http::header::WWW_AUTHENTICATE, value)?;
    }
    for (name, value) in extras.headers {
        resp.append_header(name.clone(), value.clone())?;
    }
    if let Some(hsts) = extras.hsts {
        resp.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
    }
    let headers = &session.req_header().headers;
    let has_body = headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body || status == 400 {
        session.set_keepalive(None);
    }
    let end = body.is_empty();
    session.write_response_header(Box::new(resp), end).await?;
    if !end {
        session.write_response_body(Some(body), true).await?;
    }
    // HTTP/2 refuses just the stream; a body sent after it does not touch the connection.
    let unread = has_body && status != 400 && !session.is_http2() && !session.is_body_done();
    Ok(if unread {
        Unread::Body
    } else {
        Unread::Nothing
    })
}

/// A short plain-text response.
pub async fn text(
    session: &mut Session,
    status: u16,
    body: &'static str,
    extras: Extras<'_>,
) -> Result<Unread> {
    send(
        session,
        status,
        Bytes::from_static(body.as_bytes()),
        "text/plain; charset=utf-8",
        extras,
    )
    .await
}
