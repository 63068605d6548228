//! Cluster drill: a 3-node R3 ledger under continuous load, its stream leader
//! SIGKILLed five times and then every node restarted in turn, must keep
//! every acknowledged event on every node.
//!
//! Why: the same drill on nats-server 2.9.10 lost 38,790 of 72,008
//! acknowledged events (issue 18): a restarted node's replica silently
//! stopped growing, later became leader, and the stream went back. A
//! cluster is only as good as its worst replica, so the check reads each
//! node's own copy, not "the stream" as whichever node answers.
//!
//! How a node's copy is read: the stream leader is moved to that node
//! (`$JS.API.STREAM.LEADER.STEPDOWN.<stream>` with a preferred placement,
//! nats-server 2.11+; older servers ignore the preference, so the step-down
//! is repeated until the election lands there), then the whole stream is read
//! with `$JS.API.STREAM.MSG.GET` requests, which only the stream leader answers,
//! from its own store; stream info, also answered by the leader, gives that
//! node's last sequence. The leader is checked before and after the read.
//! Direct gets were not used: they need `allow_direct` on the ledger stream,
//! and then any current replica may answer, so a read could not name the
//! node it came from.
//!
//! The runner is the nats-server of `$FUNDLEDGER_NATS_SERVER` (else the
//! default, see `fundledger_nats::embedded::find_server_binary`); the drill
//! prints its version. On a server before 2.9.21 (Debian's 2.9.10) the
//! writer refuses an R3 ledger, so the drill fails at its start, by design.
//! Forced onto 2.9.10 (`allow_old_nats_cluster`) in one run, the writer
//! stopped acknowledging after the fifth kill (not ready, re-reads of the
//! stream stalling): it failed safe there, but the drill fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_core::record::SignedEvent;
use fundledger_core::replay::Replay;
use fundledger_nats::{EmbeddedCluster, StoredMessage};
use fundledger_system_tests::*;
use fundledger_writer::{WriteError, Writer, WriterConfig};
use futures::{StreamExt as _, TryStreamExt as _};

/// Nodes in the cluster, and replicas of the ledger stream.
const CLUSTER_SIZE: usize = 3;
/// How many times the stream leader is SIGKILLed.
const LEADER_KILLS: usize = 5;
/// Load clients submitting at the same time (the writer batches them together).
const LOAD_CLIENTS: usize = 2;
/// Events per submission of a load client.
const LOAD_BATCH_EVENTS: usize = 100;
/// Pause between a client's submissions: at most 2,000 events a second in
/// all, which leaves CPU for three servers, elections and catch-up on 2
/// cores and keeps reading every node's copy back short.
const LOAD_PAUSE_MS: u64 = 100;
/// Pause before resubmitting events the writer could not append.
const LOAD_RETRY_PAUSE_MS: u64 = 200;
/// Bound on the writer answering one submission (it retries internally).
const SUBMIT_TIMEOUT_MS: u64 = 60_000;
/// New acknowledgements that count as "the load goes on".
const PROGRESS_EVENTS: u64 = 200;
/// Acknowledgements awaited while a node is down, so that its replica has
/// that much to catch up on when it returns (where 2.9.10 went wrong).
const OUTAGE_EVENTS: u64 = 2_000;
/// Bound on the load making that progress after a fault.
const PROGRESS_TIMEOUT_MS: u64 = 45_000;
/// Bound on the stream electing a leader after one was killed or stopped.
const LEADER_TIMEOUT_MS: u64 = 45_000;
/// Bound on a restarted node's replica becoming current again.
const CURRENT_TIMEOUT_MS: u64 = 60_000;
/// Bound on one stream info or step-down request while a leader may be missing.
const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// Pause between probes of the cluster's state.
const POLL_MS: u64 = 100;
/// Step-downs tried to move the leader to one node.
const STEPDOWN_ATTEMPTS_MAX: usize = 12;
/// Attempts to read one node's copy while it stays leader throughout.
const READ_ATTEMPTS_MAX: usize = 3;
/// `MSG.GET` requests in flight while reading a copy.
const READ_IN_FLIGHT: usize = 128;
/// Problems listed in full when a check fails.
const PROBLEMS_SHOWN_MAX: usize = 20;
/// Log lines of each node printed when the drill fails.
const LOG_LINES_ON_FAILURE: usize = 60;

