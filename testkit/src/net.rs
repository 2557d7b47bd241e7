//! Loopback address helpers: free ports without fixed numbers.

use std::net::{IpAddr, SocketAddr, TcpListener};

/// A port on `ip` that is free now: chosen below the kernel's ephemeral port range, and never
/// handed out twice by this process.
///
/// Not port 0 and release: the caller (mostly a gatehouse process) binds the port later, and in
/// between the kernel may hand a released ephemeral port to any socket bound to port 0 or
/// connecting out — a backend or client of a test running concurrently. The kernel picks
/// neither from below `ip_local_port_range`, so there only a process naming the port itself can
/// take it. Falls back to port 0 when the range leaves no room.
///
/// Panics when `ip` is not an IP address or cannot be bound: this is test setup, not a request path.
pub fn free_addr(ip: &str) -> SocketAddr {
    let ip: IpAddr = ip
        .parse()
        .unwrap_or_else(|e| panic!("free_addr: {ip:?} is not an IP address: {e}"));
    if let Some(range) = ports_the_kernel_does_not_pick() {
        let span = u32::from(range.end - range.start);
        let start = random_below(span);
        let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        for step in 0..span.min(2000) {
            let Ok(port) = u16::try_from(u32::from(range.start) + (start + step) % span) else {
                continue;
            };
            if !handed.contains(&port) && TcpListener::bind((ip, port)).is_ok() {
                handed.insert(port);
                return SocketAddr::new(ip, port);
            }
        }
    }
    let listener =
        TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("free_addr: cannot bind {ip}:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("free_addr: local_addr on {ip}: {e}"))
}

/// Ports [`free_addr`] has returned in this process.
static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Lowest port [`free_addr`] picks: below it sit the well-known and registered ports users'
/// own services are likeliest to hold.
const LOWEST: u16 = 10_000;

/// The ports from [`LOWEST`] up to the kernel's ephemeral range (Linux default 32768–60999),
/// or above it when it starts too low; `None` when neither leaves 1000 ports.
fn ports_the_kernel_does_not_pick() -> Option<std::ops::Range<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = text.split_whitespace().map(|n| n.parse::<u16>().ok());
    let (low, high) = (bounds.next()??, bounds.next()??);
    if low >= LOWEST + 1000 {
        Some(LOWEST..low)
    } else if high <= u16::MAX - 1000 {
        Some(high + 1..u16::MAX)
    } else {
        None
    }
}

/// A number below `n` (> 0) that differs between processes and calls, so concurrent test
/// processes start their searches at different ports.
fn random_below(n: u32) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    (hasher.finish() % u64::from(n.max(1))) as u32
}

/// `ip` with port 0: the OS picks a free port when the server binds, so no other process can
/// take it between the choice and the bind (as it can with [`free_addr`]'s port). For servers
/// whose address is read back after they start.
pub fn any_port(ip: &str) -> SocketAddr {
    let ip: IpAddr = ip
        .parse()
        .unwrap_or_else(|e| panic!("any_port: {ip:?} is not an IP address: {e}"));
    SocketAddr::new(ip, 0)
}

/// Finds one port that is free on every address in `ips` (EndpointSlice endpoints share a port).
///
/// Tries at most 200 candidate ports; panics if none is free everywhere.
pub fn free_port_on(ips: &[&str]) -> u16 {
    let first = ips.first().copied().unwrap_or("127.0.0.1");
    for _ in 0..200 {
        let port = free_addr(first).port();
        let free_everywhere = ips.iter().all(|ip| {
            ip.parse::<IpAddr>()
                .ok()
                .is_some_and(|ip| TcpListener::bind((ip, port)).is_ok())
        });
        if free_everywhere {
            return port;
        }
    }
    panic!("free_port_on: no port free on all of {ips:?} after 200 tries")
}

/// Builds `127.0.0.<last>` as a string, for readable test address plans.
pub fn loopback(last: u8) -> String {
    format!("127.0.0.{last}")
}

