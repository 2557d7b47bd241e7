//! Loopback address helpers: free ports without fixed numbers.

use std::net::{IpAddr, SocketAddr, TcpListener};

/// Binds port 0 on `ip` (a loopback address such as "127.0.0.5"), returns the address and releases it.
///
/// Panics when `ip` is not an IP address or cannot be bound: this is test setup, not a request path.
pub fn free_addr(ip: &str) -> SocketAddr {
    let ip: IpAddr = ip
        .parse()
        .unwrap_or_else(|e| panic!("free_addr: {ip:?} is not an IP address: {e}"));
    let listener =
        TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("free_addr: cannot bind {ip}:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("free_addr: local_addr on {ip}: {e}"))
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