/// What one receipt promised: the sequence and record hash (hex).
type Promise = (u64, String);

/// The load: [`LOAD_CLIENTS`] tasks submitting batches of fresh events until
/// stopped, resubmitting those the writer could not append, keeping every
/// acknowledgement.
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<LoadReport>>,
    writer: Writer,
}

#[derive(Default)]
struct LoadReport {
    /// Event id -> its first acknowledgement.
    receipts: BTreeMap<String, Promise>,
    /// Submissions of an event answered "unavailable" (then retried).
    unavailable: u64,
    /// The distinct "unavailable" messages.
    unavailable_messages: BTreeSet<String>,
    /// Events never acknowledged when the load stopped (they may or may not be stored).
    unacknowledged_at_stop: usize,
}

impl Load {
    /// Starts the clients; client `i` authors events with ids `<prefix><i>-...`.
    fn start(writer: Writer, prefix: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(AtomicU64::new(0));
        let tasks = (0..LOAD_CLIENTS)
            .map(|client| tokio::spawn(run_load(writer.clone(), Actors::new(&format!("{prefix}{client}")), stop.clone(), acknowledged.clone())))
            .collect();
        Load { stop, acknowledged, tasks, writer }
    }

    /// Waits until `events` more events are acknowledged.
    async fn wait_for_progress(&mut self, events: u64, after: &str) {
        let from = self.acknowledged.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_millis(PROGRESS_TIMEOUT_MS);
        while self.acknowledged.load(Ordering::SeqCst) < from + events {
            self.surface_panic().await;
            assert!(
                Instant::now() < deadline,
                "the writer acknowledged fewer than {events} new events within {PROGRESS_TIMEOUT_MS} ms after {after} (acknowledged so far: {}); writer status {:?}",
                self.acknowledged.load(Ordering::SeqCst),
                self.writer.status()
            );
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        }
        // Acknowledging again means the writer re-read the stream and is ready.
        let status = self.writer.status();
        assert!(status.ready, "the writer acknowledges events but is not ready after {after}: {status:?}");
    }

    /// Re-raises a load client's panic if one ended early.
    async fn surface_panic(&mut self) {
        if let Some(index) = self.tasks.iter().position(|task| task.is_finished()) {
            match self.tasks.remove(index).await {
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                _ => panic!("a load client stopped before it was told to"),
            }
        }
    }

    /// Stops the clients and merges what they kept.
    async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut merged = LoadReport::default();
        for task in self.tasks {
            let report = match task.await {
                Ok(report) => report,
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(error) => panic!("a load client failed: {error}"),
            };
            merged.receipts.extend(report.receipts);
            merged.unavailable += report.unavailable;
            merged.unavailable_messages.extend(report.unavailable_messages);
            merged.unacknowledged_at_stop += report.unacknowledged_at_stop;
        }
        merged
    }
}

