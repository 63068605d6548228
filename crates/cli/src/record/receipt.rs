//! Printing the writer's answers for people: `recorded <what> as record N
//! (hash …)`, `already recorded: …`, or the refusal as an error, with a short
//! description of each event.

use anyhow::{bail, Result};
use fundledger_core::event::*;
use fundledger_core::id::EnterpriseId;
use fundledger_core::wire::{EventAnswer, Receipt};

use crate::client;

/// Hex digits of a record hash shown in human output.
const HASH_SHOWN_HEX: usize = 12;

/// `recorded <what> as record N (hash …)` or `already recorded: ...` for a
/// receipt; the writer's refusal as an error.
pub fn outcome_line(what: &str, answer: &EventAnswer) -> Result<String> {
    let Some(receipt) = &answer.receipt else {
        bail!("{}", client::describe_error(answer.error.as_ref()));
    };
    let Receipt { event_id, seq, record_hash, duplicate } = receipt;
    let hash: String = record_hash.chars().take(HASH_SHOWN_HEX).collect();
    if *duplicate {
        Ok(format!("already recorded: {what} (record {seq}, hash {hash}…, id {event_id})"))
    } else {
        Ok(format!("recorded {what} as record {seq} (hash {hash}…, id {event_id})"))
    }
}

/// The event's type and what it is about, for people: `grant.approved nias-g1 HK$100.00`.
pub fn describe(event: &Event) -> String {
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
