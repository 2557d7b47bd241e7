//! Instances: one per ingress class, each a value holding its listeners and the `ArcSwap`ed
//! route table that the controller publishes and the proxy reads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use gatehouse_certs::CertSet;

use crate::balance::RoundRobin;
use crate::routes::{RouteTable, TableInfo};

/// A published route table with the live state requests keep beside it (round-robin
/// positions). Derefs to the table, so readers use it as one.
#[derive(Debug, Default)]
pub struct LiveTable {
    /// The immutable routes.
    pub routes: RouteTable,
    /// Where each backend of `routes` is in its rotation.
    pub balance: RoundRobin,
}

impl LiveTable {
    /// Wraps a table with fresh round-robin positions for its backends.
    pub fn new(routes: RouteTable) -> Self {
        let balance = RoundRobin::new(routes.backend_slots());
        Self { routes, balance }
    }
}

impl std::ops::Deref for LiveTable {
    type Target = RouteTable;

    fn deref(&self) -> &RouteTable {
        &self.routes
    }
}

/// The addresses one instance listens on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerSpec {
    /// Plain HTTP listener (`host:port`).
    pub http: Option<String>,
    /// HTTPS listener (`host:port`).
    pub https: Option<String>,
}

/// One ingress class served by gatehouse.
#[derive(Debug)]
pub struct Instance {
    /// The ingress class name.
    pub class: Arc<str>,
    /// Where it listens.
    pub listeners: ListenerSpec,
    /// Whether Ingresses without a class belong here.
    pub is_default: bool,
    table: Arc<ArcSwap<LiveTable>>,
    certs: Arc<ArcSwap<CertSet>>,
    generation: AtomicU64,
    /// Every listener has accepted a probe connection (see [`Instance::accepting`]).
    accepting: AtomicBool,
}

impl Instance {
    /// A new instance with an empty table (generation 0: not ready).
    pub fn new(class: &str, listeners: ListenerSpec, is_default: bool) -> Self {
        Self {
            class: class.into(),
            listeners,
            is_default,
            table: Arc::new(ArcSwap::from_pointee(LiveTable::default())),
            certs: Arc::new(ArcSwap::from_pointee(CertSet::empty())),
            generation: AtomicU64::new(0),
            accepting: AtomicBool::new(false),
        }
    }

    /// The swappable table, shared with the proxy service.
    pub fn table(&self) -> &Arc<ArcSwap<LiveTable>> {
        &self.table
    }

    /// The swappable certificate set, shared with the TLS resolver.
    pub fn certs(&self) -> &Arc<ArcSwap<CertSet>> {
        &self.certs
    }

    /// Swaps in a new certificate set; new handshakes use it at once.
    pub fn publish_certs(&self, certs: CertSet) {
        self.certs.store(Arc::new(certs));
    }

    /// Stamps `table` with the next generation and swaps it in. Requests already holding the
    /// old table's routes finish on them.
    pub fn publish(&self, mut table: RouteTable) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let swapped_at_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        table.set_info(TableInfo {
            generation,
            swapped_at_unix,
        });
        self.table.store(Arc::new(LiveTable::new(table)));
        generation
    }

    /// The generation of the table currently served (0 before the first one).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// True once every listener of this instance accepts TCP connections. Pingora starts the
    /// services on their own threads, so the admin listener can answer before the instances
    /// listen; until a probe connect to each listener has succeeded, the instance is not ready
    /// (a load balancer would otherwise send traffic that is refused).
    pub fn accepting(&self) -> bool {
        if self.accepting.load(Ordering::Acquire) {
            return true;
        }
        let all = [&self.listeners.http, &self.listeners.https]
            .into_iter()
            .flatten()
            .all(|addr| accepts_connections(addr));
        if all {
            self.accepting.store(true, Ordering::Release);
        }
        all
    }
}

/// One TCP connect to `addr` (a wildcard address is probed on loopback), closed at once.
fn accepts_connections(addr: &str) -> bool {
    let Ok(mut addr) = addr.parse::<SocketAddr>() else {
        return false;
    };
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
        _ => {}
    }
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// All instances of this process.
#[derive(Debug, Default)]
pub struct InstanceSet {
    instances: Vec<Arc<Instance>>,
    /// The process is shutting down: not ready, whatever else holds.
    draining: AtomicBool,
}

impl InstanceSet {
    /// Wraps the configured instances.
    pub fn new(instances: Vec<Arc<Instance>>) -> Self {
        Self {
            instances,
            draining: AtomicBool::new(false),
        }
    }

    /// From now on the process reports not ready (it is draining before shutdown).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// True once [`InstanceSet::start_draining`] was called.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Iterates over the instances in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Instance>> {
        self.instances.iter()
    }

    /// The instance serving `class`, if any.
    pub fn get(&self, class: &str) -> Option<&Arc<Instance>> {
        self.instances.iter().find(|i| &*i.class == class)
    }

    /// Ready once every instance has had its first table published and accepts connections
    /// on all its listeners.
    pub fn ready(&self) -> bool {
        !self.draining()
            && self
                .instances
                .iter()
                .all(|i| i.generation() > 0 && i.accepting())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(http: String) -> Instance {
        Instance::new(
            "web",
            ListenerSpec {
                http: Some(http),
                https: None,
            },
            false,
        )
    }

    #[test]
    fn ready_needs_a_table_and_listening_sockets() -> std::io::Result<()> {
        // A port that is free now: nothing listens there until the listener below binds it.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let set = InstanceSet::new(vec![Arc::new(instance(addr.to_string()))]);
        assert!(!set.ready(), "no table yet");
        if let Some(i) = set.iter().next() {
            i.publish(RouteTable::empty());
        }
        assert!(!set.ready(), "the table is in but nothing listens yet");
        let listener = std::net::TcpListener::bind(addr)?;
        assert!(set.ready(), "table and listener");
        drop(listener);
        assert!(
            set.ready(),
            "once accepting, readiness does not probe again"
        );
        set.start_draining();
        assert!(!set.ready(), "a draining process is not ready");
        Ok(())
    }

    #[test]
    fn wildcard_listeners_are_probed_on_loopback() -> std::io::Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        assert!(instance(format!("0.0.0.0:{port}")).accepting());
        assert!(!instance("not an address".into()).accepting());
        Ok(())
    }
}
