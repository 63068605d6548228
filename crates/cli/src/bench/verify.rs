//! `bench verify`: a full verification of a big synthetic ledger (parse,
//! canonical body, hash, chain, signatures, rules, event ids on disk, Merkle
//! nodes on disk, the operator's checkpoint), read from JetStream and again
//! from an exported audit bundle, beside pure ed25519 batch verification of
//! exactly the same signatures on the same cores, in one run; the ratios are
//! the figures that mean something on any machine. From JetStream, the
//! embedded nats-server and the client share the cores with the verifier;
//! from a bundle, verification has them to itself.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_core::checkpoint::Checkpoint;
use fundledger_core::crypto::{self, domain, Hash, KeyId, Signature};
use fundledger_core::record::{Record, VERIFY_CHUNK_EVENTS};
use fundledger_verifier::VerifyOptions;
use futures::StreamExt;
use rayon::prelude::*;
use serde_json::json;

use super::cpu::{CpuClock, CpuUsed};
use super::synthetic::publish_ledger;

/// Target: full verification events per second on 2 cores (DESIGN.md 6).
const TARGET_EVENTS_PER_SECOND: f64 = 100_000.0;
/// Target: full verification as a share of pure batch verification.
const TARGET_SHARE_OF_BATCH: f64 = 0.60;

