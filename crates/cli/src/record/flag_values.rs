//! Parsers of flag values (amounts, basis points, periods, attestations,
//! evidence, caps, limits, ratios, themes), shared by the recording commands.
//! Each parser names what it expected; clap adds the flag. Evidence files are
//! hashed here and never sent.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_core::crypto::{self, sha256, KeyId};
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::money::Money;
use fundledger_core::time::Date;

use crate::keyfile;

pub fn parse_money(text: &str) -> Result<Money, String> {
    Money::parse_hkd(text).map_err(|error| format!("{error} (write dollars, e.g. 250,000.00 or HK$1,000,000)"))
}

pub fn parse_text(text: &str) -> Result<Text, String> {
    Text::parse(text)
}

pub fn parse_public_key(text: &str) -> Result<KeyId, String> {
    keyfile::public_key(text).map_err(|error| format!("{error:#}"))
}

pub fn parse_bps(text: &str) -> Result<u32, String> {
    let value: u32 = text.parse().map_err(|_| format!("{text:?} is not a whole number of basis points"))?;
    if value > BASIS_POINTS_ONE {
        return Err(format!("{value} basis points is more than 100% ({BASIS_POINTS_ONE})"));
    }
    Ok(value)
}

pub fn parse_evidence_sha256(text: &str) -> Result<EvidenceDigest, String> {
    crypto::hash_from_hex("evidence sha256", &text.to_ascii_lowercase()).map(EvidenceDigest).map_err(|error| error.to_string())
}

/// A period `START..END` (dates, both included), e.g. `2025-11-18..2027-11-17`.
pub fn parse_period(text: &str) -> Result<Period, String> {
    let (starts, ends) = text.split_once("..").ok_or_else(|| format!("{text:?} is not a period; write START..END, e.g. 2025-11-18..2027-11-17"))?;
    let starts: Date = starts.trim().parse().map_err(|error| format!("{error}"))?;
    let ends: Date = ends.trim().parse().map_err(|error| format!("{error}"))?;
    if ends < starts {
        return Err(format!("the period {text:?} ends before it starts"));
    }
    Ok(Period { starts, ends })
}

/// An attestation as given: `CODE=FILE` (its SHA-256 is computed here) or `CODE=HEX` (64 hex digits).
#[derive(Clone, Debug)]
pub struct AttestationArg {
    code: AttestationCode,
    evidence: String,
}

pub fn parse_attestation(text: &str) -> Result<AttestationArg, String> {
    let (code, evidence) =
        text.split_once('=').ok_or_else(|| format!("{text:?}: write CODE=FILE or CODE=SHA256HEX, e.g. hk-production-line-1y=line-evidence.pdf"))?;
    let code = AttestationCode::parse(code).map_err(|error| error.to_string())?;
    if evidence.is_empty() {
        return Err(format!("{text:?}: the attestation needs its evidence after ="));
    }
    Ok(AttestationArg { code, evidence: evidence.to_string() })
}

impl AttestationArg {
    pub fn resolve(&self) -> Result<Attestation> {
        let digest = match parse_evidence_sha256(&self.evidence) {
            Ok(digest) if self.evidence.len() == 64 => digest,
            _ => file_sha256(Path::new(&self.evidence)).with_context(|| format!("--attestation {}", self.code))?,
        };
        Ok(Attestation { code: self.code.clone(), evidence_sha256: digest })
    }
}

/// Evidence given as a file (hashed here; the file is never sent) or as its SHA-256.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct EvidenceArgs {
    /// The evidence document. Only its SHA-256 is computed here and recorded; the file itself is never sent.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
    /// The evidence's SHA-256, as 64 hex digits, when the document is not on this machine.
    #[arg(long, value_name = "HEX", value_parser = parse_evidence_sha256)]
    pub evidence_sha256: Option<EvidenceDigest>,
}

impl EvidenceArgs {
    pub fn digest(&self) -> Result<EvidenceDigest> {
        match (&self.evidence, self.evidence_sha256) {
            (Some(path), None) => file_sha256(path),
            (None, Some(digest)) => Ok(digest),
            _ => bail!("give exactly one of --evidence FILE and --evidence-sha256 HEX"),
        }
    }
}

/// A cap that can also be removed: an amount, or `none`.
#[derive(Clone, Copy, Debug)]
pub struct Cap(pub Option<Money>);

pub fn parse_cap(text: &str) -> Result<Cap, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Cap(None));
    }
    parse_money(text).map(|money| Cap(Some(money)))
}

/// A whole-number limit that can also be removed: a number, or `none`.
#[derive(Clone, Copy, Debug)]
pub struct Limit(pub Option<u32>);

pub fn parse_limit(text: &str) -> Result<Limit, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Limit(None));
    }
    text.parse().map(|value| Limit(Some(value))).map_err(|_| format!("{text:?} is neither a whole number nor \"none\""))
}

/// `government:enterprise`, e.g. `1:2`.
#[derive(Clone, Copy, Debug)]
pub struct Ratio(pub u32, pub u32);

pub fn parse_ratio(text: &str) -> Result<Ratio, String> {
    let fail = || format!("{text:?} is not a ratio of positive whole numbers GOVERNMENT:ENTERPRISE, e.g. 1:2");
    let (government, enterprise) = text.split_once(':').ok_or_else(fail)?;
    let government: u32 = government.trim().parse().map_err(|_| fail())?;
    let enterprise: u32 = enterprise.trim().parse().map_err(|_| fail())?;
    if government == 0 || enterprise == 0 {
        return Err(fail());
    }
    Ok(Ratio(government, enterprise))
}

pub fn parse_theme(text: &str) -> Result<Theme, String> {
    let (id, name) = text.split_once('=').ok_or_else(|| format!("{text:?} is not ID=NAME, e.g. ai-robotics=Artificial intelligence and robotics"))?;
    Ok(Theme { id: ThemeId::parse(id).map_err(|error| error.to_string())?, name: Text::parse(name)? })
}

/// SHA-256 of a file, read in full (evidence documents are modest in size).
pub fn file_sha256(path: &Path) -> Result<EvidenceDigest> {
    let bytes = std::fs::read(path).with_context(|| format!("--evidence: cannot read {}", path.display()))?;
    Ok(EvidenceDigest(sha256(&[&bytes])))
}
