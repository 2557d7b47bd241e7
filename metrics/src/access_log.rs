//! The JSON-lines access log.
//!
//! Request threads serialise a line into a thread-local buffer and append it to a shared
//! pending buffer (a short memcpy under a mutex); one writer thread moves pending bytes to the
//! output and flushes. As nginx's `access_log … buffer=SIZE flush=TIME`, the writer is woken
//! only when the buffer reaches [`Buffering::size`] or its oldest line is [`Buffering::flush`]
//! old (and on [`AccessLog::flush`] and drop), not once per request: a wake-up costs the
//! request thread a futex call and the writer a context switch. The proxy never waits on the
//! output: when the output stalls and [`MAX_PENDING`] bytes are pending, new lines are dropped
//! and counted instead.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::record::RequestRecord;
use crate::rfc3339;

/// Pending bytes above which new lines are dropped (the output is stuck): the access log's
/// memory bound, whatever [`Buffering::size`] is.
pub const MAX_PENDING: usize = 8 * 1024 * 1024;

/// When buffered lines are written to the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffering {
    /// Pending bytes at which the writer is woken at once (0: every line wakes it).
    pub size: usize,
    /// Longest a line waits before it is written (zero: written as soon as the writer runs).
    pub flush: Duration,
}

impl Buffering {
    /// `--access-log-buffer`'s default.
    pub const DEFAULT_SIZE: usize = 64 * 1024;
    /// `--access-log-flush`'s default.
    pub const DEFAULT_FLUSH: Duration = Duration::from_secs(1);
}

impl Default for Buffering {
    fn default() -> Self {
        Self {
            size: Self::DEFAULT_SIZE,
            flush: Self::DEFAULT_FLUSH,
        }
    }
}

/// The `--access-log` flag's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLogFormat {
    /// No access log.
    #[default]
    Off,
    /// One JSON object per line on stdout.
    Json,
}

/// An unknown `--access-log` value.
#[derive(Debug, thiserror::Error)]
#[error("unknown access log format {0:?}: expected \"off\" or \"json\"")]
pub struct UnknownAccessLogFormat(String);

impl FromStr for AccessLogFormat {
    type Err = UnknownAccessLogFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "json" => Ok(Self::Json),
            other => Err(UnknownAccessLogFormat(other.to_owned())),
        }
    }
}

impl fmt::Display for AccessLogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Json => "json",
        })
    }
}

/// One access log line, borrowed from the record.
#[derive(Serialize)]
struct Line<'a> {
    time: &'a str,
    class: &'a str,
    namespace: Option<&'a str>,
    ingress: Option<&'a str>,
    service: Option<&'a str>,
    #[serde(serialize_with = "socket_addr")]
    upstream_addr: Option<SocketAddr>,
    method: &'a str,
    host: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a str>,
    status: u16,
    request_bytes: u64,
    response_bytes: u64,
    duration_ms: f64,
    upstream_duration_ms: Option<f64>,
    #[serde(serialize_with = "ip_addr")]
    client_ip: Option<IpAddr>,
    request_id: &'a str,
}

/// Longest text [`write_v4`] writes: `255.255.255.255:65535`.
pub const V4_LEN: usize = 21;

/// An IPv4 address (and port) as `Display` writes it, without `core::fmt`: formatting the two
/// addresses of a line through `fmt` cost more than the rest of the line (the proxy's forwarded
/// headers use it too).
pub fn write_v4(ip: Ipv4Addr, port: Option<u16>, buf: &mut [u8; V4_LEN]) -> &str {
    fn decimal(mut n: u32, buf: &mut [u8], at: &mut usize) {
        let mut digits = [0u8; 5];
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in digits[..len].iter().rev() {
            buf[*at] = d;
            *at += 1;
        }
    }
    let mut at = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[at] = b'.';
            at += 1;
        }
        decimal(u32::from(octet), buf, &mut at);
    }
    if let Some(port) = port {
        buf[at] = b':';
        at += 1;
        decimal(u32::from(port), buf, &mut at);
    }
    // Only ASCII digits, dots and a colon were written.
    std::str::from_utf8(&buf[..at]).unwrap_or("")
}

fn ip_addr<S: serde::Serializer>(ip: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
    match ip {
        Some(IpAddr::V4(v4)) => s.serialize_str(write_v4(*v4, None, &mut [0; V4_LEN])),
        other => other.serialize(s),
    }
}

fn socket_addr<S: serde::Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    match addr {
        Some(SocketAddr::V4(v4)) => {
            s.serialize_str(write_v4(*v4.ip(), Some(v4.port()), &mut [0; V4_LEN]))
        }
        other => other.serialize(s),
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Milliseconds with microsecond resolution.
fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    writing: bool,
    closed: bool,
    /// [`AccessLog::flush`] waits: write what is pending without waiting for the timer.
    flush_now: bool,
    dropped: u64,
    write_errors: u64,
}

struct Shared {
    buffering: Buffering,
    pending: Mutex<Pending>,
    wake_writer: Condvar,
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
}

/// The JSON access log; cheap to call from many threads at once.
pub struct AccessLog {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl AccessLog {
    /// A JSON-lines log written to `out` by a background thread, with the default buffering.
    pub fn json<W: Write + Send + 'static>(out: W) -> AccessLog {
        Self::json_buffered(out, Buffering::default())
    }