#[derive(Args, Debug)]
pub struct VerifyBenchArgs {
    /// Events in the synthetic ledger (plus a few setup events).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// NATS server URL; without it an embedded nats-server is started in a temporary directory.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: Option<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One signature to batch-verify: key, signed message, signature.
struct Item {
    key: KeyId,
    message: [u8; 62],
    signature: Signature,
}

fn message_of(event_hash: &Hash) -> [u8; 62] {
    let mut message = [0u8; 62];
    debug_assert_eq!(domain::EVENT_SIGNATURE.len() + 32, 62);
    message[..30].copy_from_slice(domain::EVENT_SIGNATURE);
    message[30..].copy_from_slice(event_hash);
    message
}

pub async fn run(args: VerifyBenchArgs) -> Result<()> {
    if args.events == 0 {
        bail!("--events must be positive");
    }
    let environment = super::Environment::start("verify", args.nats.clone()).await?;
    let (url, ledger) = (environment.nats.url.clone(), environment.ledger.clone());
    let js = fundledger_nats::Broker::connect(&url).await?;
    let terminal = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    eprintln!("writing a synthetic ledger of {} events...", args.events);
    let synthetic = publish_ledger(&js, &ledger, args.events, terminal).await?;
    let checkpoint = Checkpoint {
        ledger: ledger.clone(),
        size: synthetic.chain.size(),
        root: synthetic.chain.root(),
        head: *synthetic.chain.head(),
        issued_at: fundledger_verifier::now(),
    }
    .sign(&synthetic.setup.operator);
    fundledger_verifier::checkpointer::publish_raw(&js, &ledger, &checkpoint.to_json(), "bench-checkpoint").await?;

    // (a) Full verification from JetStream, with the operator key pinned.
    eprintln!("verifying all {} records from JetStream...", synthetic.size);
    let (started, cpu) = (Instant::now(), CpuClock::start(environment.server_pid()));
    let options = VerifyOptions { operator: Some(synthetic.setup.operator.key_id()), ..VerifyOptions::default() };
    let verified = fundledger_verifier::verify_nats(&js, &ledger, options).await.map_err(|error| anyhow::anyhow!("{error}"))?;
    let (full_seconds, full_cpu) = (started.elapsed().as_secs_f64(), cpu.read());
    if verified.report.size != synthetic.size || verified.report.checkpoints.len() != 1 {
        bail!("the verifier checked {} records and {} checkpoints; expected {} and 1", verified.report.size, verified.report.checkpoints.len(), synthetic.size);
    }
    let signatures = verified.report.signatures_checked;
    drop(verified);

    // (c) Full verification of the same ledger from an offline audit bundle:
    // the same checks with no NATS server or client on the cores.
    eprintln!("exporting the ledger to an audit bundle...");
    let bundle = environment.temporary.path().join("bench.bundle");
    let exported =
        fundledger_verifier::export_nats(&js, &ledger, &bundle, "bench", true, VerifyOptions::default()).await.map_err(|error| anyhow::anyhow!("{error}"))?;
    exported.verdict.map_err(|error| anyhow::anyhow!("the exported ledger did not verify: {error}"))?;
    eprintln!("verifying all {} records from the audit bundle...", synthetic.size);
    let (started, cpu) = (Instant::now(), CpuClock::start(None));
    let options = VerifyOptions { operator: Some(synthetic.setup.operator.key_id()), ..VerifyOptions::default() };
    let verified = fundledger_verifier::verify_bundle(&bundle, options).await.map_err(|error| anyhow::anyhow!("{error}"))?;
    let (bundle_seconds, bundle_cpu) = (started.elapsed().as_secs_f64(), cpu.read());
    if verified.report.size != synthetic.size || verified.report.signatures_checked != signatures || verified.report.checkpoints.len() != 1 {
        bail!(
            "the bundle verification checked {} records, {} signatures and {} checkpoints; expected {}, {signatures} and 1",
            verified.report.size,
            verified.report.signatures_checked,
            verified.report.checkpoints.len(),
            synthetic.size
        );
    }
    drop(verified);
    let bundle_bytes = std::fs::metadata(&bundle).map(|metadata| metadata.len()).unwrap_or(0);
    std::fs::remove_file(&bundle).with_context(|| format!("cannot remove {}", bundle.display()))?;

    // (b) The same signatures, batch-verified on all cores, nothing else.
    eprintln!("collecting the same {signatures} signatures...");
    let stream = fundledger_nats::stream_name(ledger.as_str())?;
    let mut messages = fundledger_nats::read_from(&js, &stream, None, 1).await?;
    let mut items: Vec<Item> = Vec::with_capacity(synthetic.size as usize);
    let mut chunk = Vec::with_capacity(8192);
    loop {
        let next = messages.next().await;
        let end = next.is_none();
        if let Some(message) = next {
            chunk.push(message?.payload);
        }
        if chunk.len() == 8192 || (end && !chunk.is_empty()) {
            let parsed: Vec<Result<Vec<Item>>> = chunk
                .par_iter()
                .map(|bytes| {
                    let record = Record::from_json(bytes)?;
                    let message = message_of(record.event.event_hash());
                    Ok(record
                        .body()
                        .signers
                        .iter()
                        .zip(record.event.signatures())
                        .map(|(key, signature)| Item { key: *key, message, signature: *signature })
                        .collect())
                })
                .collect();
            for record_items in parsed {
                items.extend(record_items?);
            }
            chunk.clear();
        }
        if end {
            break;
        }
    }
    if items.len() as u64 != signatures {
        bail!("collected {} signatures, the verifier checked {signatures}", items.len());
    }
    eprintln!("batch-verifying {} signatures on {} threads...", items.len(), rayon::current_num_threads());
    let (started, cpu) = (Instant::now(), CpuClock::start(None));
    let outcomes: Vec<bool> = items
        .par_chunks(VERIFY_CHUNK_EVENTS)
        .map(|chunk| {
            let batch: Vec<crypto::BatchItem> =
                chunk.iter().map(|item| crypto::BatchItem { key: &item.key, message: &item.message, signature: &item.signature }).collect();
            crypto::verify_batch(&batch).is_ok()
        })
        .collect();
    let (batch_elapsed, batch_cpu) = (started.elapsed(), cpu.read());
    let batch_seconds = batch_elapsed.as_secs_f64();
    if outcomes.iter().any(|ok| !ok) {
        bail!("a batch of the benchmark's signatures failed to verify");
    }

    let full_rate = synthetic.size as f64 / full_seconds;
    let bundle_rate = synthetic.size as f64 / bundle_seconds;
    let batch_rate = items.len() as f64 / batch_seconds;
    let batch_event_rate = synthetic.size as f64 / batch_seconds;
    let share = full_rate / batch_event_rate;
    let bundle_share = bundle_rate / batch_event_rate;
    let met = |rate: f64, share: f64| rate >= TARGET_EVENTS_PER_SECOND && share >= TARGET_SHARE_OF_BATCH;
    let budget = JetStreamBudget::of(batch_elapsed, full_cpu, bundle_cpu);
    let result = json!({
        "events": synthetic.size,
        "signatures": items.len(),
        "threads": rayon::current_num_threads(),
        "full_verification": {"seconds": full_seconds, "events_per_second": full_rate, "share_of_batch_verify": share, "process_cpu_seconds": full_cpu.process.as_secs_f64(), "server_cpu_seconds": full_cpu.server.map(|used| used.as_secs_f64())},
        "full_verification_from_bundle": {"seconds": bundle_seconds, "events_per_second": bundle_rate, "share_of_batch_verify": bundle_share, "bundle_bytes": bundle_bytes, "process_cpu_seconds": bundle_cpu.process.as_secs_f64()},
        "batch_verify_only": {"seconds": batch_seconds, "signatures_per_second": batch_rate, "events_per_second": batch_event_rate, "process_cpu_seconds": batch_cpu.process.as_secs_f64()},
        "jetstream_budget": budget.to_json(),
        "share_of_batch_verify": share,
        "targets": {
            "events_per_second": TARGET_EVENTS_PER_SECOND,
            "share_of_batch_verify": TARGET_SHARE_OF_BATCH,
            "met": met(full_rate, share),
            "met_from_bundle": met(bundle_rate, bundle_share),
        },
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        let verdict = |rate: f64, share: f64| if met(rate, share) { "met" } else { "NOT met" };
        println!("bench verify: {} records ({} signatures), {} threads", synthetic.size, items.len(), rayon::current_num_threads());
        println!("  full verification from JetStream     {full_seconds:>8.2} s  {full_rate:>10.0} events/s  {:>5.1} % of batch verify", share * 100.0);
        println!(
            "  full verification from audit bundle  {bundle_seconds:>8.2} s  {bundle_rate:>10.0} events/s  {:>5.1} % of batch verify",
            bundle_share * 100.0
        );
        println!("  ed25519 batch verify only            {batch_seconds:>8.2} s  {batch_event_rate:>10.0} events/s   (the same signatures, nothing else)");
        println!("  (full = hash, chain, signatures, rules, ids and Merkle nodes on disk, checkpoint)");
        println!(
            "  CPU, core-s: from JetStream {:.2} here + {} nats-server; from the bundle {:.2}; batch verify {:.2}",
            full_cpu.process.as_secs_f64(),
            full_cpu.server.map_or_else(|| "? (not embedded)".to_string(), |used| format!("{:.2}", used.as_secs_f64())),
            bundle_cpu.process.as_secs_f64(),
            batch_cpu.process.as_secs_f64()
        );
        println!("  {}", budget.describe());
        println!(
            "  targets: >= {TARGET_EVENTS_PER_SECOND:.0} events/s and >= {:.0}% of batch verify: from JetStream {}, from the bundle {}",
            TARGET_SHARE_OF_BATCH * 100.0,
            verdict(full_rate, share),
            verdict(bundle_rate, bundle_share)
        );
    }
    environment.stop().await
}

/// Whether 60% of batch verify is within reach of these cores when the
/// records come from a nats-server on the same machine, in core-seconds
/// measured in this run: the cores can give at most `allowed`; verifying the
/// records needs at least what verifying them from the bundle took (no
/// broker, no client), and the server needs what it took to serve them.
struct JetStreamBudget {
    cores: usize,
    /// Core-seconds the cores give in the wall time the target allows.
    allowed: Duration,
    /// Verification alone: the bundle run's CPU (it includes reading the file).
    verification: Duration,
    /// The nats-server's CPU while it served the JetStream run (None: not embedded).
    server: Option<Duration>,
    /// What reading from JetStream cost this process beyond verifying (its CPU minus the bundle run's).
    client: Duration,
}

impl JetStreamBudget {
    fn of(batch_elapsed: Duration, from_jetstream: CpuUsed, from_bundle: CpuUsed) -> JetStreamBudget {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        // The target's wall time is the batch verify's divided by the share; every core can work all of it.
        let allowed = batch_elapsed.mul_f64(cores as f64 / TARGET_SHARE_OF_BATCH);
        JetStreamBudget {
            cores,
            allowed,
            verification: from_bundle.process,
            server: from_jetstream.server,
            client: from_jetstream.process.saturating_sub(from_bundle.process),
        }
    }

    /// Verification plus the server's share: what any client would need at least (None: the server's share is unknown).
    fn floor(&self) -> Option<Duration> {
        self.server.map(|server| self.verification + server)
    }

    fn reachable(&self) -> Option<bool> {
        self.floor().map(|floor| floor <= self.allowed)
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "cores": self.cores,
            "core_seconds_allowed": self.allowed.as_secs_f64(),
            "verification_core_seconds": self.verification.as_secs_f64(),
            "server_core_seconds": self.server.map(|used| used.as_secs_f64()),
            "client_core_seconds": self.client.as_secs_f64(),
            "floor_core_seconds": self.floor().map(|floor| floor.as_secs_f64()),
            "reachable": self.reachable(),
        })
    }

    /// Three lines, indented to sit under the bench's other figures.
    fn describe(&self) -> String {
        let allowed = format!(
            "JetStream budget for {:.0}% of batch verify: {:.2} core-s (the wall time that share allows, on {} cores)",
            TARGET_SHARE_OF_BATCH * 100.0,
            self.allowed.as_secs_f64(),
            self.cores
        );
        match (self.server, self.floor(), self.reachable()) {
            (Some(server), Some(floor), Some(reachable)) => format!(
                "{allowed}\n    needed at least: verification alone (from the bundle) {:.2} + the nats-server {:.2} = {floor:.2} core-s: {}\n    reading through the NATS client cost this process {:.2} core-s more than reading the bundle",
                self.verification.as_secs_f64(),
                server.as_secs_f64(),
                if reachable { "within reach" } else { "NOT reachable while the server shares these cores" },
                self.client.as_secs_f64(),
                floor = floor.as_secs_f64()
            ),
            _ => format!("{allowed}\n    the server's share is unknown (not an embedded server), so whether it is reachable is too"),
        }
    }
}
