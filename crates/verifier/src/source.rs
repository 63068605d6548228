//! Where records come from: a ledger stream on JetStream, or an audit bundle.
//!
//! Reading and checking are pipelined: a reader (a tokio task for NATS, a
//! thread for a file) fills chunks of [`CHUNK_RECORDS`] and hands them over a
//! bounded channel; each chunk's batches are queued on the rayon pool (every
//! core) for parsing and signatures as soon as it is read, a few chunks ahead
//! of the checker, which takes them in order on a blocking thread. So the
//! network or the disk works while the cores verify, the cores never wait for
//! each other, and memory holds at most a few chunks.
//!
//! Checkpoints are read before the records: the ledger's tail is fixed after
//! them, so every honest checkpoint lies within the records read.

use std::path::Path;
use std::time::Instant;

use fundledger_core::id::LedgerId;
use futures::StreamExt as _;

use crate::bundle::{keys_of, BundleHeader, BundleItem, BundleReader, BundleWriter, BUNDLE_FORMAT, BUNDLE_VERSION};
use crate::checkpoints::{CheckpointBook, WitnessStatement};
use crate::engine::{ParsingChunk, RawRecord, Verified, Verifier, CHUNK_RECORDS};
use crate::failure::{Failure, FailureKind, VerifyError};
use crate::options::{Progress, VerifyOptions};

/// Chunks waiting between reader and checker.
pub const CHUNKS_IN_FLIGHT_MAX: usize = 4;

/// Reads every message of a ledger's checkpoint stream (checkpoints and witness statements).
pub async fn read_checkpoint_messages(js: &fundledger_nats::Broker, ledger: &LedgerId) -> Result<Vec<fundledger_nats::StoredMessage>, VerifyError> {
    let stream = fundledger_nats::checkpoint_stream_name(ledger.as_str())?;
    let mut messages = fundledger_nats::read_from(js, &stream, None, 1).await?;
    let mut all = Vec::new();
    while let Some(message) = messages.next().await {
        all.push(message?);
    }
    Ok(all)
}

fn book_of(messages: &[fundledger_nats::StoredMessage]) -> Result<CheckpointBook, VerifyError> {
    let mut book = CheckpointBook::new();
    for message in messages {
        book.add_message(&message.subject, &message.payload, format!("checkpoint stream message {}", message.sequence))
            .map_err(|reason| Failure::new(0, None, FailureKind::Checkpoint, reason))?;
    }
    Ok(book)
}

/// Reads every checkpoint and witness statement of a ledger from its checkpoint stream.
pub async fn read_checkpoints(js: &fundledger_nats::Broker, ledger: &LedgerId) -> Result<CheckpointBook, VerifyError> {
    book_of(&read_checkpoint_messages(js, ledger).await?)
}

/// What the checker thread receives.
type Chunk = Result<Vec<RawRecord>, VerifyError>;

/// Chunks started parsing ahead of the one being checked (besides one
/// waiting to be queued): enough batches queued on the rayon pool that the
/// cores never wait for the checker, few enough to keep memory flat.
const CHUNKS_PARSED_AHEAD: usize = 3;

/// Starts a feeder thread that starts parsing each chunk from `receiver` on
/// the rayon pool (every core, batch by batch, first in first out) as soon as
/// it is read, up to [`CHUNKS_PARSED_AHEAD`] chunks ahead of the caller, which
/// takes them in order from the returned queue: its sequential work (chain,
/// rules, store, writing a bundle) overlaps the costly, stateless part.
/// Dropping the queue stops the feeder, which stops the reader.
fn parse_ahead(
    mut receiver: tokio::sync::mpsc::Receiver<Chunk>,
) -> (std::sync::mpsc::Receiver<Result<ParsingChunk, VerifyError>>, std::thread::JoinHandle<()>) {
    let (parsing_sender, parsing_receiver) = std::sync::mpsc::sync_channel::<Result<ParsingChunk, VerifyError>>(CHUNKS_PARSED_AHEAD);
    let feeder = std::thread::spawn(move || {
        while let Some(chunk) = receiver.blocking_recv() {
            let parsing = chunk.map(Verifier::start_parsing);
            let stop = parsing.is_err();
            if parsing_sender.send(parsing).is_err() || stop {
                return;
            }
        }
    });
    (parsing_receiver, feeder)
}

/// Runs the checker over chunks from `receiver` until it closes ([`parse_ahead`]).
fn run_checker(mut verifier: Verifier, receiver: tokio::sync::mpsc::Receiver<Chunk>, total: u64, progress: Option<Progress>) -> Result<Verifier, VerifyError> {
    let (parsing_receiver, feeder) = parse_ahead(receiver);
    let mut outcome = Ok(());
    for parsing in parsing_receiver {
        let checked = parsing.and_then(ParsingChunk::wait).and_then(|chunk| verifier.check_parsed(chunk));
        if let Err(error) = checked {
            outcome = Err(error);
            break;
        }
        if let Some(progress) = &progress {
            progress(verifier.size(), total.max(verifier.size()));
        }
    }
    // Leaving the loop dropped the queue, which stops the feeder.
    let _ = feeder.join();
    outcome.map(|()| verifier)
}

