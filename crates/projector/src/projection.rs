//! The projection: record -> read-model key/value changes. Pure (no I/O).
//!
//! It keeps the latest version of every entity in memory (memory grows with
//! funds, sub-funds, investments, schemes and grants, never with events) and,
//! for each record, checks that it is the next link of the chain (sequence,
//! ledger, previous hash), computes the new versions of the entities it
//! touches, and emits the puts that store them beside the record, its id and
//! its index entries. Each record is applied whole or not at all: `decide`
//! computes everything (and can fail), `evolve` only stores.
//!
//! A record that cannot be projected (an unknown grant, an overflow) means the
//! stream holds something the state machine refuses: it is reported with its
//! sequence, never skipped. The rules themselves live in `fundledger_core`;
//! this module only follows their arithmetic (the tests replay scenarios
//! through both and compare).

use std::collections::{HashMap, HashSet};

use thiserror::Error;

use fundledger_core::crypto::{Hash, KeyId};
use fundledger_core::event::{Event, Role, Scope};
use fundledger_core::id::{EnterpriseId, FundId, GrantId, InvestmentId, LedgerId, SchemeId, SubFundId};
use fundledger_core::money::Money;
use fundledger_core::record::GENESIS_PREV;

use crate::keys::{self, Kind};
use crate::model::*;
use crate::record::ProjectedRecord;

/// Where a projection stands: the last applied record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub hash: Hash,
}

impl Position {
    pub const START: Position = Position { seq: 0, hash: GENESIS_PREV };
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProjectionError {
    #[error("record {seq} is malformed: {reason}")]
    Malformed { seq: u64, reason: String },
    #[error("record {seq} does not continue the chain: {reason}")]
    Chain { seq: u64, reason: String },
    #[error("record {seq} (event {event_id}) cannot be projected: {reason}; the stream holds what the state machine refuses (run the verifier)")]
    Inconsistent { seq: u64, event_id: String, reason: String },
}

impl ProjectionError {
    pub fn seq(&self) -> u64 {
        match self {
            ProjectionError::Malformed { seq, .. } | ProjectionError::Chain { seq, .. } | ProjectionError::Inconsistent { seq, .. } => *seq,
        }
    }
}

/// Key/value puts for one RocksDB WriteBatch, laid end to end in one buffer:
/// a rebuild makes about five puts per record, and two allocations per put
/// (freed by the commit thread) cost more than the projection itself.
#[derive(Default, Debug)]
pub struct Changes {
    bytes: Vec<u8>,
    puts: Vec<Put>,
}

/// Where one put's key and value lie in [`Changes`]' buffer.
#[derive(Clone, Copy, Debug)]
struct Put {
    start: usize,
    key_end: usize,
    value_end: usize,
}

impl Changes {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.puts.clear();
    }

    /// Number of puts.
    pub fn len(&self) -> usize {
        self.puts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
    }

    /// Bytes of all keys and values together.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// The puts, in the order they were made or, after [`Changes::sort`], of their keys.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.puts.iter().map(|put| {
            debug_assert!(put.start <= put.key_end && put.key_end <= put.value_end && put.value_end <= self.bytes.len());
            (&self.bytes[put.start..put.key_end], &self.bytes[put.key_end..put.value_end])
        })
    }

    /// Orders the puts by key; of two puts of one key the later stays later.
    /// RocksDB inserts a batch whose keys ascend into its memtable (a skip
    /// list that remembers where the last insert went) in a fraction of the
    /// time it takes for keys in record order, which jump between key spaces.
    pub fn sort(&mut self) {
        let bytes = &self.bytes;
        self.puts.sort_by(|a, b| bytes[a.start..a.key_end].cmp(&bytes[b.start..b.key_end]));
    }

    /// Appends a put whose key and value are written by `key` and `value`.
    /// If `value` fails, what it wrote stays until [`Changes::truncate`].
    fn put(&mut self, key: impl FnOnce(&mut Vec<u8>), value: impl FnOnce(&mut Vec<u8>) -> Result<(), String>) -> Result<(), String> {
        let start = self.bytes.len();
        key(&mut self.bytes);
        let key_end = self.bytes.len();
        value(&mut self.bytes)?;
        self.puts.push(Put { start, key_end, value_end: self.bytes.len() });
        Ok(())
    }

    fn mark(&self) -> (usize, usize) {
        (self.bytes.len(), self.puts.len())
    }

    /// Drops every put made after `mark`.
    fn truncate(&mut self, (bytes, puts): (usize, usize)) {
        self.bytes.truncate(bytes);
        self.puts.truncate(puts);
    }
}

/// An enterprise's standing in one scheme (as the core keeps it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Standing {
    projects: u32,
}

/// The latest versions of all entities, as loaded from a store.
#[derive(Default, Debug)]
pub struct Entities {
    pub ledger: Option<LedgerModel>,
    pub keys: Vec<KeyModel>,
    pub funds: Vec<FundModel>,
    pub subfunds: Vec<SubFundModel>,
    pub investments: Vec<InvestmentModel>,
    pub schemes: Vec<SchemeModel>,
    pub grants: Vec<GrantModel>,
    pub enterprises: Vec<EnterpriseId>,
}

