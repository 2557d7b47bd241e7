//! ACME HTTP-01 answers: a challenge gatehouse itself has pending is answered before routing
//! and never reaches a backend. Every other challenge request routes like any request, so a
//! solver that is not gatehouse (cert-manager's solver Ingress) receives it.

use std::ops::ControlFlow;

use bytes::Bytes;
use gatehouse_certs::challenge::HTTP01_PREFIX;
use gatehouse_certs::MemoryChallenges;
use pingora::http::RequestHeader;

use super::{Answer, Flow};

/// Answers a request for the HTTP-01 path with the key authorisation when gatehouse holds the
/// token; any other request continues to routing.
pub fn step(challenges: &MemoryChallenges, req: &RequestHeader) -> Flow {
    // The empty check keeps the common case (no order in flight) to one atomic load.
    if challenges.is_empty() || !req.uri.path().starts_with(HTTP01_PREFIX) {
        return ControlFlow::Continue(());
    }
    match challenges.answer_for_path(req.uri.path()) {
        Some(answer) => ControlFlow::Break(Answer::Body {
            status: 200,
            body: Bytes::copy_from_slice(answer.as_bytes()),
            content_type: "text/plain",
        }),
        None => ControlFlow::Continue(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> RequestHeader {
        match RequestHeader::build("GET", path.as_bytes(), None) {
            Ok(req) => req,
            Err(e) => panic!("build request {path}: {e}"),
        }
    }

    #[test]
    fn answers_only_tokens_it_holds() {
        let challenges = MemoryChallenges::new();
        let unknown = "/.well-known/acme-challenge/theirs";
        assert_eq!(
            step(&challenges, &request(unknown)),
            ControlFlow::Continue(())
        );
        gatehouse_certs::ChallengeStore::set(&challenges, "ours", "ours.key");
        let cases = [
            ("/.well-known/acme-challenge/ours", Some("ours.key")),
            (unknown, None),
            ("/.well-known/acme-challenge/", None),
            ("/ours", None),
        ];
        for (path, want) in cases {
            let got = match step(&challenges, &request(path)) {
                ControlFlow::Break(Answer::Body {
                    status: 200, body, ..
                }) => Some(String::from_utf8_lossy(&body).into_owned()),
                ControlFlow::Break(other) => panic!("{path}: unexpected answer {other:?}"),
                ControlFlow::Continue(()) => None,
            };
            assert_eq!(got.as_deref(), want, "{path}");
        }
    }
}
