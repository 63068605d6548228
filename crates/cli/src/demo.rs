//! `fundledger demo`: the README's main job. On an empty ledger it records a
//! realistic, deterministic scenario through the real writer on a real NATS
//! JetStream server (embedded unless --nats is given): the HK$10bn I&T
//! Industry-Oriented Fund with ten sub-funds across the five themes, market
//! co-investors, government commitments, calls, fees, investments, NAV
//! reports and distributions; the Pilot Scheme with 300 enterprises, NIFS and
//! NIAS grants with verified spend, disbursements, a clawback and closures;
//! and attempts that the rules must refuse. The operator's checkpointer signs
//! checkpoints beside the writer; at the end the auditor's verifier
//! (`fundledger-verifier`, the same one `fundledger verify` runs) reads the
//! whole stream back, checks every record (hash, chain, signatures,
//! authorisations, rules, ids) and every checkpoint, and the demo summarises.
//!
//! Keys, ids, dates and amounts are derived from fixed labels, so every run
//! records the same events; only the writer's `recorded_at` differs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_core::crypto::{sha256, SecretKey};
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::ledger::{dual_control_threshold, Ledger};
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::SignedEvent;
use fundledger_core::time::{civil_from_days, days_from_civil, Date, Timestamp};
use fundledger_verifier::checkpointer::CheckpointerConfig;
use fundledger_verifier::VerifyOptions;
use fundledger_writer::{Writer, WriterConfig};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::nats_args::NatsConnection;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// NATS server URL (JetStream enabled). Without it, an embedded nats-server
    /// is started on a free loopback port and removed afterwards.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: Option<String>,
    /// The ledger to record into; it must be empty.
    #[arg(long, default_value = "demo")]
    pub ledger: LedgerId,
    /// Keep the writer's index (and the embedded server's data) here instead
    /// of in a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Number of enterprises in the Pilot Scheme.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=400))]
    pub pilot_enterprises: u32,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Submissions sent to the writer in one call, at most.
const SUBMIT_BATCH_EVENTS_MAX: usize = 500;
/// How far ahead of the clock the demo's writer accepts `occurred_at`: the
/// scenario's quarters start on 2026-01-15 and run about two years.
const DEMO_OCCURRED_AT_SKEW_MS: u64 = 3 * 366 * 24 * 60 * 60 * 1000;

fn text(value: &str) -> Text {
    Text::parse(value).unwrap_or_else(|error| panic!("demo text {value:?}: {error}"))
}
fn hkd(dollars: u64) -> Money {
    Money::hkd(dollars)
}
fn id<T: std::str::FromStr>(value: &str) -> T
where
    T::Err: std::fmt::Display,
{
    value.parse().unwrap_or_else(|error| panic!("demo id {value:?}: {error}"))
}

/// A deterministic number in 0..range from a label.
fn pseudo(label: &str, range: u64) -> u64 {
    let digest = sha256(&[b"fundledger/demo\0", label.as_bytes()]);
    u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8])) % range.max(1)
}

/// Quarter q after 2026-01-01 (about 91 days each), as a date.
fn quarter_date(quarter: i64) -> Date {
    let (year, month, day) = civil_from_days(days_from_civil(2026, 1, 15) + quarter * 91);
    id::<Date>(&format!("{year:04}-{month:02}-{day:02}"))
}

struct Keys {
    operator: SecretKey,
    fund_office: SecretKey,
    fund_approver: SecretKey,
    grant_officer: SecretKey,
    grant_approver: SecretKey,
}

/// The scenario's author: signs events with deterministic ids and dates and
/// submits them in batches through the writer.
struct Demo {
    writer: Writer,
    ledger: LedgerId,
    keys: Keys,
    next_id: u64,
    quarter: i64,
    pending: Vec<SignedEvent>,
    accepted: u64,
    duplicates: u64,
    refused: Vec<(String, String, String)>,
    progress: ProgressBar,
}

