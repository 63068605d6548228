//! Ed25519 keys and signatures, and the domain-separated SHA-256 hashes that
//! everything signed is built from. A key is named by its public key (hex),
//! so an auditor needs nothing but the ledger to know who signed what.
//!
//! Key generation needs randomness, which the core does not have: the shell
//! generates the 32 secret bytes and hands them to [`SecretKey::from_bytes`].

use std::fmt;

use ed25519_dalek::Signer;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub type Hash = [u8; 32];

/// The fixed prefix of every hashed or signed message, one per purpose, so a
/// signature or hash made for one purpose can never be replayed as another.
pub mod domain {
    pub const EVENT: &[u8] = b"fundledger/v1/event\0";
    pub const EVENT_SIGNATURE: &[u8] = b"fundledger/v1/event-signature\0";
    pub const RECORD: &[u8] = b"fundledger/v1/record\0";
    pub const CHECKPOINT: &[u8] = b"fundledger/v1/checkpoint\0";
    pub const WITNESS: &[u8] = b"fundledger/v1/witness\0";
    /// A reader's sign-in to the query API (`read_access`).
    pub const READ_SESSION: &[u8] = b"fundledger/v1/read-session\0";
}

pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    #[error("{what} must be {expected} hex characters, got {actual:?}")]
    BadHex { what: &'static str, expected: usize, actual: String },
    #[error("key {0} is not a valid ed25519 public key")]
    BadPublicKey(String),
    #[error("signature by key {key} does not verify")]
    BadSignature { key: KeyId },
    #[error("batch signature verification failed")]
    BatchFailed,
}

fn decode_hex<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    let bad = || CryptoError::BadHex { what, expected: N * 2, actual: text.chars().take(200).collect() };
    if text.len() != N * 2 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad());
    }
    hex::decode_to_slice(text, &mut bytes).map_err(|_| bad())?;
    Ok(bytes)
}

/// Parses a lowercase hex SHA-256 hash.
pub fn hash_from_hex(what: &'static str, text: &str) -> Result<Hash, CryptoError> {
    decode_hex::<32>(what, text)
}

/// A public key, and the id of the key: its 32 bytes in lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 32]);

impl KeyId {
    /// Parses a public key. Small-order ("weak") keys are refused: with one,
    /// anybody could forge a signature that batch verification accepts.
    pub fn parse(text: &str) -> Result<KeyId, CryptoError> {
        // A ledger has few keys and every record names one: remember the keys
        // already checked on this thread (a decompression costs about as much
        // as half a signature check). Only valid keys are remembered.
        const CHECKED_KEYS_MAX: usize = 4096;
        thread_local! {
            static CHECKED: std::cell::RefCell<std::collections::HashSet<[u8; 32]>> = std::cell::RefCell::new(std::collections::HashSet::new());
        }
        let bytes = decode_hex::<32>("public key", text)?;
        if CHECKED.with(|checked| checked.borrow().contains(&bytes)) {
            return Ok(KeyId(bytes));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| CryptoError::BadPublicKey(text.to_string()))?;
        if key.is_weak() {
            return Err(CryptoError::BadPublicKey(text.to_string()));
        }
        CHECKED.with(|checked| {
            let mut checked = checked.borrow_mut();
            if checked.len() >= CHECKED_KEYS_MAX {
                checked.clear();
            }
            checked.insert(bytes);
        });
        Ok(KeyId(bytes))
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The first 8 bytes in hex, for people and for subject tokens.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "KeyId({})", self.short())
    }
}
impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}
impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        KeyId::parse(&text).map_err(serde::de::Error::custom)
    }
}
impl std::str::FromStr for KeyId {
    type Err = CryptoError;
    fn from_str(text: &str) -> Result<Self, CryptoError> {
        KeyId::parse(text)
    }
}
impl schemars::JsonSchema for KeyId {
    fn schema_name() -> String {
        "KeyId".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject { instance_type: Some(schemars::schema::InstanceType::String.into()), ..Default::default() };
        schema.string().pattern = Some("^[0-9a-f]{64}$".to_string());
        schema.metadata().description = Some("An ed25519 public key in lowercase hex; it is also the key's id.".to_string());
        schema.into()
    }
}

