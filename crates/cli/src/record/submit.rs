//! `fundledger submit`: sending signed submissions as they are (one, or an
//! array as a batch) from a file or standard input, and printing one receipt
//! line per event.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_core::id::LedgerId;
use fundledger_core::record::SignedEvent;
use fundledger_core::wire::SubmitAnswer;
use serde::Deserialize;
use serde_json::Value;

use super::input::read_input;
use super::receipt::{describe, outcome_line};
use super::signing::DEFAULT_LEDGER;
use crate::client::{self, WriterArgs};

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// A file holding one submission {"body": {...}, "signatures": ["hex", ...]} or a JSON array
    /// of them (a batch); `-` reads standard input.
    #[arg(value_name = "FILE|-", default_value = "-")]
    pub file: PathBuf,
    /// The ledger the submissions are for. Default: the ledger named in the submissions' bodies
    /// (it picks the NATS subject with --via-nats).
    #[arg(long, value_name = "ID")]
    pub ledger: Option<LedgerId>,
    /// Print the writer's answer as it sent it (JSON) instead of one line per event.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub writer: WriterArgs,
}

/// What `submit` reads of a submission it cannot parse whole (the writer
/// will refuse it), to name it and pick the ledger.
#[derive(Default, Deserialize)]
struct Loose {
    #[serde(default)]
    body: LooseBody,
}

#[derive(Default, Deserialize)]
struct LooseBody {
    #[serde(default)]
    ledger: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

impl Loose {
    fn of(item: &Value) -> Loose {
        Loose::deserialize(item).unwrap_or_default()
    }
}

/// The ledger named by the submissions' bodies, when they name exactly one.
fn submissions_ledger(items: &[Value]) -> Result<Option<LedgerId>> {
    let mut found: Option<String> = None;
    for item in items {
        let Some(ledger) = Loose::of(item).body.ledger else { continue };
        match &found {
            Some(earlier) if *earlier != ledger => bail!("the submissions are for ledgers {earlier} and {ledger}; submit each ledger's separately"),
            Some(_) => {}
            None => found = Some(ledger),
        }
    }
    found.map(|ledger| LedgerId::parse(&ledger).context("a submission names an invalid ledger")).transpose()
}

pub async fn submit(args: SubmitArgs) -> Result<()> {
    let text = read_input(&args.file)?;
    let source = if args.file == Path::new("-") { "standard input".to_string() } else { args.file.display().to_string() };
    let value: Value = serde_json::from_str(&text).with_context(|| format!("{source} is not JSON"))?;
    let is_batch = value.is_array();
    let items: Vec<Value> = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    if items.is_empty() {
        bail!("{source} holds an empty array; nothing to submit");
    }
    let ledger = match args.ledger {
        Some(ledger) => ledger,
        None => submissions_ledger(&items)?.map_or_else(|| LedgerId::parse(DEFAULT_LEDGER), Ok)?,
    };
    // What each submission is, for people; the writer judges validity.
    let whats: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(index, item)| match SignedEvent::from_submission_json(&item.to_string()) {
            Ok(signed) => describe(&signed.body().event),
            Err(_) => match Loose::of(item).body.id {
                Some(id) => format!("submission {} (id {id})", index + 1),
                None => format!("submission {}", index + 1),
            },
        })
        .collect();
    let sent = client::send(&args.writer, ledger.as_str(), text.into_bytes()).await?;
    if args.json {
        println!("{}", sent.text);
    }
    if !is_batch {
        let line = outcome_line(&whats[0], sent.single()?)?;
        if !args.json {
            println!("{line}");
        }
        return Ok(());
    }
    let results = match &sent.answer {
        SubmitAnswer::Batch(batch) => &batch.results,
        SubmitAnswer::Event(refused) => bail!("{}", client::describe_error(refused.error.as_ref())),
    };
    let mut refused = 0usize;
    for (index, result) in results.iter().enumerate() {
        let what = whats.get(index).map(String::as_str).unwrap_or("submission");
        let line = match outcome_line(what, result) {
            Ok(line) => line,
            Err(error) => {
                refused += 1;
                format!("{what}: {error}")
            }
        };
        if !args.json {
            println!("{}: {line}", index + 1);
        }
    }
    if refused == results.len() {
        bail!("all {refused} submissions were refused");
    }
    if refused > 0 {
        bail!("{refused} of {} submissions were refused; the other {} were recorded", results.len(), results.len() - refused);
    }
    Ok(())
}
