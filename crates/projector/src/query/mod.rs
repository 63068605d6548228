//! Answers over one consistent snapshot of the read models.
//!
//! Where each answer lives:
//!
//! * [`funds`]: a fund and its sub-funds, with their performance
//!   (`crate::performance`) and compliance figures; fund summaries.
//! * [`schemes`]: a grant scheme and the standing of each enterprise in it;
//!   an enterprise's standings across schemes.
//! * [`grants`]: one grant, its position and its history.
//! * [`events`]: one event, and pages of events by entity.
//! * [`overview`]: the portfolio (every fund and scheme) and the status.
//! * [`report`] and [`report_csv`]: the quarterly report and its CSV form.
//! * [`access`]: what an answer needs its reader to be allowed, and what a key may read.
//!
//! The rules' arithmetic (a grant's position, headroom, compliance, programme
//! size) is the core's (`fundledger_core::ledger`): the answers only call it.
//!
//! Every answer says the ledger sequence it reflects (`seq`): the store's
//! position, or `as_of` when the caller asks for a past position. Every
//! entity model keeps a version per record that changed it, so any past
//! position is answered exactly; flows and indexes are filtered by sequence.
//! Aggregates (fund totals by theme, sub-fund and GP, enterprise standings)
//! are summed here from the entity versions, in exact cents.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use fundledger_core::money::Money;

use crate::keys::Kind;
use crate::model::Stored;
use crate::store::{Reader, StoreError};

pub mod access;
pub mod events;
pub mod funds;
pub mod grants;
pub mod overview;
pub mod report;
pub mod report_csv;
pub mod schemes;

pub use events::*;
pub use funds::*;
pub use grants::*;
pub use overview::*;
pub use report::*;
pub use report_csv::*;
pub use schemes::*;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error("{kind} {id} does not exist{}", .as_of.map(|seq| format!(" as of record {seq}")).unwrap_or_default())]
    NotFound { kind: &'static str, id: String, as_of: Option<u64> },
    #[error("as_of {as_of} is ahead of the read models, which are at record {position}")]
    AsOfAhead { as_of: u64, position: u64 },
    #[error("{0}")]
    BadRequest(String),
    /// A sum of read-model amounts does not fit in an amount: the read models
    /// hold figures that do not add up (a server error, never a wrong total).
    #[error("{0}")]
    Overflow(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An answer and the ledger position it reflects.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Answer<T> {
    pub ledger: String,
    /// The ledger sequence this answer reflects (the last record it includes).
    pub seq: u64,
    /// The read models' position when answering (equal to `seq` unless `as_of` was given).
    pub position: u64,
    pub data: T,
}

/// Where an answer reads: the position and the sequence it reflects.
pub struct Query<'r, 'a> {
    reader: &'r Reader<'a>,
    seq: u64,
}

impl<'r, 'a> Query<'r, 'a> {
    pub fn new(reader: &'r Reader<'a>, as_of: Option<u64>) -> Result<Self, QueryError> {
        let position = reader.position().seq;
        let seq = match as_of {
            Some(as_of) if as_of > position => return Err(QueryError::AsOfAhead { as_of, position }),
            Some(as_of) => as_of,
            None => position,
        };
        Ok(Query { reader, seq })
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn answer<T>(&self, data: T) -> Answer<T> {
        Answer { ledger: self.reader.ledger().to_string(), seq: self.seq, position: self.reader.position().seq, data }
    }

    fn as_of(&self) -> Option<u64> {
        (self.seq != self.reader.position().seq).then_some(self.seq)
    }

    fn version<T: Stored>(&self, kind: Kind, id: &str) -> Result<Option<T>, QueryError> {
        Ok(self.reader.version::<T>(kind, id, self.seq)?.map(|(_, model)| model))
    }

    fn require<T: Stored>(&self, kind: Kind, id: &str) -> Result<T, QueryError> {
        self.version(kind, id)?.ok_or_else(|| QueryError::NotFound { kind: kind.as_str(), id: id.to_string(), as_of: self.as_of() })
    }

    fn directory(&self, kind: Kind) -> Result<Vec<String>, QueryError> {
        Ok(self.reader.directory(kind)?.into_iter().filter(|(_, seq)| *seq <= self.seq).map(|(id, _)| id).collect())
    }

    fn children(&self, kind: Kind, id: &str, child: Kind) -> Result<Vec<String>, QueryError> {
        Ok(self.reader.children(kind, id, child)?.into_iter().filter(|(_, seq)| *seq <= self.seq).map(|(id, _)| id).collect())
    }
}

/// `a + b`, or an error naming `what` when the sum exceeds the largest amount.
fn add(a: Money, b: Money, what: &str) -> Result<Money, QueryError> {
    a.checked_add(b).map_err(|_| QueryError::Overflow(format!("{what}: {a} + {b} exceeds the largest amount ({})", Money::MAX)))
}
