//! nats-server as a child process: the CLI's embedded default, demos and tests.
//!
//! Why a child process rather than an in-process broker: the ledger's
//! durability and fencing guarantees come from nats-server itself, so demos and
//! tests must exercise the real server — including being killed and restarted.
//! Every server started here listens on a loopback port of its own and keeps its
//! state in a directory of its own, so it never touches a system nats-server.
//! The child is killed when its handle is dropped, also when a test panics.
//!
//! Which server: the one named by `$FUNDLEDGER_NATS_SERVER`, else the
//! project's pinned copy that `scripts/setup` installs (the tested current
//! release, so a checkout runs what CI runs), else whatever `nats-server` the
//! system has (Debian's is 2.9.10: supported for single-node ledgers).
//! On Linux it also receives SIGTERM when its parent dies (`PR_SET_PDEATHSIG`),
//! so a `fundledger serve` killed with SIGKILL leaves no orphaned server.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::AsyncBufReadExt as _;

use crate::error::NatsError;

/// Environment variable naming the nats-server executable to run.
pub const SERVER_BINARY_ENV: &str = "FUNDLEDGER_NATS_SERVER";
/// Where `scripts/setup` installs the pinned nats-server
/// ([`crate::server_version::PINNED_SERVER_VERSION`]) in this checkout, known
/// at compile time; used when it exists.
pub const PINNED_SERVER_BINARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.tools/nats-server-2.15.1/nats-server");
/// Where Debian's `nats-server` package installs the server.
pub const FALLBACK_SERVER_BINARY: &str = "/usr/sbin/nats-server";
/// How long a server may take to accept clients after being spawned.
pub const START_TIMEOUT_MS: u64 = 10_000;
/// How long a graceful stop may take before the server is killed.
pub const STOP_TIMEOUT_MS: u64 = 10_000;
/// How long an embedded cluster may take to elect a JetStream meta leader.
pub const CLUSTER_READY_TIMEOUT_MS: u64 = 30_000;
/// The largest message the embedded server accepts (the server's own default is 1 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 8 * 1024 * 1024;
/// The largest embedded cluster.
pub const CLUSTER_SIZE_MAX: usize = 7;
/// File name of the generated config inside the data dir.
pub const CONFIG_FILE_NAME: &str = "nats-server.conf";
/// File name of the server's log (its stdout and stderr) inside the data dir.
pub const LOG_FILE_NAME: &str = "nats-server.log";

/// Pause between readiness probes.
const READY_POLL_INTERVAL_MS: u64 = 25;
/// Bound on one readiness probe (connect and read INFO).
const READY_PROBE_TIMEOUT_MS: u64 = 1_000;
/// Pause between exit checks during a graceful stop.
const STOP_POLL_INTERVAL_MS: u64 = 20;
/// How many log lines an error carries.
const LOG_TAIL_LINES_MAX: usize = 40;
/// Attempts to start on a freshly picked port (another process may grab it first).
const START_ATTEMPTS_MAX: usize = 3;
/// What nats-server logs when its port is taken.
const ADDRESS_IN_USE: &str = "address already in use";
/// Pause between probes for the cluster's meta leader.
const CLUSTER_PROBE_INTERVAL_MS: u64 = 250;
/// Bound on one cluster probe request.
const CLUSTER_PROBE_REQUEST_TIMEOUT_MS: u64 = 2_000;
/// Name of the throw-away stream used to probe a cluster for a meta leader.
const CLUSTER_PROBE_STREAM: &str = "FUNDLEDGER_CLUSTER_PROBE";

/// How to start an [`EmbeddedNats`].
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// Where the config, log and JetStream store live. `None`: a temporary
    /// directory owned by the handle and deleted when it is dropped.
    pub data_dir: Option<PathBuf>,
    /// Client port on 127.0.0.1. `None`: a free port is picked.
    pub port: Option<u16>,
    /// The nats-server executable. `None`: [`find_server_binary`]
    /// (`$FUNDLEDGER_NATS_SERVER`, else the project's pinned copy, else
    /// `nats-server` on `PATH`, else `/usr/sbin/nats-server`).
    pub server_binary: Option<PathBuf>,
    /// The server's `server_name` (must be unique within a cluster).
    /// `None`: `fundledger-embedded-<port>`.
    pub server_name: Option<String>,
    /// Config text appended verbatim (accounts, cluster blocks, ...).
    pub extra_config: String,
    /// A complete nats-server config file to run instead of a generated one
    /// (e.g. ops/nats/single.conf with its store_dir and includes adapted).
    /// The server still listens on 127.0.0.1 at `port` (or a free port): the
    /// file's `listen` is overridden by `-a`/`-p` flags. The file's own
    /// store_dir, accounts and limits are used as they are; `server_name` and
    /// `extra_config` are ignored. The log still goes to the data dir.
    pub config_file: Option<PathBuf>,
}

