//! `bench append` pre-signs events, then measures (a) the ledger's append
//! path (signatures verified on all cores, rules applied, chained, published
//! with fencing headers and acknowledged) in the append mode the server
//! allows and, on a server with atomic batches (nats-server 2.12+), also in
//! the pipelined-fenced mode on a second ledger of the same server, and (b)
//! raw async JetStream publishes of exactly the same record bytes with no
//! headers, and their ratios; then single-event latency at a moderate load.
//! Both modes in one run, because figures from separate runs on a shared
//! machine differ more than the modes do.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_core::id::LedgerId;
use fundledger_core::record::SignedEvent;
use fundledger_nats::AppendMode;
use fundledger_writer::{Writer, WriterConfig};
use futures::StreamExt;
use serde_json::json;

use super::percentile;
use super::synthetic::{measured_events, setup_events, Setup};

#[derive(Args, Debug)]
pub struct AppendArgs {
    /// Pre-signed events to append.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Events per submission in the throughput run.
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
    /// Submissions in flight at once in the throughput run (concurrent clients).
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Single-event submissions in the latency run.
    #[arg(long, default_value_t = 2_000)]
    pub latency_events: usize,
    /// NATS server URL; without it an embedded nats-server is started in a temporary directory.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: Option<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: AppendArgs) -> Result<()> {
    if args.events == 0 || args.batch == 0 || args.clients == 0 {
        bail!("--events, --batch and --clients must be positive");
    }
    let environment = super::Environment::start("append", args.nats.clone()).await?;
    let (url, ledger, run_id) = (environment.nats.url.clone(), environment.ledger.clone(), environment.run_id.clone());
    let setup = Setup::new(ledger.clone());
    let writer = start_writer(&url, &ledger, environment.temporary.path().join("writer"), None, &setup).await?;
    let mode = writer.status().append_mode;
    eprintln!("signing {} events on all cores...", args.events + args.latency_events);
    let events = measured_events(&setup, "thr", 0..args.events)?;
    let latency_events = measured_events(&setup, "lat", 0..args.latency_events)?;

