//! The signing flags every recording command shares ([`SigningArgs`]), and
//! recording one event: load the key files, author and sign the body locally,
//! then send it to the writer (or print it with --dry-run) and print the
//! receipt. The secret key never leaves the machine: only signatures are sent.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_core::crypto::SecretKey;
use fundledger_core::event::{Event, SIGNERS_MAX};
use fundledger_core::id::{EventId, LedgerId};
use fundledger_core::record::SignedEvent;
use fundledger_core::time::Timestamp;

use super::receipt::{describe, outcome_line};
use crate::client::{self, WriterArgs};
use crate::keyfile;

/// The ledger recorded into when neither --ledger nor FUNDLEDGER_LEDGER is given.
pub const DEFAULT_LEDGER: &str = "hk";

/// Random bytes in a generated event id (`evt-` and twice as many hex digits).
const EVENT_ID_RANDOM_BYTES: usize = 16;

#[derive(Args, Clone, Debug)]
pub struct SigningArgs {
    /// The signer's key file (from `fundledger keygen`). Its secret signs locally and is never sent.
    #[arg(long, value_name = "FILE", env = "FUNDLEDGER_KEY")]
    pub key: PathBuf,
    /// A co-signer's key file, for dual control: amounts at or above the fund's or scheme's
    /// dual-control threshold need two distinct authorised signers. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub cosign: Vec<PathBuf>,
    /// The event id, which is also the idempotency key: 1 to 128 of A-Z a-z 0-9 . _ : -.
    /// Sending the same event again with the same id returns the original record.
    /// Default: a fresh random id `evt-<32 hex digits>`.
    #[arg(long, value_name = "ID")]
    pub id: Option<EventId>,
    /// When the event happened, RFC 3339 in UTC with a 'Z' (e.g. 2026-02-01T10:00:00Z).
    /// Cash-flow dates for IRR come from here. Default: now.
    #[arg(long, value_name = "TIMESTAMP")]
    pub occurred_at: Option<Timestamp>,
    /// The ledger to record in (lowercase id).
    #[arg(long, value_name = "ID", env = "FUNDLEDGER_LEDGER", default_value = DEFAULT_LEDGER)]
    pub ledger: LedgerId,
    /// Print the writer's answer as it sent it (JSON with a receipt or an error) instead of a sentence.
    #[arg(long)]
    pub json: bool,
    /// Sign and print the submission JSON without sending it; send it later with `fundledger submit`.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub writer: WriterArgs,
}

/// A key file's key, with the flag it came from (for error messages).
pub struct LoadedKey {
    pub key: SecretKey,
    pub holder: String,
    pub source: String,
}

pub fn load_keys(key: &Path, cosign: &[PathBuf]) -> Result<Vec<LoadedKey>> {
    let mut keys: Vec<LoadedKey> = Vec::with_capacity(1 + cosign.len());
    let sources = std::iter::once(("--key", key)).chain(cosign.iter().map(|path| ("--cosign", path.as_path())));
    for (flag, path) in sources {
        let (secret, holder) = keyfile::read(path).with_context(|| format!("{flag} {}", path.display()))?;
        let source = format!("{flag} {}", path.display());
        if let Some(earlier) = keys.iter().find(|loaded| loaded.key.key_id() == secret.key_id()) {
            bail!("{source} is the same key ({}) as {}; dual control needs distinct signers", secret.key_id().short(), earlier.source);
        }
        keys.push(LoadedKey { key: secret, holder, source });
    }
    if keys.len() > SIGNERS_MAX {
        bail!("{} signers given; at most {SIGNERS_MAX} may sign one event", keys.len());
    }
    Ok(keys)
}

fn fresh_event_id() -> Result<EventId> {
    let mut bytes = [0u8; EVENT_ID_RANDOM_BYTES];
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut bytes).context("the operating system's random number generator failed")?;
    Ok(EventId::parse(&format!("evt-{}", hex::encode(bytes)))?)
}

fn now() -> Result<Timestamp> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).context("the system clock is before 1970")?;
    let millis = i64::try_from(since_epoch.as_millis()).context("the system clock is out of range")?;
    Ok(Timestamp::from_unix_millis(millis))
}

/// Signs `event` with the keys of `signing` (the --key first, then each --cosign).
pub fn author_with(signing: &SigningArgs, keys: &[LoadedKey], event: Event) -> Result<SignedEvent> {
    let id = match &signing.id {
        Some(id) => id.clone(),
        None => fresh_event_id()?,
    };
    let occurred_at = match &signing.occurred_at {
        Some(at) => at.clone(),
        None => now()?,
    };
    let secrets: Vec<&SecretKey> = keys.iter().map(|loaded| &loaded.key).collect();
    SignedEvent::author(&signing.ledger, id, occurred_at, event, &secrets).context("signing the event")
}

/// Signs and submits one event (or prints it, with --dry-run), and reports the answer.
pub async fn record(signing: &SigningArgs, event: Event) -> Result<()> {
    let keys = load_keys(&signing.key, &signing.cosign)?;
    record_signed(signing, author_with(signing, &keys, event)?).await
}

pub async fn record_signed(signing: &SigningArgs, signed: SignedEvent) -> Result<()> {
    let submission = signed.to_submission_json();
    if signing.dry_run {
        println!("{submission}");
        return Ok(());
    }
    let body = signed.body();
    let answer = client::send(&signing.writer, body.ledger.as_str(), submission.into_bytes()).await.with_context(|| {
        format!(
            "event {} may or may not have been recorded; to retry safely, send it again with --id {} --occurred-at {}",
            body.id,
            body.id,
            body.occurred_at.as_str()
        )
    })?;
    if signing.json {
        println!("{}", answer.text);
    }
    let line = outcome_line(&describe(&body.event), answer.single()?)?;
    if !signing.json {
        println!("{line}");
    }
    Ok(())
}
