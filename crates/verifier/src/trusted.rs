//! Starting a verification: from the beginning, or from a checkpoint the
//! auditor verified before (`--trusted FILE`).
//!
//! A trusted file is written by a successful verification (`--save-trusted`)
//! with a persistent `--store`: the newest checkpoint it verified, the
//! operator key, the Merkle tree's right edge at that size and the ledger
//! state (CBOR, with its SHA-256) after those records. It is the auditor's
//! own file: whoever can change it can change what the auditor trusts, so it
//! belongs with the auditor's working papers, not with the operator.
//!
//! Resuming from it: the file's checkpoint signature is checked again, the
//! store must hold the ids and Merkle nodes of the same run (its snapshot
//! size and root must match), checkpoints at or below the trusted size
//! are checked against the stored tree (a fork at an old size is still
//! found), the ids of records after the trusted size are forgotten, and
//! only the records after it are read and verified. When the newest
//! checkpoint is reached, the RFC 6962 consistency proof from the trusted
//! checkpoint to it is built from the stored nodes and checked.

use std::path::Path;

use fundledger_core::chain::ChainState;
use fundledger_core::checkpoint::SignedCheckpoint;
use fundledger_core::crypto::{sha256, KeyId};
use fundledger_core::id::LedgerId;
use fundledger_core::ledger::Ledger;
use fundledger_core::merkle::{self, root_at, CompactRange};
use fundledger_core::replay::Replay;
use serde::{Deserialize, Serialize};

use crate::checkpoints::CheckpointBook;
use crate::engine::{ResumeParts, TrustedStart, Verified, Verifier};
use crate::failure::{Failure, FailureKind, VerifyError};
use crate::options::VerifyOptions;

pub const TRUSTED_FORMAT: &str = "fundledger-trusted-checkpoint";
/// 3: the evidence used so far is in the store (beside the ids), not in the
/// state. 2: the state holds it (still read: it is moved into the store).
/// 1: nowhere; evidence reused after the trusted checkpoint would pass, so
/// such a file is refused.
pub const TRUSTED_VERSION: u32 = 3;
const TRUSTED_VERSION_EVIDENCE_IN_STATE: u32 = 2;

/// The auditor's restart point.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedFile {
    pub format: String,
    pub version: u32,
    pub ledger: String,
    /// The operator key named at genesis (the checkpoint is signed by it).
    pub operator: KeyId,
    /// The newest checkpoint the auditor verified.
    pub checkpoint: SignedCheckpoint,
    /// The Merkle tree's right edge at that size, largest subtree first, hex.
    pub peaks: Vec<String>,
    /// SHA-256 of the state bytes, hex.
    pub state_sha256: String,
    /// The ledger state after the checkpoint's records: CBOR, hex.
    pub state: String,
    /// When the verification that wrote this file ran.
    pub verified_at: String,
}