/// The projection of one ledger.
#[derive(Debug)]
pub struct Projection {
    ledger_id: LedgerId,
    position: Position,
    ledger: Option<LedgerModel>,
    keys: HashMap<KeyId, KeyModel>,
    funds: HashMap<FundId, FundModel>,
    subfunds: HashMap<SubFundId, SubFundModel>,
    investments: HashMap<InvestmentId, InvestmentModel>,
    schemes: HashMap<SchemeId, SchemeModel>,
    grants: HashMap<GrantId, GrantModel>,
    standings: HashMap<(SchemeId, EnterpriseId), Standing>,
    enterprises: HashSet<EnterpriseId>,
}

/// What one record changes.
#[derive(Default)]
struct Delta {
    ledger: Option<LedgerModel>,
    key: Option<KeyModel>,
    fund: Option<FundModel>,
    subfund: Option<SubFundModel>,
    investment: Option<InvestmentModel>,
    scheme: Option<SchemeModel>,
    grant: Option<GrantModel>,
    standing: Option<((SchemeId, EnterpriseId), Standing)>,
    new_enterprise: Option<EnterpriseId>,
    index: Option<(Kind, String)>,
    created: Vec<(Kind, String)>,
    links: Vec<(Kind, String, Kind, String)>,
    flow: Option<(Kind, String, Flow)>,
}

fn add(a: Money, b: Money, what: &str) -> Result<Money, String> {
    a.checked_add(b).map_err(|_| format!("{what}: {a} + {b} overflows"))
}

/// `a - b` for amounts that the core's rules keep at least `b`: an underflow
/// means the read model disagrees with the stream, and the record is refused.
fn subtract(a: Money, b: Money, what: &str) -> Result<Money, String> {
    a.checked_sub(b).map_err(|_| format!("{what}: {a} - {b} is below zero; the read model disagrees with the ledger's rules"))
}

fn stored<T: Stored>(value: &T) -> impl FnOnce(&mut Vec<u8>) -> Result<(), String> + '_ {
    move |out| value.encode_into(out)
}

fn bytes(value: &[u8]) -> impl FnOnce(&mut Vec<u8>) -> Result<(), String> + '_ {
    move |out| {
        out.extend_from_slice(value);
        Ok(())
    }
}

impl Projection {
    pub fn new(ledger: LedgerId) -> Projection {
        Projection::restore(ledger, Position::START, Entities::default())
    }

    /// Resumes from a store's position and its entities' latest versions.
    pub fn restore(ledger_id: LedgerId, position: Position, entities: Entities) -> Projection {
        let mut standings: HashMap<(SchemeId, EnterpriseId), Standing> = HashMap::new();
        for grant in &entities.grants {
            standings.entry((grant.scheme.clone(), grant.enterprise.clone())).or_default().projects += 1;
        }
        Projection {
            ledger_id,
            position,
            ledger: entities.ledger,
            keys: entities.keys.into_iter().map(|model| (model.key, model)).collect(),
            funds: entities.funds.into_iter().map(|model| (model.terms.fund.clone(), model)).collect(),
            subfunds: entities.subfunds.into_iter().map(|model| (model.subfund.clone(), model)).collect(),
            investments: entities.investments.into_iter().map(|model| (model.investment.clone(), model)).collect(),
            schemes: entities.schemes.into_iter().map(|model| (model.terms.scheme.clone(), model)).collect(),
            grants: entities.grants.into_iter().map(|model| (model.grant.clone(), model)).collect(),
            standings,
            enterprises: entities.enterprises.into_iter().collect(),
        }
    }

    pub fn position(&self) -> Position {
        self.position
    }

    /// Checks that `record` is the next link and appends its changes (the
    /// record's own bytes `payload` included) to `changes`. On error nothing
    /// is appended and the projection is unchanged.
    pub fn apply(&mut self, payload: &[u8], record: &ProjectedRecord, changes: &mut Changes) -> Result<(), ProjectionError> {
        let seq = record.seq;
        if record.ledger != self.ledger_id {
            return Err(ProjectionError::Chain {
                seq,
                reason: format!("it belongs to ledger {}, this projection is of ledger {}", record.ledger, self.ledger_id),
            });
        }
        if seq != self.position.seq + 1 {
            return Err(ProjectionError::Chain {
                seq,
                reason: format!("expected record {} next (a record is missing, repeated or out of order)", self.position.seq + 1),
            });
        }
        if record.prev != self.position.hash {
            return Err(ProjectionError::Chain {
                seq,
                reason: format!(
                    "it links to previous hash {}, but record {} has hash {}",
                    hex::encode(record.prev),
                    self.position.seq,
                    hex::encode(self.position.hash)
                ),
            });
        }
        let inconsistent = |reason: String| ProjectionError::Inconsistent { seq, event_id: record.id.to_string(), reason };
        let delta = self.decide(record).map_err(inconsistent)?;
        let mark = changes.mark();
        if let Err(reason) = Self::write(&delta, record, payload, changes) {
            changes.truncate(mark);
            return Err(inconsistent(reason));
        }
        self.evolve(delta);
        self.position = Position { seq, hash: record.hash };
        Ok(())
    }