/// A running nats-server child process with JetStream enabled.
///
/// The process is killed (SIGKILL) when the handle is dropped.
#[derive(Debug)]
pub struct EmbeddedNats {
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    binary: PathBuf,
    config_path: PathBuf,
    /// Whether the config is the caller's file, whose address `-a`/`-p` override.
    flags_override_listen: bool,
    log_path: PathBuf,
    /// Held only so that a temporary data dir lives as long as the server; dropped last.
    _temp_dir: Option<TempDir>,
}

impl EmbeddedNats {
    /// Writes a config into the data dir, spawns nats-server and waits (at most
    /// [`START_TIMEOUT_MS`]) until it accepts clients. On failure the process is
    /// killed and the error carries the tail of its log.
    ///
    /// Async because it polls the server's port; it needs a Tokio runtime.
    pub async fn start(options: EmbeddedOptions) -> Result<EmbeddedNats, NatsError> {
        let binary = match options.server_binary.clone() {
            Some(path) => path,
            None => find_server_binary()?,
        };
        let (data_dir, temp_dir) = match options.data_dir.clone() {
            Some(dir) => {
                fs::create_dir_all(&dir).map_err(|source| NatsError::Io { action: "create the nats data dir", path: dir.clone(), source })?;
                (dir, None)
            }
            None => {
                let temp = tempfile::Builder::new().prefix("fundledger-nats-").tempdir().map_err(|source| NatsError::Io {
                    action: "create a temporary nats data dir",
                    path: std::env::temp_dir(),
                    source,
                })?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let mut attempt = 1;
        loop {
            let port = match options.port {
                Some(port) => port,
                None => free_loopback_port()?,
            };
            let mut server = EmbeddedNats {
                child: None,
                port,
                config_path: options.config_file.clone().unwrap_or_else(|| data_dir.join(CONFIG_FILE_NAME)),
                flags_override_listen: options.config_file.is_some(),
                log_path: data_dir.join(LOG_FILE_NAME),
                data_dir: data_dir.clone(),
                binary: binary.clone(),
                _temp_dir: None,
            };
            if options.config_file.is_none() {
                server.write_config(&options)?;
            }
            match server.spawn_and_wait().await {
                Ok(()) => {
                    server._temp_dir = temp_dir;
                    return Ok(server);
                }
                // Another process took the port we picked: pick another.
                Err(err) if options.port.is_none() && attempt < START_ATTEMPTS_MAX && err.to_string().contains(ADDRESS_IN_USE) => {
                    tracing::warn!(port, error = %err, "picked port was taken; retrying");
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the config, the log and the JetStream store live.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's log file (its stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines of the server's log (empty if it cannot be read).
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    /// The OS process id, while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the child process is still alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server with SIGKILL and reaps it (for fault tests). Data on
    /// disk is kept; [`EmbeddedNats::restart`] brings the server back.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean the process already exited; reaping still applies.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server gracefully (SIGTERM), waiting at most
    /// [`STOP_TIMEOUT_MS`] before killing it.
    pub async fn stop(&mut self) -> Result<(), NatsError> {
        self.stop_within(Duration::from_millis(STOP_TIMEOUT_MS)).await
    }

    /// Stops the server gracefully (SIGTERM), waiting at most `timeout`
    /// before killing it (SIGKILL). The wait is not cancel-safe: a dropped
    /// call leaves the server running unsupervised, so bound it with
    /// `timeout`, not by dropping the future.
    pub async fn stop_within(&mut self, timeout: Duration) -> Result<(), NatsError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(child.id()).map_err(|_| NatsError::Io {
            action: "signal nats-server (pid out of range)",
            path: self.binary.clone(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own
        // unreaped child, so it cannot have been recycled for another process.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        if rc != 0 {
            let source = std::io::Error::last_os_error();
            let _ = child.kill();
            let _ = child.wait();
            return Err(NatsError::Io { action: "send SIGTERM to nats-server", path: self.binary.clone(), source });
        }
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(STOP_POLL_INTERVAL_MS)).await;
                }
                Ok(None) => {
                    tracing::warn!(port = self.port, "nats-server ignored SIGTERM; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    return Ok(());
                }
                Err(source) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(NatsError::Io { action: "wait for nats-server to exit", path: self.binary.clone(), source });
                }
            }
        }
    }

    /// Starts the server again on the same port with the same data dir. A
    /// running server is killed first.
    pub async fn restart(&mut self) -> Result<(), NatsError> {
        self.kill();
        self.spawn_and_wait().await
    }

    fn write_config(&self, options: &EmbeddedOptions) -> Result<(), NatsError> {
        let server_name = options.server_name.clone().unwrap_or_else(|| format!("fundledger-embedded-{}", self.port));
        let store_dir = self.data_dir.join("jetstream");
        let config = format!(
            "# Generated by fundledger-nats; rewritten on every start.\n\
             server_name: {name}\n\
             listen: \"127.0.0.1:{port}\"\n\
             max_payload: {max_payload}\n\
             jetstream {{\n  store_dir: {store}\n}}\n\
             {extra}\n",
            name = quote(&server_name),
            port = self.port,
            max_payload = MAX_PAYLOAD_BYTES,
            store = quote(&store_dir.to_string_lossy()),
            extra = options.extra_config,
        );
        fs::write(&self.config_path, config).map_err(|source| NatsError::Io { action: "write the nats-server config", path: self.config_path.clone(), source })
    }

    async fn spawn_and_wait(&mut self) -> Result<(), NatsError> {
        let mut log = OpenOptions::new().create(true).append(true).open(&self.log_path).map_err(|source| NatsError::Io {
            action: "open the nats-server log",
            path: self.log_path.clone(),
            source,
        })?;
        // A marker so that the log tail of a restart shows where it began.
        let _ = writeln!(log, "--- fundledger-nats: starting {}", self.binary.display());
        let log_err =
            log.try_clone().map_err(|source| NatsError::Io { action: "duplicate the nats-server log handle", path: self.log_path.clone(), source })?;
        let mut command = Command::new(&self.binary);
        command.arg("-c").arg(&self.config_path);
        if self.flags_override_listen {
            command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        }
        stop_with_parent(&mut command);
        let child = command.stdin(Stdio::null()).stdout(Stdio::from(log)).stderr(Stdio::from(log_err)).spawn().map_err(|source| NatsError::Io {
            action: "spawn nats-server",
            path: self.binary.clone(),
            source,
        })?;
        self.child = Some(child);
        match self.wait_ready().await {
            Ok(()) => Ok(()),
            Err(err) => {
                self.kill();
                Err(err)
            }
        }
    }

    async fn wait_ready(&mut self) -> Result<(), NatsError> {
        let deadline = Instant::now() + Duration::from_millis(START_TIMEOUT_MS);
        loop {
            let Some(child) = self.child.as_mut() else {
                return Err(NatsError::ServerNotRunning { port: self.port });
            };
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Err(NatsError::ServerExited { status: status.to_string(), log_tail: self.log_tail() });
                }
                Ok(None) => {}
                Err(source) => return Err(NatsError::Io { action: "check whether nats-server is alive", path: self.binary.clone(), source }),
            }
            if probe_info(self.port).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(NatsError::ServerStartTimeout { url: self.url(), timeout_ms: START_TIMEOUT_MS, log_tail: self.log_tail() });
            }
            tokio::time::sleep(Duration::from_millis(READY_POLL_INTERVAL_MS)).await;
        }
    }
}