/// A loopback address where TCP connects hang: a listener with a zero backlog whose one
/// accept-queue slot is taken, so the kernel drops further SYNs instead of refusing them. The
/// way to test connect timeouts without sending anything off the machine.
pub struct BlackHole {
    /// Where connects hang.
    pub addr: SocketAddr,
    _listener: socket2::Socket,
    _fillers: Vec<std::net::TcpStream>,
}

impl BlackHole {
    /// Opens one on `ip` (e.g. "127.0.0.1"). Panics when the kernel does not drop SYNs to a full
    /// accept queue (then the tests that need one cannot run: this is test setup).
    pub fn open(ip: &str) -> BlackHole {
        use std::time::Duration;
        let (listener, addr) = bound_socket(ip, "BlackHole");
        listener
            .listen(0)
            .unwrap_or_else(|e| panic!("BlackHole: listen: {e}"));
        // Fill the accept queue until a connect attempt times out: that proves connects hang.
        let mut fillers = Vec::new();
        for _ in 0..8 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(stream) => fillers.push(stream),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return BlackHole {
                        addr,
                        _listener: listener,
                        _fillers: fillers,
                    }
                }
                Err(e) => panic!("BlackHole: connect to {addr} failed instead of hanging: {e}"),
            }
        }
        panic!("BlackHole: {addr} kept accepting connects after its queue should be full")
    }
}

/// A loopback address where connects are refused by construction: a socket bound to the port
/// that never listens, held while this value lives, so no other listener can take the port (a
/// port that was merely free a moment ago can be, and then the "refused" backend answers).
pub struct RefusingPort {
    /// Where connects are refused.
    pub addr: SocketAddr,
    _socket: socket2::Socket,
}

impl RefusingPort {
    /// Reserves one on `ip` (e.g. "127.0.0.1"). Panics when it cannot bind: this is test setup.
    pub fn open(ip: &str) -> RefusingPort {
        let (socket, addr) = bound_socket(ip, "RefusingPort");
        RefusingPort {
            addr,
            _socket: socket,
        }
    }
}

/// A TCP socket bound to a free port on `ip`, not listening yet (`what` names the caller in
/// panics: this is test setup).
fn bound_socket(ip: &str, what: &str) -> (socket2::Socket, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let bind: SocketAddr = format!("{ip}:0")
        .parse()
        .unwrap_or_else(|e| panic!("{what}: {ip:?} is not an IP address: {e}"));
    let socket = Socket::new(Domain::for_address(bind), Type::STREAM, None)
        .unwrap_or_else(|e| panic!("{what}: socket: {e}"));
    socket
        .bind(&bind.into())
        .unwrap_or_else(|e| panic!("{what}: bind {bind}: {e}"));
    let addr = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or_else(|| panic!("{what}: no local address"));
    (socket, addr)
}

/// A backend that accepts connections, reads what arrives and never answers (for upstream
/// read timeouts); its connections are held until the task is aborted.
pub async fn silent_backend(ip: &str) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use tokio::io::AsyncReadExt as _;
    let listener = tokio::net::TcpListener::bind(free_addr(ip)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            held.push(stream);
        }
    });
    Ok((addr, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_addr_hands_out_distinct_bindable_ports_the_kernel_does_not_pick() {
        let range = ports_the_kernel_does_not_pick();
        let ports: std::collections::BTreeSet<u16> = (0..50)
            .map(|_| {
                let addr = free_addr("127.0.0.1");
                TcpListener::bind(addr).unwrap_or_else(|e| panic!("{addr} not bindable: {e}"));
                if let Some(range) = &range {
                    assert!(range.contains(&addr.port()), "{addr} outside {range:?}");
                }
                addr.port()
            })
            .collect();
        assert_eq!(ports.len(), 50, "a port was handed out twice: {ports:?}");
    }
}
