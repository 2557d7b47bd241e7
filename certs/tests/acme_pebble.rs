//! ACME against a real Pebble on loopback: issuance with HTTP-01 answered from
//! `MemoryChallenges`, chain verification against Pebble's issuing root, account reuse, and
//! failing validations.
//!
//! Needs the `pebble` Debian package. Set GATEHOUSE_SKIP_PEBBLE=1 to skip explicitly.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use gatehouse_certs::acme::{AcmeError, Backoff, FileAccountStore, Issuer};
use gatehouse_certs::{parse_tls_pair, renewal, CertResolver, CertSet, MemoryChallenges};
use gatehouse_testkit::pebble::Pebble;
use gatehouse_testkit::tls_client;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use support::{verifying_client, Answer, Http01Responder, TlsServer};

/// Whole-test bound: Pebble start plus issuance.
const TEST_BUDGET: Duration = Duration::from_secs(120);

fn skip() -> bool {
    if std::env::var_os("GATEHOUSE_SKIP_PEBBLE").is_some() {
        // CI must exercise real ACME: a skip there would pass without testing anything.
        assert!(
            std::env::var_os("CI").is_none(),
            "GATEHOUSE_SKIP_PEBBLE is set but CI is too: CI runs these tests against Pebble"
        );
        println!("skipped: GATEHOUSE_SKIP_PEBBLE is set");
        return true;
    }
    // Missing Pebble: skipped with a message outside CI, a failure under CI.
    match Pebble::require() {
        Ok(installed) => !installed,
        Err(e) => panic!("{e:#}"),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Verify `chain_pem` for `name` as a TLS client would, trusting only `roots_pem`.
fn verify_chain(chain_pem: &str, roots_pem: &str, name: &str) -> Result<()> {
    let chain =
        CertificateDer::pem_slice_iter(chain_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let (leaf, intermediates) = chain.split_first().context("empty chain")?;
    let verifier = WebPkiServerVerifier::builder_with_provider(
        Arc::new(tls_client::root_store(roots_pem)?),
        gatehouse_certs::crypto_provider(),
    )
    .build()?;
    verifier.verify_server_cert(
        leaf,
        intermediates,
        &ServerName::try_from(name.to_owned())?,
        &[],
        UnixTime::now(),
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_a_certificate_that_verifies_and_serves() -> Result<()> {
    if skip() {
        return Ok(());
    }
    tokio::time::timeout(TEST_BUDGET, issue_and_serve()).await?
}

async fn issue_and_serve() -> Result<()> {
    let challenges = MemoryChallenges::new();
    let responder = Http01Responder::start(challenges.clone(), Answer::FromStore).await?;
    let pebble = Pebble::start(responder.port).await?;
    let tmp = tempfile::tempdir()?;
    let account_file = tmp.path().join("account.json");
    let issuer = Issuer::new(
        &pebble.directory_url(),
        Some("ops@gatehouse.test"),
        Some(&pebble.ca_file()),
        Arc::new(FileAccountStore::new(&account_file)),
    )?;
    let wanted = names(&["app.gatehouse.test", "www.gatehouse.test"]);

    let started = Instant::now();
    let issued = issuer
        .issue(&wanted, &challenges)
        .await
        .with_context(|| format!("issue\n{}", pebble.logs()))?;
    let took = started.elapsed();
    println!("pebble issuance (account + order + 2x HTTP-01 + finalize) took {took:?}");

    assert!(
        challenges.is_empty(),
        "challenges must be removed after issuance"
    );
    assert!(
        responder.hits() >= 2,
        "Pebble fetched {} answers",
        responder.hits()
    );
    let loaded = parse_tls_pair(issued.chain_pem.as_bytes(), issued.key_pem.as_bytes())?;
    let mut got = loaded.names.clone();
    got.sort();
    assert_eq!(got, wanted);
    assert_eq!(
        (loaded.not_before, loaded.not_after),
        (issued.not_before, issued.not_after)
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    assert!(issued.not_before <= now + 60 && now < issued.not_after);
    assert!(!renewal::due(issued.not_before, issued.not_after, now));
    assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));

    // The chain verifies against Pebble's issuing root, and not against an unrelated CA.
    let issuing_root = pebble.issuing_roots_pem().await?;
    assert!(pebble
        .intermediates_pem()
        .await?
        .contains("BEGIN CERTIFICATE"));
    for name in &wanted {
        verify_chain(&issued.chain_pem, &issuing_root, name)?;
    }
    let https_ca = std::fs::read_to_string(pebble.ca_file())?;
    assert!(verify_chain(&issued.chain_pem, &https_ca, "app.gatehouse.test").is_err());
    assert!(verify_chain(&issued.chain_pem, &issuing_root, "other.gatehouse.test").is_err());

    // Served through the resolver, a client trusting Pebble's root completes the handshake.
    let mut set = CertSet::builder();
    set.insert_all(&loaded, "acme/app");
    let server = TlsServer::start(CertResolver::new(Arc::new(ArcSwap::from_pointee(
        set.build(),
    ))))
    .await?;
    let served = support::served_leaf(
        server.addr,
        verifying_client(&issuing_root)?,
        Some("www.gatehouse.test"),
    )
    .await?;
    assert!(served == loaded.key.cert[0]);

    // Pebble 2.4 has no ACME Renewal Info: the issuer says so and callers use `renewal::due`.
    assert_eq!(
        issuer.renewal_window(issued.chain_pem.as_bytes()).await?,
        None
    );

    // A second issuer restores the saved account instead of registering a new one.
    let saved = std::fs::read_to_string(&account_file)?;
    let again = Issuer::new(
        &pebble.directory_url(),
        Some("ops@gatehouse.test"),
        Some(&pebble.ca_file()),
        Arc::new(FileAccountStore::new(&account_file)),
    )?;
    let second = again
        .issue(&names(&["api.gatehouse.test"]), &challenges)
        .await
        .with_context(|| format!("second issue\n{}", pebble.logs()))?;
    assert_eq!(
        std::fs::read_to_string(&account_file)?,
        saved,
        "account reused"
    );
    verify_chain(&second.chain_pem, &issuing_root, "api.gatehouse.test")?;
    assert!(challenges.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_challenge_fails_and_backoff_grows() -> Result<()> {
    if skip() {
        return Ok(());
    }
    tokio::time::timeout(TEST_BUDGET, failing_validation(Answer::FromStore)).await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_answer_fails_validation() -> Result<()> {
    if skip() {
        return Ok(());
    }
    tokio::time::timeout(TEST_BUDGET, failing_validation(Answer::Wrong)).await?
}

/// The responder answers 404 (it serves a different, empty store) or the wrong body: every
/// attempt must fail with a validation error, leave no challenge behind, and the retry delay
/// must grow between attempts.
async fn failing_validation(answer: Answer) -> Result<()> {
    let served = MemoryChallenges::new();
    let published = MemoryChallenges::new();
    let responder = Http01Responder::start(served, answer).await?;
    let pebble = Pebble::start(responder.port).await?;
    let tmp = tempfile::tempdir()?;
    let issuer = Issuer::new(
        &pebble.directory_url(),
        None,
        Some(&pebble.ca_file()),
        Arc::new(FileAccountStore::new(tmp.path().join("account.json"))),
    )?
    .with_poll_timeout(Duration::from_secs(30));

    let mut retry = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    let mut delays = Vec::new();
    for attempt in 0..2 {
        let err = issuer
            .issue(&names(&["broken.gatehouse.test"]), &published)
            .await
            .expect_err("validation must fail");
        println!("{answer:?} attempt {attempt}: {err}");
        assert!(
            matches!(err, AcmeError::ValidationFailed { .. }),
            "want ValidationFailed, got {err:?}\n{}",
            pebble.logs()
        );
        assert_eq!(err.metric_label(), "validation_failed");
        let text = err.to_string();
        assert!(text.contains("broken.gatehouse.test"), "{text}");
        match answer {
            Answer::FromStore => assert!(text.contains("404"), "{text}"),
            Answer::Wrong => assert!(
                text.contains("wrong-answer") || text.contains("ncorrect"),
                "{text}"
            ),
        }
        assert!(published.is_empty(), "challenge left behind after failure");
        let delay = retry.next_delay();
        delays.push(delay);
        tokio::time::sleep(delay).await;
    }
    assert!(
        responder.hits() >= 2,
        "Pebble must have tried the responder"
    );
    assert!(delays[1] > delays[0], "backoff must grow: {delays:?}");
    assert_eq!(retry.attempts(), 2);
    Ok(())
}