impl Drop for EmbeddedNats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Makes the child receive SIGTERM (a graceful stop) when its parent dies,
/// however it dies. Linux sends it when the *thread* that spawned the child
/// exits: fundledger starts its servers from the thread running the main
/// future or from a runtime worker, both of which live as long as the process.
#[cfg(target_os = "linux")]
fn stop_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died between fork and prctl: nothing would signal us.
            if libc::getppid() != parent {
                return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn stop_with_parent(_command: &mut Command) {}

/// True when a client connection to the port receives the server's INFO line,
/// i.e. the server accepts clients (JetStream is enabled before that).
async fn probe_info(port: u16) -> bool {
    let probe = async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let mut reader = tokio::io::BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        Some(line.starts_with("INFO "))
    };
    matches!(tokio::time::timeout(Duration::from_millis(READY_PROBE_TIMEOUT_MS), probe).await, Ok(Some(true)))
}

/// Finds the nats-server executable: `$FUNDLEDGER_NATS_SERVER`, the
/// project's pinned copy ([`PINNED_SERVER_BINARY`], installed by
/// `scripts/setup`), `nats-server` on `PATH`, then `/usr/sbin/nats-server`.
pub fn find_server_binary() -> Result<PathBuf, NatsError> {
    let mut tried = Vec::new();
    if let Some(path) = std::env::var_os(SERVER_BINARY_ENV) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        tried.push(format!("${SERVER_BINARY_ENV}={}", path.display()));
    }
    let pinned = PathBuf::from(PINNED_SERVER_BINARY);
    if pinned.is_file() {
        return Ok(pinned);
    }
    tried.push(PINNED_SERVER_BINARY.to_string());
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    tried.push("nats-server on PATH".to_string());
    let fallback = PathBuf::from(FALLBACK_SERVER_BINARY);
    if fallback.is_file() {
        return Ok(fallback);
    }
    tried.push(FALLBACK_SERVER_BINARY.to_string());
    Err(NatsError::ServerBinaryNotFound { tried: tried.join(", ") })
}

