//! `fund establish`: a fund of funds and the rules its sub-funds must keep,
//! from a preset (ITIF) or a `--terms` file, with single terms overridden by flags.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::money::Money;
use fundledger_core::presets;

use super::flag_values::{parse_bps, parse_money, parse_text, parse_theme};
use super::input::read_terms;
use super::signing::{record, SigningArgs};

/// Published fund terms to start from.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FundPreset {
    /// The HK$10bn I&T Industry-Oriented Fund: at most HK$1bn and 25% per sub-fund, sub-funds of
    /// at least HK$2bn, 50% into HK enterprises, 25% of fund size on HK production bases.
    Itif,
}

#[derive(Subcommand, Debug)]
pub enum FundCommand {
    /// Establish a fund of funds and the rules its sub-funds must keep (admin only).
    Establish(FundEstablishArgs),
}

#[derive(Args, Debug)]
pub struct FundEstablishArgs {
    /// The fund's id (1-64 of a-z 0-9 _ -), e.g. itif. Overrides the id in --terms.
    #[arg(long, value_name = "ID", required_unless_present = "terms")]
    pub fund: Option<FundId>,
    /// The published terms to start from; the flags below override single terms.
    #[arg(long, value_enum, default_value_t = FundPreset::Itif)]
    pub preset: FundPreset,
    /// Start from a file holding the data of a fund.established event (JSON, amounts in cents) instead of --preset.
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    pub terms: Option<PathBuf>,
    /// The fund's name.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub name: Option<Text>,
    /// The government's total capital for the fund, in HK$ (e.g. 10,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub capital: Option<Money>,
    /// Cap on the government's commitment to one sub-fund, in HK$ (ITIF: 1,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub subfund_commitment_max: Option<Money>,
    /// The government's largest share of a sub-fund's committed size, in basis points (ITIF: 2500 = 25%).
    #[arg(long, value_name = "BPS", value_parser = parse_bps)]
    pub government_share_max_bps: Option<u32>,
    /// A sub-fund's smallest target size, in HK$ (ITIF: 2,000,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub min_target_size: Option<Money>,
    /// Share of investment a sub-fund must place in Hong Kong enterprises, in basis points (ITIF: 5000 = 50%); reported.
    #[arg(long, value_name = "BPS", value_parser = parse_bps)]
    pub hk_enterprise_share_min_bps: Option<u32>,
    /// Spend by investees on HK production bases as a share of fund size, in basis points (ITIF: 2500 = 25%); reported.
    #[arg(long, value_name = "BPS", value_parser = parse_bps)]
    pub hk_production_spend_min_bps: Option<u32>,
    /// Capital calls and fees at or above this amount, in HK$, need two distinct signers (ITIF preset: 100,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub dual_control_threshold: Option<Money>,
    /// A theme, as ID=NAME (e.g. ai-robotics=AI and robotics). Repeatable; replaces the preset's themes.
    #[arg(long, value_name = "ID=NAME", value_parser = parse_theme)]
    pub theme: Vec<Theme>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

pub async fn fund(command: FundCommand) -> Result<()> {
    let FundCommand::Establish(args) = command;
    let mut terms: FundEstablished = match (&args.terms, &args.fund) {
        (Some(path), _) => read_terms(path, "fund.established")?,
        (None, Some(fund)) => match args.preset {
            FundPreset::Itif => presets::itif(fund.as_str()),
        },
        (None, None) => bail!("give --fund ID (or --terms FILE)"),
    };
    if let Some(fund) = args.fund {
        terms.fund = fund;
    }
    if let Some(name) = args.name {
        terms.name = name;
    }
    if let Some(capital) = args.capital {
        terms.government_capital_cents = capital;
    }
    if let Some(cap) = args.subfund_commitment_max {
        terms.government_commitment_per_subfund_max_cents = cap;
    }
    if let Some(bps) = args.government_share_max_bps {
        terms.government_share_max_bps = bps;
    }
    if let Some(size) = args.min_target_size {
        terms.subfund_target_size_min_cents = size;
    }
    if let Some(bps) = args.hk_enterprise_share_min_bps {
        terms.hk_enterprise_share_min_bps = bps;
    }
    if let Some(bps) = args.hk_production_spend_min_bps {
        terms.hk_production_spend_min_bps = bps;
    }
    if let Some(threshold) = args.dual_control_threshold {
        terms.dual_control_threshold_cents = threshold;
    }
    if !args.theme.is_empty() {
        terms.themes = args.theme;
    }
    record(&args.signing, Event::FundEstablished(terms)).await
}
