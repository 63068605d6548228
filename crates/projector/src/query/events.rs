//! Events: one by id, and pages of them, all or by entity (an entity's own
//! index and its children's).

use fundledger_core::record::Record;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Query, QueryError};
use crate::keys::Kind;
use crate::model::{FundModel, GrantModel, SchemeModel, SubFundModel};
use crate::store::Reader;

/// Events returned by one page, at most.
pub const EVENTS_PAGE_MAX: usize = 1_000;
/// Events returned by one page unless asked otherwise.
pub const EVENTS_PAGE_DEFAULT: usize = 100;

/// A record as readers want it: the envelope and the event, signatures left out
/// (`record` has the stored record whole).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventView {
    pub seq: u64,
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: String,
    pub recorded_at: String,
    /// The record hash, hex.
    pub hash: String,
    pub signers: Vec<String>,
    pub data: Value,
    /// The record exactly as stored in the stream (verifiable with the public keys).
    pub record: Value,
}

fn event_view(reader: &Reader, seq: u64, bytes: &[u8]) -> Result<EventView, QueryError> {
    let corrupt = |error: String| reader.corrupt(format!("record {seq}: {error}"));
    let parsed = Record::from_json(bytes).map_err(|error| corrupt(error.to_string()))?;
    let record: Value = serde_json::from_slice(bytes).map_err(|error| corrupt(error.to_string()))?;
    let body = parsed.body();
    Ok(EventView {
        seq,
        id: body.id.to_string(),
        event_type: body.event.type_name().to_string(),
        occurred_at: body.occurred_at.as_str().to_string(),
        recorded_at: parsed.recorded_at.as_str().to_string(),
        hash: hex::encode(parsed.hash),
        signers: body.signers.iter().map(ToString::to_string).collect(),
        data: body.event.data_json().map_err(|error| corrupt(error.to_string()))?,
        record,
    })
}

pub(super) fn event_at(query: &Query, seq: u64) -> Result<EventView, QueryError> {
    let bytes = query.reader.record(seq)?.ok_or_else(|| query.reader.corrupt(format!("record {seq} is indexed but not stored")))?;
    event_view(query.reader, seq, &bytes)
}

pub fn event(query: &Query, id: &str) -> Result<EventView, QueryError> {
    let not_found = || QueryError::NotFound { kind: "event", id: id.to_string(), as_of: query.as_of() };
    let seq = query.reader.seq_of_event(id)?.ok_or_else(not_found)?;
    if seq > query.seq {
        return Err(not_found());
    }
    event_at(query, seq)
}

/// Which events to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventFilter {
    pub fund: Option<String>,
    pub subfund: Option<String>,
    pub scheme: Option<String>,
    pub grant: Option<String>,
    pub enterprise: Option<String>,
    /// Only events after this sequence (for paging: the previous page's `next_after`).
    pub after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventsPage {
    pub events: Vec<EventView>,
    /// Pass as `after` for the next page; null when this page is the last.
    pub next_after: Option<u64>,
}

pub fn events(query: &Query, filter: &EventFilter) -> Result<EventsPage, QueryError> {
    let limit = filter.limit.unwrap_or(EVENTS_PAGE_DEFAULT);
    if limit == 0 || limit > EVENTS_PAGE_MAX {
        return Err(QueryError::BadRequest(format!("limit must be 1 to {EVENTS_PAGE_MAX}, got {limit}")));
    }
    let after = filter.after.unwrap_or(0);
    let given: Vec<(&str, &String)> =
        [("fund", &filter.fund), ("subfund", &filter.subfund), ("scheme", &filter.scheme), ("grant", &filter.grant), ("enterprise", &filter.enterprise)]
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|value| (name, value)))
            .collect();
    if given.len() > 1 {
        return Err(QueryError::BadRequest("give at most one of fund, subfund, scheme, grant and enterprise".to_string()));
    }
    // Each entity's events are the union of its own index and its children's.
    let sources: Option<Vec<(Kind, String)>> = match given.first() {
        None => None,
        Some(("fund", id)) => {
            query.require::<FundModel>(Kind::Fund, id)?;
            let mut sources = vec![(Kind::Fund, id.to_string())];
            sources.extend(query.children(Kind::Fund, id, Kind::SubFund)?.into_iter().map(|child| (Kind::SubFund, child)));
            Some(sources)
        }
        Some(("subfund", id)) => {
            query.require::<SubFundModel>(Kind::SubFund, id)?;
            Some(vec![(Kind::SubFund, id.to_string())])
        }
        Some(("scheme", id)) => {
            query.require::<SchemeModel>(Kind::Scheme, id)?;
            let mut sources = vec![(Kind::Scheme, id.to_string())];
            sources.extend(query.children(Kind::Scheme, id, Kind::Grant)?.into_iter().map(|child| (Kind::Grant, child)));
            Some(sources)
        }
        Some(("grant", id)) => {
            query.require::<GrantModel>(Kind::Grant, id)?;
            Some(vec![(Kind::Grant, id.to_string())])
        }
        Some((_, id)) => {
            let grants = query.children(Kind::Enterprise, id, Kind::Grant)?;
            if grants.is_empty() {
                return Err(QueryError::NotFound { kind: "enterprise", id: id.to_string(), as_of: query.as_of() });
            }
            Some(grants.into_iter().map(|grant| (Kind::Grant, grant)).collect())
        }
    };
    let mut views = Vec::new();
    let more;
    match sources {
        None => {
            let records = query.reader.records(after, query.seq, limit + 1)?;
            more = records.len() > limit;
            for (seq, bytes) in records.into_iter().take(limit) {
                views.push(event_view(query.reader, seq, &bytes)?);
            }
        }
        Some(sources) => {
            let mut seqs = Vec::new();
            for (kind, id) in &sources {
                seqs.extend(query.reader.indexed(*kind, id, after, query.seq, limit + 1)?);
            }
            seqs.sort_unstable();
            seqs.dedup();
            more = seqs.len() > limit;
            for seq in seqs.into_iter().take(limit) {
                views.push(event_at(query, seq)?);
            }
        }
    }
    let next_after = if more { views.last().map(|view| view.seq) } else { None };
    Ok(EventsPage { events: views, next_after })
}