/// CPU time (user and system, every thread) that process `pid` has used so
/// far, from `/proc/<pid>/stat`; `None` where that cannot be read (not Linux,
/// or no such process). Benchmarks read it for the embedded server and for
/// themselves: on a machine the broker shares, core-seconds say which side
/// spent what. Its resolution is the kernel's clock tick (10 ms).
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace();
    // Fields 14 and 15 of the line are utime and stime; after the name, field 3 is the first.
    let user: u64 = fields.nth(11)?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks_per_second = u64::try_from(ticks_per_second).ok().filter(|ticks| *ticks > 0)?;
    let ticks = user.checked_add(system)?;
    Some(Duration::from_secs(ticks / ticks_per_second) + Duration::from_nanos((ticks % ticks_per_second) * 1_000_000_000 / ticks_per_second))
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_loopback_port() -> Result<u16, NatsError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|source| NatsError::Io {
        action: "bind a loopback port to find a free one",
        path: PathBuf::from("127.0.0.1:0"),
        source,
    })?;
    let port = listener
        .local_addr()
        .map_err(|source| NatsError::Io { action: "read the address of a loopback listener", path: PathBuf::from("127.0.0.1:0"), source })?
        .port();
    Ok(port)
}

fn log_tail(path: &Path) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES_MAX);
    lines[start..].join("\n")
}

/// A double-quoted config string (JSON escaping is valid nats config syntax).
fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A JetStream cluster of nats-server processes on loopback, for fault tests.
#[derive(Debug)]
pub struct EmbeddedCluster {
    nodes: Vec<EmbeddedNats>,
}

impl EmbeddedCluster {
    /// Starts `size` nodes (each with its own ports and store dir, routes to all
    /// others) and waits at most [`CLUSTER_READY_TIMEOUT_MS`] until the cluster
    /// has a JetStream meta leader, by creating and deleting a probe stream with
    /// `size` replicas. The nodes run [`find_server_binary`]'s server.
    pub async fn start(size: usize) -> Result<EmbeddedCluster, NatsError> {
        EmbeddedCluster::start_with_binary(size, None).await
    }

