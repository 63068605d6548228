//! Recording events from the command line: one typed command per event kind,
//! each signing locally with the user's key file and submitting to the writer.
//!
//! Every recording command takes the same signing flags ([`SigningArgs`]):
//! the key file, optional co-signers for dual control, the event id (the
//! idempotency key), when it happened, the ledger, and where the writer is.
//! Amounts are written in Hong Kong dollars as people write them
//! (`250,000.00`, `HK$1,000,000,000`) and are carried as integer cents.
//! The secret key never leaves the machine: only signatures are sent.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgAction, ArgGroup, Args, Subcommand, ValueEnum};
use fundledger_core::canonical::canonicalize;
use fundledger_core::crypto::{self, domain, sha256, KeyId, SecretKey, Signature};
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::{event_hash, SignedEvent};
use fundledger_core::time::{Date, Timestamp};
use serde_json::Value;

use crate::client::{self, WriterArgs};
use crate::keyfile;

/// The ledger recorded into when neither --ledger nor FUNDLEDGER_LEDGER is given.
pub const DEFAULT_LEDGER: &str = "hk";
/// Random bytes in a generated event id (`evt-` and twice as many hex digits).
const EVENT_ID_RANDOM_BYTES: usize = 16;
/// Hex digits of a record hash shown in human output.
const HASH_SHOWN_HEX: usize = 12;
/// How long `fundledger status` waits for the writer.
const STATUS_TIMEOUT_MS: u64 = 10_000;

// ---------------------------------------------------------------------------
// Parsing flag values. Each parser names what it expected; clap adds the flag.

fn parse_money(text: &str) -> Result<Money, String> {
    Money::parse_hkd(text).map_err(|error| format!("{error} (write dollars, e.g. 250,000.00 or HK$1,000,000)"))
}

fn parse_text(text: &str) -> Result<Text, String> {
    Text::parse(text)
}

fn parse_public_key(text: &str) -> Result<KeyId, String> {
    keyfile::public_key(text).map_err(|error| format!("{error:#}"))
}

fn parse_bps(text: &str) -> Result<u32, String> {
    let value: u32 = text.parse().map_err(|_| format!("{text:?} is not a whole number of basis points"))?;
    if value > BASIS_POINTS_ONE {
        return Err(format!("{value} basis points is more than 100% ({BASIS_POINTS_ONE})"));
    }
    Ok(value)
}

fn parse_evidence_sha256(text: &str) -> Result<EvidenceDigest, String> {
    crypto::hash_from_hex("evidence sha256", &text.to_ascii_lowercase()).map(EvidenceDigest).map_err(|error| error.to_string())
}

/// A period `START..END` (dates, both included), e.g. `2025-11-18..2027-11-17`.
fn parse_period(text: &str) -> Result<Period, String> {
    let (starts, ends) = text.split_once("..").ok_or_else(|| format!("{text:?} is not a period; write START..END, e.g. 2025-11-18..2027-11-17"))?;
    let starts: Date = starts.trim().parse().map_err(|error| format!("{error}"))?;
    let ends: Date = ends.trim().parse().map_err(|error| format!("{error}"))?;
    if ends < starts {
        return Err(format!("the period {text:?} ends before it starts"));
    }
    Ok(Period { starts, ends })
}

/// An attestation as given: `CODE=FILE` (its SHA-256 is computed here) or `CODE=HEX` (64 hex digits).
#[derive(Clone, Debug)]
pub struct AttestationArg {
    code: AttestationCode,
    evidence: String,
}

fn parse_attestation(text: &str) -> Result<AttestationArg, String> {
    let (code, evidence) =
        text.split_once('=').ok_or_else(|| format!("{text:?}: write CODE=FILE or CODE=SHA256HEX, e.g. hk-production-line-1y=line-evidence.pdf"))?;
    let code = AttestationCode::parse(code).map_err(|error| error.to_string())?;
    if evidence.is_empty() {
        return Err(format!("{text:?}: the attestation needs its evidence after ="));
    }
    Ok(AttestationArg { code, evidence: evidence.to_string() })
}

impl AttestationArg {
    fn resolve(&self) -> Result<Attestation> {
        let digest = match parse_evidence_sha256(&self.evidence) {
            Ok(digest) if self.evidence.len() == 64 => digest,
            _ => file_sha256(Path::new(&self.evidence)).with_context(|| format!("--attestation {}", self.code))?,
        };
        Ok(Attestation { code: self.code.clone(), evidence_sha256: digest })
    }
}

/// Evidence given as a file (hashed here; the file is never sent) or as its SHA-256.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct EvidenceArgs {
    /// The evidence document. Only its SHA-256 is computed here and recorded; the file itself is never sent.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
    /// The evidence's SHA-256, as 64 hex digits, when the document is not on this machine.
    #[arg(long, value_name = "HEX", value_parser = parse_evidence_sha256)]
    pub evidence_sha256: Option<EvidenceDigest>,
}

impl EvidenceArgs {
    fn digest(&self) -> Result<EvidenceDigest> {
        match (&self.evidence, self.evidence_sha256) {
            (Some(path), None) => file_sha256(path),
            (None, Some(digest)) => Ok(digest),
            _ => bail!("give exactly one of --evidence FILE and --evidence-sha256 HEX"),
        }
    }
}

/// A cap that can also be removed: an amount, or `none`.
#[derive(Clone, Copy, Debug)]
pub struct Cap(Option<Money>);

fn parse_cap(text: &str) -> Result<Cap, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Cap(None));
    }
    parse_money(text).map(|money| Cap(Some(money)))
}

/// A whole-number limit that can also be removed: a number, or `none`.
#[derive(Clone, Copy, Debug)]
pub struct Limit(Option<u32>);

fn parse_limit(text: &str) -> Result<Limit, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Limit(None));
    }
    text.parse().map(|value| Limit(Some(value))).map_err(|_| format!("{text:?} is neither a whole number nor \"none\""))
}

/// `government:enterprise`, e.g. `1:2`.
#[derive(Clone, Copy, Debug)]
pub struct Ratio(u32, u32);

fn parse_ratio(text: &str) -> Result<Ratio, String> {
    let fail = || format!("{text:?} is not a ratio of positive whole numbers GOVERNMENT:ENTERPRISE, e.g. 1:2");
    let (government, enterprise) = text.split_once(':').ok_or_else(fail)?;
    let government: u32 = government.trim().parse().map_err(|_| fail())?;
    let enterprise: u32 = enterprise.trim().parse().map_err(|_| fail())?;
    if government == 0 || enterprise == 0 {
        return Err(fail());
    }
    Ok(Ratio(government, enterprise))
}

fn parse_theme(text: &str) -> Result<Theme, String> {
    let (id, name) = text.split_once('=').ok_or_else(|| format!("{text:?} is not ID=NAME, e.g. ai-robotics=Artificial intelligence and robotics"))?;
    Ok(Theme { id: ThemeId::parse(id).map_err(|error| error.to_string())?, name: Text::parse(name)? })
}

// ---------------------------------------------------------------------------
// Keys.

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key file (JSON with the public and secret key; created readable by its owner only).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Who holds the key (a person or a service), stored in the file. Default: the file name without extension.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub holder: Option<Text>,
    /// Replace an existing key file (its old key is lost).
    #[arg(long)]
    pub force: bool,
    /// Print {"file", "holder", "public"} as JSON instead of the bare public key.
    #[arg(long)]
    pub json: bool,
}