async fn run_load(writer: Writer, actors: Actors, stop: Arc<AtomicBool>, acknowledged: Arc<AtomicU64>) -> LoadReport {
    let mut report = LoadReport::default();
    let mut next_number = 0u32;
    let mut retry: Vec<SignedEvent> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let batch = next_batch(&actors, &mut next_number, std::mem::take(&mut retry));
        let outcomes = tokio::time::timeout(Duration::from_millis(SUBMIT_TIMEOUT_MS), writer.submit(batch.clone())).await.unwrap_or_else(|_| {
            panic!("the writer did not answer a submission of {} events within {SUBMIT_TIMEOUT_MS} ms; status {:?}", batch.len(), writer.status())
        });
        assert_eq!(outcomes.len(), batch.len(), "one outcome per submitted event");
        for (event, outcome) in batch.into_iter().zip(outcomes) {
            let id = event.body().id.to_string();
            match outcome {
                Ok(receipt) => {
                    let promise = (receipt.seq, receipt.record_hash.clone());
                    match report.receipts.get(&id) {
                        Some(first) => assert_eq!(*first, promise, "the acknowledgement of {id} changed"),
                        None => {
                            report.receipts.insert(id, promise);
                            acknowledged.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                Err(WriteError::Unavailable(message)) => {
                    report.unavailable += 1;
                    report.unavailable_messages.insert(message);
                    retry.push(event);
                }
                Err(error) => panic!("{id} was refused during the drill: [{}] {error}", error.code()),
            }
        }
        let pause = if retry.is_empty() { LOAD_PAUSE_MS } else { LOAD_RETRY_PAUSE_MS };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    report.unacknowledged_at_stop = retry.len();
    report
}

/// The events to submit next: those to retry, topped up with fresh NAV reports.
fn next_batch(actors: &Actors, next_number: &mut u32, mut batch: Vec<SignedEvent>) -> Vec<SignedEvent> {
    while batch.len() < LOAD_BATCH_EVENTS {
        batch.push(actors.nav_report(*next_number));
        *next_number += 1;
    }
    batch
}

/// A client watching the ledger stream's Raft group, with short timeouts.
struct Observer {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    /// The same servers through the ledger's own adapter, for reading records.
    broker: fundledger_nats::Broker,
    stream: String,
}

/// The stream's Raft group as its leader reports it.
struct GroupState {
    leader: Option<String>,
    /// (server name, current, offline) of each follower.
    followers: Vec<(String, bool, bool)>,
    last_sequence: u64,
}

impl Observer {
    async fn connect(urls: &str) -> Observer {
        let addresses: Vec<async_nats::ServerAddr> = urls.split(',').map(|url| url.parse().expect("a server URL")).collect();
        let client = async_nats::connect(addresses).await.expect("the observer connects to the cluster");
        let js = async_nats::jetstream::ContextBuilder::new().timeout(Duration::from_millis(REQUEST_TIMEOUT_MS)).build(client.clone());
        let broker = fundledger_nats::Broker::connect(urls).await.expect("the observer's reader connects to the cluster");
        Observer { client, js, broker, stream: fundledger_nats::stream_name("test").expect("stream name") }
    }

    async fn state(&self) -> Result<GroupState, String> {
        let request = self.js.get_stream(&self.stream);
        let stream = tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), request)
            .await
            .map_err(|_| "stream info timed out".to_string())?
            .map_err(|error| error.to_string())?;
        let info = stream.cached_info();
        let cluster = info.cluster.as_ref();
        Ok(GroupState {
            leader: cluster.and_then(|cluster| cluster.leader.clone()),
            followers: cluster.map(|cluster| cluster.replicas.iter().map(|peer| (peer.name.clone(), peer.current, peer.offline)).collect()).unwrap_or_default(),
            last_sequence: info.state.last_sequence,
        })
    }

    /// Waits for a stream leader other than node `not`; returns its index.
    async fn wait_for_leader_other_than(&self, not: Option<usize>, after: &str) -> usize {
        let deadline = Instant::now() + Duration::from_millis(LEADER_TIMEOUT_MS);
        loop {
            let last = match self.state().await {
                Ok(GroupState { leader: Some(leader), .. }) => {
                    let index = node_index(&leader);
                    if Some(index) != not {
                        return index;
                    }
                    format!("leader still {leader}")
                }
                Ok(_) => "no leader".to_string(),
                Err(error) => error,
            };
            assert!(Instant::now() < deadline, "the stream elected no new leader within {LEADER_TIMEOUT_MS} ms after {after}: {last}");
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        }
    }

    /// Waits until the stream has a leader and every other node's replica
    /// is online and current.
    async fn wait_until_all_current(&self, after: &str) {
        let deadline = Instant::now() + Duration::from_millis(CURRENT_TIMEOUT_MS);
        let everyone: BTreeSet<String> = (0..CLUSTER_SIZE).map(node_name).collect();
        loop {
            let last = match self.state().await {
                Ok(state) => {
                    let members: BTreeSet<String> = state.leader.iter().cloned().chain(state.followers.iter().map(|(name, _, _)| name.clone())).collect();
                    let all_current = state.followers.iter().all(|(_, current, offline)| *current && !offline);
                    if state.leader.is_some() && members == everyone && all_current {
                        return;
                    }
                    format!("leader {:?}, followers (name, current, offline) {:?}", state.leader, state.followers)
                }
                Err(error) => error,
            };
            assert!(Instant::now() < deadline, "the replicas were not all current within {CURRENT_TIMEOUT_MS} ms after {after}: {last}");
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        }
    }

    /// Moves the stream leader to node `target`.
    async fn move_leader_to(&self, target: usize) {
        let subject = format!("$JS.API.STREAM.LEADER.STEPDOWN.{}", self.stream);
        let body = serde_json::json!({ "placement": { "preferred": node_name(target) } }).to_string();
        let mut answers = Vec::new();
        for _ in 0..STEPDOWN_ATTEMPTS_MAX {
            self.wait_until_all_current("a step-down").await;
            let leader = self.wait_for_leader_other_than(None, "a step-down").await;
            if leader == target {
                return;
            }
            let request = self.client.request(subject.clone(), body.clone().into());
            let answer = match tokio::time::timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), request).await {
                Ok(Ok(message)) => String::from_utf8_lossy(&message.payload).into_owned(),
                Ok(Err(error)) => error.to_string(),
                Err(_) => "timed out".to_string(),
            };
            let stepped_down = serde_json::from_str::<serde_json::Value>(&answer).is_ok_and(|answer| answer["success"] == true);
            answers.push(answer);
            if stepped_down {
                // The old leader no longer leads once the election is over.
                self.wait_for_leader_other_than(Some(leader), "a step-down").await;
            } else {
                tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
            }
        }
        panic!("the stream leader could not be moved to {} in {STEPDOWN_ATTEMPTS_MAX} step-downs; answers: {answers:?}", node_name(target));
    }

    /// Reads node `node`'s copy of the whole stream while it leads.
    async fn read_copy_of(&self, node: usize) -> Vec<StoredMessage> {
        let mut failures = Vec::new();
        for _ in 0..READ_ATTEMPTS_MAX {
            self.move_leader_to(node).await;
            let before = self.state().await;
            let Ok(GroupState { leader: Some(leader), last_sequence, .. }) = before else {
                failures.push("no leader before the read".to_string());
                continue;
            };
            if leader != node_name(node) {
                failures.push(format!("{leader} led before the read"));
                continue;
            }
            let read: Result<Vec<StoredMessage>, String> = futures::stream::iter(1..=last_sequence)
                .map(|seq| async move {
                    match fundledger_nats::get_message(&self.broker, &self.stream, seq).await {
                        Ok(Some(message)) => Ok(message),
                        Ok(None) => Err(format!("no message at {seq}")),
                        Err(error) => Err(error.to_string()),
                    }
                })
                .buffered(READ_IN_FLIGHT)
                .try_collect()
                .await;
            let after = self.state().await;
            match (read, after) {
                (Ok(messages), Ok(GroupState { leader: Some(after_leader), last_sequence: after_last, .. }))
                    if after_leader == leader && after_last == last_sequence =>
                {
                    return messages;
                }
                (Ok(_), after) => {
                    failures.push(format!("the leader or tail changed during the read: {:?}", after.map(|state| (state.leader, state.last_sequence))))
                }
                (Err(error), _) => failures.push(error),
            }
        }
        panic!("could not read {}'s copy in {READ_ATTEMPTS_MAX} attempts: {failures:?}", node_name(node));
    }
}

