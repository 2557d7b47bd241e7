//! Graceful drain for rolling updates: on SIGTERM `/readyz` turns 503 at once (so Kubernetes
//! takes the pod out of its Service's endpoints) while the listeners keep serving for
//! `--shutdown-delay`; only then is Pingora told to stop accepting, and requests in flight get
//! `--shutdown-grace` to finish. Pingora alone would close the listeners the moment the signal
//! arrives, while the endpoint removal is still on its way to every node.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_proxy::InstanceSet;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, SignalKind};

/// Pingora's shutdown signal source, with a drain before a graceful terminate.
pub(crate) struct DrainingShutdown {
    pub(crate) instances: Arc<InstanceSet>,
    pub(crate) delay: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for DrainingShutdown {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut quit), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot listen for shutdown signals; shutting down");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = quit.recv() => ShutdownSignal::GracefulUpgrade,
            _ = int.recv() => ShutdownSignal::FastShutdown,
            _ = term.recv() => {
                self.instances.start_draining();
                tracing::info!(delay = ?self.delay, "SIGTERM: not ready any more; still serving until the delay ends");
                tokio::select! {
                    _ = tokio::time::sleep(self.delay) => {}
                    // A second signal cuts the delay short.
                    _ = term.recv() => {}
                    _ = int.recv() => return ShutdownSignal::FastShutdown,
                }
                tracing::info!("drain delay over: closing listeners, letting requests in flight finish");
                ShutdownSignal::GracefulTerminate
            }
        }
    }
}