impl Demo {
    fn sign(&mut self, event: Event, signers: &[&SecretKey]) -> Result<SignedEvent> {
        self.next_id += 1;
        let (year, month, day) = civil_from_days(days_from_civil(2026, 1, 15) + self.quarter * 91);
        let minute = self.next_id % 1440;
        let occurred_at = Timestamp::parse(&format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:00Z", minute / 60, minute % 60))?;
        Ok(SignedEvent::author(&self.ledger, id(&format!("demo-{:06}", self.next_id)), occurred_at, event, signers)?)
    }

    /// Queues an event that must be accepted.
    async fn record(&mut self, event: Event, signers: &[&SecretKey]) -> Result<()> {
        let signed = self.sign(event, signers)?;
        self.pending.push(signed);
        if self.pending.len() >= SUBMIT_BATCH_EVENTS_MAX {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.pending);
        let ids: Vec<String> = events.iter().map(|event| format!("{} {}", event.body().type_name(), event.body().id)).collect();
        for (outcome, what) in self.writer.submit(events).await.into_iter().zip(ids) {
            match outcome {
                Ok(receipt) if receipt.duplicate => self.duplicates += 1,
                Ok(_) => self.accepted += 1,
                Err(error) => bail!("the demo expected {what} to be accepted, but it was refused [{}]: {error}", error.code()),
            }
            self.progress.inc(1);
        }
        Ok(())
    }

    /// Submits an event that the rules must refuse with `code`.
    async fn refuse(&mut self, what: &str, expected_code: &str, event: SignedEvent) -> Result<()> {
        self.flush().await?;
        let outcome = self.writer.submit(vec![event]).await.into_iter().next();
        match outcome {
            Some(Err(error)) if error.code() == expected_code => {
                self.refused.push((what.to_string(), error.code().to_string(), error.to_string()));
                Ok(())
            }
            Some(Err(error)) => bail!("{what}: expected a refusal by {expected_code}, got [{}] {error}", error.code()),
            Some(Ok(receipt)) => bail!("{what}: expected a refusal by {expected_code}, but it was recorded as record {}", receipt.seq),
            None => bail!("{what}: the writer gave no answer"),
        }
    }

    async fn refuse_event(&mut self, what: &str, expected_code: &str, event: Event, signers: &[&SecretKey]) -> Result<()> {
        let signed = self.sign(event, signers)?;
        self.refuse(what, expected_code, signed).await
    }
}

const GENERAL_PARTNERS: [&str; 10] = [
    "Harbour Life Sciences Partners",
    "Lion Rock BioVentures",
    "Kowloon Robotics Capital",
    "Tsing Yi AI Partners",
    "Pearl River Semiconductor GP",
    "Cyberport Devices Capital",
    "Victoria Digital Growth",
    "Sai Kung Industrial Upgrade GP",
    "Lantau Climate Tech Partners",
    "Tai Po Future Industries",
];
const GOVERNMENT_COMMITMENT_MILLIONS: [u64; 10] = [1_000, 800, 900, 700, 1_000, 600, 900, 800, 700, 600];

pub async fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let temporary = tempfile::tempdir().context("cannot create a temporary directory")?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| temporary.path().to_path_buf());
    // Caught before the embedded server starts: SIGTERM or SIGINT stops it gracefully.
    let mut signals = crate::shutdown::StopSignals::install()?;
    let mut nats = match &args.nats {
        Some(url) => NatsConnection { url: url.clone(), embedded: None },
        None => {
            let options = fundledger_nats::EmbeddedOptions { data_dir: Some(data_dir.join("nats")), ..Default::default() };
            std::fs::create_dir_all(data_dir.join("nats"))?;
            let embedded = fundledger_nats::EmbeddedNats::start(options).await.context("cannot start the embedded nats-server")?;
            NatsConnection { url: embedded.url(), embedded: Some(embedded) }
        }
    };
    let outcome = tokio::select! {
        outcome = record(&args, &nats.url, &data_dir, started) => outcome,
        signal = signals.recv() => Err(anyhow::anyhow!("interrupted by {signal}")),
    };
    let stopped = crate::nats_args::stop_nats(&mut nats).await;
    outcome?;
    stopped
}