/// Sends the ledger stream's records (from `start`) in chunks; stops early when the checker has stopped.
async fn feed_from_nats(js: &fundledger_nats::Broker, stream: &str, start: u64, sender: tokio::sync::mpsc::Sender<Chunk>) {
    let mut messages = match fundledger_nats::read_from(js, stream, None, start).await {
        Ok(messages) => messages,
        Err(error) => {
            let _ = sender.send(Err(error.into())).await;
            return;
        }
    };
    let mut chunk = Vec::with_capacity(CHUNK_RECORDS);
    while let Some(message) = messages.next().await {
        match message {
            Ok(message) => chunk.push(RawRecord { position: message.sequence, bytes: message.payload }),
            Err(error) => {
                let _ = sender.send(Err(error.into())).await;
                return;
            }
        }
        if chunk.len() == CHUNK_RECORDS && sender.send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_RECORDS)))).await.is_err() {
            return;
        }
    }
    if !chunk.is_empty() {
        let _ = sender.send(Ok(chunk)).await;
    }
}

/// Verifies ledger `ledger` as stored on JetStream: every record from 1 to
/// the tail as of the call, and every checkpoint and witness statement.
pub async fn verify_nats(js: &fundledger_nats::Broker, ledger: &LedgerId, options: VerifyOptions) -> Result<Verified, VerifyError> {
    let started = Instant::now();
    let book = read_checkpoints(js, ledger).await?;
    let stream = fundledger_nats::stream_name(ledger.as_str())?;
    let total = fundledger_nats::append::last_sequence(js, &stream).await?;
    let (verifier, start) = crate::trusted::start(ledger, book, &options)?;
    if verifier.size() > 0 {
        // A trusted restart reads only what follows: the stream must still hold, as it was, the last record verified before.
        let known = fundledger_core::rollback::KnownPosition { seq: verifier.size(), hash: verifier.head() };
        let (tail, stored) = fundledger_nats::tail_and_message_at(js, &stream, known.seq).await?;
        fundledger_core::rollback::check(known, tail, stored.as_deref())
            .map_err(|rollback| Failure::new(rollback.first_bad_seq(), None, FailureKind::Rollback, rollback.to_string()))?;
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT_MAX);
    let progress = options.progress.clone();
    let checker = tokio::task::spawn_blocking(move || run_checker(verifier, receiver, total, progress));
    feed_from_nats(js, &stream, start, sender).await;
    let verifier = checker.await.map_err(|error| VerifyError::Input(format!("the checker thread failed: {error}")))??;
    let mut verified = verifier.finish()?;
    verified.report.seconds = started.elapsed().as_secs_f64();
    Ok(verified)
}

/// Reads a bundle's header and the checkpoint and witness lines before its first record.
fn open_bundle(path: &Path) -> Result<(BundleReader, BundleHeader, CheckpointBook, Option<RawRecord>), VerifyError> {
    let mut reader = BundleReader::open(path)?;
    let header = match reader.next_item()? {
        Some(BundleItem::Header(header)) => header,
        _ => {
            return Err(Failure::new(
                0,
                None,
                FailureKind::Bundle,
                format!("{} is not an audit bundle: its first line is not the bundle header", path.display()),
            )
            .into())
        }
    };
    if header.format != BUNDLE_FORMAT || header.version != BUNDLE_VERSION {
        return Err(Failure::new(0, None, FailureKind::Bundle, format!("unsupported bundle format {} version {}", header.format, header.version)).into());
    }
    let mut book = CheckpointBook::new();
    loop {
        let line = reader.line() + 1;
        match reader.next_item()? {
            Some(BundleItem::Checkpoint(checkpoint)) => book.add_checkpoint(checkpoint, format!("bundle line {line}")),
            Some(BundleItem::Witness(statement)) => book.add_witness(statement, format!("bundle line {line}")),
            Some(BundleItem::Record(bytes)) => return Ok((reader, header, book, Some(RawRecord { position: 1, bytes }))),
            None => return Ok((reader, header, book, None)),
            Some(_) => {
                return Err(Failure::new(
                    0,
                    None,
                    FailureKind::Bundle,
                    format!("bundle line {line}: only checkpoints and witness statements may come before the records"),
                )
                .into())
            }
        }
    }
}

/// What follows the records in a bundle.
#[derive(Default)]
struct BundleTail {
    keys: Option<Vec<crate::bundle::BundleKey>>,
    end: Option<crate::bundle::BundleEnd>,
}

