//! Benchmark ledgers: valid, signed events made fast, and a synthetic ledger
//! of any size written straight into a ledger stream (records sealed here,
//! appended with the same fencing as the writer) for the benchmarks that read
//! big ledgers back (`bench rebuild`, `bench verify`).

use anyhow::{bail, Context, Result};
use fundledger_core::chain::ChainState;
use fundledger_core::crypto::{sha256, SecretKey};
use fundledger_core::event::*;
use fundledger_core::id::{EventId, LedgerId};
use fundledger_core::ledger::EventScope;
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::SignedEvent;
use fundledger_core::time::{Date, Timestamp};
use fundledger_nats::{Appender, OutgoingMessage, ScopeKind, StreamSettings};

/// Events signed and appended per round while writing a synthetic ledger.
const SYNTHETIC_CHUNK_EVENTS: usize = 8192;

fn text(value: &str) -> Text {
    Text::parse(value).unwrap_or_else(|error| panic!("bench text {value:?}: {error}"))
}

/// The keys of a benchmark ledger (derived from fixed labels: benchmarks are reproducible).
pub struct Setup {
    pub ledger: LedgerId,
    pub operator: SecretKey,
    pub manager: SecretKey,
    pub officer: SecretKey,
}

impl Setup {
    pub fn new(ledger: LedgerId) -> Setup {
        Setup {
            ledger,
            operator: SecretKey::from_seed_label("bench/operator"),
            manager: SecretKey::from_seed_label("bench/manager"),
            officer: SecretKey::from_seed_label("bench/officer"),
        }
    }
}

/// The events that make the measured events valid: genesis, keys, a fund, a
/// sub-fund, a scheme and one large grant.
pub fn setup_events(setup: &Setup) -> Result<Vec<SignedEvent>> {
    let operator = &setup.operator;
    let mut events = Vec::new();
    let mut sign = |index: usize, event: Event, signer: &SecretKey| -> Result<()> {
        let id = EventId::parse(&format!("setup-{index}"))?;
        events.push(SignedEvent::author(&setup.ledger, id, Timestamp::parse("2026-01-01T00:00:00Z")?, event, &[signer])?);
        Ok(())
    };
    sign(0, Event::LedgerGenesis(LedgerGenesis { name: text("bench"), operator: operator.key_id(), operator_holder: text("operator") }), operator)?;
    sign(1, Event::FundEstablished(presets::itif("itif")), operator)?;
    sign(2, Event::SchemeEstablished(presets::nias_scheme("nias")), operator)?;
    sign(3, Event::KeyRegistered(KeyRegistered { key: setup.manager.key_id(), holder: text("manager") }), operator)?;
    sign(4, Event::RoleGranted(RoleChange { key: setup.manager.key_id(), role: Role::FundManager, scope: Scope::Fund("itif".parse()?) }), operator)?;
    sign(5, Event::KeyRegistered(KeyRegistered { key: setup.officer.key_id(), holder: text("officer") }), operator)?;
    sign(6, Event::RoleGranted(RoleChange { key: setup.officer.key_id(), role: Role::GrantOfficer, scope: Scope::Scheme("nias".parse()?) }), operator)?;
    sign(
        7,
        Event::SubFundAdmitted(SubFundAdmitted {
            fund: "itif".parse()?,
            subfund: "sf-bench".parse()?,
            name: text("Bench Fund I"),
            theme: "ai-robotics".parse()?,
            general_partner: text("Bench GP"),
            target_size_cents: Money::hkd(2_000_000_000),
            investment_period: None,
        }),
        &setup.manager,
    )?;
    sign(
        8,
        Event::GrantApproved(GrantApproved {
            scheme: "nias".parse()?,
            grant: "nias-bench".parse()?,
            enterprise: "br-00000001".parse()?,
            enterprise_name: text("Bench Manufacturing Limited"),
            project: text("Benchmark project"),
            approved_cost_cents: Money::hkd(600_000_000),
            // Below NIAS's HK$10M dual-control threshold for approvals: one signer.
            grant_cents: Money::hkd(9_000_000),
            duration_months: 36,
            applied_on: None,
            attestations: Vec::new(),
        }),
        &setup.officer,
    )?;
    Ok(events)
}

