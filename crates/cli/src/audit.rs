//! The auditor's commands: `verify`, `export`, `prove`, `verify-proof`,
//! `witness` and `tail`. A thin shell over `fundledger-verifier`: it picks
//! the source (JetStream or an audit bundle), shows progress on a terminal,
//! and prints the report for people or as JSON.
//!
//! A failed verification prints the first bad record (sequence, event id,
//! kind and reason) and exits non-zero; `--json` prints
//! `{"ok": false, "failure": {...}}` on stdout as well.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_core::crypto::KeyId;
use fundledger_core::id::LedgerId;
use fundledger_verifier::proof::{make_proof, verify_proof};
use fundledger_verifier::{Followed, Progress, Verified, VerifyError, VerifyOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::keyfile;

fn parse_public_key(text: &str) -> Result<KeyId, String> {
    keyfile::public_key(text).map_err(|error| format!("{error:#}"))
}

/// Where the ledger to check is.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// NATS server URL (JetStream) holding the ledger.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: Option<String>,
    /// The ledger id (with --nats).
    #[arg(long, env = "FUNDLEDGER_LEDGER", default_value = "hk")]
    pub ledger: LedgerId,
    /// An audit bundle written by `fundledger export`, checked offline (no NATS needed). Takes precedence over --nats.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
}

/// How to check.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// The operator's public key (hex, or a key file) as you know it from outside the ledger:
    /// the genesis must name this key. Without it the report shows the key for you to compare.
    #[arg(long, value_parser = parse_public_key)]
    pub operator: Option<KeyId>,
    /// Keep the verifier's id set (RocksDB) and Merkle nodes (flat files) in this directory instead of a temporary one.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub check: CheckArgs,
    /// Start from a checkpoint you verified before (a file written by --save-trusted): check that the
    /// newest checkpoint is consistent with it, then only the records after it. Needs the same --store.
    #[arg(long, requires = "store")]
    pub trusted: Option<PathBuf>,
    /// After a successful verification, save the newest verified checkpoint here, to start from with --trusted next time.
    #[arg(long, requires = "store")]
    pub save_trusted: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// NATS server URL (JetStream) holding the ledger.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: String,
    /// The ledger to export.
    #[arg(long, env = "FUNDLEDGER_LEDGER", default_value = "hk")]
    pub ledger: LedgerId,
    /// The bundle file to write (JSON lines: header, checkpoints, witness statements, records, keys, end).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Args, Debug)]
pub struct ProveArgs {
    /// The event id of the record to prove.
    #[arg(long)]
    pub event: String,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub check: CheckArgs,
    /// Write the proof file here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyProofArgs {
    /// The proof file written by `fundledger prove`.
    pub file: PathBuf,
    /// The operator's public key (hex, or a key file): the checkpoint must be signed by it.
    #[arg(long, value_parser = parse_public_key)]
    pub operator: Option<KeyId>,
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WitnessArgs {
    /// The auditor's key file: it co-signs the newest checkpoint once the ledger verified.
    #[arg(long, env = "FUNDLEDGER_KEY")]
    pub key: PathBuf,
    /// NATS server URL (JetStream) holding the ledger; the co-signature is published there.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: String,
    /// The ledger to witness.
    #[arg(long, env = "FUNDLEDGER_LEDGER", default_value = "hk")]
    pub ledger: LedgerId,
    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Args, Debug)]
pub struct TailArgs {
    /// NATS server URL (JetStream) holding the ledger.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: String,
    /// The ledger to follow.
    #[arg(long, env = "FUNDLEDGER_LEDGER", default_value = "hk")]
    pub ledger: LedgerId,
    /// Verify as it reads (hash, chain, signatures, rules, ids, checkpoints) and stop loudly on a gap, break or fork.
    #[arg(long)]
    pub verify: bool,
    /// Stop after this record (default: follow forever).
    #[arg(long)]
    pub until: Option<u64>,
    /// One JSON object per line on stdout.
    #[arg(long)]
    pub json: bool,
    /// While following, serve GET /metrics (Prometheus; with --verify,
    /// `fundledger_verifier_records_verified_total`, whose rate is the
    /// verification rate) and GET /healthz on this address (port 0: a free
    /// port, announced on stderr).
    #[arg(long, env = "FUNDLEDGER_METRICS", value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

fn progress_bar(hidden: bool, what: &str) -> (ProgressBar, Option<Progress>) {
    if hidden || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return (ProgressBar::hidden(), None);
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} {{bar:40}} {{human_pos}}/{{human_len}} records ({{per_sec}}, {{eta}})"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let progress: Progress = std::sync::Arc::new(move |done, total| {
        shown.set_length(total);
        shown.set_position(done);
    });
    (bar, Some(progress))
}