    fn ledger_model(&self) -> Result<LedgerModel, String> {
        self.ledger.clone().ok_or_else(|| "the ledger has no genesis yet".to_string())
    }
    fn key(&self, key: &KeyId, seq: u64) -> Result<KeyModel, String> {
        let mut model = self.keys.get(key).cloned().ok_or_else(|| format!("key {key} is not registered"))?;
        model.seq = seq;
        Ok(model)
    }
    fn subfund(&self, id: &SubFundId, seq: u64) -> Result<SubFundModel, String> {
        let mut model = self.subfunds.get(id).cloned().ok_or_else(|| format!("sub-fund {id} does not exist"))?;
        model.seq = seq;
        model.events += 1;
        Ok(model)
    }
    fn investment(&self, subfund: &SubFundId, id: &InvestmentId, seq: u64) -> Result<InvestmentModel, String> {
        let mut model = self.investments.get(id).cloned().ok_or_else(|| format!("investment {id} does not exist"))?;
        if model.subfund != *subfund {
            return Err(format!("investment {id} belongs to sub-fund {}, not {subfund}", model.subfund));
        }
        model.seq = seq;
        Ok(model)
    }
    fn scheme(&self, id: &SchemeId, seq: u64) -> Result<SchemeModel, String> {
        let mut model = self.schemes.get(id).cloned().ok_or_else(|| format!("scheme {id} does not exist"))?;
        model.seq = seq;
        Ok(model)
    }
    fn grant(&self, id: &GrantId, seq: u64) -> Result<GrantModel, String> {
        let mut model = self.grants.get(id).cloned().ok_or_else(|| format!("grant {id} does not exist"))?;
        model.seq = seq;
        model.events += 1;
        Ok(model)
    }

    fn flow(kind: FlowKind, record: &ProjectedRecord, amount: Money) -> Flow {
        Flow { seq: record.seq, kind, occurred_at: record.occurred_at.clone(), amount_cents: amount, recallable: false, grant: None }
    }

    fn subfund_delta(subfund: SubFundModel, flow: Option<Flow>) -> Delta {
        let id = subfund.subfund.to_string();
        Delta { index: Some((Kind::SubFund, id.clone())), flow: flow.map(|flow| (Kind::SubFund, id, flow)), subfund: Some(subfund), ..Delta::default() }
    }