fn node_name(index: usize) -> String {
    format!("n{index}")
}

/// The index of the embedded cluster's node named `n<index>`.
fn node_index(name: &str) -> usize {
    name.strip_prefix('n').and_then(|index| index.parse().ok()).filter(|index| *index < CLUSTER_SIZE).unwrap_or_else(|| panic!("unexpected server name {name}"))
}

/// Prints each node's log tail if the drill fails.
struct LogsOnFailure(Vec<PathBuf>);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for (index, path) in self.0.iter().enumerate() {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_LINES_ON_FAILURE);
            eprintln!("--- last lines of {}'s log ({}):\n{}", node_name(index), path.display(), lines[start..].join("\n"));
        }
    }
}

fn server_version() -> String {
    let binary = fundledger_nats::embedded::find_server_binary().expect("a nats-server binary");
    let output = std::process::Command::new(&binary).arg("--version").output().expect("nats-server --version runs");
    format!("{} ({})", String::from_utf8_lossy(&output.stdout).trim(), binary.display())
}

/// What one node's copy breaks; empty if it keeps every promise and verifies.
fn check_copy(node: usize, copy: &[StoredMessage], promised: &BTreeMap<String, Promise>, writer_size: u64, writer_head: &str) -> Vec<String> {
    let name = node_name(node);
    let mut problems = Vec::new();
    let last = copy.last().map_or(0, |message| message.sequence);
    if last != writer_size {
        problems.push(format!("{name}: last sequence {last}, the writer's ledger has {writer_size} records"));
    }
    // Every stored record as it is: (event id, record hash) by sequence.
    let mut stored: Vec<Option<(String, String)>> = Vec::with_capacity(copy.len());
    let mut records = Vec::with_capacity(copy.len());
    for (index, message) in copy.iter().enumerate() {
        if message.sequence != index as u64 + 1 {
            problems.push(format!("{name}: message {} is stored at {}", index + 1, message.sequence));
        }
        match Replay::parse(message.sequence, &message.payload) {
            Ok(record) => {
                stored.push(Some((record.body().id.to_string(), hex::encode(record.hash))));
                records.push(record);
            }
            Err(error) => {
                stored.push(None);
                problems.push(format!("{name}: {error}"));
            }
        }
    }
    if let Some(Some((_, hash))) = stored.last() {
        if hash != writer_head {
            problems.push(format!("{name}: last record hash {hash}, the writer's head is {writer_head}"));
        }
    }
    let mut broken = 0usize;
    let mut first_broken = Vec::new();
    for (id, (seq, hash)) in promised {
        let at = usize::try_from(*seq).ok().and_then(|seq| seq.checked_sub(1)).and_then(|index| stored.get(index));
        let kept = matches!(at, Some(Some((stored_id, stored_hash))) if stored_id == id && stored_hash == hash);
        if !kept {
            broken += 1;
            if first_broken.len() < PROBLEMS_SHOWN_MAX {
                first_broken.push(format!("{id} acknowledged at {seq} ({hash}), found {at:?}"));
            }
        }
    }
    if broken > 0 {
        problems.push(format!(
            "{name}: {broken} of {} acknowledged events are not at their acknowledged sequence with their hash; first: {first_broken:#?}",
            promised.len()
        ));
    }
    let mut replay = Replay::new(ledger_id());
    if let Err(error) = replay.check_chunk(records, |_| {}) {
        problems.push(format!("{name}: the chain does not verify: {error}"));
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_r3_ledger_keeps_every_acknowledged_event_on_every_node_through_leader_kills_and_a_rolling_restart() {
    let started = Instant::now();
    let phase = |what: &str| eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());
    phase(&format!("nats-server {}", server_version()));
    let mut cluster = EmbeddedCluster::start(CLUSTER_SIZE).await.expect("a 3-node cluster starts");
    let _logs = LogsOnFailure((0..CLUSTER_SIZE).map(|index| cluster.node(index).expect("node").log_path().to_path_buf()).collect());
    let writer_dir = tempfile::tempdir().expect("temporary directory");
    let config = WriterConfig { replicas: CLUSTER_SIZE, ..WriterConfig::new(ledger_id(), cluster.url_list(), writer_dir.path()) };
    let writer = start_writer_with(config).await;
    let setup = append_all(&writer, Actors::new("setup").setup()).await;
    let observer = Observer::connect(&cluster.url_list()).await;
    let mut load = Load::start(writer.clone(), "drill");
    load.wait_for_progress(PROGRESS_EVENTS, "the load started").await;
    phase("cluster, writer and load running");

    for kill in 1..=LEADER_KILLS {
        let leader = observer.wait_for_leader_other_than(None, "the previous step").await;
        cluster.kill_node(leader).expect("node exists");
        let at_kill = writer.status().size;
        let new_leader = observer.wait_for_leader_other_than(Some(leader), &format!("SIGKILL {kill} of leader {}", node_name(leader))).await;
        phase(&format!("kill {kill}: killed leader {} at ledger size {at_kill}; new leader {}", node_name(leader), node_name(new_leader)));
        load.wait_for_progress(OUTAGE_EVENTS, &format!("leader kill {kill}")).await;
        cluster.restart_node(leader).await.expect("the killed node restarts on its store");
        observer.wait_until_all_current(&format!("restarting {} after kill {kill}", node_name(leader))).await;
        load.wait_for_progress(PROGRESS_EVENTS, &format!("{} rejoined after kill {kill}", node_name(leader))).await;
        phase(&format!("kill {kill}: {} is current again; ledger size {}", node_name(leader), writer.status().size));
    }

    for node in 0..CLUSTER_SIZE {
        cluster.node_mut(node).expect("node exists").stop().await.expect("the node stops");
        let leader = observer.wait_for_leader_other_than(Some(node), &format!("stopping {}", node_name(node))).await;
        load.wait_for_progress(OUTAGE_EVENTS, &format!("stopping {} in the rolling restart", node_name(node))).await;
        cluster.restart_node(node).await.expect("the stopped node restarts on its store");
        observer.wait_until_all_current(&format!("restarting {} in the rolling restart", node_name(node))).await;
        load.wait_for_progress(PROGRESS_EVENTS, &format!("{} rejoined in the rolling restart", node_name(node))).await;
        phase(&format!("rolling restart: {} back and current (leader {}); ledger size {}", node_name(node), node_name(leader), writer.status().size));
    }

    let report = load.stop().await;
    let status = writer.status();
    phase(&format!(
        "load stopped: {} events acknowledged, {} submissions answered unavailable ({} messages: {:?}), {} never acknowledged; writer {status:?}",
        report.receipts.len(),
        report.unavailable,
        report.unavailable_messages.len(),
        report.unavailable_messages.iter().take(PROBLEMS_SHOWN_MAX).collect::<Vec<_>>(),
        report.unacknowledged_at_stop
    ));
    assert!(status.ready, "the writer is ready after the drill: {status:?}");
    let mut promised = report.receipts;
    for receipt in setup {
        promised.insert(receipt.event_id, (receipt.seq, receipt.record_hash));
    }

    observer.wait_until_all_current("the load stopped").await;
    let mut problems = Vec::new();
    for node in 0..CLUSTER_SIZE {
        let copy = observer.read_copy_of(node).await;
        phase(&format!("read {}'s copy while it led: {} records", node_name(node), copy.len()));
        problems.extend(check_copy(node, &copy, &promised, status.size, &status.head));
    }
    phase("checked every node's copy");
    assert!(problems.is_empty(), "acknowledged events lost or changed, or a broken chain:\n{}", problems.join("\n"));
}
