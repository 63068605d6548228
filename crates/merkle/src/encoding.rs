//! Hex text for hashes and proofs, without serde: proofs travel in JSON and
//! on command lines as arrays of lowercase hex strings, and decoding that text
//! is where malformed input from outside first arrives.

use crate::error::MerkleError;
use crate::hash::Hash;

/// A hash as 64 lowercase hex characters.
pub fn hash_to_hex(hash: &Hash) -> String {
    hex::encode(hash)
}

/// Parses 64 hex characters (either case) into a hash.
pub fn hash_from_hex(text: &str) -> Result<Hash, MerkleError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|source| MerkleError::InvalidHashHex { length: text.len(), source })?;
    Ok(hash)
}

/// A proof as lowercase hex strings, in proof order.
pub fn proof_to_hex(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(hash_to_hex).collect()
}

/// Parses a proof given as hex strings; the error names the first bad
/// position.
pub fn proof_from_hex(proof_hex: &[impl AsRef<str>]) -> Result<Vec<Hash>, MerkleError> {
    proof_hex
        .iter()
        .enumerate()
        .map(|(position, text)| {
            let text = text.as_ref();
            let mut hash = [0u8; 32];
            hex::decode_to_slice(text, &mut hash).map_err(|source| MerkleError::InvalidProofHex { position, length: text.len(), source })?;
            Ok(hash)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_lowercase() {
        let hash = [0xABu8; 32];
        let text = hash_to_hex(&hash);
        assert_eq!(text, "ab".repeat(32));
        assert_eq!(hash_from_hex(&text).ok(), Some(hash));
        assert_eq!(hash_from_hex(&text.to_uppercase()).ok(), Some(hash));
    }
}