/// Writes a fresh key file and prints its public key (the key's id on the ledger).
pub fn keygen(args: KeygenArgs) -> Result<()> {
    let holder = match args.holder {
        Some(holder) => holder,
        None => {
            let stem = args.out.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
            Text::parse(stem)
                .map_err(|error| anyhow!("cannot use the file name {:?} as the holder ({error}); pass --holder NAME", args.out.display().to_string()))?
        }
    };
    let key = keyfile::generate()?;
    keyfile::write(&args.out, &key, holder.as_str(), args.force)?;
    let public = key.key_id().to_string();
    if args.json {
        println!("{}", serde_json::json!({ "file": args.out.display().to_string(), "holder": holder, "public": public }));
    } else {
        eprintln!("wrote {} (holder {holder}); keep it secret. Its public key:", args.out.display());
        println!("{public}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The signing flags every recording command shares, and recording itself.

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
struct LoadedKey {
    key: SecretKey,
    holder: String,
    source: String,
}

fn load_keys(key: &Path, cosign: &[PathBuf]) -> Result<Vec<LoadedKey>> {
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
fn author_with(signing: &SigningArgs, keys: &[LoadedKey], event: Event) -> Result<SignedEvent> {
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
async fn record(signing: &SigningArgs, event: Event) -> Result<()> {
    let keys = load_keys(&signing.key, &signing.cosign)?;
    record_signed(signing, author_with(signing, &keys, event)?).await
}

async fn record_signed(signing: &SigningArgs, signed: SignedEvent) -> Result<()> {
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
        println!("{answer}");
    }
    let line = outcome_line(&describe(&body.event), &answer)?;
    if !signing.json {
        println!("{line}");
    }
    Ok(())
}

/// `recorded <what> as record N (hash …)` or `already recorded: ...` for a
/// receipt; the writer's refusal as an error.
fn outcome_line(what: &str, answer: &Value) -> Result<String> {
    let Some(receipt) = answer.get("receipt") else {
        bail!("{}", client::describe_error(answer));
    };
    let seq = receipt.get("seq").and_then(Value::as_u64).ok_or_else(|| anyhow!("the writer's receipt has no record number: {receipt}"))?;
    let hash = receipt.get("record_hash").and_then(Value::as_str).unwrap_or("");
    let hash: String = hash.chars().take(HASH_SHOWN_HEX).collect();
    let event_id = receipt.get("event_id").and_then(Value::as_str).unwrap_or("?");
    if receipt.get("duplicate").and_then(Value::as_bool).unwrap_or(false) {
        Ok(format!("already recorded: {what} (record {seq}, hash {hash}…, id {event_id})"))
    } else {
        Ok(format!("recorded {what} as record {seq} (hash {hash}…, id {event_id})"))
    }
}

/// The event's type and what it is about, for people: `grant.approved nias-g1 HK$100.00`.
fn describe(event: &Event) -> String {
    let about = match event {
        Event::LedgerGenesis(data) => format!("{:?} operated by {} ({})", data.name.as_str(), data.operator.short(), data.operator_holder),
        Event::KeyRegistered(data) => format!("{} ({})", data.key.short(), data.holder),
        Event::KeyRevoked(data) => data.key.short(),
        Event::RoleGranted(data) | Event::RoleRevoked(data) => format!("{} {} for {}", data.key.short(), data.role, data.scope),
        Event::FundEstablished(data) => format!("{} {}", data.fund, data.government_capital_cents),
        Event::SubFundAdmitted(data) => format!("{} in {} ({})", data.subfund, data.fund, data.theme),
        Event::MarketCommitted(data) => format!("{} {}", data.subfund, data.amount_cents),
        Event::GovernmentCommitted(data) => format!("{} {}", data.subfund, data.amount_cents),
        Event::CapitalCalled(data) => format!("{} {}", data.subfund, data.amount_cents),
        Event::Distributed(data) => format!("{} {}{}", data.subfund, data.amount_cents, if data.recallable { " recallable" } else { "" }),
        Event::NavReported(data) => format!("{} {} as of {}", data.subfund, data.nav_cents, data.as_of.as_str()),
        Event::Invested(data) => format!("{} {} {}", data.subfund, data.investment, data.amount_cents),
        Event::WrittenOff(data) => format!("{} {} {}", data.subfund, data.investment, data.amount_cents),
        Event::FeeCharged(data) => format!("{} {}", data.subfund, data.amount_cents),
        Event::ProductionSpendReported(data) => format!("{} {} {}", data.subfund, data.investment, data.amount_cents),
        Event::SchemeEstablished(data) => format!("{} {}", data.scheme, data.budget_cents),
        Event::GrantApproved(data) => format!("{} {}", data.grant, data.grant_cents),
        Event::SpendVerified(data) => {
            format!("{} {} (evidence sha256 {}…)", data.grant, data.amount_cents, &hex::encode(data.evidence_sha256.0)[..HASH_SHOWN_HEX])
        }
        Event::GrantCompleted(data) => data.grant.to_string(),
        Event::GrantDisbursed(data) => format!("{} {}", data.grant, data.amount_cents),
        Event::GrantClawedBack(data) => format!("{} {}", data.grant, data.amount_cents),
        Event::GrantClosed(data) => format!("{} ({})", data.grant, close_reason_name(data.reason)),
        Event::SchemeAmended(data) => format!("{} from {}", data.scheme, data.effective_from),
        Event::SpendDisallowed(data) => {
            let reason = serde_json::to_value(data.reason).ok().and_then(|value| value.as_str().map(str::to_string)).unwrap_or_default();
            format!("{} {} ({reason})", data.grant, data.amount_cents)
        }
        Event::MilestoneAccepted(data) => format!("{} milestone {}", data.grant, data.milestone),
        Event::EnterprisesAssociated(data) => data.enterprises.iter().map(EnterpriseId::as_str).collect::<Vec<_>>().join(", "),
    };
    format!("{} {about}", event.type_name())
}

fn close_reason_name(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Completed => "completed",
        CloseReason::Withdrawn => "withdrawn",
        CloseReason::Terminated => "terminated",
    }
}

// ---------------------------------------------------------------------------
// Ledger administration: genesis, keys, roles.

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The ledger's name, for people.
    #[arg(long, value_name = "NAME", value_parser = parse_text, default_value = "Hong Kong public innovation funding")]
    pub name: Text,
    /// Who operates the ledger (holds the --key). Default: the holder named in the key file.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub holder: Option<Text>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Records `ledger.genesis`: the --key becomes the operator and first admin.
pub async fn init(args: InitArgs) -> Result<()> {
    let keys = load_keys(&args.signing.key, &args.signing.cosign)?;
    if keys.len() != 1 {
        bail!("ledger.genesis is signed by the operator key alone; drop --cosign");
    }
    let operator = &keys[0];
    let holder = match args.holder {
        Some(holder) => holder,
        None => Text::parse(&operator.holder)
            .map_err(|error| anyhow!("the holder {:?} in {} is not usable ({error}); pass --holder NAME", operator.holder, operator.source))?,
    };
    let event = Event::LedgerGenesis(LedgerGenesis { name: args.name, operator: operator.key.key_id(), operator_holder: holder });
    record_signed(&args.signing, author_with(&args.signing, &keys, event)?).await
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Register a public key so that it can be granted roles and sign (admin only).
    Register(KeyRegisterArgs),
    /// Revoke a key for good: it signs nothing from this record on (admin only).
    Revoke(KeyRevokeArgs),
}

#[derive(Args, Debug)]
pub struct KeyRegisterArgs {
    /// The key to register: its 64-hex-digit public key, or a key file (only its public part is read).
    #[arg(long, value_name = "HEX_OR_KEYFILE", value_parser = parse_public_key)]
    pub public: KeyId,
    /// Who holds the key (a person or a service).
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub holder: Text,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct KeyRevokeArgs {
    /// The key to revoke: its 64-hex-digit public key, or a key file (only its public part is read).
    #[arg(long, value_name = "HEX_OR_KEYFILE", value_parser = parse_public_key)]
    pub public: KeyId,
    /// Why it is revoked (recorded on the ledger).
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub reason: Text,
    #[command(flatten)]
    pub signing: SigningArgs,
}

pub async fn key(command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Register(args) => record(&args.signing, Event::KeyRegistered(KeyRegistered { key: args.public, holder: args.holder })).await,
        KeyCommand::Revoke(args) => record(&args.signing, Event::KeyRevoked(KeyRevoked { key: args.public, reason: args.reason })).await,
    }
}

/// The roles a key can hold.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum RoleArg {
    /// Keys, roles, establishing funds and schemes (ledger scope only).
    Admin,
    /// Sub-fund events in its funds.
    FundManager,
    /// Grant events in its schemes.
    GrantOfficer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::FundManager => Role::FundManager,
            RoleArg::GrantOfficer => Role::GrantOfficer,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Grant a registered key a role for a scope (admin only).
    Grant(RoleArgs),
    /// Revoke a role a key holds for a scope (admin only).
    Revoke(RoleArgs),
}

#[derive(Args, Debug)]
pub struct RoleArgs {
    /// The key: its 64-hex-digit public key, or a key file (only its public part is read).
    #[arg(long, value_name = "HEX_OR_KEYFILE", value_parser = parse_public_key)]
    pub public: KeyId,
    /// The role.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Where the role applies: `ledger`, `fund:<fund id>` or `scheme:<scheme id>`.
    #[arg(long, value_name = "SCOPE")]
    pub scope: Scope,
    #[command(flatten)]
    pub signing: SigningArgs,
}

pub async fn role(command: RoleCommand) -> Result<()> {
    match command {
        RoleCommand::Grant(args) => record(&args.signing, Event::RoleGranted(RoleChange { key: args.public, role: args.role.into(), scope: args.scope })).await,
        RoleCommand::Revoke(args) => {
            record(&args.signing, Event::RoleRevoked(RoleChange { key: args.public, role: args.role.into(), scope: args.scope })).await
        }
    }
}

// ---------------------------------------------------------------------------
// Funds of funds.

/// Published fund terms to start from.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FundPreset {
    /// The HK$10bn I&T Industry-Oriented Fund: at most HK$1bn and 25% per sub-fund, sub-funds of
    /// at least HK$2bn, 50% into HK enterprises, 25% of fund size on HK production bases.
    Itif,
}

#[derive(Subcommand, Debug)]
pub enum FundCommand {
    /// Establish a fund of funds and the rules its sub-funds must keep (admin only).
    Establish(FundEstablishArgs),
}

#[derive(Args, Debug)]
pub struct FundEstablishArgs {
    /// The fund's id (1-64 of a-z 0-9 _ -), e.g. itif. Overrides the id in --terms.
    #[arg(long, value_name = "ID", required_unless_present = "terms")]
    pub fund: Option<FundId>,
    /// The published terms to start from; the flags below override single terms.
    #[arg(long, value_enum, default_value_t = FundPreset::Itif)]
    pub preset: FundPreset,
    /// Start from a file holding the data of a fund.established event (JSON, amounts in cents) instead of --preset.
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    pub terms: Option<PathBuf>,
    /// The fund's name.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub name: Option<Text>,
    /// The government's total capital for the fund, in HK$ (e.g. 10,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub capital: Option<Money>,
    /// Cap on the government's commitment to one sub-fund, in HK$ (ITIF: 1,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub subfund_commitment_max: Option<Money>,
    /// The government's largest share of a sub-fund's committed size, in basis points (ITIF: 2500 = 25%).
    #[arg(long, value_name = "BPS", value_parser = parse_bps)]
    pub government_share_max_bps: Option<u32>,
    /// A sub-fund's smallest target size, in HK$ (ITIF: 2,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub min_target_size: Option<Money>,
    /// Share of investment a sub-fund must place in Hong Kong enterprises, in basis points (ITIF: 5000 = 50%); reported.
    #[arg(long, value_name = "BPS", value_parser = parse_bps)]
    pub hk_enterprise_share_min_bps: Option<u32>,
    /// Spend by investees on HK production bases as a share of fund size, in basis points (ITIF: 2500 = 25%); reported.
    #[arg(long, value_name = "BPS", value_parser = parse_bps)]
    pub hk_production_spend_min_bps: Option<u32>,
    /// Capital calls and fees at or above this amount, in HK$, need two distinct signers (ITIF preset: 100,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub dual_control_threshold: Option<Money>,
    /// A theme, as ID=NAME (e.g. ai-robotics=AI and robotics). Repeatable; replaces the preset's themes.
    #[arg(long, value_name = "ID=NAME", value_parser = parse_theme)]
    pub theme: Vec<Theme>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

fn read_input(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_terms<T: serde::de::DeserializeOwned>(path: &Path, event_type: &str) -> Result<T> {
    let text = read_input(path).context("--terms")?;
    serde_json::from_str(&text).with_context(|| format!("--terms {}: not the data of a {event_type} event (see schemas/ for its JSON Schema)", path.display()))
}

pub async fn fund(command: FundCommand) -> Result<()> {
    let FundCommand::Establish(args) = command;
    let mut terms: FundEstablished = match (&args.terms, &args.fund) {
        (Some(path), _) => read_terms(path, "fund.established")?,
        (None, Some(fund)) => match args.preset {
            FundPreset::Itif => presets::itif(fund.as_str()),
        },
        (None, None) => bail!("give --fund ID (or --terms FILE)"),
    };
    if let Some(fund) = args.fund {
        terms.fund = fund;
    }
    if let Some(name) = args.name {
        terms.name = name;
    }
    if let Some(capital) = args.capital {
        terms.government_capital_cents = capital;
    }
    if let Some(cap) = args.subfund_commitment_max {
        terms.government_commitment_per_subfund_max_cents = cap;
    }
    if let Some(bps) = args.government_share_max_bps {
        terms.government_share_max_bps = bps;
    }
    if let Some(size) = args.min_target_size {
        terms.subfund_target_size_min_cents = size;
    }
    if let Some(bps) = args.hk_enterprise_share_min_bps {
        terms.hk_enterprise_share_min_bps = bps;
    }
    if let Some(bps) = args.hk_production_spend_min_bps {
        terms.hk_production_spend_min_bps = bps;
    }
    if let Some(threshold) = args.dual_control_threshold {
        terms.dual_control_threshold_cents = threshold;
    }
    if !args.theme.is_empty() {
        terms.themes = args.theme;
    }
    record(&args.signing, Event::FundEstablished(terms)).await
}

// ---------------------------------------------------------------------------
// Sub-funds.

#[derive(Subcommand, Debug)]
pub enum SubfundCommand {
    /// Admit a sub-fund (a Cap. 637 limited partnership run by a GP) to a fund under one of its themes.
    Admit(AdmitArgs),
    /// Record a market co-investor's commitment to a sub-fund.
    MarketCommit(MarketCommitArgs),
    /// Record the government's commitment to a sub-fund, as the last LP (at most the cap and share).
    GovernmentCommit(GovernmentCommitArgs),
    /// Record a capital call paid in by the government (a contribution to paid-in capital).
    Call(CallArgs),
    /// Record a distribution to the government; a recallable one restores unfunded commitment.
    Distribute(DistributeArgs),
    /// Report the NAV of the government's interest in a sub-fund, as of a date.
    Nav(NavArgs),
    /// Record an investment by a sub-fund into an enterprise.
    Invest(InvestArgs),
    /// Write off (part of) an investment.
    WriteOff(WriteOffArgs),
    /// Record a management fee paid from the government's commitment.
    Fee(FeeArgs),
    /// Report an investee's spend on a Hong Kong production base.
    ProductionSpend(ProductionSpendArgs),
    /// Show a sub-fund from the query API: commitments, government share, metrics, compliance, investments.
    Show(crate::query::ShowArgs),
}

#[derive(Args, Debug)]
pub struct AdmitArgs {
    /// The fund the sub-fund joins.
    #[arg(long, value_name = "ID")]
    pub fund: FundId,
    /// The new sub-fund's id, unique across the ledger (1-64 of a-z 0-9 _ -).
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The sub-fund's name.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub name: Text,
    /// One of the fund's theme ids (ITIF: life-health, ai-robotics, semiconductors, digitalisation, future-sustainable).
    #[arg(long, value_name = "ID")]
    pub theme: ThemeId,
    /// The general partner (fund manager) running the sub-fund.
    #[arg(long = "general-partner", visible_alias = "gp", value_name = "NAME", value_parser = parse_text)]
    pub general_partner: Text,
    /// The sub-fund's target size, in HK$ (ITIF: at least 2,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub target_size: Money,
    /// The sub-fund's investment period, START..END (e.g. 2026-01-01..2030-12-31): only production
    /// spend within it counts towards the HK production-base minimum, and every report of production
    /// spend must then say when it was spent (--spent-on).
    #[arg(long, value_name = "START..END", value_parser = parse_period)]
    pub investment_period: Option<Period>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct MarketCommitArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The market co-investor (limited partner) committing.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub investor: Text,
    /// The amount committed, in HK$ (e.g. 3,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct GovernmentCommitArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The amount the government commits, in HK$ (ITIF: at most 1,000,000,000 and 25% of the committed size).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct CallArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The capital call's reference (e.g. the call notice number).
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub reference: Text,
    /// The amount called from the government, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct DistributeArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The amount distributed to the government, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// The distribution is recallable: it restores unfunded commitment.
    #[arg(long)]
    pub recallable: bool,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct NavArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The date the NAV is reported as of, YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Date,
    /// The net asset value of the government's interest, in HK$.
    #[arg(long, visible_alias = "nav", value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct InvestArgs {
    /// The investing sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The new investment's id, unique across the ledger (1-64 of a-z 0-9 _ -).
    #[arg(long, value_name = "ID")]
    pub investment: InvestmentId,
    /// The enterprise invested in.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub investee: Text,
    /// The amount invested, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// The investee is a Hong Kong enterprise, or has substantive operations in Hong Kong.
    #[arg(long)]
    pub hk_enterprise: bool,
    /// The investee is an I&T / new-industrialisation enterprise (required of every investment).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub innovation_technology: bool,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct WriteOffArgs {
    /// The sub-fund holding the investment.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The investment written off.
    #[arg(long, value_name = "ID")]
    pub investment: InvestmentId,
    /// The amount written off, in HK$ (at most the investment's remaining cost).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct FeeArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The period the fee is for (e.g. 2026-Q1).
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub period: Text,
    /// The fee, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct ProductionSpendArgs {
    /// The sub-fund.
    #[arg(long, value_name = "ID")]
    pub subfund: SubFundId,
    /// The investment whose investee spent.
    #[arg(long, value_name = "ID")]
    pub investment: InvestmentId,
    /// The period of the spend (e.g. 2026-H1).
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub period: Text,
    /// The amount spent on the Hong Kong production base, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// When it was spent (the last day of the period it covers); required when the sub-fund has an
    /// investment period, and only spend within that period counts towards the minimum.
    #[arg(long, value_name = "DATE")]
    pub spent_on: Option<Date>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

pub async fn subfund(command: SubfundCommand) -> Result<()> {
    match command {
        SubfundCommand::Show(args) => crate::query::subfund_show(args).await,
        SubfundCommand::Admit(args) => {
            let data = SubFundAdmitted {
                fund: args.fund,
                subfund: args.subfund,
                name: args.name,
                theme: args.theme,
                general_partner: args.general_partner,
                target_size_cents: args.target_size,
                investment_period: args.investment_period,
            };
            record(&args.signing, Event::SubFundAdmitted(data)).await
        }
        SubfundCommand::MarketCommit(args) => {
            let data = MarketCommitted { subfund: args.subfund, investor: args.investor, amount_cents: args.amount };
            record(&args.signing, Event::MarketCommitted(data)).await
        }
        SubfundCommand::GovernmentCommit(args) => {
            let data = GovernmentCommitted { subfund: args.subfund, amount_cents: args.amount };
            record(&args.signing, Event::GovernmentCommitted(data)).await
        }
        SubfundCommand::Call(args) => {
            let data = CapitalCalled { subfund: args.subfund, reference: args.reference, amount_cents: args.amount };
            record(&args.signing, Event::CapitalCalled(data)).await
        }
        SubfundCommand::Distribute(args) => {
            let data = Distributed { subfund: args.subfund, amount_cents: args.amount, recallable: args.recallable };
            record(&args.signing, Event::Distributed(data)).await
        }
        SubfundCommand::Nav(args) => {
            let data = NavReported { subfund: args.subfund, as_of: args.as_of, nav_cents: args.amount };
            record(&args.signing, Event::NavReported(data)).await
        }
        SubfundCommand::Invest(args) => {
            let data = Invested {
                subfund: args.subfund,
                investment: args.investment,
                investee: args.investee,
                amount_cents: args.amount,
                hk_enterprise: args.hk_enterprise,
                innovation_technology: args.innovation_technology,
            };
            record(&args.signing, Event::Invested(data)).await
        }
        SubfundCommand::WriteOff(args) => {
            let data = WrittenOff { subfund: args.subfund, investment: args.investment, amount_cents: args.amount };
            record(&args.signing, Event::WrittenOff(data)).await
        }
        SubfundCommand::Fee(args) => {
            let data = FeeCharged { subfund: args.subfund, period: args.period, amount_cents: args.amount };
            record(&args.signing, Event::FeeCharged(data)).await
        }
        SubfundCommand::ProductionSpend(args) => {
            let data = ProductionSpendReported {
                subfund: args.subfund,
                investment: args.investment,
                period: args.period,
                amount_cents: args.amount,
                spent_on: args.spent_on,
            };
            record(&args.signing, Event::ProductionSpendReported(data)).await
        }
    }
}

// ---------------------------------------------------------------------------
// Matching-grant schemes.

/// Published scheme terms to start from.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SchemePreset {
    /// Manufacturing and Production Line Upgrade Support Pilot Scheme: HK$100M, 1:2, HK$250,000 per enterprise.
    Pilot,
    /// New Industrialisation Funding Scheme: 1:2, lower of 1/3 of cost or HK$15M per project,
    /// 3 concurrent projects and HK$45M per enterprise, paid on completion. Needs --budget.
    Nifs,
    /// New Industrialisation Acceleration Scheme: HK$10bn, 1:2, lower of 1/3 of cost or HK$200M,
    /// cost at least HK$150M (HK$100M from the enterprise), 2 projects and HK$200M per enterprise, 36 months.
    Nias,
}

#[derive(Subcommand, Debug)]
pub enum SchemeCommand {
    /// Establish a matching-grant scheme with its ratio, caps and budget (admin only).
    Establish(SchemeEstablishArgs),
    /// Amend a scheme's terms for grants approved on or after a date, and/or top its budget up
    /// (admin only). Terms not given stay as they are; amendments take effect in date order.
    Amend(SchemeAmendArgs),
    /// Show a scheme from the query API: budget, commitments, disbursements, each enterprise's headroom.
    Show(crate::query::ShowArgs),
}

#[derive(Args, Debug)]
pub struct SchemeEstablishArgs {
    /// The scheme's id (1-64 of a-z 0-9 _ -), e.g. nias. Overrides the id in --terms.
    #[arg(long, value_name = "ID", required_unless_present = "terms")]
    pub scheme: Option<SchemeId>,
    /// The published terms to start from; the flags below override single terms.
    #[arg(long, value_enum, required_unless_present = "terms", conflicts_with = "terms")]
    pub preset: Option<SchemePreset>,
    /// Start from a file holding the data of a scheme.established event (JSON, amounts in cents):
    /// a new scheme needs no code change.
    #[arg(long, value_name = "FILE")]
    pub terms: Option<PathBuf>,
    /// The scheme's name.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub name: Option<Text>,
    /// The scheme's budget, in HK$ (required with --preset nifs, whose budget is an allocation from the ITF).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub budget: Option<Money>,
    /// Government parts to enterprise parts, GOVERNMENT:ENTERPRISE (presets: 1:2).
    #[arg(long, value_name = "G:E", value_parser = parse_ratio)]
    pub ratio: Option<Ratio>,
    /// Cap on one project's grant, in HK$, or `none`.
    #[arg(long, value_name = "HKD|none", value_parser = parse_cap)]
    pub project_grant_max: Option<Cap>,
    /// Cap on one enterprise's grants in total, in HK$, or `none`.
    #[arg(long, value_name = "HKD|none", value_parser = parse_cap)]
    pub enterprise_grant_max: Option<Cap>,
    /// Smallest approved project cost, in HK$, or `none`.
    #[arg(long, value_name = "HKD|none", value_parser = parse_cap)]
    pub project_cost_min: Option<Cap>,
    /// Smallest contribution by the enterprise itself, in HK$, or `none`.
    #[arg(long, value_name = "HKD|none", value_parser = parse_cap)]
    pub enterprise_contribution_min: Option<Cap>,
    /// Most projects one enterprise may have in the scheme, or `none`.
    #[arg(long, value_name = "N|none", value_parser = parse_limit)]
    pub projects_per_enterprise_max: Option<Limit>,
    /// Most open projects one enterprise may have at a time, or `none`.
    #[arg(long, value_name = "N|none", value_parser = parse_limit)]
    pub concurrent_projects_max: Option<Limit>,
    /// Longest project duration, in months, or `none`.
    #[arg(long, value_name = "MONTHS|none", value_parser = parse_limit)]
    pub duration_months_max: Option<Limit>,
    /// Whether grants are paid only after the project is completed (NIFS preset: true).
    #[arg(long, value_name = "BOOL", action = ArgAction::Set)]
    pub paid_on_completion: Option<bool>,
    /// Disbursements at or above this amount, in HK$, need two distinct signers (presets: 10,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub dual_control_threshold: Option<Money>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct SchemeAmendArgs {
    /// The scheme amended.
    #[arg(long, value_name = "ID", required_unless_present = "terms")]
    pub scheme: Option<SchemeId>,
    /// Start from a file holding the data of a scheme.amended event (JSON, amounts in cents).
    #[arg(long, value_name = "FILE")]
    pub terms: Option<PathBuf>,
    /// Grants approved on or after this date get the new terms (not before the latest amendment's date).
    #[arg(long, value_name = "DATE", required_unless_present = "terms")]
    pub effective_from: Option<Date>,
    /// Why, and the published source of the change.
    #[arg(long, value_name = "TEXT", value_parser = parse_text, required_unless_present = "terms")]
    pub reason: Option<Text>,
    /// Budget added to the scheme at once, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub budget_top_up: Option<Money>,
    /// New cap on one project's grant, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub project_grant_max: Option<Money>,
    /// New cap on one enterprise's (or group's) grants, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub enterprise_grant_max: Option<Money>,
    /// New smallest approved project cost, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub project_cost_min: Option<Money>,
    /// New smallest contribution by the enterprise itself, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub enterprise_contribution_min: Option<Money>,
    /// New most projects per enterprise (or group).
    #[arg(long, value_name = "N")]
    pub projects_per_enterprise_max: Option<u32>,
    /// New most open projects per enterprise (or group) at a time.
    #[arg(long, value_name = "N")]
    pub concurrent_projects_max: Option<u32>,
    /// New longest project duration, in months.
    #[arg(long, value_name = "MONTHS")]
    pub duration_months_max: Option<u32>,
    /// New application window, START..END: applications received outside it are refused.
    #[arg(long, value_name = "START..END", value_parser = parse_period)]
    pub application_window: Option<Period>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

async fn amend_scheme(args: SchemeAmendArgs) -> Result<()> {
    let mut data: SchemeAmended = match (&args.terms, &args.scheme, &args.effective_from, &args.reason) {
        (Some(path), _, _, _) => read_terms(path, "scheme.amended")?,
        (None, Some(scheme), Some(effective_from), Some(reason)) => SchemeAmended::new(scheme.clone(), effective_from.clone(), reason.clone()),
        _ => bail!("give --scheme ID, --effective-from DATE and --reason TEXT, or --terms FILE"),
    };
    if let Some(scheme) = args.scheme {
        data.scheme = scheme;
    }
    if let Some(date) = args.effective_from {
        data.effective_from = date;
    }
    if let Some(reason) = args.reason {
        data.reason = reason;
    }
    let money = [
        (&mut data.budget_top_up_cents, args.budget_top_up),
        (&mut data.project_grant_max_cents, args.project_grant_max),
        (&mut data.enterprise_grant_max_cents, args.enterprise_grant_max),
        (&mut data.project_cost_min_cents, args.project_cost_min),
        (&mut data.enterprise_contribution_min_cents, args.enterprise_contribution_min),
    ];
    for (term, given) in money {
        if given.is_some() {
            *term = given;
        }
    }
    let counts = [
        (&mut data.projects_per_enterprise_max, args.projects_per_enterprise_max),
        (&mut data.concurrent_projects_per_enterprise_max, args.concurrent_projects_max),
        (&mut data.project_duration_months_max, args.duration_months_max),
    ];
    for (term, given) in counts {
        if given.is_some() {
            *term = given;
        }
    }
    if args.application_window.is_some() {
        data.application_window = args.application_window;
    }
    record(&args.signing, Event::SchemeAmended(data)).await
}

pub async fn scheme(command: SchemeCommand) -> Result<()> {
    let args = match command {
        SchemeCommand::Establish(args) => args,
        SchemeCommand::Amend(args) => return amend_scheme(args).await,
        SchemeCommand::Show(args) => return crate::query::scheme_show(args).await,
    };
    let mut terms: SchemeEstablished = match (&args.terms, &args.scheme, args.preset) {
        (Some(path), _, _) => read_terms(path, "scheme.established")?,
        (None, Some(scheme), Some(SchemePreset::Pilot)) => presets::pilot_scheme(scheme.as_str()),
        (None, Some(scheme), Some(SchemePreset::Nias)) => presets::nias_scheme(scheme.as_str()),
        (None, Some(scheme), Some(SchemePreset::Nifs)) => match args.budget {
            Some(budget) => presets::nifs_scheme(scheme.as_str(), budget),
            None => bail!("--preset nifs needs --budget HKD: NIFS is funded from the ITF, so give the allocation this ledger polices"),
        },
        _ => bail!("give --scheme ID and --preset pilot|nifs|nias, or --terms FILE"),
    };
    if let Some(scheme) = args.scheme {
        terms.scheme = scheme;
    }
    if let Some(name) = args.name {
        terms.name = name;
    }
    if let Some(budget) = args.budget {
        terms.budget_cents = budget;
    }
    if let Some(Ratio(government, enterprise)) = args.ratio {
        terms.government_ratio = government;
        terms.enterprise_ratio = enterprise;
    }
    if let Some(Cap(cap)) = args.project_grant_max {
        terms.project_grant_max_cents = cap;
    }
    if let Some(Cap(cap)) = args.enterprise_grant_max {
        terms.enterprise_grant_max_cents = cap;
    }
    if let Some(Cap(cap)) = args.project_cost_min {
        terms.project_cost_min_cents = cap;
    }
    if let Some(Cap(cap)) = args.enterprise_contribution_min {
        terms.enterprise_contribution_min_cents = cap;
    }
    if let Some(Limit(limit)) = args.projects_per_enterprise_max {
        terms.projects_per_enterprise_max = limit;
    }
    if let Some(Limit(limit)) = args.concurrent_projects_max {
        terms.concurrent_projects_per_enterprise_max = limit;
    }
    if let Some(Limit(limit)) = args.duration_months_max {
        terms.project_duration_months_max = limit;
    }
    if let Some(paid_on_completion) = args.paid_on_completion {
        terms.paid_on_completion = paid_on_completion;
    }
    if let Some(threshold) = args.dual_control_threshold {
        terms.dual_control_threshold_cents = threshold;
    }
    record(&args.signing, Event::SchemeEstablished(terms)).await
}

// ---------------------------------------------------------------------------
// Grants.

#[derive(Subcommand, Debug)]
pub enum GrantCommand {
    /// Approve a grant for one project of an enterprise (within the scheme's ratio, caps and budget).
    Approve(ApproveArgs),
    /// Record eligible project spend verified against evidence, anchored by the evidence's SHA-256.
    VerifySpend(VerifySpendArgs),
    /// Mark a grant's project as completed.
    Complete(GrantOnlyArgs),
    /// Record a payment to the enterprise (at most the government's share of verified spend).
    Disburse(DisburseArgs),
    /// Disallow verified spend (found ineligible on audit, say): the grant then reimburses only
    /// net eligible spend, and money paid above it may be clawed back for ineligible_spend.
    DisallowSpend(DisallowSpendArgs),
    /// Accept the next milestone of the scheme's payment schedule (in order, from 1): its instalment becomes payable.
    AcceptMilestone(AcceptMilestoneArgs),
    /// Record money recovered from the enterprise, with its reason code.
    Clawback(ClawbackArgs),
    /// Close a grant; what was not disbursed returns to the scheme's budget.
    Close(CloseArgs),
    /// Show a grant from the query API: status, figures and full history.
    Show(crate::query::ShowArgs),
}

#[derive(Args, Debug)]
pub struct ApproveArgs {
    /// The scheme the grant is under.
    #[arg(long, value_name = "ID")]
    pub scheme: SchemeId,
    /// The new grant's id, unique across the ledger (1-64 of a-z 0-9 _ -).
    #[arg(long, value_name = "ID")]
    pub grant: GrantId,
    /// The enterprise's id (e.g. its business registration number; 1-64 of a-z 0-9 _ -).
    #[arg(long, value_name = "ID")]
    pub enterprise: EnterpriseId,
    /// The enterprise's name.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub enterprise_name: Text,
    /// The project, in a few words.
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub project: Text,
    /// The approved project cost, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub approved_cost: Money,
    /// The approved grant, in HK$ (at most the government's share of the cost, e.g. 1/3 for 1:2, and the caps).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// The project's duration, in months.
    #[arg(long, value_name = "MONTHS")]
    pub duration_months: u32,
    /// When the application was received (required by a scheme with an application window, and inside it).
    #[arg(long, value_name = "DATE")]
    pub applied_on: Option<Date>,
    /// An eligibility attestation the scheme requires, CODE=FILE (hashed here) or CODE=SHA256HEX,
    /// e.g. hk-production-line-1y=line-evidence.pdf. Repeatable.
    #[arg(long, value_name = "CODE=FILE|HEX", value_parser = parse_attestation)]
    pub attestation: Vec<AttestationArg>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("evidence_source").required(true).args(["evidence", "evidence_sha256"])))]
pub struct VerifySpendArgs {
    /// The grant.
    #[arg(long, value_name = "ID")]
    pub grant: GrantId,
    /// The eligible spend verified, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// The evidence document (invoice, audited accounts). Only its SHA-256 is computed here and
    /// recorded; the file itself is never sent.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
    /// The evidence's SHA-256, as 64 hex digits, when the document is not on this machine.
    #[arg(long, value_name = "HEX", value_parser = parse_evidence_sha256)]
    pub evidence_sha256: Option<EvidenceDigest>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct GrantOnlyArgs {
    /// The grant.
    #[arg(long, value_name = "ID")]
    pub grant: GrantId,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct DisburseArgs {
    /// The grant.
    #[arg(long, value_name = "ID")]
    pub grant: GrantId,
    /// The amount paid to the enterprise, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// The payment's reference (e.g. the payment voucher number).
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub payment_reference: Text,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct ClawbackArgs {
    /// The grant.
    #[arg(long, value_name = "ID")]
    pub grant: GrantId,
    /// The amount recovered from the enterprise, in HK$ (at most what was disbursed).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// Why the money is clawed back, in words.
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub reason: Text,
    /// The reason's code: ineligible-spend and overpayment return at most what the grant is overpaid
    /// (disallow the spend first); breach-of-conditions and termination forfeit the money (never paid again).
    #[arg(long, value_enum)]
    pub reason_code: ClawbackReasonArg,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Why money is clawed back.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ClawbackReasonArg {
    /// Paid against spend since disallowed.
    IneligibleSpend,
    /// Paid above what the rules allowed.
    Overpayment,
    /// The enterprise breached the grant's conditions: the money is forfeited.
    BreachOfConditions,
    /// The grant was terminated: the money is forfeited.
    Termination,
}

impl From<ClawbackReasonArg> for ClawbackReason {
    fn from(arg: ClawbackReasonArg) -> ClawbackReason {
        match arg {
            ClawbackReasonArg::IneligibleSpend => ClawbackReason::IneligibleSpend,
            ClawbackReasonArg::Overpayment => ClawbackReason::Overpayment,
            ClawbackReasonArg::BreachOfConditions => ClawbackReason::BreachOfConditions,
            ClawbackReasonArg::Termination => ClawbackReason::Termination,
        }
    }
}

/// Why spend is disallowed.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DisallowanceArg {
    IneligibleItem,
    NotIncurred,
    OutsideProjectPeriod,
    InsufficientEvidence,
    DuplicateClaim,
}

impl From<DisallowanceArg> for DisallowanceReason {
    fn from(arg: DisallowanceArg) -> DisallowanceReason {
        match arg {
            DisallowanceArg::IneligibleItem => DisallowanceReason::IneligibleItem,
            DisallowanceArg::NotIncurred => DisallowanceReason::NotIncurred,
            DisallowanceArg::OutsideProjectPeriod => DisallowanceReason::OutsideProjectPeriod,
            DisallowanceArg::InsufficientEvidence => DisallowanceReason::InsufficientEvidence,
            DisallowanceArg::DuplicateClaim => DisallowanceReason::DuplicateClaim,
        }
    }
}

#[derive(Args, Debug)]
pub struct DisallowSpendArgs {
    /// The grant.
    #[arg(long, value_name = "ID")]
    pub grant: GrantId,
    /// The spend disallowed, in HK$ (at most what the evidence supports, less what was disallowed of it).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub amount: Money,
    /// Why.
    #[arg(long, value_enum)]
    pub reason: DisallowanceArg,
    /// The evidence of the spend disallowed (it must support spend on this grant).
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct AcceptMilestoneArgs {
    /// The grant.
    #[arg(long, value_name = "ID")]
    pub grant: GrantId,
    /// The milestone's number: the next one (1 for the first).
    #[arg(long, value_name = "N")]
    pub milestone: u32,
    /// The evidence the milestone was reached (a report, a certificate).
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct AssociateArgs {
    /// An enterprise of the group (2 to 32; repeat the flag). Per-enterprise caps and project counts
    /// then apply to the group as a whole.
    #[arg(long = "enterprise", value_name = "ID", required = true, num_args = 1)]
    pub enterprises: Vec<EnterpriseId>,
    /// The basis, e.g. the common shareholder and the share held.
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub basis: Text,
    /// The evidence of common ownership (a company search, a shareholders' register).
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Records `enterprise.associated`.
pub async fn associate(args: AssociateArgs) -> Result<()> {
    if args.enterprises.len() < 2 {
        bail!("name at least two enterprises (--enterprise ID --enterprise ID)");
    }
    let data = EnterprisesAssociated { enterprises: args.enterprises, basis: args.basis, evidence_sha256: args.evidence.digest()? };
    record(&args.signing, Event::EnterprisesAssociated(data)).await
}

/// Why a grant is closed.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CloseReasonArg {
    /// The project was completed.
    Completed,
    /// The enterprise withdrew.
    Withdrawn,
    /// The government terminated the grant.
    Terminated,
}

#[derive(Args, Debug)]
pub struct CloseArgs {
    /// The grant.
    #[arg(long, value_name = "ID")]
    pub grant: GrantId,
    /// Why the grant is closed.
    #[arg(long, value_enum)]
    pub reason: CloseReasonArg,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// SHA-256 of a file, read in full (evidence documents are modest in size).
fn file_sha256(path: &Path) -> Result<EvidenceDigest> {
    let bytes = std::fs::read(path).with_context(|| format!("--evidence: cannot read {}", path.display()))?;
    Ok(EvidenceDigest(sha256(&[&bytes])))
}

pub async fn grant(command: GrantCommand) -> Result<()> {
    match command {
        GrantCommand::Show(args) => crate::query::grant_show(args).await,
        GrantCommand::Approve(args) => {
            let data = GrantApproved {
                scheme: args.scheme,
                grant: args.grant,
                enterprise: args.enterprise,
                enterprise_name: args.enterprise_name,
                project: args.project,
                approved_cost_cents: args.approved_cost,
                grant_cents: args.amount,
                duration_months: args.duration_months,
                applied_on: args.applied_on,
                attestations: args.attestation.iter().map(AttestationArg::resolve).collect::<Result<_>>()?,
            };
            record(&args.signing, Event::GrantApproved(data)).await
        }
        GrantCommand::VerifySpend(args) => {
            let digest = match (&args.evidence, args.evidence_sha256) {
                (Some(path), None) => file_sha256(path)?,
                (None, Some(digest)) => digest,
                _ => bail!("give exactly one of --evidence FILE and --evidence-sha256 HEX"),
            };
            let data = SpendVerified { grant: args.grant, amount_cents: args.amount, evidence_sha256: digest };
            record(&args.signing, Event::SpendVerified(data)).await
        }
        GrantCommand::Complete(args) => record(&args.signing, Event::GrantCompleted(GrantCompleted { grant: args.grant })).await,
        GrantCommand::Disburse(args) => {
            let data = GrantDisbursed { grant: args.grant, amount_cents: args.amount, payment_reference: args.payment_reference };
            record(&args.signing, Event::GrantDisbursed(data)).await
        }
        GrantCommand::Clawback(args) => {
            let data = GrantClawedBack { grant: args.grant, amount_cents: args.amount, reason: args.reason, reason_code: Some(args.reason_code.into()) };
            record(&args.signing, Event::GrantClawedBack(data)).await
        }
        GrantCommand::DisallowSpend(args) => {
            let data = SpendDisallowed { grant: args.grant, amount_cents: args.amount, reason: args.reason.into(), evidence_sha256: args.evidence.digest()? };
            record(&args.signing, Event::SpendDisallowed(data)).await
        }
        GrantCommand::AcceptMilestone(args) => {
            let data = MilestoneAccepted { grant: args.grant, milestone: args.milestone, evidence_sha256: args.evidence.digest()? };
            record(&args.signing, Event::MilestoneAccepted(data)).await
        }
        GrantCommand::Close(args) => {
            let reason = match args.reason {
                CloseReasonArg::Completed => CloseReason::Completed,
                CloseReasonArg::Withdrawn => CloseReason::Withdrawn,
                CloseReasonArg::Terminated => CloseReason::Terminated,
            };
            record(&args.signing, Event::GrantClosed(GrantClosed { grant: args.grant, reason })).await
        }
    }
}

// ---------------------------------------------------------------------------
// Raw submissions, offline signing, status.

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

/// The ledger named by the submissions' bodies, when they name exactly one.
fn submissions_ledger(items: &[Value]) -> Result<Option<LedgerId>> {
    let mut found: Option<String> = None;
    for item in items {
        let Some(ledger) = item.pointer("/body/ledger").and_then(Value::as_str) else { continue };
        match &found {
            Some(earlier) if earlier != ledger => bail!("the submissions are for ledgers {earlier} and {ledger}; submit each ledger's separately"),
            Some(_) => {}
            None => found = Some(ledger.to_string()),
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
            Err(_) => match item.pointer("/body/id").and_then(Value::as_str) {
                Some(id) => format!("submission {} (id {id})", index + 1),
                None => format!("submission {}", index + 1),
            },
        })
        .collect();
    let answer = client::send(&args.writer, ledger.as_str(), text.into_bytes()).await?;
    if args.json {
        println!("{answer}");
    }
    if !is_batch {
        let line = outcome_line(&whats[0], &answer)?;
        if !args.json {
            println!("{line}");
        }
        return Ok(());
    }
    let Some(results) = answer.get("results").and_then(Value::as_array) else {
        bail!("{}", client::describe_error(&answer));
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

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The signer's key file (from `fundledger keygen`).
    #[arg(long, value_name = "FILE", env = "FUNDLEDGER_KEY")]
    pub key: PathBuf,
    /// Another signer's key file, for dual control. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub cosign: Vec<PathBuf>,
    /// An event body JSON {"v":1, "id", "ledger", "occurred_at", "signers", "type", "data"}
    /// (when "signers" is missing, it is the --key then each --cosign), or a partly signed
    /// submission {"body", "signatures"} with null for signatures still missing; `-` reads standard input.
    #[arg(value_name = "BODY_FILE|-")]
    pub body: PathBuf,
}

/// Signs a body (or adds signatures to a partly signed submission) and prints the submission.
/// Signatures still missing are printed as null, to be added on the co-signer's machine.
pub fn sign(args: SignArgs) -> Result<()> {
    let source = if args.body == Path::new("-") { "standard input".to_string() } else { args.body.display().to_string() };
    let text = read_input(&args.body)?;
    let keys = load_keys(&args.key, &args.cosign)?;
    let input: Value = serde_json::from_str(&text).with_context(|| format!("{source} is not JSON"))?;
    let (mut body, existing) = match input {
        Value::Object(mut object) if object.contains_key("body") => {
            let body = object.remove("body").unwrap_or(Value::Null);
            let signatures = match object.remove("signatures") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items,
                Some(_) => bail!("{source}: \"signatures\" must be an array of hex signatures or null"),
            };
            if let Some(other) = object.keys().next() {
                bail!("{source}: unknown field {other:?}; a submission has only \"body\" and \"signatures\"");
            }
            (body, signatures)
        }
        other => (other, Vec::new()),
    };
    let Some(object) = body.as_object_mut() else { bail!("{source}: the event body must be a JSON object") };
    if !object.contains_key("signers") {
        let signers: Vec<Value> = keys.iter().map(|loaded| Value::String(loaded.key.key_id().to_string())).collect();
        object.insert("signers".to_string(), Value::Array(signers));
    }
    let canonical = canonicalize(&body).with_context(|| format!("{source}: the body cannot be canonicalised"))?;
    let parsed = EventBody::from_json(std::str::from_utf8(&canonical).context("canonical body is not UTF-8")?)
        .with_context(|| format!("{source} is not a valid event body"))?;
    let hash = event_hash(&canonical);
    let signers = &parsed.signers;
    if !existing.is_empty() && existing.len() != signers.len() {
        bail!("{source}: {} signatures for {} signers; give one per signer (null where missing)", existing.len(), signers.len());
    }
    let mut signatures: Vec<Option<Signature>> = vec![None; signers.len()];
    for (index, item) in existing.iter().enumerate() {
        match item {
            Value::Null => {}
            Value::String(text) => {
                let signature = Signature::parse(text).with_context(|| format!("{source}: signature {index}"))?;
                crypto::verify(&signers[index], domain::EVENT_SIGNATURE, &hash, &signature).map_err(|_| {
                    anyhow!("{source}: signature {index} (by {}) does not verify over this body; the body changed after it was signed", signers[index].short())
                })?;
                signatures[index] = Some(signature);
            }
            _ => bail!("{source}: signature {index} must be a hex string or null"),
        }
    }
    for loaded in &keys {
        let key_id = loaded.key.key_id();
        let Some(position) = signers.iter().position(|signer| *signer == key_id) else {
            let listed: Vec<String> = signers.iter().map(KeyId::short).collect();
            bail!("{} (key {}) is not among the body's signers [{}]; the body lists who signs it", loaded.source, key_id.short(), listed.join(", "));
        };
        signatures[position] = Some(loaded.key.sign(domain::EVENT_SIGNATURE, &hash));
    }
    let missing: Vec<String> = signers.iter().zip(&signatures).filter(|(_, signature)| signature.is_none()).map(|(signer, _)| signer.to_string()).collect();
    if missing.is_empty() {
        let complete: Vec<Signature> = signatures.into_iter().flatten().collect();
        let signed = SignedEvent::from_canonical(canonical, complete).context("assembling the submission")?;
        println!("{}", signed.to_submission_json());
    } else {
        let body_text = std::str::from_utf8(&canonical).context("canonical body is not UTF-8")?;
        let list: Vec<String> =
            signatures.iter().map(|signature| signature.map_or_else(|| "null".to_string(), |signature| format!("\"{signature}\""))).collect();
        println!("{{\"body\":{body_text},\"signatures\":[{}]}}", list.join(","));
        eprintln!("still to sign: {}; run `fundledger sign` on this output with their key files", missing.join(", "));
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The writer's HTTP address.
    #[arg(long, value_name = "URL", env = "FUNDLEDGER_WRITER", default_value = client::DEFAULT_WRITER_URL)]
    pub writer: String,
    /// Print the writer's status JSON as it sent it.
    #[arg(long)]
    pub json: bool,
}

pub async fn status(args: StatusArgs) -> Result<()> {
    let url = format!("{}/v1/status", args.writer.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_millis(STATUS_TIMEOUT_MS))
        .send()
        .await
        .with_context(|| format!("cannot reach the writer at {url}; start it with `fundledger serve` or pass --writer"))?;
    let code = response.status();
    let text = response.text().await.with_context(|| format!("reading the answer of {url}"))?;
    if !code.is_success() {
        bail!("{url} answered {code}: {}", text.chars().take(300).collect::<String>());
    }
    let status: Value = serde_json::from_str(&text)
        .with_context(|| format!("{url} answered with something that is not JSON: {}", text.chars().take(300).collect::<String>()))?;
    if args.json {
        println!("{status}");
        return Ok(());
    }
    let field = |name: &str| status.get(name).map(|value| value.as_str().map_or_else(|| value.to_string(), str::to_string)).unwrap_or_else(|| "?".to_string());
    let ready = status.get("ready").and_then(Value::as_bool);
    println!("ledger  {}", field("ledger"));
    println!("size    {} records", field("size"));
    println!("head    {}", field("head"));
    println!("root    {}", field("root"));
    println!(
        "ready   {}",
        match ready {
            Some(true) => "yes",
            Some(false) => "no (the writer is catching up or cannot reach NATS)",
            None => "?",
        }
    );
    if let (Some(appended), Some(refused)) = (status.get("appended_since_start"), status.get("refused_since_start")) {
        println!("since start: {appended} appended, {refused} refused");
    }
    Ok(())
}
