//! The key layout of the read-model database: one RocksDB key space, prefixed.
//!
//! | key | value |
//! |---|---|
//! | `m/position` | applied position: u64be seq, 32-byte record hash |
//! | `m/ledger`, `m/format` | the ledger id and the layout version, checked on open |
//! | `e/<seq>` | the record exactly as stored in the stream |
//! | `i/<event id>` | u64be seq |
//! | `x/<kind>/<id>\0<seq>` | one byte: the event type's stable code, `Event::code` (events by entity) |
//! | `v/<kind>/<id>\0<seq>` | the entity's model after record `seq` (encoded as `model::Stored` says: postcard, or JSON for schemes): its full history |
//! | `d/<kind>/<id>` | u64be seq that created it (the directory of entities) |
//! | `c/<kind>/<id>\0<child kind>/<child id>` | u64be seq that linked them (sub-funds of a fund, grants of a scheme or enterprise) |
//! | `f/<kind>/<id>\0<seq>` | a dated money flow (JSON) for IRR and reports |
//!
//! Sequences are big-endian so that keys sort in ledger order, and a `\0`
//! ends every id (ids never contain one), so `g1` never matches `g10`.

use fundledger_core::event::Event;

/// Version of this layout; a database of another version must be rebuilt
/// (2: versions of most models in postcard instead of JSON; 4: keys and
/// their roles, `v/key/<hex>`, for who may read what).
pub const FORMAT_VERSION: u32 = 4;
pub const POSITION: &[u8] = b"m/position";
pub const LEDGER: &[u8] = b"m/ledger";
pub const FORMAT: &[u8] = b"m/format";

/// What a key is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Ledger,
    Key,
    Fund,
    SubFund,
    Investment,
    Scheme,
    Grant,
    Enterprise,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ledger => "ledger",
            Kind::Key => "key",
            Kind::Fund => "fund",
            Kind::SubFund => "subfund",
            Kind::Investment => "investment",
            Kind::Scheme => "scheme",
            Kind::Grant => "grant",
            Kind::Enterprise => "enterprise",
        }
    }
}

// Each key has an `_into` form that appends it to a buffer (the projection
// writes millions of keys into one buffer per chunk) and a form that returns it.

fn seq_into(out: &mut Vec<u8>, seq: u64) {
    out.extend_from_slice(&seq.to_be_bytes());
}

fn entity_into(out: &mut Vec<u8>, tag: &str, kind: Kind, id: &str) {
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(kind.as_str().as_bytes());
    out.push(b'/');
    out.extend_from_slice(id.as_bytes());
    out.push(0);
}

fn build(size: usize, write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut key = Vec::with_capacity(size);
    write(&mut key);
    key
}

pub fn record_into(out: &mut Vec<u8>, seq: u64) {
    out.extend_from_slice(RECORD_PREFIX);
    seq_into(out, seq);
}
pub fn record(seq: u64) -> Vec<u8> {
    build(10, |key| record_into(key, seq))
}
pub const RECORD_PREFIX: &[u8] = b"e/";

pub fn event_id_into(out: &mut Vec<u8>, id: &str) {
    out.extend_from_slice(b"i/");
    out.extend_from_slice(id.as_bytes());
}
pub fn event_id(id: &str) -> Vec<u8> {
    build(2 + id.len(), |key| event_id_into(key, id))
}

/// `x/<kind>/<id>\0`: the events of one entity, in ledger order after it.
pub fn index_prefix(kind: Kind, id: &str) -> Vec<u8> {
    build(16 + id.len(), |key| entity_into(key, "x/", kind, id))
}
pub fn index_into(out: &mut Vec<u8>, kind: Kind, id: &str, seq: u64) {
    entity_into(out, "x/", kind, id);
    seq_into(out, seq);
}
pub fn index(kind: Kind, id: &str, seq: u64) -> Vec<u8> {
    build(24 + id.len(), |key| index_into(key, kind, id, seq))
}

/// `v/<kind>/<id>\0`: the versions of one entity.
pub fn version_prefix(kind: Kind, id: &str) -> Vec<u8> {
    build(16 + id.len(), |key| entity_into(key, "v/", kind, id))
}
pub fn version_into(out: &mut Vec<u8>, kind: Kind, id: &str, seq: u64) {
    entity_into(out, "v/", kind, id);
    seq_into(out, seq);
}
pub fn version(kind: Kind, id: &str, seq: u64) -> Vec<u8> {
    build(24 + id.len(), |key| version_into(key, kind, id, seq))
}

