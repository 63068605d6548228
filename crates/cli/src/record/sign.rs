//! `fundledger sign`: offline signing and co-signing for dual control. Signs a
//! body, or adds signatures to a partly signed submission passed between
//! co-signers; the format and its checks are the core's
//! ([`fundledger_core::partly_signed`]); this file only reads and prints.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use clap::Args;
use fundledger_core::crypto::KeyId;
use fundledger_core::partly_signed::{PartlySigned, PartlySignedError};

use super::input::read_input;
use super::signing::load_keys;

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The signer's key file (from `fundledger keygen`).
    #[arg(long, value_name = "FILE", env = "FUNDLEDGER_KEY")]
    pub key: PathBuf,
    /// Another signer's key file, for dual control. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub cosign: Vec<PathBuf>,
    /// An event body JSON {"v":1, "id", "ledger", "occurred_at", "signers", "type", "data"}
    /// (when "signers" is missing, it is the --key then each --cosign), or a partly signed
    /// submission {"body", "signatures"} with null for signatures still missing; `-` reads standard input.
    #[arg(value_name = "BODY_FILE|-")]
    pub body: PathBuf,
}

/// Signs a body (or adds signatures to a partly signed submission) and prints the submission.
/// Signatures still missing are printed as null, to be added on the co-signer's machine.
pub fn sign(args: SignArgs) -> Result<()> {
    let source = if args.body == Path::new("-") { "standard input".to_string() } else { args.body.display().to_string() };
    let text = read_input(&args.body)?;
    let keys = load_keys(&args.key, &args.cosign)?;
    let key_ids: Vec<KeyId> = keys.iter().map(|loaded| loaded.key.key_id()).collect();
    let mut partly = PartlySigned::parse(&text, &key_ids).map_err(|error| match error {
        PartlySignedError::Json(reason) => anyhow!("{source} is not JSON: {reason}"),
        PartlySignedError::Body(reason) => anyhow!("{source} is not a valid event body: {reason}"),
        other => anyhow!("{source}: {other}"),
    })?;
    for loaded in &keys {
        partly.sign(&loaded.key).map_err(|error| match error {
            PartlySignedError::NotASigner { key, signers } => {
                let listed: Vec<String> = signers.iter().map(KeyId::short).collect();
                anyhow!("{} (key {}) is not among the body's signers [{}]; the body lists who signs it", loaded.source, key.short(), listed.join(", "))
            }
            other => anyhow!("{}: {other}", loaded.source),
        })?;
    }
    match partly.complete() {
        Some(signed) => println!("{}", signed.context("assembling the submission")?.to_submission_json()),
        None => {
            println!("{}", partly.to_json());
            let missing: Vec<String> = partly.missing().iter().map(KeyId::to_string).collect();
            eprintln!("still to sign: {}; run `fundledger sign` on this output with their key files", missing.join(", "));
        }
    }
    Ok(())
}
