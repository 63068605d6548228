//! One grant: its model, where it stands under its scheme's terms (the
//! core's `grant_position`) and its history.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use fundledger_core::ledger::GrantPosition;
use fundledger_core::money::Money;

use super::events::{event_at, EventView, EVENTS_PAGE_MAX};
use super::{Query, QueryError};
use crate::keys::Kind;
use crate::model::{GrantModel, SchemeModel};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GrantView {
    #[serde(flatten)]
    pub model: GrantModel,
    pub net_disbursed_cents: Money,
    /// Where the grant stands (the core's `grant_position`): net eligible spend, what it reimburses,
    /// the schedule, the ceiling, what is disbursable now, overpaid, forfeited and undisbursed.
    pub position: GrantPosition,
    /// The government's share of net eligible spend at the scheme's ratio.
    pub reimbursable_cents: Money,
    pub disbursable_now_cents: Money,
    /// The approved grant less net disbursement and forfeited money.
    pub undisbursed_cents: Money,
    /// Every event of the grant, oldest first (up to the answer's `seq`).
    pub history: Vec<EventView>,
}

pub fn grant(query: &Query, id: &str) -> Result<GrantView, QueryError> {
    let model: GrantModel = query.require(Kind::Grant, id)?;
    let scheme: SchemeModel = query.require(Kind::Scheme, model.scheme.as_str())?;
    let position = model.position(&scheme.terms);
    let mut history = Vec::new();
    let mut after = 0;
    loop {
        let seqs = query.reader.indexed(Kind::Grant, id, after, query.seq, EVENTS_PAGE_MAX)?;
        let Some(&last) = seqs.last() else { break };
        for seq in seqs {
            history.push(event_at(query, seq)?);
        }
        after = last;
    }
    Ok(GrantView {
        net_disbursed_cents: position.net_disbursed,
        reimbursable_cents: position.reimbursable,
        disbursable_now_cents: position.disbursable_now,
        undisbursed_cents: position.undisbursed,
        position,
        model,
        history,
    })
}