/// Saves the newest verified checkpoint of `verified` as a trusted file and
/// returns its size. A run that started from trusted file `previous` and met
/// no newer checkpoint keeps trusting that one (copied to `path`).
pub fn save(verified: &Verified, path: &Path, previous: Option<&Path>) -> Result<u64, VerifyError> {
    let Some(snapshot) = &verified.snapshot else {
        return match (previous, &verified.report.trusted) {
            (Some(previous), Some(trusted)) => {
                if previous != path {
                    std::fs::copy(previous, path).map_err(|error| VerifyError::io(path, error))?;
                }
                Ok(trusted.size)
            }
            _ => Err(VerifyError::Input("no checkpoint was verified, so there is nothing to trust yet".to_string())),
        };
    };
    let Some(checkpoint) = verified.book.at(snapshot.size).next().cloned() else {
        return Err(VerifyError::Input(format!("the checkpoint at size {} is missing", snapshot.size)));
    };
    let mut state = Vec::new();
    ciborium::into_writer(&snapshot.ledger, &mut state).map_err(|error| VerifyError::Input(format!("cannot encode the ledger state: {error}")))?;
    let file = TrustedFile {
        format: TRUSTED_FORMAT.to_string(),
        version: TRUSTED_VERSION,
        ledger: verified.report.ledger.clone(),
        operator: verified.operator,
        checkpoint,
        peaks: merkle::proof_to_hex(snapshot.tree.peaks()),
        state_sha256: hex::encode(sha256(&[&state])),
        state: hex::encode(&state),
        verified_at: crate::now().to_string(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|error| VerifyError::Input(error.to_string()))?;
    std::fs::write(path, json).map_err(|error| VerifyError::io(path, error))?;
    Ok(snapshot.size)
}

fn bad_file(path: &Path, reason: impl std::fmt::Display) -> VerifyError {
    VerifyError::Input(format!("trusted file {}: {reason}", path.display()))
}

/// The verifier to run and the first record position to feed it.
pub(crate) fn start(ledger: &LedgerId, book: CheckpointBook, options: &VerifyOptions) -> Result<(Verifier, u64), VerifyError> {
    let Some(path) = &options.trusted else {
        let verifier = Verifier::new(ledger.clone(), options.open_store(ledger)?, book, options.operator, options.capture.clone())?;
        return Ok((verifier, 1));
    };
    if options.store_dir.is_none() {
        return Err(VerifyError::Input("--trusted needs the --store directory of the verification that saved it".to_string()));
    }
    let bytes = std::fs::read(path).map_err(|error| VerifyError::io(path, error))?;
    let file: TrustedFile = serde_json::from_slice(&bytes).map_err(|error| bad_file(path, error))?;
    if file.format == TRUSTED_FORMAT && file.version == 1 {
        return Err(bad_file(
            path,
            "it was saved by an older fundledger (trusted-file version 1), whose ledger state does not hold the evidence digests used so far, so evidence reused after its checkpoint would go unnoticed; verify from genesis (without --trusted) and save a new trusted file",
        ));
    }
    if file.format != TRUSTED_FORMAT || !(file.version == TRUSTED_VERSION || file.version == TRUSTED_VERSION_EVIDENCE_IN_STATE) {
        return Err(bad_file(path, format!("unsupported format {} version {}", file.format, file.version)));
    }
    if file.ledger != ledger.as_str() || file.checkpoint.checkpoint.ledger != *ledger {
        return Err(bad_file(path, format!("it is for ledger {}, not {ledger}", file.ledger)));
    }
    if let Some(pinned) = &options.operator {
        if *pinned != file.operator {
            return Err(Failure::new(
                1,
                None,
                FailureKind::Operator,
                format!("the trusted file names operator {}, but the auditor expects {pinned}", file.operator),
            )
            .into());
        }
    }
    file.checkpoint.verify(&file.operator).map_err(|error| bad_file(path, error))?;
    let trusted = &file.checkpoint.checkpoint;
    let size = trusted.size;
    let state = hex::decode(&file.state).map_err(|error| bad_file(path, error))?;
    if hex::encode(sha256(&[&state])) != file.state_sha256 {
        return Err(bad_file(path, "the state does not match its SHA-256: the file is damaged"));
    }
    let mut state: Ledger = ciborium::from_reader(state.as_slice()).map_err(|error| bad_file(path, format!("the state does not decode: {error}")))?;
    if state.events_applied() != size || state.operator() != Some(&file.operator) {
        return Err(bad_file(
            path,
            format!("the state holds {} events and operator {:?}, not {size} and {}", state.events_applied(), state.operator(), file.operator),
        ));
    }
    let peaks = merkle::proof_from_hex(&file.peaks).map_err(|error| bad_file(path, error))?;
    let tree = CompactRange::from_parts(size, peaks).map_err(|error| bad_file(path, error))?;
    if tree.root() != trusted.root {
        return Err(bad_file(path, "the tree's right edge does not give the checkpoint's root"));
    }
    let store = options.open_store(ledger)?;
    let store_error = |message: String| VerifyError::Store { path: store.path().display().to_string(), message };
    if store.snapshot_size()? != Some(size) {
        return Err(store_error(format!(
            "it was last filled by a verification whose newest checkpoint was at size {:?}, not the trusted size {size}: use the trusted file saved by that run (by this version of fundledger), or verify from scratch",
            store.snapshot_size()?
        )));
    }
    let stored_root = root_at(&store, size).map_err(|error| store_error(error.to_string()))?;
    if stored_root != trusted.root {
        return Err(store_error(format!(
            "its Merkle nodes give root {} at size {size}, not the trusted {}",
            hex::encode(stored_root),
            hex::encode(trusted.root)
        )));
    }
    // Checkpoints at or below the trusted size, including any published since: same tree, no fork.
    let mut book = book;
    for old_size in book.sizes().take_while(|old| *old <= size).collect::<Vec<_>>() {
        let root = root_at(&store, old_size).map_err(|error| store_error(error.to_string()))?;
        let head = if old_size == size { Some(trusted.head) } else { None };
        for checkpoint in book.at(old_size) {
            checkpoint.verify(&file.operator).map_err(|error| Failure::new(old_size, None, FailureKind::Checkpoint, error.to_string()))?;
            let same_head = head.is_none_or(|head| head == checkpoint.checkpoint.head);
            if checkpoint.checkpoint.root != root || !same_head {
                return Err(Failure::new(
                    old_size,
                    None,
                    FailureKind::Fork,
                    format!(
                        "fork: the operator signed root {} for size {old_size}, but the history verified before (trusted at size {size}) has root {}",
                        hex::encode(checkpoint.checkpoint.root),
                        hex::encode(root)
                    ),
                )
                .into());
            }
        }
    }
    let forgotten = store.forget_after(size)?;
    // A version-2 state carries the evidence; from here on the store keeps it.
    store.put_evidence_now(state.page_out_evidence())?;
    tracing::info!(size, forgotten, "resuming from a trusted checkpoint");
    book.drop_below(size + 1);
    let chain = ChainState::resume(ledger.clone(), trusted.head, tree);
    let verifier = Verifier::resume(ResumeParts {
        ledger: ledger.clone(),
        replay: Replay::resume(state, chain),
        store,
        book,
        operator: file.operator,
        operator_pin: options.operator,
        capture: options.capture.clone(),
        trusted: TrustedStart { size, root: hex::encode(trusted.root), consistent_to_size: size },
        trusted_root: trusted.root,
    });
    Ok((verifier, size + 1))
}
