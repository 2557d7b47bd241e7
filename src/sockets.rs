//! Listening sockets bound before the servers start.
//!
//! Pingora binds a service's listeners inside the service's own task, retries an address in
//! use for 30 s and then panics in that task: the process goes on, `/readyz` says ready, and
//! the listener is simply missing (or, worse, the port answers for whoever holds it). gatehouse
//! binds every listener itself at start instead, so an address in use stops it at once with
//! the address in the error, and hands the bound sockets to Pingora through its table of
//! inherited listeners (the one a graceful upgrade fills).

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{IntoRawFd, OwnedFd};

use anyhow::{anyhow, Context, Result};
use async_trait::async_trait;
use pingora::server::{ListenFds, RuntimeOpts, ShutdownWatch};
use pingora::services::Service;
use socket2::{Domain, Protocol, Socket, Type};

/// Pingora re-runs `listen` with its own backlog on a socket it is handed; this is the same.
const BACKLOG: i32 = 65535;

/// A Pingora service whose TCP listeners are already bound.
pub(crate) struct PreBound<S> {
    inner: S,
    sockets: Vec<(String, OwnedFd)>,
}

impl<S: Service> PreBound<S> {
    /// Binds every listener address of `inner` now; the first that cannot be bound is the error.
    pub(crate) fn new(inner: S) -> Result<PreBound<S>> {
        let sockets = inner
            .listen_addresses()
            .unwrap_or_default()
            .into_iter()
            .map(|addr| {
                let socket = bind(&addr).with_context(|| {
                    format!("service {}: cannot listen on {addr}", inner.name())
                })?;
                Ok((addr, socket))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PreBound { inner, sockets })
    }
}

/// A non-blocking listening TCP socket on `addr` (the first address it resolves to), with
/// `SO_REUSEADDR` as Pingora sets it: a restart binds even while old connections linger in
/// TIME_WAIT, and a port another socket listens on is still refused.
fn bind(addr: &str) -> Result<OwnedFd> {
    let target: SocketAddr = addr
        .to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .next()
        .ok_or_else(|| anyhow!("{addr} resolves to no address"))?;
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .context("creating the socket")?;
    socket.set_reuse_address(true).context("SO_REUSEADDR")?;
    socket.set_nonblocking(true).context("O_NONBLOCK")?;
    socket.bind(&target.into()).context("bind")?;
    socket.listen(BACKLOG).context("listen")?;
    Ok(socket.into())
}

#[async_trait]
impl<S: Service> Service for PreBound<S> {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        // Pingora takes a listener from this table when the address is in it, and binds only
        // when it is not. The server always passes the table; the fds are its from here on.
        if let Some(table) = &fds {
            let mut table = table.lock();
            for (addr, socket) in self.sockets.drain(..) {
                table.add(addr, socket.into_raw_fd());
            }
        }
        self.inner
            .start_service(fds, shutdown, listeners_per_fd)
            .await
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }

    fn runtime_opts_override(&self, global: &RuntimeOpts) -> Option<RuntimeOpts> {
        self.inner.runtime_opts_override(global)
    }

    fn on_startup_delay(&self, time_waited: std::time::Duration) {
        self.inner.on_startup_delay(time_waited)
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.listen_addresses()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_in_use_is_an_error_that_names_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = taken.local_addr().expect("local address").to_string();
        let err = bind(&addr).expect_err("the port is taken");
        assert!(format!("{err:#}").contains("bind"), "{err:#}");
        drop(taken);
        bind(&addr).expect("free again once the other socket closed");
    }

    #[test]
    fn a_bound_socket_listens() {
        let socket: Socket = bind("127.0.0.1:0").expect("bind").into();
        let local = socket
            .local_addr()
            .expect("local address")
            .as_socket()
            .expect("an inet address");
        std::net::TcpStream::connect(local).expect("the socket accepts connections");
    }
}