/// Records the scenario, verifies it and prints the summary.
async fn record(args: &DemoArgs, nats_url: &str, data_dir: &std::path::Path, started: Instant) -> Result<()> {
    // The scenario is dated through 2027 (deterministic figures), so its
    // writer accepts dates that far ahead of the clock; a real writer keeps
    // the default skew (docs/OPERATIONS.md).
    let config = WriterConfig {
        occurred_at_skew: Duration::from_millis(DEMO_OCCURRED_AT_SKEW_MS),
        ..WriterConfig::new(args.ledger.clone(), nats_url.to_string(), data_dir.join("writer"))
    };
    let (writer, _sequencer) = Writer::start(config).await.context("cannot start the writer")?;
    let size = writer.status().size;
    if size > 0 {
        bail!("ledger {} already has {size} records; the demo records on an empty ledger (choose another --ledger)", args.ledger);
    }
    // The operator's checkpointer runs beside the writer, signing a checkpoint every 1,000 records.
    let operator = SecretKey::from_seed_label("demo/operator");
    let js = fundledger_nats::Broker::connect(nats_url).await?;
    let checkpointer = fundledger_verifier::checkpointer::spawn(js.clone(), CheckpointerConfig::new(args.ledger.clone(), operator.clone()))
        .await
        .context("cannot start the checkpointer")?;
    let progress = if args.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    progress.set_style(ProgressStyle::with_template("{spinner} {msg} {pos} events recorded ({per_sec})").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    let keys = Keys {
        operator: SecretKey::from_seed_label("demo/operator"),
        fund_office: SecretKey::from_seed_label("demo/itif-investment-office"),
        fund_approver: SecretKey::from_seed_label("demo/itif-approver"),
        grant_officer: SecretKey::from_seed_label("demo/itc-grant-officer"),
        grant_approver: SecretKey::from_seed_label("demo/itc-approver"),
    };
    let mut demo = Demo {
        writer: writer.clone(),
        ledger: args.ledger.clone(),
        keys,
        next_id: 0,
        quarter: 0,
        pending: Vec::new(),
        accepted: 0,
        duplicates: 0,
        refused: Vec::new(),
        progress: progress.clone(),
    };
    progress.set_message("administration");
    administration(&mut demo).await?;
    progress.set_message("fund");
    fund(&mut demo).await?;
    progress.set_message("grants");
    grants(&mut demo, args.pilot_enterprises).await?;
    progress.set_message("refusals");
    idempotency(&mut demo).await?;
    demo.flush().await?;
    progress.set_message("verification");
    let recorded_in = started.elapsed();
    let status = writer.status();
    let verify_started = Instant::now();
    // A last checkpoint at the tail, then the auditor's verifier over the stream, pinned to the operator key.
    checkpointer.checkpoint_at_least(status.size).await.context("the checkpointer did not sign the tail")?;
    checkpointer.abort();
    let options = VerifyOptions { operator: Some(operator.key_id()), ..VerifyOptions::default() };
    let verified = fundledger_verifier::verify_nats(&js, &args.ledger, options).await.context("the recorded ledger does not verify")?;
    let ledger = verified.ledger.clone();
    let verified_in = verify_started.elapsed();
    progress.finish_and_clear();
    if status.size != demo.accepted {
        bail!("the writer reports {} records but the demo recorded {}", status.size, demo.accepted);
    }
    summarise(args, &demo, &ledger, &status, recorded_in, verified_in, &verified.report)?;
    if !args.json {
        crate::query::demo_portfolio(nats_url, &args.ledger, data_dir).await?;
    }
    Ok(())
}

async fn administration(demo: &mut Demo) -> Result<()> {
    let operator = demo.keys.operator.clone();
    demo.record(
        Event::LedgerGenesis(LedgerGenesis {
            name: text("Hong Kong public innovation funding (demo)"),
            operator: operator.key_id(),
            operator_holder: text("Ledger operator"),
        }),
        &[&operator],
    )
    .await?;
    let holders = [
        (demo.keys.fund_office.key_id(), "ITIF investment office", Role::FundManager, "fund:itif"),
        (demo.keys.fund_approver.key_id(), "ITIF approving officer", Role::FundManager, "fund:itif"),
        (demo.keys.grant_officer.key_id(), "ITC grant officer", Role::GrantOfficer, "ledger"),
        (demo.keys.grant_approver.key_id(), "ITC approving officer", Role::GrantOfficer, "ledger"),
    ];
    demo.record(Event::FundEstablished(presets::itif("itif")), &[&operator]).await?;
    demo.record(Event::SchemeEstablished(presets::pilot_scheme("pilot")), &[&operator]).await?;
    demo.record(Event::SchemeEstablished(presets::nifs_scheme("nifs", hkd(2_000_000_000))), &[&operator]).await?;
    demo.record(Event::SchemeEstablished(presets::nias_scheme("nias")), &[&operator]).await?;
    demo.record(Event::SchemeAmended(presets::nias_amendment_2025_11_18("nias")), &[&operator]).await?;
    for (key, holder, role, scope) in holders {
        demo.record(Event::KeyRegistered(KeyRegistered { key, holder: text(holder) }), &[&operator]).await?;
        let scope = Scope::parse(scope).map_err(anyhow::Error::msg)?;
        demo.record(Event::RoleGranted(RoleChange { key, role, scope }), &[&operator]).await?;
    }
    Ok(())
}

async fn fund(demo: &mut Demo) -> Result<()> {
    let office = demo.keys.fund_office.clone();
    let approver = demo.keys.fund_approver.clone();
    let dual = [&office, &approver];
    let single = [&office];
    let terms = presets::itif("itif");
    let threshold = terms.dual_control_threshold_cents;
    let signers_for = |amount: Money| -> Vec<&SecretKey> {
        if amount >= threshold {
            dual.to_vec()
        } else {
            single.to_vec()
        }
    };
    let commitment_threshold = dual_control_threshold(Some(threshold), &terms.dual_control, DualControlKind::GovernmentCommitment).unwrap_or(Money::ZERO);
    let commitment_signers = |amount: Money| -> Vec<&SecretKey> {
        if amount >= commitment_threshold {
            dual.to_vec()
        } else {
            single.to_vec()
        }
    };
    for (index, general_partner) in GENERAL_PARTNERS.iter().enumerate() {
        demo.quarter = 0;
        let (theme, _) = presets::ITIF_THEMES[index / 2];
        let subfund: SubFundId = id(&format!("sf-{theme}-{}", index % 2 + 1));
        let government = hkd(GOVERNMENT_COMMITMENT_MILLIONS[index] * 1_000_000);
        let market_total = hkd(GOVERNMENT_COMMITMENT_MILLIONS[index] * 1_000_000 * (30 + pseudo(general_partner, 6)) / 10);
        let target = Money::from_cents(government.cents() + market_total.cents())?.max(hkd(2_000_000_000));
        demo.record(
            Event::SubFundAdmitted(SubFundAdmitted {
                fund: id("itif"),
                subfund: subfund.clone(),
                name: text(&format!("{general_partner} Fund I")),
                theme: id(theme),
                general_partner: text(&format!("{general_partner} Limited")),
                target_size_cents: target,
                investment_period: (index == 0).then(|| Period { starts: quarter_date(0), ends: quarter_date(20) }),
            }),
            &single,
        )
        .await?;
        let investors = ["Bank of Kowloon Strategic Investments", "Pacific Insurance Group", "Mainland Industrial Guidance Fund"];
        let shares = [45u64, 35, 20];
        for (investor, share) in investors.iter().zip(shares) {
            if index == 1 && share == 20 {
                // Government as the last LP: with only 80% of the market money in, 25% is not yet reached.
                let early = demo.sign(
                    Event::GovernmentCommitted(GovernmentCommitted { subfund: subfund.clone(), amount_cents: government }),
                    &commitment_signers(government),
                )?;
                demo.refuse("government commitment before enough market money (above the 25% share)", "government_share_max", early).await?;
            }
            let amount = market_total.mul_div_floor(share, 100)?;
            demo.record(Event::MarketCommitted(MarketCommitted { subfund: subfund.clone(), investor: text(investor), amount_cents: amount }), &single).await?;
        }
        if index == 0 {
            demo.refuse_event(
                "government commitment of HK$1.2bn to one sub-fund",
                "government_commitment_cap",
                Event::GovernmentCommitted(GovernmentCommitted { subfund: subfund.clone(), amount_cents: hkd(1_200_000_000) }),
                &dual,
            )
            .await?;
        }
        if index == 0 {
            demo.refuse_event(
                "a government commitment of HK$1bn signed by one officer (dual control from HK$100M)",
                "dual_control",
                Event::GovernmentCommitted(GovernmentCommitted { subfund: subfund.clone(), amount_cents: government }),
                &single,
            )
            .await?;
        }
        demo.record(Event::GovernmentCommitted(GovernmentCommitted { subfund: subfund.clone(), amount_cents: government }), &commitment_signers(government))
            .await?;
        let mut invested = Money::ZERO;
        for quarter in 1..=8i64 {
            demo.quarter = quarter;
            if quarter % 2 == 1 {
                let call = government.mul_div_floor(15, 100)?;
                if index == 2 && quarter == 1 {
                    demo.refuse_event(
                        "capital call above the HK$100M dual-control threshold with one signer",
                        "dual_control",
                        Event::CapitalCalled(CapitalCalled { subfund: subfund.clone(), reference: text("CALL-1"), amount_cents: call }),
                        &single,
                    )
                    .await?;
                }
                let signers = signers_for(call);
                demo.record(
                    Event::CapitalCalled(CapitalCalled { subfund: subfund.clone(), reference: text(&format!("CALL-{}", quarter / 2 + 1)), amount_cents: call }),
                    &signers,
                )
                .await?;
                let fee = government.mul_div_floor(75, 10_000)?;
                demo.record(
                    Event::FeeCharged(FeeCharged { subfund: subfund.clone(), period: text(&format!("H{}", quarter / 2 + 1)), amount_cents: fee }),
                    &signers_for(fee),
                )
                .await?;
                let investment: InvestmentId = id(&format!("inv-{}-{quarter}", subfund));
                let amount = government.mul_div_floor(40 + pseudo(investment.as_str(), 40), 100)?;
                let hk_enterprise = pseudo(&format!("{investment}/hk"), 10) < 7;
                invested = invested.checked_add(amount)?;
                demo.record(
                    Event::Invested(Invested {
                        subfund: subfund.clone(),
                        investment: investment.clone(),
                        investee: text(&format!(
                            "{} Technologies Limited",
                            ["Octopus", "Peak", "Junk Bay", "Star Ferry", "Dragon Gate"][pseudo(investment.as_str(), 5) as usize]
                        )),
                        amount_cents: amount,
                        hk_enterprise,
                        innovation_technology: true,
                    }),
                    &single,
                )
                .await?;
                if hk_enterprise {
                    let spend = amount.mul_div_floor(30 + pseudo(&format!("{investment}/spend"), 30), 100)?;
                    demo.record(
                        Event::ProductionSpendReported(ProductionSpendReported {
                            subfund: subfund.clone(),
                            investment: investment.clone(),
                            period: text("2027"),
                            amount_cents: spend,
                            spent_on: Some(quarter_date(quarter)),
                        }),
                        &single,
                    )
                    .await?;
                }
                if index == 3 && quarter == 3 {
                    demo.record(Event::WrittenOff(WrittenOff { subfund: subfund.clone(), investment, amount_cents: amount }), &single).await?;
                }
            }
            let nav =
                government.mul_div_floor(15 * (quarter as u64).div_ceil(2), 100)?.mul_div_floor(95 + pseudo(&format!("{subfund}/nav/{quarter}"), 30), 100)?;
            demo.record(Event::NavReported(NavReported { subfund: subfund.clone(), as_of: quarter_date(quarter), nav_cents: nav }), &single).await?;
            if quarter >= 6 {
                let distribution = government.mul_div_floor(3 + pseudo(&format!("{subfund}/dist/{quarter}"), 5), 100)?;
                demo.record(Event::Distributed(Distributed { subfund: subfund.clone(), amount_cents: distribution, recallable: quarter == 6 }), &single)
                    .await?;
            }
        }
        if index == 5 {
            demo.refuse_event(
                "investment in an enterprise that is not I&T",
                "innovation_technology_only",
                Event::Invested(Invested {
                    subfund: subfund.clone(),
                    investment: id(&format!("inv-{subfund}-property")),
                    investee: text("Mid-Levels Property Holdings Limited"),
                    amount_cents: hkd(50_000_000),
                    hk_enterprise: true,
                    innovation_technology: false,
                }),
                &single,
            )
            .await?;
        }
    }
    Ok(())
}

fn evidence(label: &str) -> EvidenceDigest {
    EvidenceDigest(sha256(&[b"demo evidence: ", label.as_bytes()]))
}

/// A Pilot Scheme application: received 2026-06-01 (inside the window) with the attestation it requires.
fn pilot_application(grant: &GrantId) -> (Option<Date>, Vec<Attestation>) {
    (Some(id("2026-06-01")), vec![presets::hk_production_line_attestation(evidence(&format!("{grant}/production-line")))])
}

/// A Pilot Scheme approval.
fn pilot_approval(grant: &str, enterprise: &str, name: &str, project: &str, cost: Money, amount: Money, months: u32) -> Event {
    let grant: GrantId = id(grant);
    let (applied_on, attestations) = pilot_application(&grant);
    Event::GrantApproved(GrantApproved {
        scheme: id("pilot"),
        grant,
        enterprise: id(enterprise),
        enterprise_name: text(name),
        project: text(project),
        approved_cost_cents: cost,
        grant_cents: amount,
        duration_months: months,
        applied_on,
        attestations,
    })
}

/// A NIFS or NIAS approval (no window, no attestations). Each argument is one
/// field of the event, so the demo's scenario reads as a table of them.
#[allow(clippy::too_many_arguments)]
fn approval(scheme: &str, grant: &GrantId, enterprise: &EnterpriseId, name: &str, project: &str, cost: Money, amount: Money, months: u32) -> Event {
    Event::GrantApproved(GrantApproved {
        scheme: id(scheme),
        grant: grant.clone(),
        enterprise: enterprise.clone(),
        enterprise_name: text(name),
        project: text(project),
        approved_cost_cents: cost,
        grant_cents: amount,
        duration_months: months,
        applied_on: None,
        attestations: Vec::new(),
    })
}

async fn grants(demo: &mut Demo, pilot_enterprises: u32) -> Result<()> {
    let officer = demo.keys.grant_officer.clone();
    let approver = demo.keys.grant_approver.clone();
    let single = [&officer];
    let dual = [&officer, &approver];
    demo.quarter = 2;
    // Pilot Scheme: a few hundred manufacturers upgrading production lines.
    for number in 1..=pilot_enterprises {
        let enterprise: EnterpriseId = id(&format!("br-{:08}", 60_000_000 + number * 37));
        let grant_id: GrantId = id(&format!("pilot-{number:04}"));
        let amount = hkd(60_000 + pseudo(grant_id.as_str(), 190_001));
        let cost = Money::from_cents(amount.cents() * 3)?;
        let event =
            pilot_approval(grant_id.as_str(), enterprise.as_str(), &format!("Manufacturer {number} Limited"), "Production line upgrade", cost, amount, 18);
        demo.record(event, &single).await?;
        let spent = cost.mul_div_floor(70 + pseudo(&format!("{grant_id}/spent"), 31), 100)?;
        demo.record(
            Event::SpendVerified(SpendVerified { grant: grant_id.clone(), amount_cents: spent, evidence_sha256: evidence(grant_id.as_str()) }),
            &single,
        )
        .await?;
        let payable = spent.mul_div_floor(1, 3)?.min(amount);
        demo.record(
            Event::GrantDisbursed(GrantDisbursed { grant: grant_id.clone(), amount_cents: payable, payment_reference: text(&format!("PAY-{grant_id}")) }),
            &single,
        )
        .await?;
        if number % 50 == 0 {
            demo.record(Event::GrantClosed(GrantClosed { grant: grant_id, reason: CloseReason::Completed }), &single).await?;
        }
    }
    // An ineligible invoice found on audit: the spend is disallowed, then what was paid on it is clawed back.
    demo.record(
        Event::SpendDisallowed(SpendDisallowed {
            grant: id("pilot-0007"),
            amount_cents: hkd(30_000),
            reason: DisallowanceReason::IneligibleItem,
            evidence_sha256: evidence("pilot-0007"),
        }),
        &single,
    )
    .await?;
    demo.record(
        Event::GrantClawedBack(GrantClawedBack {
            grant: id("pilot-0007"),
            amount_cents: hkd(10_000),
            reason: text("Ineligible invoice found on audit"),
            reason_code: Some(ClawbackReason::IneligibleSpend),
        }),
        &single,
    )
    .await?;
    let first_enterprise = format!("br-{:08}", 60_000_000 + 37);
    demo.refuse_event(
        "a second Pilot grant taking an enterprise past HK$250,000",
        "enterprise_grant_cap",
        pilot_approval("pilot-extra-0001", &first_enterprise, "Manufacturer 1 Limited", "Second production line", hkd(750_000), hkd(250_000), 12),
        &single,
    )
    .await?;
    // A split enterprise: a sister company of Manufacturer 1 applies for the cap again; once the
    // officer records their common ownership, the cap applies to both together.
    demo.record(
        Event::EnterprisesAssociated(EnterprisesAssociated {
            enterprises: vec![id(&first_enterprise), id("br-69990001")],
            basis: text("Both wholly owned by Manufacturer 1 Holdings Limited (company search)"),
            evidence_sha256: evidence("company-search/br-69990001"),
        }),
        &single,
    )
    .await?;
    demo.refuse_event(
        "a sister company of Manufacturer 1 (associated enterprise) applying for the Pilot cap again",
        "enterprise_grant_cap",
        pilot_approval("pilot-sister-0001", "br-69990001", "Manufacturer 1 Sister Limited", "Production line upgrade", hkd(750_000), hkd(250_000), 12),
        &single,
    )
    .await?;
    // A grant paid on a reimbursement basis: HK$150,000 of spend verified so far.
    let reimbursed: GrantId = id("pilot-reimbursement");
    let event = pilot_approval(reimbursed.as_str(), "br-69999999", "Reimbursement Example Limited", "Automated packaging line", hkd(450_000), hkd(150_000), 12);
    demo.record(event, &single).await?;
    demo.record(
        Event::SpendVerified(SpendVerified { grant: reimbursed.clone(), amount_cents: hkd(150_000), evidence_sha256: evidence("reimbursement") }),
        &single,
    )
    .await?;
    demo.refuse_event(
        "disbursement above one third of verified spend",
        "reimbursement_share",
        Event::GrantDisbursed(GrantDisbursed { grant: reimbursed.clone(), amount_cents: hkd(60_000), payment_reference: text("PAY-EARLY") }),
        &single,
    )
    .await?;
    demo.refuse_event(
        "spend verified on evidence that already supports another grant's spend",
        "evidence_reused",
        Event::SpendVerified(SpendVerified { grant: reimbursed.clone(), amount_cents: hkd(90_000), evidence_sha256: evidence("pilot-0003") }),
        &single,
    )
    .await?;
    demo.record(
        Event::GrantDisbursed(GrantDisbursed { grant: reimbursed.clone(), amount_cents: hkd(50_000), payment_reference: text("PAY-REIMBURSEMENT") }),
        &single,
    )
    .await?;
    // Money recovered for a breach of conditions is forfeited: it is never paid again.
    demo.record(
        Event::GrantClawedBack(GrantClawedBack {
            grant: reimbursed.clone(),
            amount_cents: hkd(20_000),
            reason: text("Equipment sold within the conditions period"),
            reason_code: Some(ClawbackReason::BreachOfConditions),
        }),
        &single,
    )
    .await?;
    demo.refuse_event(
        "paying again money clawed back for a breach of conditions",
        "reimbursement_share",
        Event::GrantDisbursed(GrantDisbursed { grant: reimbursed, amount_cents: hkd(20_000), payment_reference: text("PAY-AGAIN") }),
        &single,
    )
    .await?;
    let fund_office = demo.keys.fund_office.clone();
    demo.refuse_event(
        "a fund manager approving a grant",
        "signer_unauthorised",
        pilot_approval("pilot-by-fund-office", "br-99999999", "Friendly Enterprise Limited", "Unauthorised project", hkd(300_000), hkd(100_000), 12),
        &[&fund_office],
    )
    .await?;

    // NIFS: smart production lines, paid on completion, up to 3 projects at once.
    demo.quarter = 3;
    for enterprise_number in 1..=6u32 {
        let enterprise: EnterpriseId = id(&format!("br-{:08}", 70_000_000 + enterprise_number));
        for project in 1..=2u32 {
            let grant_id: GrantId = id(&format!("nifs-{enterprise_number:02}-{project}"));
            let cost = hkd(12_000_000 + pseudo(grant_id.as_str(), 40_000_000));
            let amount = cost.mul_div_floor(1, 3)?.min(hkd(15_000_000));
            let signers: Vec<&SecretKey> = if amount >= hkd(10_000_000) { dual.to_vec() } else { single.to_vec() };
            let name = format!("Smart Factory {enterprise_number} Limited");
            if enterprise_number == 1 && project == 1 {
                demo.refuse_event(
                    "a NIFS project of 36 months (the scheme's projects run at most 24)",
                    "project_duration_max",
                    approval("nifs", &grant_id, &enterprise, &name, "Smart production line in Hong Kong", cost, amount, 36),
                    &signers,
                )
                .await?;
            }
            demo.record(approval("nifs", &grant_id, &enterprise, &name, "Smart production line in Hong Kong", cost, amount, 24), &signers).await?;
            demo.record(
                Event::SpendVerified(SpendVerified { grant: grant_id.clone(), amount_cents: cost, evidence_sha256: evidence(grant_id.as_str()) }),
                &single,
            )
            .await?;
            if enterprise_number == 1 && project == 1 {
                demo.refuse_event(
                    "NIFS disbursement before the project is completed",
                    "grant_status",
                    Event::GrantDisbursed(GrantDisbursed { grant: grant_id.clone(), amount_cents: hkd(1_000_000), payment_reference: text("PAY-EARLY") }),
                    &single,
                )
                .await?;
            }
            demo.record(Event::GrantCompleted(GrantCompleted { grant: grant_id.clone() }), &single).await?;
            demo.record(
                Event::GrantDisbursed(GrantDisbursed { grant: grant_id.clone(), amount_cents: amount, payment_reference: text(&format!("PAY-{grant_id}")) }),
                &signers,
            )
            .await?;
            demo.record(Event::GrantClosed(GrantClosed { grant: grant_id, reason: CloseReason::Completed }), &single).await?;
        }
    }

    // NIAS: large new-industrialisation projects.
    demo.quarter = 4;
    for number in 1..=5u32 {
        let grant_id: GrantId = id(&format!("nias-{number:02}"));
        let cost = hkd(300_000_000 + pseudo(grant_id.as_str(), 400_000_000));
        let amount = cost.mul_div_floor(1, 3)?.min(hkd(200_000_000));
        let enterprise: EnterpriseId = id(&format!("br-{:08}", 80_000_000 + number));
        let name = format!("Advanced Manufacturing {number} Limited");
        demo.record(approval("nias", &grant_id, &enterprise, &name, "New smart production facility in Hong Kong", cost, amount, 36), &dual).await?;
        for tranche in 1..=2u64 {
            let spent = cost.mul_div_floor(40, 100)?;
            demo.record(
                Event::SpendVerified(SpendVerified {
                    grant: grant_id.clone(),
                    amount_cents: spent,
                    evidence_sha256: evidence(&format!("{grant_id}/{tranche}")),
                }),
                &single,
            )
            .await?;
            let payment = spent.mul_div_floor(1, 3)?.min(amount);
            demo.record(
                Event::GrantDisbursed(GrantDisbursed {
                    grant: grant_id.clone(),
                    amount_cents: payment,
                    payment_reference: text(&format!("PAY-{grant_id}-{tranche}")),
                }),
                &dual,
            )
            .await?;
        }
    }
    demo.refuse_event(
        "NIAS project below the HK$150M minimum project cost",
        "project_cost_min",
        approval("nias", &id("nias-small"), &id("br-81000000"), "Small Project Limited", "Too small for NIAS", hkd(120_000_000), hkd(40_000_000), 24),
        &dual,
    )
    .await?;
    Ok(())
}

async fn idempotency(demo: &mut Demo) -> Result<()> {
    demo.flush().await?;
    // Re-submitting a recorded event returns its original record.
    let operator = demo.keys.operator.clone();
    let replayed = SignedEvent::author(
        &demo.ledger,
        id("demo-000001"),
        Timestamp::parse("2026-01-15T00:01:00Z")?,
        Event::LedgerGenesis(LedgerGenesis {
            name: text("Hong Kong public innovation funding (demo)"),
            operator: operator.key_id(),
            operator_holder: text("Ledger operator"),
        }),
        &[&operator],
    )?;
    match demo.writer.submit(vec![replayed]).await.into_iter().next() {
        Some(Ok(receipt)) if receipt.duplicate && receipt.seq == 1 => demo.duplicates += 1,
        other => bail!("re-submitting the genesis event should return record 1, got {other:?}"),
    }
    // Re-using an id for other content is refused.
    let officer = demo.keys.grant_officer.clone();
    let conflicting = SignedEvent::author(
        &demo.ledger,
        id("demo-000002"),
        Timestamp::parse("2026-01-15T00:02:00Z")?,
        Event::GrantClawedBack(GrantClawedBack { grant: id("pilot-0003"), amount_cents: hkd(1), reason: text("re-used id"), reason_code: None }),
        &[&officer],
    )?;
    demo.refuse("a new event re-using a recorded event's id", "id_conflict", conflicting).await
}

/// A multiple such as DPI for people (`0.24x`), as the projector and the
/// query API show it: rounded half up, from the exact ratio of cents. (The
/// demo once truncated here, printing 0.23x above the read models' 0.24x.)
fn ratio(numerator: Money, denominator: Money) -> String {
    fundledger_projector::performance::Multiple::of(numerator, denominator).display
}

fn summarise(
    args: &DemoArgs,
    demo: &Demo,
    ledger: &Ledger,
    status: &fundledger_writer::WriterStatus,
    recorded_in: std::time::Duration,
    verified_in: std::time::Duration,
    report: &fundledger_verifier::Report,
) -> Result<()> {
    fn sum(values: impl Iterator<Item = Money>) -> Result<Money, fundledger_core::money::MoneyError> {
        values.into_iter().try_fold(Money::ZERO, |total, value| total.checked_add(value))
    }
    let subfunds = ledger.subfunds();
    let government = sum(subfunds.values().map(|s| s.government_committed))?;
    let market = sum(subfunds.values().map(|s| s.market_committed))?;
    let paid_in = sum(subfunds.values().map(|s| s.paid_in()))?;
    let distributed = sum(subfunds.values().map(|s| s.distributed))?;
    let nav = sum(subfunds.values().filter_map(|s| s.nav.as_ref().map(|(_, nav)| *nav)))?;
    let invested = sum(subfunds.values().map(|s| s.invested))?;
    let invested_hk = sum(subfunds.values().map(|s| s.invested_hk))?;
    let mut schemes = BTreeMap::new();
    for (id, scheme) in ledger.schemes() {
        schemes.insert(
            id.to_string(),
            json!({
                "name": scheme.terms.name.as_str(),
                "budget": scheme.budget().to_string(),
                "committed": scheme.committed.to_string(),
                "disbursed": scheme.disbursed.to_string(),
                "remaining": scheme.budget().saturating_sub(scheme.committed).to_string(),
                "grants": scheme.grant_count,
                "enterprises": scheme.enterprise_count,
            }),
        );
    }
    let refused: Vec<_> = demo.refused.iter().map(|(what, code, message)| json!({"attempt": what, "code": code, "message": message})).collect();
    let summary = json!({
        "ledger": args.ledger.as_str(),
        "records": status.size,
        "head": status.head,
        "root": status.root,
        "accepted": demo.accepted,
        "duplicates_answered_with_original": demo.duplicates,
        "refused": refused,
        "fund": {
            "subfunds": subfunds.len(),
            "government_committed": government.to_string(),
            "market_committed": market.to_string(),
            "paid_in": paid_in.to_string(),
            "distributed": distributed.to_string(),
            "latest_nav": nav.to_string(),
            "dpi": ratio(distributed, paid_in),
            "rvpi": ratio(nav, paid_in),
            "invested": invested.to_string(),
            "invested_in_hk_enterprises": invested_hk.to_string(),
        },
        "schemes": schemes,
        "verified": true,
        "recording_seconds": recorded_in.as_secs_f64(),
        "verification_seconds": verified_in.as_secs_f64(),
        "verification": report,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!("fundledger demo: ledger {} on NATS JetStream", args.ledger);
    println!();
    println!(
        "Recorded {} events through the writer in {:.1} s ({:.0} events/s).",
        demo.accepted,
        recorded_in.as_secs_f64(),
        demo.accepted as f64 / recorded_in.as_secs_f64().max(1e-9)
    );
    println!();
    println!("I&T Industry-Oriented Fund: {} sub-funds across 5 themes", subfunds.len());
    println!("  government committed   {government:>28}   (capital HK$10,000,000,000.00)");
    println!("  market co-investment   {market:>28}   ({} of government)", ratio(market, government));
    println!("  paid in (calls + fees) {paid_in:>28}");
    println!("  distributed            {distributed:>28}   DPI  {}", ratio(distributed, paid_in));
    println!("  latest NAV             {nav:>28}   RVPI {}", ratio(nav, paid_in));
    println!("  invested by sub-funds  {invested:>28}   of which in HK enterprises {}", fundledger_core::money::percent(invested_hk, invested));
    println!();
    println!("Matching-grant schemes (government 1 : enterprise 2)");
    for (id, scheme) in ledger.schemes() {
        println!(
            "  {:<6} grants {:>4}  enterprises {:>4}  committed {:>24} of {:>26}  disbursed {:>24}",
            id.as_str(),
            scheme.grant_count,
            scheme.enterprise_count,
            scheme.committed.to_string(),
            scheme.budget().to_string(),
            scheme.disbursed.to_string()
        );
    }
    println!();
    println!("Refused by the rules, and nothing appended for them ({}):", demo.refused.len());
    for (what, code, message) in &demo.refused {
        println!("  - {what}\n      [{code}] {message}");
    }
    println!("Re-submitted events answered with their original record: {}", demo.duplicates);
    println!();
    println!(
        "Verified all {} records from the stream with the auditor's verifier in {:.2} s ({} checkpoints signed by the operator checked):",
        report.size,
        verified_in.as_secs_f64(),
        report.checkpoints.len()
    );
    for check in &report.checks {
        println!("  - {check}");
    }
    println!("  Merkle root {}", status.root);
    println!("  chain head  {}", status.head);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiples_print_as_the_read_models_print_them() {
        // 0.2375x: truncating gave 0.23x where the query API says 0.24x.
        let (distributed, paid_in) = (Money::from_cents(2_375).unwrap(), Money::from_cents(10_000).unwrap());
        assert_eq!(ratio(distributed, paid_in), "0.24x");
        let multiples = fundledger_projector::performance::multiples(paid_in, distributed, Money::ZERO).unwrap();
        assert_eq!(ratio(distributed, paid_in), multiples.dpi.display);
        assert_eq!(ratio(Money::from_cents(1).unwrap(), Money::ZERO), "n/a");
    }
}
