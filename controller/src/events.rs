//! Kubernetes Events for translation problems: one per distinct problem, not one per resync.

use std::collections::BTreeSet;

use gatehouse_certs::acme::AcmeErrorKind;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Client;

use crate::translate::Warning;

/// Publishes Events for warnings it has not published before.
pub struct EventEmitter {
    recorder: Recorder,
    published: BTreeSet<Warning>,
}

impl EventEmitter {
    /// An emitter reporting as `controller` from `instance` (the pod name).
    pub fn new(client: Client, controller: &str, instance: &str) -> Self {
        Self {
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: controller.to_string(),
                    instance: Some(instance.to_string()),
                },
            ),
            published: BTreeSet::new(),
        }
    }

    /// Publishes an Event for every new warning; warnings that went away may recur later.
    /// Each failure is logged naming its object, and retried on the next call.
    pub async fn emit(&mut self, warnings: &[Warning]) -> Result<(), EventError> {
        let current: BTreeSet<Warning> = warnings.iter().cloned().collect();
        let mut failed = BTreeSet::new();
        for w in current.difference(&self.published) {
            let reference = ObjectReference {
                api_version: Some(api_version(w.object.kind).to_string()),
                kind: Some(w.object.kind.to_string()),
                name: Some(w.object.name.clone()),
                namespace: (!w.object.namespace.is_empty()).then(|| w.object.namespace.clone()),
                ..ObjectReference::default()
            };
            let event = Event {
                type_: EventType::Warning,
                reason: w.kind.as_str().to_string(),
                note: Some(w.message.chars().take(1000).collect()),
                action: "Translate".to_string(),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&event, &reference).await {
                tracing::warn!(object = %w.object, "could not publish Event: {e}");
                failed.insert(w.clone());
            }
        }
        // Failed ones are tried again on the next publish.
        self.published = current.difference(&failed).cloned().collect();
        match failed.len() {
            0 => Ok(()),
            failed => Err(EventError { failed }),
        }
    }
}

/// Some Events could not be published (each was logged with its object); they are retried.
#[derive(Debug, thiserror::Error)]
#[error("{failed} Event(s) could not be published; retrying on the next sync")]
pub struct EventError {
    /// How many Events failed.
    pub failed: usize,
}

fn api_version(kind: &str) -> &'static str {
    match kind {
        "Ingress" | "IngressClass" => "networking.k8s.io/v1",
        _ => "v1",
    }
}

/// Reports ACME outcomes as Events on the Ingress that asked for the certificate.
pub struct AcmeEvents {
    recorder: Recorder,
}

impl AcmeEvents {
    /// Events reported as `controller` from `instance` (the pod name).
    pub fn new(client: Client, controller: &str, instance: &str) -> Self {
        Self {
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: controller.to_string(),
                    instance: Some(instance.to_string()),
                },
            ),
        }
    }

    fn publish(&self, want: &crate::acme::AcmeWant, type_: EventType, reason: &str, note: String) {
        let reference = ObjectReference {
            api_version: Some("networking.k8s.io/v1".into()),
            kind: Some("Ingress".into()),
            name: Some(want.ingress.name.to_string()),
            namespace: Some(want.ingress.namespace.to_string()),
            ..ObjectReference::default()
        };
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note.chars().take(1000).collect()),
            action: "IssueCertificate".to_string(),
            secondary: None,
        };
        let recorder = self.recorder.clone();
        let ingress = want.ingress.clone();
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::warn!(%ingress, "could not publish ACME Event: {e}");
            }
        });
    }
}

impl crate::acme::AcmeObserver for AcmeEvents {
    fn issued(&self, want: &crate::acme::AcmeWant, _not_before: i64, not_after: i64) {
        let note = format!(
            "certificate for {} stored in Secret {}; valid until unix time {not_after}",
            want.names.join(", "),
            want.secret
        );
        self.publish(want, EventType::Normal, "CertificateIssued", note);
    }

    fn failed(
        &self,
        want: &crate::acme::AcmeWant,
        _kind: AcmeErrorKind,
        error: &str,
        retry_in: std::time::Duration,
    ) {
        let note = format!(
            "{error}; retrying in {}s; the current certificate stays in place",
            retry_in.as_secs()
        );
        self.publish(want, EventType::Warning, "AcmeOrderFailed", note);
    }
}