/// Sends a bundle's records in chunks from a reader thread; returns what follows them.
/// Records before `start` were verified before (a trusted start) and are skipped.
fn feed_from_bundle(mut reader: BundleReader, first: RawRecord, start: u64, sender: tokio::sync::mpsc::Sender<Chunk>) -> Result<BundleTail, VerifyError> {
    let mut chunk = Vec::with_capacity(CHUNK_RECORDS);
    if start <= 1 {
        chunk.push(first);
    }
    let mut position = 1;
    let mut tail = BundleTail::default();
    loop {
        let line = reader.line() + 1;
        let item = match reader.next_item() {
            Ok(item) => item,
            Err(error) => {
                let _ = sender.blocking_send(Err(error));
                return Ok(tail);
            }
        };
        match item {
            Some(BundleItem::Record(bytes)) if tail.keys.is_none() && tail.end.is_none() => {
                position += 1;
                if position >= start {
                    chunk.push(RawRecord { position, bytes });
                }
                if chunk.len() == CHUNK_RECORDS && sender.blocking_send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_RECORDS)))).is_err() {
                    return Ok(tail);
                }
            }
            Some(BundleItem::Keys(keys)) if tail.keys.is_none() && tail.end.is_none() => tail.keys = Some(keys),
            Some(BundleItem::End(end)) if tail.end.is_none() => tail.end = Some(end),
            None => break,
            Some(_) => {
                let failure = Failure::new(
                    0,
                    None,
                    FailureKind::Bundle,
                    format!("bundle line {line}: out of place (the order is header, checkpoints, witnesses, records, keys, end)"),
                );
                let _ = sender.blocking_send(Err(failure.into()));
                return Ok(tail);
            }
        }
    }
    if !chunk.is_empty() {
        let _ = sender.blocking_send(Ok(chunk));
    }
    Ok(tail)
}

/// Verifies an audit bundle offline.
pub async fn verify_bundle(path: &Path, options: VerifyOptions) -> Result<Verified, VerifyError> {
    let started = Instant::now();
    let (reader, header, book, first) = open_bundle(path)?;
    let ledger = LedgerId::parse(&header.ledger).map_err(|error| Failure::new(0, None, FailureKind::Bundle, format!("bundle header: {error}")))?;
    let checkpoint_count = book.count() as u64;
    let (verifier, start) = crate::trusted::start(&ledger, book, &options)?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT_MAX);
    let progress = options.progress.clone();
    let total = std::fs::metadata(path).map(|metadata| metadata.len() / 700).unwrap_or(0);
    let checker = tokio::task::spawn_blocking(move || run_checker(verifier, receiver, total, progress));
    let feeder = tokio::task::spawn_blocking(move || match first {
        Some(first) => feed_from_bundle(reader, first, start, sender),
        None => Ok(BundleTail::default()),
    });
    let verifier = checker.await.map_err(|error| VerifyError::Input(format!("the checker thread failed: {error}")))??;
    let tail = feeder.await.map_err(|error| VerifyError::Input(format!("the bundle reader failed: {error}")))??;
    let mut verified = verifier.finish()?;
    let size = verified.report.size;
    match tail.end {
        None => return Err(Failure::new(0, None, FailureKind::Bundle, "the bundle has no end line: the file was cut short").into()),
        Some(end) if end.records != size || end.checkpoints + end.witnesses != checkpoint_count => {
            return Err(Failure::new(
                0,
                None,
                FailureKind::Bundle,
                format!(
                    "the end line counts {} records, {} checkpoints and {} witness statements, but the bundle holds {size} records and {checkpoint_count} checkpoints and statements",
                    end.records, end.checkpoints, end.witnesses
                ),
            )
            .into())
        }
        Some(_) => {}
    }
    if let Some(keys) = tail.keys {
        if keys != keys_of(&verified.ledger) {
            return Err(Failure::new(
                0,
                None,
                FailureKind::Bundle,
                "the bundle's key list does not match the keys the records register, revoke and grant roles to",
            )
            .into());
        }
    }
    verified.report.checks.push(format!("the bundle is complete ({size} records, as its end line says) and its key list matches the records"));
    verified.report.seconds = started.elapsed().as_secs_f64();
    Ok(verified)
}

/// What an export wrote, and the verification of what it wrote.
pub struct Exported {
    pub records: u64,
    pub checkpoints: u64,
    pub witnesses: u64,
    /// The verification of the exported records: a bundle of a bad ledger is
    /// still written in full (it is the evidence), and this says what is wrong.
    pub verdict: Result<Verified, VerifyError>,
}