    fn decide(&self, record: &ProjectedRecord) -> Result<Delta, String> {
        let seq = record.seq;
        let at = &record.occurred_at;
        let ledger_index = || Some((Kind::Ledger, self.ledger_id.to_string()));
        Ok(match &record.event {
            Event::LedgerGenesis(data) => {
                if self.ledger.is_some() {
                    return Err("the ledger already has its genesis".to_string());
                }
                let model = LedgerModel {
                    ledger: self.ledger_id.clone(),
                    name: data.name.clone(),
                    operator: data.operator,
                    operator_holder: data.operator_holder.clone(),
                    keys_registered: 1,
                    keys_revoked: 0,
                    enterprise_groups: Vec::new(),
                    seq,
                };
                let operator =
                    KeyModel { key: data.operator, holder: data.operator_holder.clone(), revoked: false, roles: vec![(Role::Admin, Scope::Ledger)], seq };
                let created = vec![(Kind::Key, data.operator.to_string())];
                Delta { ledger: Some(model), key: Some(operator), index: ledger_index(), created, ..Delta::default() }
            }
            Event::KeyRegistered(data) => {
                let mut model = self.ledger_model()?;
                if self.keys.contains_key(&data.key) {
                    return Err(format!("key {} is already registered", data.key));
                }
                model.keys_registered += 1;
                model.seq = seq;
                let key = KeyModel { key: data.key, holder: data.holder.clone(), revoked: false, roles: Vec::new(), seq };
                Delta { ledger: Some(model), key: Some(key), index: ledger_index(), created: vec![(Kind::Key, data.key.to_string())], ..Delta::default() }
            }
            Event::KeyRevoked(data) => {
                let mut model = self.ledger_model()?;
                model.keys_revoked += 1;
                model.seq = seq;
                let mut key = self.key(&data.key, seq)?;
                key.revoked = true;
                Delta { ledger: Some(model), key: Some(key), index: ledger_index(), ..Delta::default() }
            }
            Event::RoleGranted(data) => {
                self.ledger_model()?;
                let mut key = self.key(&data.key, seq)?;
                key.roles.push((data.role, data.scope.clone()));
                Delta { key: Some(key), index: ledger_index(), ..Delta::default() }
            }
            Event::RoleRevoked(data) => {
                self.ledger_model()?;
                let mut key = self.key(&data.key, seq)?;
                let held = (data.role, data.scope.clone());
                let position = key
                    .roles
                    .iter()
                    .position(|role| *role == held)
                    .ok_or_else(|| format!("key {} does not hold {} for {}", data.key, data.role, data.scope))?;
                key.roles.remove(position);
                Delta { key: Some(key), index: ledger_index(), ..Delta::default() }
            }
            Event::FundEstablished(data) => {
                if self.funds.contains_key(&data.fund) {
                    return Err(format!("fund {} already exists", data.fund));
                }
                let model = FundModel { terms: data.clone(), subfund_count: 0, established_seq: seq, established_at: at.clone(), seq };
                let id = data.fund.to_string();
                Delta { fund: Some(model), index: Some((Kind::Fund, id.clone())), created: vec![(Kind::Fund, id)], ..Delta::default() }
            }
            Event::SubFundAdmitted(data) => {
                let mut fund = self.funds.get(&data.fund).cloned().ok_or_else(|| format!("fund {} does not exist", data.fund))?;
                if self.subfunds.contains_key(&data.subfund) {
                    return Err(format!("sub-fund {} already exists", data.subfund));
                }
                fund.subfund_count += 1;
                fund.seq = seq;
                let model = SubFundModel {
                    subfund: data.subfund.clone(),
                    fund: data.fund.clone(),
                    name: data.name.clone(),
                    theme: data.theme.clone(),
                    general_partner: data.general_partner.clone(),
                    target_size_cents: data.target_size_cents,
                    market_committed_cents: Money::ZERO,
                    market_commitments: 0,
                    government_committed_cents: Money::ZERO,
                    called_cents: Money::ZERO,
                    fees_cents: Money::ZERO,
                    paid_in_cents: Money::ZERO,
                    distributed_cents: Money::ZERO,
                    recallable_distributed_cents: Money::ZERO,
                    nav_cents: None,
                    nav_as_of: None,
                    invested_cents: Money::ZERO,
                    invested_hk_cents: Money::ZERO,
                    written_off_cents: Money::ZERO,
                    production_spend_cents: Money::ZERO,
                    investment_period: data.investment_period.clone(),
                    production_spend_in_period_cents: Money::ZERO,
                    investment_count: 0,
                    admitted_seq: seq,
                    admitted_at: at.clone(),
                    seq,
                    events: 1,
                };
                let (fund_id, subfund_id) = (data.fund.to_string(), data.subfund.to_string());
                Delta {
                    fund: Some(fund),
                    created: vec![(Kind::SubFund, subfund_id.clone())],
                    links: vec![(Kind::Fund, fund_id, Kind::SubFund, subfund_id)],
                    ..Self::subfund_delta(model, None)
                }
            }
            Event::MarketCommitted(data) => {
                let mut model = self.subfund(&data.subfund, seq)?;
                model.market_committed_cents = add(model.market_committed_cents, data.amount_cents, "market commitments")?;
                add(model.market_committed_cents, model.government_committed_cents, "committed size")?;
                model.market_commitments += 1;
                Self::subfund_delta(model, Some(Self::flow(FlowKind::MarketCommitment, record, data.amount_cents)))
            }
            Event::GovernmentCommitted(data) => {
                let mut model = self.subfund(&data.subfund, seq)?;
                model.government_committed_cents = add(model.government_committed_cents, data.amount_cents, "government commitment")?;
                add(model.market_committed_cents, model.government_committed_cents, "committed size")?;
                Self::subfund_delta(model, Some(Self::flow(FlowKind::GovernmentCommitment, record, data.amount_cents)))
            }
            Event::CapitalCalled(data) => {
                let mut model = self.subfund(&data.subfund, seq)?;
                model.called_cents = add(model.called_cents, data.amount_cents, "calls")?;
                model.paid_in_cents = add(model.paid_in_cents, data.amount_cents, "paid-in capital")?;
                Self::subfund_delta(model, Some(Self::flow(FlowKind::CapitalCall, record, data.amount_cents)))
            }
            Event::FeeCharged(data) => {
                let mut model = self.subfund(&data.subfund, seq)?;
                model.fees_cents = add(model.fees_cents, data.amount_cents, "fees")?;
                model.paid_in_cents = add(model.paid_in_cents, data.amount_cents, "paid-in capital")?;
                Self::subfund_delta(model, Some(Self::flow(FlowKind::Fee, record, data.amount_cents)))
            }
            Event::Distributed(data) => {
                let mut model = self.subfund(&data.subfund, seq)?;
                model.distributed_cents = add(model.distributed_cents, data.amount_cents, "distributions")?;
                if data.recallable {
                    model.recallable_distributed_cents = add(model.recallable_distributed_cents, data.amount_cents, "recallable distributions")?;
                }
                let flow = Flow { recallable: data.recallable, ..Self::flow(FlowKind::Distribution, record, data.amount_cents) };
                Self::subfund_delta(model, Some(flow))
            }
            Event::NavReported(data) => {
                let mut model = self.subfund(&data.subfund, seq)?;
                model.nav_cents = Some(data.nav_cents);
                model.nav_as_of = Some(data.as_of.clone());
                Self::subfund_delta(model, None)
            }
            Event::Invested(data) => {
                let mut model = self.subfund(&data.subfund, seq)?;
                if self.investments.contains_key(&data.investment) {
                    return Err(format!("investment {} already exists", data.investment));
                }
                model.invested_cents = add(model.invested_cents, data.amount_cents, "investments")?;
                if data.hk_enterprise {
                    model.invested_hk_cents = add(model.invested_hk_cents, data.amount_cents, "HK investments")?;
                }
                model.investment_count += 1;
                let investment = InvestmentModel {
                    investment: data.investment.clone(),
                    subfund: data.subfund.clone(),
                    investee: data.investee.clone(),
                    cost_cents: data.amount_cents,
                    written_off_cents: Money::ZERO,
                    hk_enterprise: data.hk_enterprise,
                    innovation_technology: data.innovation_technology,
                    production_spend_cents: Money::ZERO,
                    invested_seq: seq,
                    invested_at: at.clone(),
                    seq,
                };
                let (subfund_id, investment_id) = (data.subfund.to_string(), data.investment.to_string());
                Delta {
                    investment: Some(investment),
                    created: vec![(Kind::Investment, investment_id.clone())],
                    links: vec![(Kind::SubFund, subfund_id, Kind::Investment, investment_id)],
                    ..Self::subfund_delta(model, None)
                }
            }
            Event::WrittenOff(data) => {
                let mut model = self.subfund(&data.subfund, seq)?;
                let mut investment = self.investment(&data.subfund, &data.investment, seq)?;
                investment.written_off_cents = add(investment.written_off_cents, data.amount_cents, "write-offs")?;
                model.written_off_cents = add(model.written_off_cents, data.amount_cents, "write-offs")?;
                Delta { investment: Some(investment), ..Self::subfund_delta(model, None) }
            }
            Event::ProductionSpendReported(data) => {
                let mut model = self.subfund(&data.subfund, seq)?;
                let mut investment = self.investment(&data.subfund, &data.investment, seq)?;
                investment.production_spend_cents = add(investment.production_spend_cents, data.amount_cents, "production spend")?;
                model.production_spend_cents = add(model.production_spend_cents, data.amount_cents, "production spend")?;
                let in_period = match (&model.investment_period, &data.spent_on) {
                    (None, _) => true,
                    (Some(period), Some(date)) => period.contains(date),
                    (Some(_), None) => return Err("production spend in a sub-fund with an investment period says no spent_on".to_string()),
                };
                if in_period {
                    model.production_spend_in_period_cents = add(model.production_spend_in_period_cents, data.amount_cents, "production spend")?;
                }
                Delta { investment: Some(investment), ..Self::subfund_delta(model, None) }
            }
            Event::SchemeEstablished(data) => {
                if self.schemes.contains_key(&data.scheme) {
                    return Err(format!("scheme {} already exists", data.scheme));
                }
                let model = SchemeModel {
                    terms: data.clone(),
                    approved_cents: Money::ZERO,
                    committed_cents: Money::ZERO,
                    disbursed_cents: Money::ZERO,
                    clawed_back_cents: Money::ZERO,
                    grant_count: 0,
                    open_grant_count: 0,
                    enterprise_count: 0,
                    amendments: Vec::new(),
                    budget_top_ups_cents: Money::ZERO,
                    established_seq: seq,
                    established_at: at.clone(),
                    seq,
                };
                let id = data.scheme.to_string();
                Delta { scheme: Some(model), index: Some((Kind::Scheme, id.clone())), created: vec![(Kind::Scheme, id)], ..Delta::default() }
            }
            Event::GrantApproved(data) => {
                let mut scheme = self.scheme(&data.scheme, seq)?;
                if self.grants.contains_key(&data.grant) {
                    return Err(format!("grant {} already exists", data.grant));
                }
                let key = (data.scheme.clone(), data.enterprise.clone());
                let mut standing = self.standings.get(&key).copied().unwrap_or_default();
                if standing.projects == 0 {
                    scheme.enterprise_count += 1;
                }
                standing.projects += 1;
                scheme.approved_cents = add(scheme.approved_cents, data.grant_cents, "approved grants")?;
                scheme.committed_cents = add(scheme.committed_cents, data.grant_cents, "scheme commitments")?;
                scheme.grant_count += 1;
                scheme.open_grant_count += 1;
                let grant = GrantModel {
                    grant: data.grant.clone(),
                    scheme: data.scheme.clone(),
                    enterprise: data.enterprise.clone(),
                    enterprise_name: data.enterprise_name.clone(),
                    project: data.project.clone(),
                    approved_cost_cents: data.approved_cost_cents,
                    grant_cents: data.grant_cents,
                    duration_months: data.duration_months,
                    verified_spend_cents: Money::ZERO,
                    disbursed_cents: Money::ZERO,
                    clawed_back_cents: Money::ZERO,
                    disallowed_spend_cents: Money::ZERO,
                    forfeited_cents: Money::ZERO,
                    milestones_accepted: 0,
                    status: GrantStatusView::Open,
                    close_reason: None,
                    approved_seq: seq,
                    approved_at: at.clone(),
                    seq,
                    events: 1,
                };
                let (scheme_id, grant_id, enterprise_id) = (data.scheme.to_string(), data.grant.to_string(), data.enterprise.to_string());
                let new_enterprise = (!self.enterprises.contains(&data.enterprise)).then(|| data.enterprise.clone());
                let mut created = vec![(Kind::Grant, grant_id.clone())];
                if new_enterprise.is_some() {
                    created.push((Kind::Enterprise, enterprise_id.clone()));
                }
                let flow = Flow { grant: Some(data.grant.clone()), ..Self::flow(FlowKind::GrantApproval, record, data.grant_cents) };
                Delta {
                    scheme: Some(scheme),
                    grant: Some(grant),
                    standing: Some((key, standing)),
                    new_enterprise,
                    index: Some((Kind::Grant, grant_id.clone())),
                    created,
                    links: vec![(Kind::Scheme, scheme_id.clone(), Kind::Grant, grant_id.clone()), (Kind::Enterprise, enterprise_id, Kind::Grant, grant_id)],
                    flow: Some((Kind::Scheme, scheme_id, flow)),
                    ..Delta::default()
                }
            }
            Event::SpendVerified(data) => {
                let mut grant = self.grant(&data.grant, seq)?;
                grant.verified_spend_cents = add(grant.verified_spend_cents, data.amount_cents, "verified spend")?;
                Delta { index: Some((Kind::Grant, data.grant.to_string())), grant: Some(grant), ..Delta::default() }
            }
            Event::GrantCompleted(data) => {
                let mut grant = self.grant(&data.grant, seq)?;
                grant.status = GrantStatusView::Completed;
                Delta { index: Some((Kind::Grant, data.grant.to_string())), grant: Some(grant), ..Delta::default() }
            }
            Event::GrantDisbursed(data) => {
                let mut grant = self.grant(&data.grant, seq)?;
                let mut scheme = self.scheme(&grant.scheme, seq)?;
                grant.disbursed_cents = add(grant.disbursed_cents, data.amount_cents, "disbursements")?;
                scheme.disbursed_cents = add(scheme.disbursed_cents, data.amount_cents, "scheme disbursements")?;
                let flow = Flow { grant: Some(data.grant.clone()), ..Self::flow(FlowKind::Disbursement, record, data.amount_cents) };
                Delta {
                    index: Some((Kind::Grant, data.grant.to_string())),
                    flow: Some((Kind::Scheme, grant.scheme.to_string(), flow)),
                    grant: Some(grant),
                    scheme: Some(scheme),
                    ..Delta::default()
                }
            }
            Event::GrantClawedBack(data) => {
                let before = self.grant(&data.grant, seq)?;
                let mut scheme = self.scheme(&before.scheme, seq)?;
                let mut grant = before.clone();
                grant.clawed_back_cents = add(grant.clawed_back_cents, data.amount_cents, "clawbacks")?;
                if data.reason_code.is_some_and(|code| code.forfeits()) {
                    grant.forfeited_cents = add(grant.forfeited_cents, data.amount_cents, "forfeited")?;
                }
                // The core refuses a clawback above the grant's net disbursement, which the scheme's includes.
                scheme.disbursed_cents = subtract(scheme.disbursed_cents, data.amount_cents, "scheme disbursements")?;
                scheme.clawed_back_cents = add(scheme.clawed_back_cents, data.amount_cents, "scheme clawbacks")?;
                // A clawback only lowers what the grant holds, and the scheme's commitments include it.
                let released = subtract(before.committed(), grant.committed(), "the grant's commitment")?;
                scheme.committed_cents = subtract(scheme.committed_cents, released, "scheme commitments")?;
                let flow = Flow { grant: Some(data.grant.clone()), ..Self::flow(FlowKind::Clawback, record, data.amount_cents) };
                Delta {
                    index: Some((Kind::Grant, data.grant.to_string())),
                    flow: Some((Kind::Scheme, grant.scheme.to_string(), flow)),
                    grant: Some(grant),
                    scheme: Some(scheme),
                    ..Delta::default()
                }
            }
            Event::SchemeAmended(data) => {
                let mut scheme = self.scheme(&data.scheme, seq)?;
                if let Some(top_up) = data.budget_top_up_cents {
                    scheme.budget_top_ups_cents = add(scheme.budget_top_ups_cents, top_up, "budget top-ups")?;
                }
                scheme.amendments.push(data.clone());
                Delta { index: Some((Kind::Scheme, data.scheme.to_string())), scheme: Some(scheme), ..Delta::default() }
            }
            Event::SpendDisallowed(data) => {
                let mut grant = self.grant(&data.grant, seq)?;
                grant.disallowed_spend_cents = add(grant.disallowed_spend_cents, data.amount_cents, "disallowed spend")?;
                Delta { index: Some((Kind::Grant, data.grant.to_string())), grant: Some(grant), ..Delta::default() }
            }
            Event::MilestoneAccepted(data) => {
                let mut grant = self.grant(&data.grant, seq)?;
                grant.milestones_accepted = grant.milestones_accepted.checked_add(1).ok_or("milestones accepted overflow")?;
                Delta { index: Some((Kind::Grant, data.grant.to_string())), grant: Some(grant), ..Delta::default() }
            }
            Event::EnterprisesAssociated(data) => {
                let mut model = self.ledger_model()?;
                let mut members: Vec<EnterpriseId> = data.enterprises.iter().flat_map(|enterprise| model.associated_with(enterprise)).collect();
                members.sort();
                members.dedup();
                model.enterprise_groups.retain(|group| !group.iter().any(|member| members.contains(member)));
                model.enterprise_groups.push(members);
                model.enterprise_groups.sort();
                model.seq = seq;
                Delta { ledger: Some(model), index: ledger_index(), ..Delta::default() }
            }
            Event::GrantClosed(data) => {
                let before = self.grant(&data.grant, seq)?;
                let mut scheme = self.scheme(&before.scheme, seq)?;
                let mut grant = before.clone();
                grant.status = GrantStatusView::Closed;
                grant.close_reason = Some(data.reason);
                // Closing keeps only the net disbursement, never more than the open grant held.
                let released = subtract(before.committed(), grant.committed(), "the grant's commitment")?;
                scheme.committed_cents = subtract(scheme.committed_cents, released, "scheme commitments")?;
                scheme.open_grant_count =
                    scheme.open_grant_count.checked_sub(1).ok_or_else(|| format!("scheme {} has no open grant to close", scheme.terms.scheme))?;
                let flow = Flow { grant: Some(data.grant.clone()), ..Self::flow(FlowKind::Release, record, released) };
                Delta {
                    index: Some((Kind::Grant, data.grant.to_string())),
                    flow: Some((Kind::Scheme, grant.scheme.to_string(), flow)),
                    grant: Some(grant),
                    scheme: Some(scheme),
                    ..Delta::default()
                }
            }
        })
    }