/// Measured events: NAV reports and verified spend (each a few hundred bytes), signed on all cores.
pub fn measured_events(setup: &Setup, prefix: &str, indices: std::ops::Range<usize>) -> Result<Vec<SignedEvent>> {
    use rayon::prelude::*;
    let as_of = Date::parse("2026-03-31")?;
    let occurred_at = Timestamp::parse("2026-04-01T09:00:00Z")?;
    let results: Vec<Result<SignedEvent>> = indices
        .into_par_iter()
        .map(|index| {
            let id = EventId::parse(&format!("{prefix}-{index:08}"))?;
            let (event, signer) = if index % 2 == 0 {
                (
                    Event::NavReported(NavReported {
                        subfund: "sf-bench".parse()?,
                        as_of: as_of.clone(),
                        nav_cents: Money::from_cents(1_000_000_000 + index as u64)?,
                    }),
                    &setup.manager,
                )
            } else {
                let evidence = EvidenceDigest(sha256(&[id.as_str().as_bytes()]));
                (
                    Event::SpendVerified(SpendVerified { grant: "nias-bench".parse()?, amount_cents: Money::from_cents(100)?, evidence_sha256: evidence }),
                    &setup.officer,
                )
            };
            Ok(SignedEvent::author(&setup.ledger, id, occurred_at.clone(), event, &[signer])?)
        })
        .collect();
    results.into_iter().collect()
}

/// A ledger written by [`publish_ledger`].
pub struct SyntheticLedger {
    pub setup: Setup,
    /// Records in the stream (setup events included).
    pub size: u64,
    /// The chain after the last record: head and Merkle root.
    pub chain: ChainState,
}

/// Writes a valid ledger of `setup_events` plus `events` measured events into
/// `ledger`'s (new, empty) stream. Records are sealed here with one fixed
/// `recorded_at` and appended in fenced, pipelined batches.
pub async fn publish_ledger(js: &fundledger_nats::Broker, ledger: &LedgerId, events: usize, progress: bool) -> Result<SyntheticLedger> {
    let streams = fundledger_nats::ensure_ledger_streams(js, ledger.as_str(), &StreamSettings::default()).await?;
    let appender = Appender::new(js.clone(), streams.events_stream.clone());
    if appender.last_sequence().await? != 0 {
        bail!("the stream {} is not empty: a synthetic ledger needs a new ledger id", streams.events_stream);
    }
    let setup = Setup::new(ledger.clone());
    let bar = if progress { indicatif::ProgressBar::new(events as u64) } else { indicatif::ProgressBar::hidden() };
    bar.set_style(
        indicatif::ProgressStyle::with_template("writing synthetic ledger {bar:40} {human_pos}/{human_len} events ({per_sec}, {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let recorded_at = Timestamp::parse("2026-04-01T09:00:00Z")?;
    let mut chain = ChainState::new(ledger.clone());
    let mut ledger_state = fundledger_core::ledger::Ledger::new();
    let mut append = |signed: Vec<SignedEvent>| -> Result<Vec<OutgoingMessage>> {
        let mut messages = Vec::with_capacity(signed.len());
        // Verified and applied, so that a generator bug shows here rather than as a verify failure.
        for verified in fundledger_core::record::verify_events_parallel(signed) {
            let verified = verified.context("synthetic event signature")?;
            let (kind, scope) = match ledger_state.event_scope(&verified.body().event) {
                EventScope::Ledger => (ScopeKind::Ledger, ledger.to_string()),
                EventScope::Fund(fund) => (ScopeKind::Fund, fund.to_string()),
                EventScope::Scheme(scheme) => (ScopeKind::Scheme, scheme.to_string()),
            };
            let subject = fundledger_nats::event_subject(ledger.as_str(), kind, &scope, verified.body().type_name())?;
            ledger_state.apply(&verified).map_err(|violation| anyhow::anyhow!("synthetic event {} refused: {violation}", verified.body().id))?;
            let record = chain.seal_next(recorded_at.clone(), verified.into_signed());
            chain.append(&record, |_, _| {}).map_err(|error| anyhow::anyhow!("synthetic chain: {error}"))?;
            messages.push(OutgoingMessage { subject, message_id: record.body().id.to_string(), payload: record.to_json().into() });
        }
        Ok(messages)
    };
    let mut size = 0u64;
    let mut batches = vec![append(setup_events(&setup)?)?];
    let mut start = 0;
    loop {
        for messages in batches.drain(..) {
            appender.append_batch(size + 1, &messages).await.context("appending the synthetic ledger")?;
            size += messages.len() as u64;
        }
        if start >= events {
            break;
        }
        let end = (start + SYNTHETIC_CHUNK_EVENTS).min(events);
        let signed = measured_events(&setup, "syn", start..end)?;
        batches.push(append(signed)?);
        bar.set_position(end as u64);
        start = end;
    }
    bar.finish_and_clear();
    Ok(SyntheticLedger { setup, size, chain })
}
