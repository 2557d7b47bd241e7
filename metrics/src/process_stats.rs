//! This process's CPU, memory and I/O figures, read from /proc/self (Linux only).

use std::fs;

/// Clock ticks per second for /proc times; USER_HZ is a fixed 100 in Linux's user ABI.
const USER_HZ: f64 = 100.0;

/// A point-in-time reading of this process.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProcessStats {
    /// User + system CPU seconds.
    pub(crate) cpu_seconds: f64,
    /// Resident set size.
    pub(crate) resident_bytes: u64,
    /// Virtual memory size.
    pub(crate) virtual_bytes: u64,
    /// Process start as Unix seconds.
    pub(crate) start_time_unix: f64,
    /// OS threads.
    pub(crate) threads: u64,
    /// Bytes read from storage (None when /proc/self/io is not readable).
    pub(crate) read_bytes: Option<u64>,
    /// Bytes written to storage.
    pub(crate) write_bytes: Option<u64>,
}

/// Reads /proc/self; `None` off Linux or when /proc is not mounted.
pub(crate) fn read_self() -> Option<ProcessStats> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let boot_time = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| field_after(&s, "btime"))
        .unwrap_or(0);
    let io = fs::read_to_string("/proc/self/io").ok();
    parse(&stat, &status, boot_time, io.as_deref())
}

/// Parses the /proc texts; split out so tests can feed fixed inputs.
pub(crate) fn parse(
    stat: &str,
    status: &str,
    boot_time_unix: u64,
    io: Option<&str>,
) -> Option<ProcessStats> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Indices are man proc(5) field numbers minus 3 (pid, comm and state precede/lead).
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let utime = num(11)?;
    let stime = num(12)?;
    let threads = num(17)?;
    let start_ticks = num(19)?;
    let virtual_bytes = num(20)?;
    let resident_kib = field_after(status, "VmRSS:")?;
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / USER_HZ,
        resident_bytes: resident_kib * 1024,
        virtual_bytes,
        start_time_unix: boot_time_unix as f64 + start_ticks as f64 / USER_HZ,
        threads,
        read_bytes: io.and_then(|s| field_after(s, "read_bytes:")),
        write_bytes: io.and_then(|s| field_after(s, "write_bytes:")),
    })
}

/// The first number after `key` on the line starting with it.
fn field_after(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_texts() {
        let stat = "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615";
        let status = "Name:\tx\nVmRSS:\t   10240 kB\nThreads:\t7\n";
        let io = "rchar: 1\nread_bytes: 4096\nwrite_bytes: 8192\n";
        let s = parse(stat, status, 1_700_000_000, Some(io)).expect("parse");
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.resident_bytes, 10240 * 1024);
        assert_eq!(s.virtual_bytes, 104_857_600);
        assert_eq!(s.threads, 7);
        assert_eq!(s.start_time_unix, 1_700_000_000.0 + 123.45);
        assert_eq!(s.read_bytes, Some(4096));
        assert_eq!(s.write_bytes, Some(8192));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let s = read_self().expect("/proc/self readable");
        assert!(s.resident_bytes > 0);
        assert!(s.threads >= 1);
        assert!(s.start_time_unix > 1_000_000_000.0);
    }
}