/// An ed25519 signature, 64 bytes, lowercase hex on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn parse(text: &str) -> Result<Signature, CryptoError> {
        Ok(Signature(decode_hex::<64>("signature", text)?))
    }
}
impl fmt::Display for Signature {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for Signature {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Signature({}…)", hex::encode(&self.0[..8]))
    }
}
impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}
impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Signature::parse(&text).map_err(serde::de::Error::custom)
    }
}
impl schemars::JsonSchema for Signature {
    fn schema_name() -> String {
        "Signature".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject { instance_type: Some(schemars::schema::InstanceType::String.into()), ..Default::default() };
        schema.string().pattern = Some("^[0-9a-f]{128}$".to_string());
        schema.into()
    }
}

/// A secret signing key. Its bytes come from the shell (a key file).
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    pub fn from_bytes(secret: &[u8; 32]) -> SecretKey {
        SecretKey(ed25519_dalek::SigningKey::from_bytes(secret))
    }
    pub fn from_hex(text: &str) -> Result<SecretKey, CryptoError> {
        Ok(SecretKey::from_bytes(&decode_hex::<32>("secret key", text)?))
    }
    /// A deterministic key from a label, for tests, demos and test vectors only.
    pub fn from_seed_label(label: &str) -> SecretKey {
        SecretKey::from_bytes(&sha256(&[b"fundledger/test-key\0", label.as_bytes()]))
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }
    pub fn key_id(&self) -> KeyId {
        KeyId(self.0.verifying_key().to_bytes())
    }
    /// Signs `domain || message`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Signature {
        let mut bytes = Vec::with_capacity(domain.len() + message.len());
        bytes.extend_from_slice(domain);
        bytes.extend_from_slice(message);
        Signature(self.0.sign(&bytes).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SecretKey(public {})", self.key_id().short())
    }
}

/// Verifies one signature over `domain || message` under the ZIP 215 rules
/// (docs/FORMAT.md 6.3): `S` canonical, `R` and the key decode to points,
/// and `[8][S]B = [8]R + [8][k]A`. Weak keys never get here: [`KeyId::parse`]
/// refuses them. The same rules as [`verify_batch`], so a signature never
/// passes in one and fails in the other.
pub fn verify(key: &KeyId, domain: &[u8], message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
    let verification_key = ed25519_zebra::VerificationKey::try_from(key.0).map_err(|_| CryptoError::BadPublicKey(key.to_string()))?;
    let mut bytes = Vec::with_capacity(domain.len() + message.len());
    bytes.extend_from_slice(domain);
    bytes.extend_from_slice(message);
    verification_key.verify(&ed25519_zebra::Signature::from_bytes(&signature.0), &bytes).map_err(|_| CryptoError::BadSignature { key: *key })
}

/// One signature to check in a batch: `key` signed `message` (already prefixed).
pub struct BatchItem<'a> {
    pub key: &'a KeyId,
    pub message: &'a [u8],
    pub signature: &'a Signature,
}