    /// A JSON-lines log written to `out` by a background thread as `buffering` says.
    pub fn json_buffered<W: Write + Send + 'static>(out: W, buffering: Buffering) -> AccessLog {
        let shared = Arc::new(Shared {
            buffering,
            pending: Mutex::new(Pending::default()),
            wake_writer: Condvar::new(),
            drained: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_loop(&for_thread, out))
            .ok();
        AccessLog { shared, writer }
    }

    /// A JSON-lines log on stdout, written as `buffering` says.
    pub fn stdout(buffering: Buffering) -> AccessLog {
        Self::json_buffered(std::io::stdout(), buffering)
    }

    /// Appends one line for `rec`, timestamped now.
    pub fn log(&self, rec: &RequestRecord<'_>) {
        self.log_at(rec, SystemTime::now());
    }

    /// Appends one line for `rec` with an explicit timestamp.
    pub fn log_at(&self, rec: &RequestRecord<'_>, time: SystemTime) {
        let mut time_buf = [0u8; rfc3339::LEN];
        let line = Line {
            time: rfc3339::format(time, &mut time_buf),
            class: rec.class,
            namespace: non_empty(rec.namespace),
            ingress: non_empty(rec.ingress),
            service: non_empty(rec.service),
            upstream_addr: rec.upstream_addr,
            method: rec.method,
            host: rec.host,
            path: rec.path,
            query: rec.query,
            status: rec.status,
            request_bytes: rec.request_bytes,
            response_bytes: rec.response_bytes,
            duration_ms: millis(rec.duration),
            upstream_duration_ms: rec.upstream_header.map(millis),
            client_ip: rec.client_ip,
            request_id: rec.request_id,
        };
        LINE.with(|buf| {
            let mut buf = buf.borrow_mut();
            buf.clear();
            // Serialising plain strings and numbers into a Vec cannot fail.
            if serde_json::to_writer(&mut *buf, &line).is_err() {
                return;
            }
            buf.push(b'\n');
            let mut pending = self.shared.lock();
            if pending.bytes.len() + buf.len() > MAX_PENDING || pending.closed {
                pending.dropped += 1;
                return;
            }
            let before = pending.bytes.len();
            pending.bytes.extend_from_slice(&buf);
            // The writer sleeps without a deadline while nothing is pending, and until its
            // deadline otherwise: wake it for the first line and when the buffer fills, only.
            let size = self.shared.buffering.size;
            let wake = before == 0 || (before < size && pending.bytes.len() >= size);
            drop(pending);
            if wake {
                self.shared.wake_writer.notify_one();
            }
        });
    }

    /// Waits (at most `timeout`) until every line logged so far reached the output.
    /// Returns false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut pending = self.shared.lock();
        if !pending.bytes.is_empty() {
            pending.flush_now = true;
            self.shared.wake_writer.notify_one();
        }
        while !pending.bytes.is_empty() || pending.writing {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            pending = self
                .shared
                .drained
                .wait_timeout(pending, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        true
    }

    /// Lines dropped because the output could not keep up.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// Failed writes to the output (e.g. a closed stdout).
    pub fn write_errors(&self) -> u64 {
        self.shared.lock().write_errors
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake_writer.notify_one();
        if let Some(writer) = self.writer.take() {
            // The writer drains what is pending, then exits.
            let _ = writer.join();
        }
    }
}

fn write_loop<W: Write>(shared: &Shared, mut out: W) {
    let Buffering { size, flush } = shared.buffering;
    let mut batch = Vec::with_capacity(size.clamp(4096, MAX_PENDING));
    let mut pending = shared.lock();
    loop {
        while pending.bytes.is_empty() && !pending.closed {
            pending = shared
                .wake_writer
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if pending.bytes.is_empty() && pending.closed {
            shared.drained.notify_all();
            return;
        }
        // The first pending line arrived about now (its thread woke us): it waits at most
        // `flush`, unless the buffer fills, a flush is asked for or the log closes first.
        let deadline = Instant::now() + flush;
        while pending.bytes.len() < size && !pending.flush_now && !pending.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            pending = shared
                .wake_writer
                .wait_timeout(pending, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        std::mem::swap(&mut pending.bytes, &mut batch);
        pending.flush_now = false;
        pending.writing = true;
        drop(pending);
        let ok = out.write_all(&batch).and_then(|()| out.flush()).is_ok();
        batch.clear();
        pending = shared.lock();
        pending.writing = false;
        if !ok {
            pending.write_errors += 1;
        }
        if pending.bytes.is_empty() {
            shared.drained.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_is_display_s() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "1.22.133.4",
        ] {
            let v4: Ipv4Addr = ip.parse().expect("ip");
            assert_eq!(write_v4(v4, None, &mut [0; V4_LEN]), v4.to_string());
            for port in [0, 9, 80, 443, 8080, 65535] {
                let want = std::net::SocketAddrV4::new(v4, port).to_string();
                assert_eq!(write_v4(v4, Some(port), &mut [0; V4_LEN]), want);
            }
        }
    }
}