    /// The puts for one record: the record, its id, its index entry, the new
    /// entity versions, directory entries, links and its flow.
    fn write(delta: &Delta, record: &ProjectedRecord, payload: &[u8], changes: &mut Changes) -> Result<(), String> {
        let seq = record.seq;
        let seq_bytes = keys::encode_seq(seq);
        changes.put(|key| keys::record_into(key, seq), bytes(payload))?;
        changes.put(|key| keys::event_id_into(key, record.id.as_str()), bytes(&seq_bytes))?;
        if let Some((kind, id)) = &delta.index {
            changes.put(|key| keys::index_into(key, *kind, id, seq), bytes(&keys::index_value(&record.event)))?;
        }
        if let Some(model) = &delta.ledger {
            changes.put(|key| keys::version_into(key, Kind::Ledger, model.ledger.as_str(), seq), stored(model))?;
        }
        if let Some(model) = &delta.key {
            changes.put(|key| keys::version_into(key, Kind::Key, &model.key.to_string(), seq), stored(model))?;
        }
        if let Some(model) = &delta.fund {
            changes.put(|key| keys::version_into(key, Kind::Fund, model.terms.fund.as_str(), seq), stored(model))?;
        }
        if let Some(model) = &delta.subfund {
            changes.put(|key| keys::version_into(key, Kind::SubFund, model.subfund.as_str(), seq), stored(model))?;
        }
        if let Some(model) = &delta.investment {
            changes.put(|key| keys::version_into(key, Kind::Investment, model.investment.as_str(), seq), stored(model))?;
        }
        if let Some(model) = &delta.scheme {
            changes.put(|key| keys::version_into(key, Kind::Scheme, model.terms.scheme.as_str(), seq), stored(model))?;
        }
        if let Some(model) = &delta.grant {
            changes.put(|key| keys::version_into(key, Kind::Grant, model.grant.as_str(), seq), stored(model))?;
        }
        for (kind, id) in &delta.created {
            changes.put(|key| keys::directory_into(key, *kind, id), bytes(&seq_bytes))?;
        }
        for (kind, id, child_kind, child_id) in &delta.links {
            changes.put(|key| keys::child_into(key, *kind, id, *child_kind, child_id), bytes(&seq_bytes))?;
        }
        if let Some((kind, id, flow)) = &delta.flow {
            changes.put(|key| keys::flow_into(key, *kind, id, seq), stored(flow))?;
        }
        Ok(())
    }