fn options(check: &CheckArgs, progress: Option<Progress>) -> VerifyOptions {
    VerifyOptions { store_dir: check.store.clone(), operator: check.operator, progress, ..VerifyOptions::default() }
}

/// Runs a verification from the source given.
async fn verify_source(source: &SourceArgs, options: VerifyOptions) -> Result<Verified, VerifyError> {
    if let Some(bundle) = &source.bundle {
        return fundledger_verifier::verify_bundle(bundle, options).await;
    }
    let Some(url) = &source.nats else {
        return Err(VerifyError::Input("give --nats URL (and --ledger ID) or --bundle FILE".to_string()));
    };
    let js = fundledger_nats::Broker::connect(url).await?;
    fundledger_verifier::verify_nats(&js, &source.ledger, options).await
}

/// Prints a failed verification and turns it into the command's error.
fn report_error(error: VerifyError, json: bool) -> anyhow::Error {
    match error.failure() {
        Some(failure) => {
            if json {
                println!("{}", json!({"ok": false, "failure": failure}));
            }
            eprintln!("VERIFICATION FAILED");
            eprintln!("  first bad record: {}", if failure.seq == 0 { "none (not about one record)".to_string() } else { failure.seq.to_string() });
            eprintln!("  event id:         {}", failure.event_id.as_deref().unwrap_or("(unreadable)"));
            eprintln!("  check:            {}", failure.kind);
            eprintln!("  reason:           {}", failure.reason);
            anyhow::anyhow!("verification failed at {failure}")
        }
        None => {
            if json {
                println!("{}", json!({"ok": false, "error": error.to_string()}));
            }
            anyhow::anyhow!("could not verify: {error}")
        }
    }
}

pub async fn verify(args: VerifyArgs) -> Result<()> {
    let (bar, progress) = progress_bar(args.check.json, "verifying");
    let mut options = options(&args.check, progress);
    options.trusted = args.trusted.clone();
    let result = verify_source(&args.source, options).await;
    bar.finish_and_clear();
    let verified = result.map_err(|error| report_error(error, args.check.json))?;
    let saved = match &args.save_trusted {
        Some(path) => Some(
            fundledger_verifier::trusted::save(&verified, path, args.trusted.as_deref())
                .with_context(|| format!("cannot save the trusted checkpoint to {}", path.display()))?,
        ),
        None => None,
    };
    if args.check.json {
        println!("{}", serde_json::to_string_pretty(&json!({"ok": true, "report": verified.report}))?);
    } else {
        println!("{}", verified.report);
        if let (Some(path), Some(size)) = (&args.save_trusted, saved) {
            println!("Saved the newest verified checkpoint (size {size}) to {}: use --trusted {} next time.", path.display(), path.display());
        }
    }
    Ok(())
}

pub async fn export(args: ExportArgs) -> Result<()> {
    let (bar, progress) = progress_bar(args.check.json, "exporting");
    let js = fundledger_nats::Broker::connect(&args.nats).await?;
    let exported = fundledger_verifier::export_nats(&js, &args.ledger, &args.out, &args.nats, args.force, options(&args.check, progress)).await;
    bar.finish_and_clear();
    let exported = exported.map_err(|error| anyhow::anyhow!("export failed: {error}"))?;
    let summary = json!({"bundle": args.out.display().to_string(), "records": exported.records, "checkpoints": exported.checkpoints, "witness_statements": exported.witnesses});
    match exported.verdict {
        Ok(verified) => {
            if args.check.json {
                println!("{}", serde_json::to_string_pretty(&json!({"ok": true, "export": summary, "report": verified.report}))?);
            } else {
                println!(
                    "Wrote {} ({} records, {} checkpoints, {} witness statements); verified while exporting:",
                    args.out.display(),
                    exported.records,
                    exported.checkpoints,
                    exported.witnesses
                );
                println!("{}", verified.report);
                println!("Check it offline with: fundledger verify --bundle {}", args.out.display());
            }
            Ok(())
        }
        Err(error) => {
            eprintln!("The bundle {} was written in full ({} records) as evidence, but the ledger does not verify:", args.out.display(), exported.records);
            Err(report_error(error, args.check.json))
        }
    }
}

pub async fn prove(args: ProveArgs) -> Result<()> {
    let (bar, progress) = progress_bar(args.check.json, "verifying");
    let mut options = options(&args.check, progress);
    options.capture = Some(args.event.clone());
    let result = verify_source(&args.source, options).await;
    bar.finish_and_clear();
    let verified = result.map_err(|error| report_error(error, args.check.json))?;
    let proof = make_proof(&verified, &args.event).map_err(|error| anyhow::anyhow!("{error}"))?;
    let text = serde_json::to_string_pretty(&proof)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{text}\n")).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "Wrote the inclusion proof of record {} (event {}) against the checkpoint at size {} to {}; check it with: fundledger verify-proof {}",
                proof.seq,
                proof.event_id,
                proof.tree_size,
                path.display(),
                path.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(())
}

