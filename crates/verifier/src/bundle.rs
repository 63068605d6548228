//! The offline audit bundle: everything an auditor needs to verify a ledger
//! on a machine with no NATS, in one file of JSON lines (docs/FORMAT.md 16).
//!
//! ```text
//! {"bundle":{"format":"fundledger-audit-bundle","version":1,"ledger":"hk","exported_at":"...","source":"..."}}
//! {"checkpoint":{...signed checkpoint...}}          zero or more
//! {"witness":{"checkpoint":{...},"cosignature":{...}}}   zero or more
//! {"record":{...the stored record, byte for byte...}}   one per record, in order
//! {"keys":[{"key":"..","holder":"..","revoked":false,"roles":[{"role":"admin","scope":"ledger"}]}]}
//! {"end":{"records":N,"checkpoints":K,"witnesses":W}}
//! ```
//!
//! Nothing in a bundle needs to be trusted: records are hash-chained and
//! signed, checkpoints signed by the operator named at genesis. The `keys`
//! line is an index for people (who holds which key, derived from the
//! records) and is checked against the replay; the `end` line shows the file
//! was not cut short. The record lines carry the stored bytes verbatim, so
//! a changed byte is a changed record.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use bytes::Bytes;
use fundledger_core::checkpoint::SignedCheckpoint;
use fundledger_core::ledger::Ledger;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::checkpoints::WitnessStatement;
use crate::failure::{Failure, FailureKind, VerifyError};

pub const BUNDLE_FORMAT: &str = "fundledger-audit-bundle";
pub const BUNDLE_VERSION: u32 = 1;
/// The longest line accepted (a record's body is at most 64 KiB; escapes and signatures add less than this).
pub const BUNDLE_LINE_BYTES_MAX: usize = 1 << 20;
const RECORD_PREFIX: &[u8] = b"{\"record\":";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleHeader {
    pub format: String,
    pub version: u32,
    pub ledger: String,
    pub exported_at: String,
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRole {
    pub role: String,
    pub scope: String,
}

/// One registered key, as the replay of the records leaves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleKey {
    pub key: String,
    pub holder: String,
    pub revoked: bool,
    pub roles: Vec<BundleRole>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEnd {
    pub records: u64,
    pub checkpoints: u64,
    pub witnesses: u64,
}

/// The key list of a ledger state, sorted by key.
pub fn keys_of(ledger: &Ledger) -> Vec<BundleKey> {
    ledger
        .keys()
        .iter()
        .map(|(key, state)| BundleKey {
            key: key.to_string(),
            holder: state.holder.to_string(),
            revoked: state.revoked,
            roles: state.roles.iter().map(|(role, scope)| BundleRole { role: role.to_string(), scope: scope.to_string() }).collect(),
        })
        .collect()
}

/// One line of a bundle.
#[derive(Debug)]
pub enum BundleItem {
    Header(BundleHeader),
    Checkpoint(SignedCheckpoint),
    Witness(WitnessStatement),
    Record(Bytes),
    Keys(Vec<BundleKey>),
    End(BundleEnd),
}

fn bundle_failure(line: u64, reason: impl std::fmt::Display) -> VerifyError {
    Failure::new(0, None, FailureKind::Bundle, format!("bundle line {line}: {reason}")).into()
}

/// Bytes read from a bundle at once: record lines are cut from these blocks
/// without copying (each record shares its block until it is checked).
const READ_BLOCK_BYTES: usize = 256 << 10;

/// Reads a bundle line by line.
pub struct BundleReader {
    file: std::fs::File,
    /// Read and not yet returned.
    pending: Bytes,
    at_end: bool,
    line: u64,
    path: std::path::PathBuf,
}

impl BundleReader {
    pub fn open(path: &Path) -> Result<BundleReader, VerifyError> {
        let file = std::fs::File::open(path).map_err(|error| VerifyError::io(path, error))?;
        Ok(BundleReader { file, pending: Bytes::new(), at_end: false, line: 0, path: path.to_path_buf() })
    }

    /// The number of the line last read (1-based).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next line without its line feed, or `None` at the end of the file.
    fn next_line(&mut self) -> Result<Option<Bytes>, VerifyError> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.pending) {
                let line = self.pending.split_to(end + 1);
                return Ok(Some(line.slice(..end)));
            }
            if self.pending.len() > BUNDLE_LINE_BYTES_MAX {
                return Err(bundle_failure(self.line + 1, format!("longer than {BUNDLE_LINE_BYTES_MAX} bytes")));
            }
            if self.at_end {
                return Ok((!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending)));
            }
            let mut block = bytes::BytesMut::with_capacity(self.pending.len() + READ_BLOCK_BYTES);
            block.extend_from_slice(&self.pending);
            let mut filled = block.len();
            block.resize(filled + READ_BLOCK_BYTES, 0);
            while filled < block.len() {
                match self.file.read(&mut block[filled..]) {
                    Ok(0) => {
                        self.at_end = true;
                        break;
                    }
                    Ok(read) => filled += read,
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(VerifyError::io(&self.path, error)),
                }
            }
            block.truncate(filled);
            self.pending = block.freeze();
        }
    }

    /// The next item, or `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<BundleItem>, VerifyError> {
        let Some(line) = self.next_line()? else { return Ok(None) };
        self.line += 1;
        if line.len() > BUNDLE_LINE_BYTES_MAX {
            return Err(bundle_failure(self.line, format!("longer than {BUNDLE_LINE_BYTES_MAX} bytes")));
        }
        // Records are nearly every line: take the stored bytes between the prefix and the closing brace.
        if line.starts_with(RECORD_PREFIX) && line.ends_with(b"}") {
            return Ok(Some(BundleItem::Record(line.slice(RECORD_PREFIX.len()..line.len() - 1))));
        }
        let members: BTreeMap<String, Box<RawValue>> =
            serde_json::from_slice(&line).map_err(|error| bundle_failure(self.line, format!("not a JSON object: {error}")))?;
        let mut members = members.into_iter();
        let (Some((name, value)), None) = (members.next(), members.next()) else {
            return Err(bundle_failure(self.line, "each line is an object with exactly one member"));
        };
        let json = value.get();
        let parse_error = |error: String| bundle_failure(self.line, format!("{name}: {error}"));
        let item = match name.as_str() {
            "bundle" => BundleItem::Header(serde_json::from_str(json).map_err(|error| parse_error(error.to_string()))?),
            "checkpoint" => BundleItem::Checkpoint(SignedCheckpoint::from_json(json.as_bytes()).map_err(|error| parse_error(error.to_string()))?),
            "witness" => BundleItem::Witness(WitnessStatement::from_json(json.as_bytes()).map_err(parse_error)?),
            "record" => BundleItem::Record(Bytes::copy_from_slice(json.as_bytes())),
            "keys" => BundleItem::Keys(serde_json::from_str(json).map_err(|error| parse_error(error.to_string()))?),
            "end" => BundleItem::End(serde_json::from_str(json).map_err(|error| parse_error(error.to_string()))?),
            other => return Err(bundle_failure(self.line, format!("unknown member {other:?}"))),
        };
        Ok(Some(item))
    }
}

