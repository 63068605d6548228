//! `enterprise ...`: `associate` records that enterprises are under common
//! ownership (so per-enterprise caps and project counts apply to the group);
//! `show` is answered by the query API.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use fundledger_core::event::*;
use fundledger_core::id::*;

use super::flag_values::{parse_text, EvidenceArgs};
use super::signing::{record, SigningArgs};

#[derive(Subcommand, Debug)]
pub enum EnterpriseCommand {
    /// Show an enterprise's grants, verified spend, disbursements and headroom under each cap, per scheme.
    Show(crate::query::ShowArgs),
    /// Record that enterprises are under common ownership (grant officer): from then on per-enterprise
    /// caps and project counts apply to the group, so a project split across them is refused.
    Associate(Box<AssociateArgs>),
}

pub async fn enterprise(command: EnterpriseCommand) -> Result<()> {
    match command {
        EnterpriseCommand::Show(args) => crate::query::enterprise_show(args).await,
        EnterpriseCommand::Associate(args) => associate(*args).await,
    }
}

#[derive(Args, Debug)]
pub struct AssociateArgs {
    /// An enterprise of the group (2 to 32; repeat the flag). Per-enterprise caps and project counts
    /// then apply to the group as a whole.
    #[arg(long = "enterprise", value_name = "ID", required = true, num_args = 1)]
    pub enterprises: Vec<EnterpriseId>,
    /// The basis, e.g. the common shareholder and the share held.
    #[arg(long, value_name = "TEXT", value_parser = parse_text)]
    pub basis: Text,
    /// The evidence of common ownership (a company search, a shareholders' register).
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Records `enterprise.associated`.
pub async fn associate(args: AssociateArgs) -> Result<()> {
    if args.enterprises.len() < 2 {
        bail!("name at least two enterprises (--enterprise ID --enterprise ID)");
    }
    let data = EnterprisesAssociated { enterprises: args.enterprises, basis: args.basis, evidence_sha256: args.evidence.digest()? };
    record(&args.signing, Event::EnterprisesAssociated(data)).await
}