/// Exports ledger `ledger` from JetStream to a bundle at `out`, verifying it on the way.
pub async fn export_nats(
    js: &fundledger_nats::Broker,
    ledger: &LedgerId,
    out: &Path,
    source: &str,
    overwrite: bool,
    options: VerifyOptions,
) -> Result<Exported, VerifyError> {
    let started = Instant::now();
    let checkpoint_messages = read_checkpoint_messages(js, ledger).await?;
    let book = book_of(&checkpoint_messages)?;
    let stream = fundledger_nats::stream_name(ledger.as_str())?;
    let total = fundledger_nats::append::last_sequence(js, &stream).await?;
    let header = BundleHeader {
        format: BUNDLE_FORMAT.to_string(),
        version: BUNDLE_VERSION,
        ledger: ledger.to_string(),
        exported_at: crate::now().to_string(),
        source: source.to_string(),
    };
    let mut writer = BundleWriter::create(out, &header, overwrite)?;
    // In stream order, as published (`book_of` above refused any that does not parse).
    for message in &checkpoint_messages {
        match crate::checkpoints::parse_message(&message.subject, &message.payload).map_err(|error| Failure::new(0, None, FailureKind::Checkpoint, error))? {
            (_, Some(statement)) => writer.witness(&statement)?,
            (checkpoint, None) => writer.checkpoint(&checkpoint)?,
        }
    }
    let verifier = Verifier::new(ledger.clone(), options.open_store(ledger)?, book, options.operator, None)?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT_MAX);
    let progress = options.progress.clone();
    let checker = tokio::task::spawn_blocking(move || {
        // Every record is written; checking stops at the first failure, writing does not.
        let mut verifier = Some(verifier);
        let mut failure: Option<VerifyError> = None;
        let mut written = 0u64;
        let (parsing_receiver, feeder) = parse_ahead(receiver);
        let mut stopped = None;
        for parsing in parsing_receiver {
            let chunk = match parsing.and_then(ParsingChunk::wait) {
                Ok(chunk) => chunk,
                Err(error) => {
                    stopped = Some(error);
                    break;
                }
            };
            if let Err(error) = chunk.records().iter().try_for_each(|record| writer.record(&record.bytes)) {
                stopped = Some(error);
                break;
            }
            written += chunk.len() as u64;
            if let Some(active) = verifier.as_mut() {
                if let Err(error) = active.check_parsed(chunk) {
                    failure = Some(error);
                    verifier = None;
                }
            }
            if let Some(progress) = &progress {
                progress(written, total.max(written));
            }
        }
        // Leaving the loop dropped the queue, which stops the feeder.
        let _ = feeder.join();
        let verdict = match (stopped, verifier, failure) {
            (Some(error), _, _) | (None, _, Some(error)) => Err(error),
            (None, Some(verifier), None) => verifier.finish(),
            (None, None, None) => Err(VerifyError::Input("the checker stopped without a verdict".to_string())),
        };
        (writer, verdict)
    });
    feed_from_nats(js, &stream, 1, sender).await;
    let (mut writer, verdict) = checker.await.map_err(|error| VerifyError::Input(format!("the export thread failed: {error}")))?;
    if let Err(error) = &verdict {
        if error.failure().is_none() {
            return Err(VerifyError::Input(format!("export incomplete: {error}")));
        }
    }
    let verdict = verdict.map(|mut verified| {
        verified.report.seconds = started.elapsed().as_secs_f64();
        verified
    });
    if let Ok(verified) = &verdict {
        writer.keys(&keys_of(&verified.ledger))?;
    }
    let end = writer.finish()?;
    Ok(Exported { records: end.records, checkpoints: end.checkpoints, witnesses: end.witnesses, verdict })
}

/// Verifies ledger `ledger` on JetStream and, when it passes, co-signs its
/// newest checkpoint with `auditor`'s key and publishes the statement on
/// `fl.<ledger>.witness.<key prefix>` for everyone to see.
pub async fn witness_nats(
    js: &fundledger_nats::Broker,
    ledger: &LedgerId,
    auditor: &fundledger_core::crypto::SecretKey,
    options: VerifyOptions,
) -> Result<(Verified, WitnessStatement), VerifyError> {
    let verified = verify_nats(js, ledger, options).await?;
    let Some(size) = verified.book.checked().last().map(|checkpoint| checkpoint.size) else {
        return Err(VerifyError::Input(format!("ledger {ledger} verified, but it has no checkpoint to co-sign yet")));
    };
    let Some(checkpoint) = verified.book.at(size).next().cloned() else {
        return Err(VerifyError::Input(format!("the checkpoint at size {size} is missing")));
    };
    let cosignature = checkpoint.checkpoint.witness(auditor);
    let statement = WitnessStatement { checkpoint, cosignature };
    let token = crate::checkpoints::witness_token(&auditor.key_id());
    let subject = fundledger_nats::witness_subject(ledger.as_str(), &token)?;
    crate::checkpointer::publish_on(js, subject, &statement.to_json(), &format!("witness-{token}-{size}")).await?;
    Ok((verified, statement))
}
