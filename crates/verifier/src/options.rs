//! How a verification runs: where its store lives, what the auditor pins,
//! where it starts and who hears of progress. Its own file because both the
//! sources and the trusted start read it.

use std::path::PathBuf;
use std::sync::Arc;

use fundledger_core::crypto::KeyId;
use fundledger_core::id::LedgerId;

use crate::failure::VerifyError;
use crate::store::Store;

/// Progress callback: (records checked, records expected in all).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How to verify.
#[derive(Clone, Default)]
pub struct VerifyOptions {
    /// Keep the id set and Merkle nodes here (to `prove` later); a temporary directory otherwise.
    pub store_dir: Option<PathBuf>,
    /// The operator key the auditor expects the genesis to name.
    pub operator: Option<KeyId>,
    /// Keep the bytes of the record with this event id (for `prove`).
    pub capture: Option<String>,
    /// Start from this trusted checkpoint file (written by an earlier verification).
    pub trusted: Option<PathBuf>,
    /// Called after each chunk.
    pub progress: Option<Progress>,
}

impl VerifyOptions {
    pub(crate) fn open_store(&self, ledger: &LedgerId) -> Result<Store, VerifyError> {
        match &self.store_dir {
            Some(directory) => Store::open(directory, ledger.as_str()),
            None => Store::temporary(ledger.as_str()),
        }
    }
}
