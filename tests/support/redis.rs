//! A real `redis-server` (Debian's package; `scripts/install-deps.sh`
//! installs it) on a free loopback port, for one test: started on demand,
//! stopped by its PID when dropped, and stoppable, restartable and
//! pausable (SIGSTOP: a Redis that accepts connections and never answers)
//! in between.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::provider::reserve_port;

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    /// Extra arguments (TLS) kept for restarts.
    args: Vec<String>,
    tls: bool,
}

fn redis_server_binary() -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin", "/usr/local/bin"])
    {
        let candidate = PathBuf::from(dir).join("redis-server");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("redis-server is not installed: run scripts/install-deps.sh (Debian package `redis-server`)");
}

impl RedisServer {
    /// A plain-TCP Redis on a free port, ready for commands.
    pub fn start() -> RedisServer {
        Self::start_with(reserve_port(), Vec::new(), false)
    }

    /// A TLS-only Redis with the given PEM files (server certificate and key).
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path, ca: &std::path::Path) -> RedisServer {
        let port = reserve_port();
        let args = vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
            "--tls-ca-cert-file".into(),
            ca.display().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        Self::start_with(port, args, true)
    }

    fn start_with(port: u16, args: Vec<String>, tls: bool) -> RedisServer {
        let mut server = RedisServer {
            port,
            child: None,
            args,
            tls,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut command = Command::new(redis_server_binary());
        if self.tls {
            command.args(&self.args);
        } else {
            command.arg("--port").arg(self.port.to_string());
        }
        command
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ])
            .args(["--protected-mode", "yes", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().expect("start redis-server");
        self.child = Some(child);
        self.wait_until_ready();
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("redis-server on port {} exited at start: {status}", self.port);
            }
            let ready = if self.tls {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                self.command("PING").is_some_and(|reply| reply.starts_with("+PONG"))
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// The `[oidc.redis]` table for this server.
    pub fn config(&self) -> Value {
        json!({ "url": self.url(), "timeout_ms": 500 })
    }

    /// Sends one inline command; the raw reply, read whole, if it came
    /// within a second.
    pub fn command(&self, command: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
        let mut reply = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        while resp_end(&reply, 0).is_none() {
            let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
            reply.extend_from_slice(&chunk[..n]);
        }
        Some(String::from_utf8_lossy(&reply).into_owned())
    }

    /// The keys Redis holds (`KEYS *`, as raw RESP).
    pub fn keys(&self) -> Vec<String> {
        let reply = self.command("KEYS *").unwrap_or_default();
        reply
            .split("\r\n")
            .filter(|line| !line.is_empty() && !line.starts_with('*') && !line.starts_with('$'))
            .map(str::to_string)
            .collect()
    }

    /// The remaining TTL of `key` in seconds (-1: none, -2: no such key).
    pub fn ttl(&self, key: &str) -> i64 {
        let reply = self.command(&format!("TTL {key}")).unwrap_or_default();
        reply.trim().trim_start_matches(':').parse().unwrap_or(-3)
    }

    /// How many commands Redis has processed so far.
    pub fn commands_processed(&self) -> u64 {
        // The commands clients sent (a script counts once), less the
        // subscriptions' heartbeats (`PING`) and these questions (`INFO`).
        let reply = self.command("INFO all").unwrap_or_default();
        let number = |prefix: &str| {
            reply
                .lines()
                .find_map(|line| line.strip_prefix(prefix))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        number("total_commands_processed:")
            .saturating_sub(number("cmdstat_ping:calls="))
            .saturating_sub(number("cmdstat_info:calls="))
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{signal} redis-server");
        }
    }

    /// Freezes the server (SIGSTOP): it keeps its connections and never answers.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Stops the server (its data is gone: it keeps none on disk).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not stop",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

/// Where the RESP2 value starting at `at` ends, once `data` holds all of it.
fn resp_end(data: &[u8], at: usize) -> Option<usize> {
    let line_end = at + data.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&data[at + 1..line_end]).ok()?;
    let after_line = line_end + 2;
    match data.get(at)? {
        b'+' | b'-' | b':' => Some(after_line),
        b'$' => {
            let len: i64 = line.parse().ok()?;
            if len < 0 {
                return Some(after_line);
            }
            let end = after_line + usize::try_from(len).ok()? + 2;
            (data.len() >= end).then_some(end)
        }
        b'*' => {
            let count: i64 = line.parse().ok()?;
            let mut next = after_line;
            for _ in 0..count.max(0) {
                next = resp_end(data, next)?;
            }
            Some(next)
        }
        _ => None,
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // A paused process dies of SIGKILL too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
