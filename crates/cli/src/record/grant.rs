//! `grant ...`: approval, verified spend, disallowed spend, milestones,
//! completion, disbursement, clawback and closure of a grant. `grant show` is
//! answered by the query API.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::money::Money;
use fundledger_core::time::Date;

use super::flag_values::{file_sha256, parse_attestation, parse_evidence_sha256, parse_money, parse_text, AttestationArg, EvidenceArgs};
use super::signing::{record, SigningArgs};

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