    // For reading (a): signature checks alone, the same events, all cores.
    let copies = events.clone();
    let (checked, verify_seconds) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let checked = fundledger_core::record::verify_events_parallel(copies);
        let seconds = started.elapsed().as_secs_f64();
        (checked.iter().filter(|outcome| outcome.is_ok()).count(), seconds)
    })
    .await?;
    let verify_rate = checked as f64 / verify_seconds;

    // (a) The ledger's append path, in the mode the server allows.
    eprintln!("appending {} events through the writer ({mode}) in submissions of {}...", args.events, args.batch);
    let (appended, ledger_elapsed, latencies) = append_through(&writer, &events, &args).await?;
    drop(events);

    // (a') On a server with atomic batches, the pipelined-fenced mode too, on
    // a ledger of its own (same server, same number of events).
    let other = if mode == AppendMode::Atomic.name() {
        let other_ledger = LedgerId::parse(&format!("{ledger}-pf"))?;
        let other_setup = Setup::new(other_ledger.clone());
        let other_writer =
            start_writer(&url, &other_ledger, environment.temporary.path().join("writer-pf"), Some(AppendMode::PipelinedFenced), &other_setup).await?;
        eprintln!("signing {} events for the {} mode...", args.events, AppendMode::PipelinedFenced);
        let other_events = measured_events(&other_setup, "thr", 0..args.events)?;
        eprintln!("appending {} events through a writer in the {} mode...", args.events, AppendMode::PipelinedFenced);
        let measured = append_through(&other_writer, &other_events, &args).await?;
        Some((other_writer.status().append_mode, measured))
    } else {
        None
    };

    // (b) Raw async JetStream publishes of the same record bytes.
    let js = fundledger_nats::Broker::connect(&url).await?;
    let stream = fundledger_nats::stream_name(ledger.as_str())?;
    let first = writer.status().size - appended as u64 + 1;
    let mut messages = fundledger_nats::read_from(&js, &stream, None, first).await?;
    let mut payloads: Vec<bytes::Bytes> = Vec::with_capacity(appended);
    while let Some(message) = messages.next().await {
        payloads.push(message?.payload);
    }
    let payload_bytes: usize = payloads.iter().map(|payload| payload.len()).sum();
    let raw_stream = format!("BENCH_RAW_{}", run_id.to_uppercase());
    let raw_subject = format!("bench.raw.{run_id}");
    fundledger_nats::create_plain_stream(&js, &raw_stream, vec![raw_subject.clone()]).await.context("creating the raw baseline stream")?;
    eprintln!("publishing the same {} records ({} bytes average) raw to JetStream...", payloads.len(), payload_bytes / payloads.len().max(1));
    let started = Instant::now();
    let mut raw_latencies = Vec::new();
    for chunk in payloads.chunks(args.batch) {
        let sent = Instant::now();
        fundledger_nats::raw_publish_batch(&js, &raw_subject, chunk).await?;
        raw_latencies.push(sent.elapsed());
    }
    let raw_elapsed = started.elapsed();
    raw_latencies.sort();

    // Single-event latency at a moderate load: one client, one event at a time.
    eprintln!("measuring single-event latency over {} submissions...", latency_events.len());
    let mut single = Vec::with_capacity(latency_events.len());
    for event in latency_events {
        let sent = Instant::now();
        for outcome in writer.submit(vec![event]).await {
            outcome.context("a latency event was not appended")?;
        }
        single.push(sent.elapsed());
    }
    single.sort();

    let ledger_rate = appended as f64 / ledger_elapsed.as_secs_f64();
    let raw_rate = payloads.len() as f64 / raw_elapsed.as_secs_f64();
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let mut modes = vec![(mode.clone(), appended as f64 / ledger_elapsed.as_secs_f64(), latencies.clone())];
    if let Some((other_mode, (other_appended, other_elapsed, other_latencies))) = &other {
        modes.push((other_mode.clone(), *other_appended as f64 / other_elapsed.as_secs_f64(), other_latencies.clone()));
    }
    let mode_reports: Vec<serde_json::Value> = modes
        .iter()
        .map(|(name, rate, latencies)| {
            json!({
                "mode": name,
                "events_per_second": rate.round(),
                "submission_latency_ms_p50": ms(percentile(latencies, 0.50)),
                "submission_latency_ms_p99": ms(percentile(latencies, 0.99)),
                "ratio_to_raw": rate / raw_rate,
            })
        })
        .collect();
    let report = json!({
        "events": appended,
        "record_bytes_average": payload_bytes / payloads.len().max(1),
        "submission_events": args.batch,
        "clients": args.clients,
        "nats_server": js.server_version(),
        "ledger_append": {
            "mode": mode,
            "events_per_second": ledger_rate.round(),
            "submission_latency_ms_p50": ms(percentile(&latencies, 0.50)),
            "submission_latency_ms_p99": ms(percentile(&latencies, 0.99)),
        },
        "ledger_append_modes": mode_reports,
        "raw_jetstream_publish": {
            "events_per_second": raw_rate.round(),
            "batch_latency_ms_p50": ms(percentile(&raw_latencies, 0.50)),
            "batch_latency_ms_p99": ms(percentile(&raw_latencies, 0.99)),
        },
        "ratio_ledger_to_raw": ledger_rate / raw_rate,
        "signature_checks_alone_events_per_second": verify_rate.round(),
        "single_event_latency_ms": {
            "p50": ms(percentile(&single, 0.50)),
            "p99": ms(percentile(&single, 0.99)),
            "max": ms(single.last().copied().unwrap_or_default()),
        },
        "targets": { "ledger_events_per_second_min": 50_000, "ratio_min": 0.30, "single_event_p99_ms_max": 10.0 },
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "bench append: {} pre-signed events, {} bytes per record on average, {} per submission, {} clients, nats-server {}",
            appended,
            payload_bytes / payloads.len().max(1),
            args.batch,
            args.clients,
            js.server_version()
        );
        for (name, rate, latencies) in &modes {
            println!(
                "  (a) ledger append path, {name:<16} {:>9.0} events/s   submission p50 {:>7.1} ms  p99 {:>7.1} ms   ({:.1}% of raw)",
                rate,
                ms(percentile(latencies, 0.5)),
                ms(percentile(latencies, 0.99)),
                100.0 * rate / raw_rate
            );
        }
        println!(
            "  (b) raw JetStream publish {:>7.0} events/s   batch      p50 {:>7.1} ms  p99 {:>7.1} ms",
            raw_rate,
            ms(percentile(&raw_latencies, 0.5)),
            ms(percentile(&raw_latencies, 0.99))
        );
        println!("  ratio (a, {mode})/(b)    {:>9.1}%   (target at least 30%, and at least 50,000 events/s)", 100.0 * ledger_rate / raw_rate);
        println!("  for reference: signature checks alone on all cores {:.0} events/s", verify_rate);
        println!(
            "  single-event latency, one client, {mode}: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (target p99 under 10 ms)",
            ms(percentile(&single, 0.5)),
            ms(percentile(&single, 0.99)),
            ms(single.last().copied().unwrap_or_default())
        );
    }
    environment.stop().await
}

/// A writer for `ledger` on `url` (in `mode`, or the best the stream allows)
/// with the bench's set-up events appended.
async fn start_writer(url: &str, ledger: &LedgerId, data_dir: std::path::PathBuf, mode: Option<AppendMode>, setup: &Setup) -> Result<Writer> {
    let config = WriterConfig { append_mode: mode, ..WriterConfig::new(ledger.clone(), url, data_dir) };
    let (writer, _sequencer) = Writer::start(config).await?;
    for outcome in writer.submit(setup_events(setup)?).await {
        outcome.context("setting up the bench ledger")?;
    }
    Ok(writer)
}

/// Appends `events` through `writer` in submissions of `--batch`, `--clients`
/// at a time: how many were appended, how long it took, and each
/// submission's latency (sorted).
async fn append_through(writer: &Writer, events: &[SignedEvent], args: &AppendArgs) -> Result<(usize, Duration, Vec<Duration>)> {
    let chunks: Vec<Vec<SignedEvent>> = events.chunks(args.batch).map(|chunk| chunk.to_vec()).collect();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(chunks.len());
    let mut appended = 0usize;
    let mut submissions = futures::stream::iter(chunks.into_iter().map(|chunk| {
        let writer = writer.clone();
        async move {
            let sent = Instant::now();
            let outcomes = writer.submit(chunk).await;
            (sent.elapsed(), outcomes)
        }
    }))
    .buffered(args.clients);
    while let Some((latency, outcomes)) = submissions.next().await {
        latencies.push(latency);
        for outcome in outcomes {
            outcome.context("an event of the benchmark was not appended")?;
            appended += 1;
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok((appended, elapsed, latencies))
}
