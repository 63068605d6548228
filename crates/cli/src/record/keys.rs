//! Keys and who may sign: `keygen` (a key file on this machine), `init` (the
//! genesis naming the operator), `key register|revoke` and `role grant|revoke`.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use fundledger_core::crypto::KeyId;
use fundledger_core::event::*;

use super::flag_values::{parse_public_key, parse_text};
use super::signing::{author_with, load_keys, record, record_signed, SigningArgs};
use crate::keyfile;

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key file (JSON with the public and secret key; created readable by its owner only).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Who holds the key (a person or a service), stored in the file. Default: the file name without extension.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub holder: Option<Text>,
    /// Replace an existing key file (its old key is lost).
    #[arg(long)]
    pub force: bool,
    /// Print {"file", "holder", "public"} as JSON instead of the bare public key.
    #[arg(long)]
    pub json: bool,
}

/// Writes a fresh key file and prints its public key (the key's id on the ledger).
pub fn keygen(args: KeygenArgs) -> Result<()> {
    let holder = match args.holder {
        Some(holder) => holder,
        None => {
            let stem = args.out.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
            Text::parse(stem)
                .map_err(|error| anyhow!("cannot use the file name {:?} as the holder ({error}); pass --holder NAME", args.out.display().to_string()))?
        }
    };
    let key = keyfile::generate()?;
    keyfile::write(&args.out, &key, holder.as_str(), args.force)?;
    let public = key.key_id().to_string();
    if args.json {
        println!("{}", serde_json::json!({ "file": args.out.display().to_string(), "holder": holder, "public": public }));
    } else {
        eprintln!("wrote {} (holder {holder}); keep it secret. Its public key:", args.out.display());
        println!("{public}");
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The ledger's name, for people.
    #[arg(long, value_name = "NAME", value_parser = parse_text, default_value = "Hong Kong public innovation funding")]
    pub name: Text,
    /// Who operates the ledger (holds the --key). Default: the holder named in the key file.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub holder: Option<Text>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Records `ledger.genesis`: the --key becomes the operator and first admin.
pub async fn init(args: InitArgs) -> Result<()> {
    let keys = load_keys(&args.signing.key, &args.signing.cosign)?;
    if keys.len() != 1 {
        bail!("ledger.genesis is signed by the operator key alone; drop --cosign");
    }
    let operator = &keys[0];
    let holder = match args.holder {
        Some(holder) => holder,
        None => Text::parse(&operator.holder)
            .map_err(|error| anyhow!("the holder {:?} in {} is not usable ({error}); pass --holder NAME", operator.holder, operator.source))?,
    };
    let event = Event::LedgerGenesis(LedgerGenesis { name: args.name, operator: operator.key.key_id(), operator_holder: holder });
    record_signed(&args.signing, author_with(&args.signing, &keys, event)?).await
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Register a public key so that it can be granted roles and sign (admin only).
    Register(KeyRegisterArgs),
    /// Revoke a key for good: it signs nothing from this record on (admin only).
    Revoke(KeyRevokeArgs),
}

#[derive(Args, Debug)]
pub struct KeyRegisterArgs {
    /// The key to register: its 64-hex-digit public key, or a key file (only its public part is read).
    #[arg(long, value_name = "HEX_OR_KEYFILE", value_parser = parse_public_key)]
    pub public: KeyId,
    /// Who holds the key (a person or a service).
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub holder: Text,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct KeyRevokeArgs {
    /// The key to revoke: its 64-hex-digit public key, or a key file (only its public part is read).
    #[arg(long, value_name = "HEX_OR_KEYFILE", value_parser = parse_public_key)]
    pub public: KeyId,
    /// Why it is revoked (recorded on the ledger).
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub reason: Text,
    #[command(flatten)]
    pub signing: SigningArgs,
}

pub async fn key(command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Register(args) => record(&args.signing, Event::KeyRegistered(KeyRegistered { key: args.public, holder: args.holder })).await,
        KeyCommand::Revoke(args) => record(&args.signing, Event::KeyRevoked(KeyRevoked { key: args.public, reason: args.reason })).await,
    }
}

/// The roles a key can hold.
#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum RoleArg {
    /// Keys, roles, establishing funds and schemes (ledger scope only).
    Admin,
    /// Sub-fund events in its funds.
    FundManager,
    /// Grant events in its schemes.
    GrantOfficer,
    /// Reads everything through the query API; signs nothing (ledger scope only).
    Auditor,
    /// Reads everything, for reporting services; signs nothing (ledger scope only).
    Reporting,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::FundManager => Role::FundManager,
            RoleArg::GrantOfficer => Role::GrantOfficer,
            RoleArg::Auditor => Role::Auditor,
            RoleArg::Reporting => Role::Reporting,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Grant a registered key a role for a scope (admin only).
    Grant(RoleArgs),
    /// Revoke a role a key holds for a scope (admin only).
    Revoke(RoleArgs),
}

#[derive(Args, Debug)]
pub struct RoleArgs {
    /// The key: its 64-hex-digit public key, or a key file (only its public part is read).
    #[arg(long, value_name = "HEX_OR_KEYFILE", value_parser = parse_public_key)]
    pub public: KeyId,
    /// The role.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Where the role applies: `ledger`, `fund:<fund id>` or `scheme:<scheme id>`.
    #[arg(long, value_name = "SCOPE")]
    pub scope: Scope,
    #[command(flatten)]
    pub signing: SigningArgs,
}

pub async fn role(command: RoleCommand) -> Result<()> {
    match command {
        RoleCommand::Grant(args) => record(&args.signing, Event::RoleGranted(RoleChange { key: args.public, role: args.role.into(), scope: args.scope })).await,
        RoleCommand::Revoke(args) => {
            record(&args.signing, Event::RoleRevoked(RoleChange { key: args.public, role: args.role.into(), scope: args.scope })).await
        }
    }
}