pub fn verify_proof_command(args: VerifyProofArgs) -> Result<()> {
    let bytes = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(error) => {
            let error = format!("cannot read {}: {error}", args.file.display());
            if args.json {
                println!("{}", json!({"ok": false, "error": error}));
            }
            bail!("could not verify: {error}");
        }
    };
    let checked = verify_proof(&bytes, args.operator.as_ref()).map_err(|error| report_error(error, args.json))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({"ok": true, "proof": checked}))?);
        return Ok(());
    }
    println!("proof verified: record {} (event {}, {}) is in ledger {}", checked.seq, checked.event_id, checked.event_type, checked.ledger);
    println!("  record hash  {}", checked.record_hash);
    println!("  checkpoint   size {} root {} issued {}", checked.tree_size, checked.root, checked.issued_at);
    println!(
        "  signed by    {}{}",
        checked.operator,
        if checked.operator_pinned { " (the operator you named)" } else { " (compare with the operator key you know: --operator)" }
    );
    for witness in &checked.witnesses {
        println!("  witness      {witness} co-signed this checkpoint");
    }
    println!("Checked: the record's canonical body, hash and actor signatures; its RFC 6962 audit path to the checkpoint's root; the checkpoint's signature and each witness co-signature.");
    Ok(())
}

pub async fn witness(args: WitnessArgs) -> Result<()> {
    let (auditor, holder) = keyfile::read(&args.key)?;
    let (bar, progress) = progress_bar(args.check.json, "verifying");
    let js = fundledger_nats::Broker::connect(&args.nats).await?;
    let result = fundledger_verifier::witness_nats(&js, &args.ledger, &auditor, options(&args.check, progress)).await;
    bar.finish_and_clear();
    let (verified, statement) = result.map_err(|error| report_error(error, args.check.json))?;
    if args.check.json {
        println!("{}", serde_json::to_string_pretty(&json!({"ok": true, "witness": statement, "report": verified.report}))?);
        return Ok(());
    }
    println!("{}", verified.report);
    println!(
        "Co-signed the checkpoint at size {} (root {}) as {} ({holder}) and published it on {}.",
        statement.checkpoint.checkpoint.size,
        hex::encode(statement.checkpoint.checkpoint.root),
        auditor.key_id(),
        fundledger_nats::witness_subject(args.ledger.as_str(), &fundledger_verifier::checkpoints::witness_token(&auditor.key_id()))?
    );
    Ok(())
}

pub async fn tail(args: TailArgs) -> Result<()> {
    if let Some(address) = args.metrics {
        let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?;
        eprintln!("metrics: http://{}/metrics (and /healthz)", listener.local_addr()?);
        tokio::spawn(fundledger_metrics::serve(listener));
    }
    let js = fundledger_nats::Broker::connect(&args.nats).await?;
    if !args.verify {
        use futures::StreamExt;
        let stream = fundledger_nats::stream_name(args.ledger.as_str())?;
        let mut messages = fundledger_nats::follow_from(&js, &stream, None, 1).await?;
        while let Some(message) = messages.next().await {
            let message = message?;
            let payload = String::from_utf8_lossy(&message.payload);
            if args.json {
                println!("{payload}");
            } else {
                println!("#{} {} (not verified: add --verify)", message.sequence, message.subject);
            }
            if args.until.is_some_and(|until| message.sequence >= until) {
                break;
            }
        }
        return Ok(());
    }
    let until = args.until;
    let json = args.json;
    let result = fundledger_verifier::follow_nats(&js, &args.ledger, |followed| {
        match followed {
            Followed::Record(record) => {
                let body = record.event.body();
                if json {
                    println!(
                        "{}",
                        json!({"kind": "record", "seq": record.seq, "event_id": body.id.as_str(), "type": body.type_name(), "hash": hex::encode(record.hash), "verified": true})
                    );
                } else {
                    println!("#{} {} {} verified (hash {})", record.seq, body.type_name(), body.id, &hex::encode(record.hash)[..16]);
                }
                if until.is_some_and(|until| record.seq >= until) {
                    return ControlFlow::Break(());
                }
            }
            Followed::Checkpoint { size, root, witness } => {
                let by = witness.map(|key| format!("witness {key}")).unwrap_or_else(|| "operator".to_string());
                if json {
                    println!("{}", json!({"kind": "checkpoint", "size": size, "root": hex::encode(root), "signed_by": by, "verified": true}));
                } else {
                    println!("checkpoint at size {size} (root {}, {by}) matches the records", &hex::encode(root)[..16]);
                }
            }
        }
        ControlFlow::Continue(())
    })
    .await;
    if let Err(error) = result {
        eprintln!("STOPPED: the ledger stream failed verification");
        return Err(report_error(error, json));
    }
    Ok(())
}
