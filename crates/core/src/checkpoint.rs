//! Signed checkpoints: the operator's statement "ledger L had `size` records,
//! with this Merkle root and this chain head". Auditors who verified one
//! co-sign it (witness), so an operator who showed two different histories
//! would have to sign two different roots for one size: a provable fork.
//!
//! Signed bytes: `domain || u16be(len ledger) || ledger || u64be(size) ||
//! root || head || u16be(len issued_at) || issued_at`, with domain
//! `fundledger/v1/checkpoint\0` for the operator and `fundledger/v1/witness\0`
//! for a witness.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::crypto::{self, domain, CryptoError, Hash, KeyId, SecretKey, Signature};
use crate::id::LedgerId;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    #[error("checkpoint is not valid JSON: {0}")]
    Json(String),
    #[error("checkpoint of size {size} is not signed by the ledger operator: {source}")]
    Signature { size: u64, source: CryptoError },
    #[error("witness {witness} signature on checkpoint of size {size} does not verify")]
    Witness { size: u64, witness: KeyId },
}

fn hex32<S: serde::Serializer>(hash: &Hash, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(hash))
}
fn unhex32<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Hash, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    crypto::hash_from_hex("hash", &text).map_err(serde::de::Error::custom)
}

/// What a checkpoint states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub ledger: LedgerId,
    pub size: u64,
    #[serde(serialize_with = "hex32", deserialize_with = "unhex32")]
    pub root: Hash,
    #[serde(serialize_with = "hex32", deserialize_with = "unhex32")]
    pub head: Hash,
    pub issued_at: Timestamp,
}

impl Checkpoint {
    /// The bytes signed, after the domain prefix.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let ledger = self.ledger.as_str().as_bytes();
        let issued_at = self.issued_at.as_str().as_bytes();
        let mut bytes = Vec::with_capacity(2 + ledger.len() + 8 + 64 + 2 + issued_at.len());
        bytes.extend_from_slice(&(ledger.len() as u16).to_be_bytes());
        bytes.extend_from_slice(ledger);
        bytes.extend_from_slice(&self.size.to_be_bytes());
        bytes.extend_from_slice(&self.root);
        bytes.extend_from_slice(&self.head);
        bytes.extend_from_slice(&(issued_at.len() as u16).to_be_bytes());
        bytes.extend_from_slice(issued_at);
        bytes
    }

    pub fn sign(self, operator: &SecretKey) -> SignedCheckpoint {
        let signature = operator.sign(domain::CHECKPOINT, &self.signing_bytes());
        SignedCheckpoint { checkpoint: self, signer: operator.key_id(), signature }
    }

    /// A witness's co-signature over the same statement.
    pub fn witness(&self, auditor: &SecretKey) -> Cosignature {
        Cosignature { witness: auditor.key_id(), signature: auditor.sign(domain::WITNESS, &self.signing_bytes()) }
    }
}

/// A checkpoint signed by the ledger operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    pub signer: KeyId,
    pub signature: Signature,
}

impl SignedCheckpoint {
    pub fn from_json(json: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        serde_json::from_slice(json).map_err(|error| CheckpointError::Json(error.to_string()))
    }
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
    /// Checks the signature and that it was made by `operator`.
    pub fn verify(&self, operator: &KeyId) -> Result<(), CheckpointError> {
        let size = self.checkpoint.size;
        if &self.signer != operator {
            return Err(CheckpointError::Signature { size, source: CryptoError::BadSignature { key: self.signer } });
        }
        crypto::verify(&self.signer, domain::CHECKPOINT, &self.checkpoint.signing_bytes(), &self.signature)
            .map_err(|source| CheckpointError::Signature { size, source })
    }
}

/// An auditor's co-signature of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cosignature {
    pub witness: KeyId,
    pub signature: Signature,
}

impl Cosignature {
    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        crypto::verify(&self.witness, domain::WITNESS, &checkpoint.signing_bytes(), &self.signature)
            .map_err(|_| CheckpointError::Witness { size: checkpoint.size, witness: self.witness })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_sign_round_trip_and_witness() {
        let operator = SecretKey::from_seed_label("operator");
        let auditor = SecretKey::from_seed_label("auditor");
        let checkpoint = Checkpoint {
            ledger: LedgerId::parse("hk").unwrap(),
            size: 42,
            root: [1; 32],
            head: [2; 32],
            issued_at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        };
        let signed = checkpoint.clone().sign(&operator);
        let parsed = SignedCheckpoint::from_json(&signed.to_json()).unwrap();
        assert_eq!(parsed, signed);
        assert!(parsed.verify(&operator.key_id()).is_ok());
        assert!(parsed.verify(&auditor.key_id()).is_err());
        let mut forged = parsed.clone();
        forged.checkpoint.size = 43;
        assert!(forged.verify(&operator.key_id()).is_err());
        let cosignature = checkpoint.witness(&auditor);
        assert!(cosignature.verify(&checkpoint).is_ok());
        assert!(cosignature.verify(&forged.checkpoint).is_err());
    }
}
