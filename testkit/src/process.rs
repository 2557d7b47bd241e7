//! Gatehouse process harness: start the real binary, capture its output, wait on its admin API.

use std::io::{BufRead as _, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::admin;

/// Interval between polls of the admin API and of captured output.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// One `--instance` argument: a class and its listeners.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// Ingress class served by this instance.
    pub class: String,
    /// Plain HTTP listener.
    pub http: SocketAddr,
    /// Optional TLS listener.
    pub https: Option<SocketAddr>,
    /// Whether this class is the default class.
    pub default: bool,
    /// The instance's own limits (`keep-alive=1h`), appended to `--instance`.
    pub settings: Vec<(String, String)>,
}

impl InstanceSpec {
    /// An HTTP-only, non-default instance.
    pub fn http(class: &str, http: SocketAddr) -> InstanceSpec {
        InstanceSpec {
            class: class.to_string(),
            http,
            https: None,
            default: false,
            settings: Vec::new(),
        }
    }

    /// Adds an instance key (a limit such as `keep-alive`) with its value.
    pub fn setting(mut self, key: &str, value: &str) -> InstanceSpec {
        self.settings.push((key.to_string(), value.to_string()));
        self
    }

    /// Marks this instance as serving the default class.
    pub fn default_class(mut self) -> InstanceSpec {
        self.default = true;
        self
    }

    /// Renders the value of `--instance`.
    pub fn to_arg(&self) -> String {
        let mut arg = format!("class={},http={}", self.class, self.http);
        if let Some(https) = self.https {
            arg.push_str(&format!(",https={https}"));
        }
        if self.default {
            arg.push_str(",default=true");
        }
        for (key, value) in &self.settings {
            arg.push_str(&format!(",{key}={value}"));
        }
        arg
    }
}

/// Builds the usual gatehouse argument list: manifests dir, instances, admin address, threads.
pub fn gatehouse_args(
    manifests: &Path,
    instances: &[InstanceSpec],
    admin: SocketAddr,
    threads: Option<usize>,
) -> Vec<String> {
    let mut args = vec![
        "--manifests".to_string(),
        manifests.display().to_string(),
        "--admin".to_string(),
        admin.to_string(),
    ];
    for instance in instances {
        args.push("--instance".to_string());
        args.push(instance.to_arg());
    }
    if let Some(threads) = threads {
        args.push("--threads".to_string());
        args.push(threads.to_string());
    }
    args
}

/// A running gatehouse process; SIGKILLed on drop.
pub struct Gatehouse {
    child: Mutex<Child>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    /// Output readers that have reached EOF (0 to 2).
    readers_done: Arc<AtomicUsize>,
}

impl Gatehouse {
    /// Spawns `bin args...` with stdout and stderr captured line by line.
    pub fn start(bin: &Path, args: &[String]) -> anyhow::Result<Gatehouse> {
        Gatehouse::start_with_env(bin, args, &[])
    }

    /// Like [`Gatehouse::start`], with extra environment variables (`SSL_CERT_FILE`, …).
    pub fn start_with_env(
        bin: &Path,
        args: &[String],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Gatehouse> {
        let mut child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .spawn()
            .with_context(|| format!("spawn {} {args:?}", bin.display()))?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers_done = Arc::new(AtomicUsize::new(0));
        if let Some(pipe) = child.stdout.take() {
            let sink = stdout.clone();
            spawn_line_reader(pipe, readers_done.clone(), move |line| {
                lock(&sink).push(line)
            });
        }
        if let Some(pipe) = child.stderr.take() {
            let sink = stderr.clone();
            spawn_line_reader(pipe, readers_done.clone(), move |line| {
                let mut text = lock(&sink);
                text.push_str(&line);
                text.push('\n');
            });
        }
        Ok(Gatehouse {
            child: Mutex::new(child),
            stdout,
            stderr,
            readers_done,
        })
    }

    /// Everything written to stderr so far.
    pub fn stderr_text(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// Lines written to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        lock(&self.stdout).clone()
    }

    /// Sends SIGTERM (as Kubernetes does to stop a pod), through the system's `kill` command.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let pid = lock(&self.child).id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| anyhow::anyhow!("running kill -TERM {pid}: {e}"))?;
        anyhow::ensure!(status.success(), "kill -TERM {pid}: {status}");
        Ok(())
    }

    /// Returns `Some(exit status)` if the process has exited.
    pub fn exited(&self) -> Option<std::process::ExitStatus> {
        lock(&self.child).try_wait().ok().flatten()
    }

    /// Fails with the captured stderr if the process has exited.
    fn check_alive(&self) -> anyhow::Result<()> {
        if let Some(status) = self.exited() {
            // Let the readers drain the pipes to EOF (bounded) so the report is complete.
            let deadline = Instant::now() + Duration::from_secs(2);
            while self.readers_done.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            bail!(
                "gatehouse exited ({status}); stderr:\n{}",
                tail(&self.stderr_text(), 4000)
            );
        }
        Ok(())
    }

    /// A position in stderr, for `wait_for_stderr_since` (only output after it counts).
    pub fn stderr_mark(&self) -> usize {
        lock(&self.stderr).len()
    }

    /// Waits until stderr contains `needle`.
    pub async fn wait_for_stderr(&self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        self.wait_for_stderr_since(0, needle, timeout).await
    }

    /// Waits until stderr written after `mark` contains `needle`.
    pub async fn wait_for_stderr_since(
        &self,
        mark: usize,
        needle: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self
                .stderr_text()
                .get(mark..)
                .is_some_and(|since| since.contains(needle));
            if found {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "stderr did not contain {needle:?} within {timeout:?}; stderr:\n{}",
                    tail(&self.stderr_text(), 4000)
                );
            }
            self.check_alive()?;
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Polls GET /readyz on `admin` until it answers 200.
    pub async fn wait_ready(&self, admin: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            let last = match admin::readyz(admin).await {
                Ok((200, _)) => return Ok(()),
                Ok((status, body)) => format!("{status} {body}"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "gatehouse not ready within {timeout:?} (last /readyz: {last}); stderr:\n{}",
                    tail(&self.stderr_text(), 4000)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls /readyz until `class`'s generation is above `n`; returns the generation seen.
    pub async fn wait_generation_above(
        &self,
        admin: SocketAddr,
        class: &str,
        n: u64,
        timeout: Duration,
    ) -> anyhow::Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = admin::generation(admin, class).await;
            if let Ok(generation) = last {
                if generation > n {
                    return Ok(generation);
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "generation of {class} not above {n} within {timeout:?} (last: {last:?}); stderr:\n{}",
                    tail(&self.stderr_text(), 4000)
                );
            }
            self.check_alive()?;
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let mut child = lock(&self.child);
        // Child::kill sends SIGKILL on Unix.
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn spawn_line_reader<R, F>(pipe: R, done: Arc<AtomicUsize>, mut sink: F)
where
    R: Read + Send + 'static,
    F: FnMut(String) + Send + 'static,
{
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        // Ends at EOF, i.e. when the process exits or is killed.
        while let Ok(n) = reader.read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf);
            sink(line.trim_end_matches(['\n', '\r']).to_string());
            buf.clear();
        }
        done.fetch_add(1, Ordering::SeqCst);
    });
}

/// Locks a mutex, recovering the data if a panicking test thread poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The last `max` bytes of `text` (on a char boundary), for readable failure messages.
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
