//! Access log lines are JSON with the documented fields, one per request, also under load.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use common::{app_request, unmatched_request};
use gatehouse_metrics::{AccessLog, AccessLogFormat, Buffering, RequestRecord};
use serde_json::Value;

/// A `Write` whose bytes the test can read back.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("sink lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().expect("sink lock").clone();
        let text = String::from_utf8(bytes).expect("utf-8 log");
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "last line unterminated"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

const FIELDS: &[&str] = &[
    "time",
    "class",
    "namespace",
    "ingress",
    "service",
    "upstream_addr",
    "method",
    "host",
    "path",
    "status",
    "request_bytes",
    "response_bytes",
    "duration_ms",
    "upstream_duration_ms",
    "client_ip",
    "request_id",
];

#[test]
fn lines_are_json_with_the_documented_fields() {
    let sink = Sink::default();
    let log = AccessLog::json(sink.clone());
    let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let with_query = RequestRecord {
        query: Some("a=1&b=\"x\""),
        ..app_request(200, 15)
    };
    log.log_at(&with_query, at);
    log.log_at(&unmatched_request(), at);
    log.log(&app_request(503, 2));
    assert!(log.flush(Duration::from_secs(5)), "flush timed out");

    let lines = sink.lines();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        for field in FIELDS {
            assert!(line.get(field).is_some(), "missing {field} in {line}");
        }
    }
    let first = &lines[0];
    assert_eq!(first["time"], "2023-11-14T22:13:20.123Z");
    assert_eq!(first["class"], "internal");
    assert_eq!(first["namespace"], "default");
    assert_eq!(first["ingress"], "app");
    assert_eq!(first["service"], "app");
    assert_eq!(first["upstream_addr"], "127.0.0.1:9001");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["host"], "app.example");
    assert_eq!(first["path"], "/hello");
    assert_eq!(first["query"], "a=1&b=\"x\"");
    assert_eq!(first["status"], 200);
    assert_eq!(first["request_bytes"], 120);
    assert_eq!(first["response_bytes"], 2048);
    assert_eq!(first["duration_ms"], 15.0);
    assert_eq!(first["upstream_duration_ms"], 14.0);
    assert_eq!(first["client_ip"], "127.0.0.2");
    assert_eq!(first["request_id"], "req-1");

    let unmatched = &lines[1];
    assert_eq!(unmatched["status"], 404);
    assert_eq!(unmatched["ingress"], Value::Null);
    assert_eq!(unmatched["upstream_addr"], Value::Null);
    assert_eq!(unmatched["upstream_duration_ms"], Value::Null);
    assert_eq!(unmatched["duration_ms"], 0.3);
    assert!(unmatched.get("query").is_none(), "query only when given");

    let now = lines[2]["time"].as_str().expect("time string");
    assert_eq!(now.len(), 24);
    assert!(now.starts_with("20") && now.ends_with('Z'));
    assert_eq!(log.dropped_lines(), 0);
}

#[test]
fn concurrent_writers_produce_whole_lines() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 2_000;
    let sink = Sink::default();
    let log = Arc::new(AccessLog::json(sink.clone()));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    log.log(&app_request(200 + (i % 3) as u16, 5));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert!(log.flush(Duration::from_secs(10)), "flush timed out");
    let lines = sink.lines();
    assert_eq!(
        lines.len() as u64 + log.dropped_lines(),
        (THREADS * PER_THREAD) as u64
    );
    assert_eq!(log.dropped_lines(), 0, "an in-memory sink never stalls");
    assert!(lines.iter().all(|l| l["request_id"] == "req-1"));
}

#[test]
fn drop_drains_pending_lines() {
    let sink = Sink::default();
    let log = AccessLog::json(sink.clone());
    for _ in 0..100 {
        log.log(&unmatched_request());
    }
    drop(log);
    assert_eq!(sink.lines().len(), 100);
}

impl Sink {
    fn len(&self) -> usize {
        self.0.lock().expect("sink lock").len()
    }

    /// Waits (up to 10 s) until the sink holds at least `bytes`.
    fn wait_for(&self, bytes: usize) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.len() < bytes {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

/// Buffering that never writes on its own: only a full buffer, `flush` or drop write.
const HOLD: Buffering = Buffering {
    size: 4096,
    flush: Duration::from_secs(3600),
};

#[test]
fn lines_wait_in_the_buffer_until_flush() {
    let sink = Sink::default();
    let log = AccessLog::json_buffered(sink.clone(), HOLD);
    log.log(&app_request(200, 1));
    log.log(&app_request(200, 1));
    // Well under the buffer size, and the timer is an hour away: nothing can be written yet.
    assert_eq!(sink.len(), 0);
    assert!(log.flush(Duration::from_secs(5)), "flush timed out");
    assert_eq!(sink.lines().len(), 2);
}

#[test]
fn a_full_buffer_is_written_without_waiting_for_the_timer() {
    let sink = Sink::default();
    let log = AccessLog::json_buffered(sink.clone(), HOLD);
    // Lines of `app_request` all have the same length (the timestamp has a fixed width).
    let lines = HOLD.size / line_len() + 1;
    for _ in 0..lines {
        log.log(&app_request(200, 1));
    }
    assert!(sink.wait_for(HOLD.size), "the full buffer was not written");
    assert_eq!(log.dropped_lines(), 0);
}

/// The length of one `app_request` line.
fn line_len() -> usize {
    let sink = Sink::default();
    drop({
        let log = AccessLog::json_buffered(sink.clone(), HOLD);
        log.log(&app_request(200, 1));
        log
    });
    sink.len()
}

#[test]
fn the_flush_timer_writes_a_lone_line() {
    let sink = Sink::default();
    let log = AccessLog::json_buffered(
        sink.clone(),
        Buffering {
            size: 64 * 1024,
            flush: Duration::from_millis(20),
        },
    );
    log.log(&app_request(200, 1));
    assert!(sink.wait_for(1), "the timer did not write the line");
    assert_eq!(sink.lines().len(), 1);
}

#[test]
fn unbuffered_lines_are_written_at_once() {
    let sink = Sink::default();
    let log = AccessLog::json_buffered(
        sink.clone(),
        Buffering {
            size: 0,
            flush: Duration::ZERO,
        },
    );
    log.log(&app_request(200, 1));
    assert!(sink.wait_for(1), "the line was not written");
}

#[test]
fn flag_values() {
    assert_eq!(
        "json".parse::<AccessLogFormat>().expect("json"),
        AccessLogFormat::Json
    );
    assert_eq!(
        "off".parse::<AccessLogFormat>().expect("off"),
        AccessLogFormat::Off
    );
    let err = "text".parse::<AccessLogFormat>().expect_err("unknown");
    assert!(err.to_string().contains("\"off\" or \"json\""));
    assert_eq!(AccessLogFormat::Json.to_string(), "json");
}