/// Verifies many signatures at once, under the same rules as [`verify`]. The
/// terms of signatures by one key are coalesced into one (a ledger has few
/// signers), which makes a batch a quarter to a third cheaper than one that treats
/// every signature alone. On failure it does not say which failed: the
/// caller re-checks the batch one by one to name the bad signature.
///
/// The batch's random coefficients come from ChaCha20 seeded by the operating
/// system (a signer who could predict them could make a bad signature cancel
/// out); one seed per batch instead of a system call per signature saves
/// about 6%. If the operating system gives no seed, the batch fails and the
/// caller's one-by-one checks, which need no randomness, decide.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Result<(), CryptoError> {
    use rand_core::SeedableRng;
    if items.is_empty() {
        return Ok(());
    }
    let rng = rand_chacha::ChaCha20Rng::from_rng(rand_core::OsRng).map_err(|_| CryptoError::BatchFailed)?;
    let mut verifier = ed25519_zebra::batch::Verifier::new();
    for item in items {
        let key = ed25519_zebra::VerificationKeyBytes::from(item.key.0);
        verifier.queue((key, ed25519_zebra::Signature::from_bytes(&item.signature.0), item.message));
    }
    verifier.verify(rng).map_err(|_| CryptoError::BatchFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_with_domain_separation() {
        let key = SecretKey::from_seed_label("alice");
        let signature = key.sign(domain::EVENT_SIGNATURE, b"hello");
        assert!(verify(&key.key_id(), domain::EVENT_SIGNATURE, b"hello", &signature).is_ok());
        assert!(verify(&key.key_id(), domain::CHECKPOINT, b"hello", &signature).is_err());
        assert!(verify(&key.key_id(), domain::EVENT_SIGNATURE, b"hellp", &signature).is_err());
        let other = SecretKey::from_seed_label("bob");
        assert!(verify(&other.key_id(), domain::EVENT_SIGNATURE, b"hello", &signature).is_err());
    }

    #[test]
    fn batch_verification_agrees_with_single() {
        let keys: Vec<SecretKey> = (0..8).map(|i| SecretKey::from_seed_label(&format!("k{i}"))).collect();
        let messages: Vec<Vec<u8>> = (0..8).map(|i| format!("{}message {i}", "x").into_bytes()).collect();
        let ids: Vec<KeyId> = keys.iter().map(SecretKey::key_id).collect();
        let mut signatures: Vec<Signature> = keys.iter().zip(&messages).map(|(k, m)| k.sign(b"", m)).collect();
        let items = |signatures: &[Signature]| -> Result<(), CryptoError> {
            let batch: Vec<BatchItem> = (0..8).map(|i| BatchItem { key: &ids[i], message: &messages[i], signature: &signatures[i] }).collect();
            verify_batch(&batch)
        };
        assert!(items(&signatures).is_ok());
        signatures[3].0[0] ^= 1;
        assert!(items(&signatures).is_err());
    }

    #[test]
    fn batches_coalesce_signers_and_still_catch_one_bad_signature() {
        let keys: Vec<SecretKey> = (0..2).map(|i| SecretKey::from_seed_label(&format!("signer{i}"))).collect();
        let ids: Vec<KeyId> = keys.iter().map(SecretKey::key_id).collect();
        let messages: Vec<Vec<u8>> = (0..64).map(|i| format!("event {i}").into_bytes()).collect();
        let mut signatures: Vec<Signature> = messages.iter().enumerate().map(|(i, m)| keys[i % 2].sign(b"", m)).collect();
        let check = |signatures: &[Signature]| {
            let batch: Vec<BatchItem> = (0..64).map(|i| BatchItem { key: &ids[i % 2], message: &messages[i], signature: &signatures[i] }).collect();
            verify_batch(&batch)
        };
        assert!(check(&signatures).is_ok());
        // Signed by the other signer: the coalesced term of each key must still hold.
        signatures[10] = keys[1].sign(b"", &messages[10]);
        assert!(check(&signatures).is_err());
    }

    /// `S + L` satisfies the same equation as `S` but is another encoding of
    /// the signature (malleability): one-by-one and batch both refuse it.
    #[test]
    fn a_non_canonical_s_is_refused_alone_and_in_a_batch() {
        const L: [u8; 32] =
            [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
        let key = SecretKey::from_seed_label("alice");
        let mut signature = key.sign(b"", b"hello");
        let mut carry = 0u16;
        for (byte, add) in signature.0[32..].iter_mut().zip(L) {
            let sum = *byte as u16 + add as u16 + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert!(verify(&key.key_id(), b"", b"hello", &signature).is_err());
        let item = BatchItem { key: &key.key_id(), message: b"hello", signature: &signature };
        assert!(verify_batch(&[item]).is_err());
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point: with it, R = identity and S = 0 "verifies" in a batch for any message.
        let identity = format!("01{}", "0".repeat(62));
        assert!(matches!(KeyId::parse(&identity), Err(CryptoError::BadPublicKey(_))));
    }

    #[test]
    fn hex_forms_are_strict() {
        let id = SecretKey::from_seed_label("alice").key_id();
        assert_eq!(KeyId::parse(&id.to_string()).unwrap(), id);
        assert!(KeyId::parse(&id.to_string().to_uppercase()).is_err());
        assert!(KeyId::parse("abcd").is_err());
        assert!(Signature::parse(&"0".repeat(127)).is_err());
    }
}
