//! The whole picture: the portfolio (every fund's totals and every scheme)
//! and the status of the read models.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::funds::{funds, FundSummary};
use super::schemes::{schemes, SchemeView};
use super::{Query, QueryError};
use crate::keys::Kind;
use crate::model::LedgerModel;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Portfolio {
    pub funds: Vec<FundSummary>,
    pub schemes: Vec<SchemeView>,
}

pub fn portfolio(query: &Query) -> Result<Portfolio, QueryError> {
    Ok(Portfolio { funds: funds(query)?, schemes: schemes(query)? })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    pub ledger: String,
    pub name: Option<String>,
    /// Records projected (the last applied sequence).
    pub records: u64,
    /// The hash of the last applied record, hex.
    pub head: String,
    pub funds: usize,
    pub subfunds: usize,
    pub schemes: usize,
    pub grants: usize,
    pub enterprises: usize,
}

pub fn status(query: &Query) -> Result<Status, QueryError> {
    let position = query.reader.position();
    let ledger: Option<LedgerModel> = query.version(Kind::Ledger, query.reader.ledger().as_str())?;
    Ok(Status {
        ledger: query.reader.ledger().to_string(),
        name: ledger.map(|ledger| ledger.name.to_string()),
        records: position.seq,
        head: hex::encode(position.hash),
        funds: query.directory(Kind::Fund)?.len(),
        subfunds: query.directory(Kind::SubFund)?.len(),
        schemes: query.directory(Kind::Scheme)?.len(),
        grants: query.directory(Kind::Grant)?.len(),
        enterprises: query.directory(Kind::Enterprise)?.len(),
    })
}