/// `d/<kind>/`: every entity of a kind.
pub fn directory_prefix(kind: Kind) -> Vec<u8> {
    build(16, |key| directory_prefix_into(key, kind))
}
fn directory_prefix_into(out: &mut Vec<u8>, kind: Kind) {
    out.extend_from_slice(b"d/");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.push(b'/');
}
pub fn directory_into(out: &mut Vec<u8>, kind: Kind, id: &str) {
    directory_prefix_into(out, kind);
    out.extend_from_slice(id.as_bytes());
}
pub fn directory(kind: Kind, id: &str) -> Vec<u8> {
    build(16 + id.len(), |key| directory_into(key, kind, id))
}

/// `c/<kind>/<id>\0<child kind>/`: the children of one entity.
pub fn children_prefix(kind: Kind, id: &str, child: Kind) -> Vec<u8> {
    build(32 + id.len(), |key| children_prefix_into(key, kind, id, child))
}
fn children_prefix_into(out: &mut Vec<u8>, kind: Kind, id: &str, child: Kind) {
    entity_into(out, "c/", kind, id);
    out.extend_from_slice(child.as_str().as_bytes());
    out.push(b'/');
}
pub fn child_into(out: &mut Vec<u8>, kind: Kind, id: &str, child_kind: Kind, child_id: &str) {
    children_prefix_into(out, kind, id, child_kind);
    out.extend_from_slice(child_id.as_bytes());
}
pub fn child(kind: Kind, id: &str, child_kind: Kind, child_id: &str) -> Vec<u8> {
    build(32 + id.len() + child_id.len(), |key| child_into(key, kind, id, child_kind, child_id))
}

/// `f/<kind>/<id>\0`: the dated money flows of a sub-fund or scheme.
pub fn flow_prefix(kind: Kind, id: &str) -> Vec<u8> {
    build(16 + id.len(), |key| entity_into(key, "f/", kind, id))
}
pub fn flow_into(out: &mut Vec<u8>, kind: Kind, id: &str, seq: u64) {
    entity_into(out, "f/", kind, id);
    seq_into(out, seq);
}
pub fn flow(kind: Kind, id: &str, seq: u64) -> Vec<u8> {
    build(24 + id.len(), |key| flow_into(key, kind, id, seq))
}

/// The value of an index entry: the event type's stable code (`Event::code`,
/// fixed in the core's catalogue), never its position in the catalogue.
pub fn index_value(event: &Event) -> [u8; 1] {
    [event.code()]
}

/// The event type an index entry's value names, if it names one.
pub fn event_type_of_index_value(value: &[u8]) -> Option<&'static str> {
    match value {
        [code] => Event::type_of_code(*code),
        _ => None,
    }
}

/// The sequence at the end of a key that ends with one.
pub fn trailing_seq(key: &[u8]) -> Option<u64> {
    let start = key.len().checked_sub(8)?;
    Some(u64::from_be_bytes(key[start..].try_into().ok()?))
}

pub fn encode_seq(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub fn decode_seq(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Bytes of the position value.
pub const POSITION_BYTES: usize = 40;

/// The position value: u64be seq then the record hash.
pub fn encode_position(seq: u64, hash: &[u8; 32]) -> [u8; POSITION_BYTES] {
    let mut value = [0u8; POSITION_BYTES];
    value[..8].copy_from_slice(&seq.to_be_bytes());
    value[8..].copy_from_slice(hash);
    value
}

pub fn decode_position(bytes: &[u8]) -> Option<(u64, [u8; 32])> {
    if bytes.len() != POSITION_BYTES {
        return None;
    }
    let seq = u64::from_be_bytes(bytes[..8].try_into().ok()?);
    let hash: [u8; 32] = bytes[8..].try_into().ok()?;
    Some((seq, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_prefix_each_other_and_seqs_sort() {
        let g1 = index(Kind::Grant, "g1", 5);
        assert!(g1.starts_with(&index_prefix(Kind::Grant, "g1")));
        assert!(!index(Kind::Grant, "g10", 1).starts_with(&index_prefix(Kind::Grant, "g1")));
        assert!(version(Kind::SubFund, "a", 255) < version(Kind::SubFund, "a", 256));
        assert_eq!(trailing_seq(&g1), Some(5));
        assert_eq!(decode_position(&encode_position(7, &[3; 32])), Some((7, [3; 32])));
        assert!(child(Kind::Scheme, "s", Kind::Grant, "g").starts_with(&children_prefix(Kind::Scheme, "s", Kind::Grant)));
    }

    #[test]
    fn index_values_are_stable_event_codes() {
        use fundledger_core::event::GrantCompleted;
        let event = Event::GrantCompleted(GrantCompleted { grant: "g1".parse().unwrap() });
        // Read models written before the codes were explicit stored the catalogue position, 19.
        assert_eq!(index_value(&event), [19]);
        assert_eq!(event_type_of_index_value(&index_value(&event)), Some("grant.completed"));
        assert_eq!(event_type_of_index_value(&[0]), Some("ledger.genesis"));
        assert_eq!(event_type_of_index_value(&[]), None);
        assert_eq!(event_type_of_index_value(&[200]), None);
    }
}
