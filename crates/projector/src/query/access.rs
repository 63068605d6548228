//! What an answer needs its reader to be allowed: the fund or scheme an
//! entity or event belongs to, looked up in the read models at their head,
//! and what a key may read, from its roles at the head. The rule itself is
//! the core's (`fundledger_core::read_access`).

use fundledger_core::crypto::KeyId;
use fundledger_core::id::{FundId, GrantId, SchemeId, SubFundId};
use fundledger_core::read_access::{readable_of, ReadAccess, Readable};
use fundledger_core::record::Record;

use super::{EventFilter, QueryError};
use crate::keys::Kind;
use crate::model::{GrantModel, KeyModel, SubFundModel};
use crate::store::Reader;

/// The state of a key at the read models' head, or `None` when it is not registered.
pub fn key_at_head(reader: &Reader, key: &KeyId) -> Result<Option<KeyModel>, QueryError> {
    Ok(reader.version::<KeyModel>(Kind::Key, &key.to_string(), reader.position().seq)?.map(|(_, model)| model))
}

/// What `key` may read now: the public aggregates when it is not registered.
pub fn access_of(reader: &Reader, key: &KeyId) -> Result<ReadAccess, QueryError> {
    Ok(key_at_head(reader, key)?.map_or_else(ReadAccess::public, |model| ReadAccess::of_key(model.revoked, &model.roles)))
}

fn fund_of(reader: &Reader, subfund: &str) -> Result<Option<FundId>, QueryError> {
    Ok(reader.version::<SubFundModel>(Kind::SubFund, subfund, reader.position().seq)?.map(|(_, model)| model.fund))
}

fn scheme_of(reader: &Reader, grant: &str) -> Result<Option<SchemeId>, QueryError> {
    Ok(reader.version::<GrantModel>(Kind::Grant, grant, reader.position().seq)?.map(|(_, model)| model.scheme))
}

/// What reading a sub-fund needs (`None`: it does not exist, the answer will say so).
pub fn readable_subfund(reader: &Reader, subfund: &str) -> Result<Option<Readable>, QueryError> {
    Ok(fund_of(reader, subfund)?.map(Readable::Fund))
}

/// What reading a grant needs (`None`: it does not exist, the answer will say so).
pub fn readable_grant(reader: &Reader, grant: &str) -> Result<Option<Readable>, QueryError> {
    Ok(scheme_of(reader, grant)?.map(Readable::Scheme))
}

/// What reading the event with id `id` needs (`None`: no such event).
pub fn readable_event(reader: &Reader, id: &str) -> Result<Option<Readable>, QueryError> {
    let Some(seq) = reader.seq_of_event(id)? else { return Ok(None) };
    let Some(bytes) = reader.record(seq)? else { return Ok(None) };
    let record = Record::from_json(&bytes).map_err(|error| reader.corrupt(format!("record {seq}: {error}")))?;
    // A failed lookup reads as "not found", which asks for the whole ledger.
    let fund = |subfund: &SubFundId| fund_of(reader, subfund.as_str()).ok().flatten();
    let scheme = |grant: &GrantId| scheme_of(reader, grant.as_str()).ok().flatten();
    Ok(Some(readable_of(&record.body().event, fund, scheme)))
}

/// What a page of events needs: the entity it is filtered by, or the whole
/// ledger (no filter, or by enterprise, whose grants span schemes).
pub fn readable_events(reader: &Reader, filter: &EventFilter) -> Result<Readable, QueryError> {
    let needs = |found: Option<Readable>| found.unwrap_or(Readable::Ledger);
    Ok(match filter {
        EventFilter { fund: Some(fund), subfund: None, scheme: None, grant: None, enterprise: None, .. } => {
            FundId::parse(fund).map(Readable::Fund).unwrap_or(Readable::Ledger)
        }
        EventFilter { subfund: Some(subfund), fund: None, scheme: None, grant: None, enterprise: None, .. } => needs(readable_subfund(reader, subfund)?),
        EventFilter { scheme: Some(scheme), fund: None, subfund: None, grant: None, enterprise: None, .. } => {
            SchemeId::parse(scheme).map(Readable::Scheme).unwrap_or(Readable::Ledger)
        }
        EventFilter { grant: Some(grant), fund: None, subfund: None, scheme: None, enterprise: None, .. } => needs(readable_grant(reader, grant)?),
        _ => Readable::Ledger,
    })
}
