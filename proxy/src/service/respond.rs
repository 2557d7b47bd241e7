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
