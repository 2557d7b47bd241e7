//! Answers gatehouse writes itself (no route, no endpoint), in one place.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;

/// Writes a short plain-text response and ends the stream.
pub async fn text(session: &mut Session, status: u16, body: &'static str) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3))?;
    resp.insert_header("content-type", "text/plain; charset=utf-8")?;
    resp.insert_header("content-length", body.len())?;
    session.set_keepalive(None);
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from_static(body.as_bytes())), true)
        .await
}

/// Writes a plain-text response with an owned body.
pub async fn owned(session: &mut Session, status: u16, body: Vec<u8>) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3))?;
    resp.insert_header("content-type", "text/plain")?;
    resp.insert_header("content-length", body.len())?;
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await
}

/// Redirects to `location`, keeping the connection open.
pub async fn redirect(session: &mut Session, status: u16, location: &str) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3))?;
    resp.insert_header("location", location)?;
    resp.insert_header("content-length", 0)?;
    session.write_response_header(Box::new(resp), true).await
}