    fn evolve(&mut self, delta: Delta) {
        if let Some(model) = delta.ledger {
            self.ledger = Some(model);
        }
        if let Some(model) = delta.key {
            self.keys.insert(model.key, model);
        }
        if let Some(model) = delta.fund {
            self.funds.insert(model.terms.fund.clone(), model);
        }
        if let Some(model) = delta.subfund {
            self.subfunds.insert(model.subfund.clone(), model);
        }
        if let Some(model) = delta.investment {
            self.investments.insert(model.investment.clone(), model);
        }
        if let Some(model) = delta.scheme {
            self.schemes.insert(model.terms.scheme.clone(), model);
        }
        if let Some(model) = delta.grant {
            self.grants.insert(model.grant.clone(), model);
        }
        if let Some((key, standing)) = delta.standing {
            self.standings.insert(key, standing);
        }
        if let Some(enterprise) = delta.new_enterprise {
            self.enterprises.insert(enterprise);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundledger_core::crypto::SecretKey;
    use fundledger_core::event::{CloseReason, GrantClawedBack, GrantClosed, Text};
    use fundledger_core::record::{Record, SignedEvent};
    use fundledger_core::time::Timestamp;

    fn at() -> Timestamp {
        Timestamp::parse("2026-01-01T00:00:00Z").unwrap()
    }

    /// A scheme and one grant of 100 with 60 disbursed, as a projection restored from a store holds them.
    fn restored(scheme_disbursed: Money, scheme_committed: Money, open_grants: u32) -> Projection {
        let grant = GrantModel {
            grant: "g1".parse().unwrap(),
            scheme: "s1".parse().unwrap(),
            enterprise: "ent-1".parse().unwrap(),
            enterprise_name: Text::parse("Enterprise").unwrap(),
            project: Text::parse("Project").unwrap(),
            approved_cost_cents: Money::hkd(200),
            grant_cents: Money::hkd(100),
            duration_months: 12,
            verified_spend_cents: Money::hkd(120),
            disbursed_cents: Money::hkd(60),
            clawed_back_cents: Money::ZERO,
            disallowed_spend_cents: Money::ZERO,
            forfeited_cents: Money::ZERO,
            milestones_accepted: 0,
            status: GrantStatusView::Open,
            close_reason: None,
            approved_seq: 1,
            approved_at: at(),
            seq: 1,
            events: 2,
        };
        let scheme = SchemeModel {
            terms: fundledger_core::presets::matching_scheme("s1", "Scheme", Money::hkd(1_000)),
            approved_cents: Money::hkd(100),
            committed_cents: scheme_committed,
            disbursed_cents: scheme_disbursed,
            clawed_back_cents: Money::ZERO,
            grant_count: 1,
            open_grant_count: open_grants,
            enterprise_count: 1,
            amendments: Vec::new(),
            budget_top_ups_cents: Money::ZERO,
            established_seq: 1,
            established_at: at(),
            seq: 1,
        };
        let entities = Entities { schemes: vec![scheme], grants: vec![grant], ..Entities::default() };
        Projection::restore(LedgerId::parse("hk").unwrap(), Position::START, entities)
    }

    fn apply(projection: &mut Projection, event: Event) -> Result<(), ProjectionError> {
        let key = SecretKey::from_seed_label("alice");
        let ledger = LedgerId::parse("hk").unwrap();
        let signed = SignedEvent::author(&ledger, "e1".parse().unwrap(), at(), event, &[&key]).unwrap();
        let payload = Record::seal(ledger, 1, GENESIS_PREV, at(), signed).to_json();
        let record = crate::record::parse_record(&payload).unwrap();
        projection.apply(&payload, &record, &mut Changes::default())
    }

    fn clawback(amount: Money) -> Event {
        Event::GrantClawedBack(GrantClawedBack { grant: "g1".parse().unwrap(), amount_cents: amount, reason: Text::parse("audit").unwrap(), reason_code: None })
    }

    #[test]
    fn sums_the_rules_keep_in_range_are_applied_exactly() {
        let mut projection = restored(Money::hkd(60), Money::hkd(100), 1);
        apply(&mut projection, clawback(Money::hkd(10))).unwrap();
        assert_eq!(projection.schemes[&"s1".parse().unwrap()].disbursed_cents, Money::hkd(50));
        let mut projection = restored(Money::hkd(60), Money::hkd(100), 1);
        apply(&mut projection, Event::GrantClosed(GrantClosed { grant: "g1".parse().unwrap(), reason: CloseReason::Completed })).unwrap();
        let scheme = &projection.schemes[&"s1".parse().unwrap()];
        assert_eq!((scheme.committed_cents, scheme.open_grant_count), (Money::hkd(60), 0));
    }

    #[test]
    fn a_read_model_that_disagrees_with_the_rules_stops_the_projection_instead_of_saturating() {
        // The scheme's disbursements (30) are below its grant's (60): a clawback of 40 cannot come from it.
        let mut projection = restored(Money::hkd(30), Money::hkd(100), 1);
        let error = apply(&mut projection, clawback(Money::hkd(40))).unwrap_err();
        assert!(matches!(&error, ProjectionError::Inconsistent { seq: 1, reason, .. } if reason.contains("scheme disbursements")), "{error}");
        assert_eq!(projection.position(), Position::START, "nothing applied");

        // The scheme's commitments (20) are below what closing its grant releases (40).
        let mut projection = restored(Money::hkd(60), Money::hkd(20), 1);
        let close = || Event::GrantClosed(GrantClosed { grant: "g1".parse().unwrap(), reason: CloseReason::Completed });
        let error = apply(&mut projection, close()).unwrap_err();
        assert!(matches!(&error, ProjectionError::Inconsistent { reason, .. } if reason.contains("scheme commitments")), "{error}");

        // No open grant is counted, yet one is closed.
        let mut projection = restored(Money::hkd(60), Money::hkd(100), 0);
        let error = apply(&mut projection, close()).unwrap_err();
        assert!(error.to_string().contains("no open grant"), "{error}");
    }

    fn put(changes: &mut Changes, key: &[u8], value: &[u8]) {
        changes.put(|out| out.extend_from_slice(key), bytes(value)).unwrap();
    }

    #[test]
    fn changes_keep_their_puts_apart_sort_stably_and_roll_back() {
        let mut changes = Changes::default();
        put(&mut changes, b"v/b", b"2");
        put(&mut changes, b"e/1", b"");
        put(&mut changes, b"v/b", b"3");
        put(&mut changes, b"a", b"xyz");
        assert_eq!(changes.len(), 4);
        assert_eq!(changes.byte_len(), (3 + 1) + 3 + (3 + 1) + (1 + 3));
        let made: Vec<_> = changes.iter().collect();
        assert_eq!(made, [(&b"v/b"[..], &b"2"[..]), (b"e/1", b""), (b"v/b", b"3"), (b"a", b"xyz")]);
        changes.sort();
        let sorted: Vec<_> = changes.iter().collect();
        assert_eq!(sorted, [(&b"a"[..], &b"xyz"[..]), (b"e/1", b""), (b"v/b", b"2"), (b"v/b", b"3")], "the later put of a key stays later");

        let mark = changes.mark();
        let failed = changes.put(
            |out| out.extend_from_slice(b"f/1"),
            |out| {
                out.extend_from_slice(b"half");
                Err("cannot encode".to_string())
            },
        );
        assert_eq!(failed, Err("cannot encode".to_string()));
        changes.truncate(mark);
        assert_eq!(changes.iter().count(), 4);
        assert_eq!(changes.byte_len(), 15);
        changes.clear();
        assert!(changes.is_empty() && changes.byte_len() == 0);
    }
}