/// Writes a bundle.
pub struct BundleWriter {
    writer: BufWriter<std::fs::File>,
    path: std::path::PathBuf,
    pub records: u64,
    pub checkpoints: u64,
    pub witnesses: u64,
}

impl BundleWriter {
    /// Creates `path` (refusing to overwrite unless `overwrite`) and writes the header.
    pub fn create(path: &Path, header: &BundleHeader, overwrite: bool) -> Result<BundleWriter, VerifyError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true);
        if overwrite {
            options.create(true).truncate(true);
        } else {
            options.create_new(true);
        }
        let file = options.open(path).map_err(|error| VerifyError::io(path, error))?;
        let mut writer = BundleWriter { writer: BufWriter::with_capacity(1 << 20, file), path: path.to_path_buf(), records: 0, checkpoints: 0, witnesses: 0 };
        writer.line("bundle", &serde_json::to_vec(header).map_err(|error| VerifyError::Input(error.to_string()))?)?;
        Ok(writer)
    }

    fn line(&mut self, member: &str, json: &[u8]) -> Result<(), VerifyError> {
        let path = &self.path;
        let mut write = || -> std::io::Result<()> {
            self.writer.write_all(b"{\"")?;
            self.writer.write_all(member.as_bytes())?;
            self.writer.write_all(b"\":")?;
            self.writer.write_all(json)?;
            self.writer.write_all(b"}\n")
        };
        write().map_err(|error| VerifyError::io(path, error))
    }

    pub fn checkpoint(&mut self, checkpoint: &SignedCheckpoint) -> Result<(), VerifyError> {
        self.checkpoints += 1;
        self.line("checkpoint", &checkpoint.to_json())
    }
    pub fn witness(&mut self, statement: &WitnessStatement) -> Result<(), VerifyError> {
        self.witnesses += 1;
        self.line("witness", &statement.to_json())
    }
    /// A stored record, byte for byte. A record containing a newline cannot be
    /// a valid record (stored records have no raw line breaks) and is escaped
    /// by no one: it is refused here so the file stays one record per line.
    pub fn record(&mut self, bytes: &[u8]) -> Result<(), VerifyError> {
        if bytes.contains(&b'\n') {
            return Err(VerifyError::Input(format!("record {} contains a line break; stored records never do", self.records + 1)));
        }
        self.records += 1;
        self.line("record", bytes)
    }
    pub fn keys(&mut self, keys: &[BundleKey]) -> Result<(), VerifyError> {
        self.line("keys", &serde_json::to_vec(keys).map_err(|error| VerifyError::Input(error.to_string()))?)
    }
    /// Writes the end line and flushes the file to disk.
    pub fn finish(mut self) -> Result<BundleEnd, VerifyError> {
        let end = BundleEnd { records: self.records, checkpoints: self.checkpoints, witnesses: self.witnesses };
        self.line("end", &serde_json::to_vec(&end).map_err(|error| VerifyError::Input(error.to_string()))?)?;
        let path = self.path.clone();
        self.writer.flush().map_err(|error| VerifyError::io(&path, error))?;
        self.writer.get_ref().sync_all().map_err(|error| VerifyError::io(&path, error))?;
        Ok(end)
    }
}