    /// [`EmbeddedCluster::start`] with every node running `server_binary`
    /// (`None`: [`find_server_binary`]), e.g. an older release to test what
    /// the writer does on it.
    pub async fn start_with_binary(size: usize, server_binary: Option<PathBuf>) -> Result<EmbeddedCluster, NatsError> {
        if size == 0 || size > CLUSTER_SIZE_MAX {
            return Err(NatsError::InvalidClusterSize { requested: size, max: CLUSTER_SIZE_MAX });
        }
        let mut cluster_ports = Vec::with_capacity(size);
        for _ in 0..size {
            cluster_ports.push(free_loopback_port()?);
        }
        let mut nodes = Vec::with_capacity(size);
        for (index, cluster_port) in cluster_ports.iter().enumerate() {
            let routes: Vec<String> = cluster_ports
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != index)
                .map(|(_, port)| quote(&format!("nats-route://127.0.0.1:{port}")))
                .collect();
            let extra_config =
                format!("cluster {{\n  name: \"fundledger-embedded\"\n  listen: \"127.0.0.1:{cluster_port}\"\n  routes: [{}]\n}}\n", routes.join(", "));
            let node = EmbeddedNats::start(EmbeddedOptions {
                server_name: Some(format!("n{index}")),
                server_binary: server_binary.clone(),
                extra_config,
                ..EmbeddedOptions::default()
            })
            .await?;
            nodes.push(node);
        }
        let cluster = EmbeddedCluster { nodes };
        cluster.wait_for_meta_leader().await?;
        Ok(cluster)
    }

    /// The number of nodes.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// Node `index`.
    pub fn node(&self, index: usize) -> Result<&EmbeddedNats, NatsError> {
        let size = self.nodes.len();
        self.nodes.get(index).ok_or(NatsError::NoSuchNode { index, size })
    }

    /// Node `index`, mutably.
    pub fn node_mut(&mut self, index: usize) -> Result<&mut EmbeddedNats, NatsError> {
        let size = self.nodes.len();
        self.nodes.get_mut(index).ok_or(NatsError::NoSuchNode { index, size })
    }

    /// The client URLs of all nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(EmbeddedNats::url).collect()
    }

    /// The client URLs of all nodes, comma-separated (what `async_nats::connect` takes).
    pub fn url_list(&self) -> String {
        self.urls().join(",")
    }

    /// Kills node `index` with SIGKILL.
    pub fn kill_node(&mut self, index: usize) -> Result<(), NatsError> {
        self.node_mut(index)?.kill();
        Ok(())
    }

    /// Restarts node `index` with its ports and store dir.
    pub async fn restart_node(&mut self, index: usize) -> Result<(), NatsError> {
        self.node_mut(index)?.restart().await
    }

    async fn wait_for_meta_leader(&self) -> Result<(), NatsError> {
        let url = self.url_list();
        let deadline = Instant::now() + Duration::from_millis(CLUSTER_READY_TIMEOUT_MS);
        let client = crate::client::connect(&url).await?;
        let js = async_nats::jetstream::ContextBuilder::new().timeout(Duration::from_millis(CLUSTER_PROBE_REQUEST_TIMEOUT_MS)).build(client);
        let config = async_nats::jetstream::stream::Config {
            name: CLUSTER_PROBE_STREAM.to_string(),
            subjects: vec!["fundledger.cluster.probe".to_string()],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            num_replicas: self.nodes.len(),
            ..Default::default()
        };
        loop {
            let last_error = match js.create_stream(config.clone()).await {
                Ok(_) => match js.delete_stream(CLUSTER_PROBE_STREAM).await {
                    Ok(_) => return Ok(()),
                    Err(err) => err.to_string(),
                },
                Err(err) => err.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(NatsError::ClusterNotReady { timeout_ms: CLUSTER_READY_TIMEOUT_MS, last_error });
            }
            tracing::debug!(error = %last_error, "cluster not ready yet");
            tokio::time::sleep(Duration::from_millis(CLUSTER_PROBE_INTERVAL_MS)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_binary_path_names_the_pinned_version() {
        let directory = format!("/.tools/nats-server-{}/nats-server", crate::server_version::PINNED_SERVER_VERSION);
        assert!(PINNED_SERVER_BINARY.ends_with(&directory), "{PINNED_SERVER_BINARY}");
        let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/setup");
        let setup = fs::read_to_string(setup).expect("scripts/setup is readable");
        let pinned = format!("NATS_SERVER_VERSION={}\n", crate::server_version::PINNED_SERVER_VERSION);
        assert!(setup.contains(&pinned), "scripts/setup installs {pinned}");
    }

    #[test]
    fn process_cpu_time_reads_a_running_process_and_none_for_a_missing_one() {
        let before = process_cpu_time(std::process::id()).expect("this process's /proc/<pid>/stat");
        // Busy until the clock shows 50 ms more (however loaded the machine), for at most 20 s.
        let started = Instant::now();
        let mut state = 1u64;
        let mut after = before;
        while after < before + Duration::from_millis(50) && started.elapsed() < Duration::from_secs(20) {
            for _ in 0..100_000 {
                state = std::hint::black_box(state.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            after = process_cpu_time(std::process::id()).expect("still readable");
        }
        assert!(after >= before + Duration::from_millis(50), "{before:?} -> {after:?} after {:?} of busy work", started.elapsed());
        assert!(process_cpu_time(u32::MAX).is_none(), "no such process");
    }
}
