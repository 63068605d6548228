//! `scheme establish|amend`: matching-grant schemes from a preset (Pilot,
//! NIFS, NIAS) or a `--terms` file, with single terms overridden by flags (and
//! `scheme show`, answered by the query API).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{ArgAction, Args, Subcommand, ValueEnum};
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::time::Date;

use super::flag_values::{parse_cap, parse_limit, parse_money, parse_period, parse_ratio, parse_text, Cap, Limit, Ratio};
use super::input::read_terms;
use super::signing::{record, SigningArgs};

/// Published scheme terms to start from.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SchemePreset {
    /// Manufacturing and Production Line Upgrade Support Pilot Scheme: HK$100M, 1:2, HK$250,000 per enterprise.
    Pilot,
    /// New Industrialisation Funding Scheme: 1:2, lower of 1/3 of cost or HK$15M per project,
    /// 3 concurrent projects and HK$45M per enterprise, paid on completion. Needs --budget.
    Nifs,
    /// New Industrialisation Acceleration Scheme: HK$10bn, 1:2, lower of 1/3 of cost or HK$200M,
    /// cost at least HK$150M (HK$100M from the enterprise), 2 projects and HK$200M per enterprise, 36 months.
    Nias,
}

#[derive(Subcommand, Debug)]
pub enum SchemeCommand {
    /// Establish a matching-grant scheme with its ratio, caps and budget (admin only).
    Establish(SchemeEstablishArgs),
    /// Amend a scheme's terms for grants approved on or after a date, and/or top its budget up
    /// (admin only). Terms not given stay as they are; amendments take effect in date order.
    Amend(SchemeAmendArgs),
    /// Show a scheme from the query API: budget, commitments, disbursements, each enterprise's headroom.
    Show(crate::query::ShowArgs),
}

#[derive(Args, Debug)]
pub struct SchemeEstablishArgs {
    /// The scheme's id (1-64 of a-z 0-9 _ -), e.g. nias. Overrides the id in --terms.
    #[arg(long, value_name = "ID", required_unless_present = "terms")]
    pub scheme: Option<SchemeId>,
    /// The published terms to start from; the flags below override single terms.
    #[arg(long, value_enum, required_unless_present = "terms", conflicts_with = "terms")]
    pub preset: Option<SchemePreset>,
    /// Start from a file holding the data of a scheme.established event (JSON, amounts in cents):
    /// a new scheme needs no code change.
    #[arg(long, value_name = "FILE")]
    pub terms: Option<PathBuf>,
    /// The scheme's name.
    #[arg(long, value_name = "NAME", value_parser = parse_text)]
    pub name: Option<Text>,
    /// The scheme's budget, in HK$ (required with --preset nifs, whose budget is an allocation from the ITF).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub budget: Option<Money>,
    /// Government parts to enterprise parts, GOVERNMENT:ENTERPRISE (presets: 1:2).
    #[arg(long, value_name = "G:E", value_parser = parse_ratio)]
    pub ratio: Option<Ratio>,
    /// Cap on one project's grant, in HK$, or `none`.
    #[arg(long, value_name = "HKD|none", value_parser = parse_cap)]
    pub project_grant_max: Option<Cap>,
    /// Cap on one enterprise's grants in total, in HK$, or `none`.
    #[arg(long, value_name = "HKD|none", value_parser = parse_cap)]
    pub enterprise_grant_max: Option<Cap>,
    /// Smallest approved project cost, in HK$, or `none`.
    #[arg(long, value_name = "HKD|none", value_parser = parse_cap)]
    pub project_cost_min: Option<Cap>,
    /// Smallest contribution by the enterprise itself, in HK$, or `none`.
    #[arg(long, value_name = "HKD|none", value_parser = parse_cap)]
    pub enterprise_contribution_min: Option<Cap>,
    /// Most projects one enterprise may have in the scheme, or `none`.
    #[arg(long, value_name = "N|none", value_parser = parse_limit)]
    pub projects_per_enterprise_max: Option<Limit>,
    /// Most open projects one enterprise may have at a time, or `none`.
    #[arg(long, value_name = "N|none", value_parser = parse_limit)]
    pub concurrent_projects_max: Option<Limit>,
    /// Longest project duration, in months, or `none`.
    #[arg(long, value_name = "MONTHS|none", value_parser = parse_limit)]
    pub duration_months_max: Option<Limit>,
    /// Whether grants are paid only after the project is completed (NIFS preset: true).
    #[arg(long, value_name = "BOOL", action = ArgAction::Set)]
    pub paid_on_completion: Option<bool>,
    /// Disbursements at or above this amount, in HK$, need two distinct signers (presets: 10,000,000).
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub dual_control_threshold: Option<Money>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Args, Debug)]
pub struct SchemeAmendArgs {
    /// The scheme amended.
    #[arg(long, value_name = "ID", required_unless_present = "terms")]
    pub scheme: Option<SchemeId>,
    /// Start from a file holding the data of a scheme.amended event (JSON, amounts in cents).
    #[arg(long, value_name = "FILE")]
    pub terms: Option<PathBuf>,
    /// Grants approved on or after this date get the new terms (not before the latest amendment's date).
    #[arg(long, value_name = "DATE", required_unless_present = "terms")]
    pub effective_from: Option<Date>,
    /// Why, and the published source of the change.
    #[arg(long, value_name = "TEXT", value_parser = parse_text, required_unless_present = "terms")]
    pub reason: Option<Text>,
    /// Budget added to the scheme at once, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub budget_top_up: Option<Money>,
    /// New cap on one project's grant, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub project_grant_max: Option<Money>,
    /// New cap on one enterprise's (or group's) grants, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub enterprise_grant_max: Option<Money>,
    /// New smallest approved project cost, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub project_cost_min: Option<Money>,
    /// New smallest contribution by the enterprise itself, in HK$.
    #[arg(long, value_name = "HKD", value_parser = parse_money)]
    pub enterprise_contribution_min: Option<Money>,
    /// New most projects per enterprise (or group).
    #[arg(long, value_name = "N")]
    pub projects_per_enterprise_max: Option<u32>,
    /// New most open projects per enterprise (or group) at a time.
    #[arg(long, value_name = "N")]
    pub concurrent_projects_max: Option<u32>,
    /// New longest project duration, in months.
    #[arg(long, value_name = "MONTHS")]
    pub duration_months_max: Option<u32>,
    /// New application window, START..END: applications received outside it are refused.
    #[arg(long, value_name = "START..END", value_parser = parse_period)]
    pub application_window: Option<Period>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

async fn amend_scheme(args: SchemeAmendArgs) -> Result<()> {
    let mut data: SchemeAmended = match (&args.terms, &args.scheme, &args.effective_from, &args.reason) {
        (Some(path), _, _, _) => read_terms(path, "scheme.amended")?,
        (None, Some(scheme), Some(effective_from), Some(reason)) => SchemeAmended::new(scheme.clone(), effective_from.clone(), reason.clone()),
        _ => bail!("give --scheme ID, --effective-from DATE and --reason TEXT, or --terms FILE"),
    };
    if let Some(scheme) = args.scheme {
        data.scheme = scheme;
    }
    if let Some(date) = args.effective_from {
        data.effective_from = date;
    }
    if let Some(reason) = args.reason {
        data.reason = reason;
    }
    let money = [
        (&mut data.budget_top_up_cents, args.budget_top_up),
        (&mut data.project_grant_max_cents, args.project_grant_max),
        (&mut data.enterprise_grant_max_cents, args.enterprise_grant_max),
        (&mut data.project_cost_min_cents, args.project_cost_min),
        (&mut data.enterprise_contribution_min_cents, args.enterprise_contribution_min),
    ];
    for (term, given) in money {
        if given.is_some() {
            *term = given;
        }
    }
    let counts = [
        (&mut data.projects_per_enterprise_max, args.projects_per_enterprise_max),
        (&mut data.concurrent_projects_per_enterprise_max, args.concurrent_projects_max),
        (&mut data.project_duration_months_max, args.duration_months_max),
    ];
    for (term, given) in counts {
        if given.is_some() {
            *term = given;
        }
    }
    if args.application_window.is_some() {
        data.application_window = args.application_window;
    }
    record(&args.signing, Event::SchemeAmended(data)).await
}

pub async fn scheme(command: SchemeCommand) -> Result<()> {
    let args = match command {
        SchemeCommand::Establish(args) => args,
        SchemeCommand::Amend(args) => return amend_scheme(args).await,
        SchemeCommand::Show(args) => return crate::query::scheme_show(args).await,
    };
    let mut terms: SchemeEstablished = match (&args.terms, &args.scheme, args.preset) {
        (Some(path), _, _) => read_terms(path, "scheme.established")?,
        (None, Some(scheme), Some(SchemePreset::Pilot)) => presets::pilot_scheme(scheme.as_str()),
        (None, Some(scheme), Some(SchemePreset::Nias)) => presets::nias_scheme(scheme.as_str()),
        (None, Some(scheme), Some(SchemePreset::Nifs)) => match args.budget {
            Some(budget) => presets::nifs_scheme(scheme.as_str(), budget),
            None => bail!("--preset nifs needs --budget HKD: NIFS is funded from the ITF, so give the allocation this ledger polices"),
        },
        _ => bail!("give --scheme ID and --preset pilot|nifs|nias, or --terms FILE"),
    };
    if let Some(scheme) = args.scheme {
        terms.scheme = scheme;
    }
    if let Some(name) = args.name {
        terms.name = name;
    }
    if let Some(budget) = args.budget {
        terms.budget_cents = budget;
    }
    if let Some(Ratio(government, enterprise)) = args.ratio {
        terms.government_ratio = government;
        terms.enterprise_ratio = enterprise;
    }
    if let Some(Cap(cap)) = args.project_grant_max {
        terms.project_grant_max_cents = cap;
    }
    if let Some(Cap(cap)) = args.enterprise_grant_max {
        terms.enterprise_grant_max_cents = cap;
    }
    if let Some(Cap(cap)) = args.project_cost_min {
        terms.project_cost_min_cents = cap;
    }
    if let Some(Cap(cap)) = args.enterprise_contribution_min {
        terms.enterprise_contribution_min_cents = cap;
    }
    if let Some(Limit(limit)) = args.projects_per_enterprise_max {
        terms.projects_per_enterprise_max = limit;
    }
    if let Some(Limit(limit)) = args.concurrent_projects_max {
        terms.concurrent_projects_per_enterprise_max = limit;
    }
    if let Some(Limit(limit)) = args.duration_months_max {
        terms.project_duration_months_max = limit;
    }
    if let Some(paid_on_completion) = args.paid_on_completion {
        terms.paid_on_completion = paid_on_completion;
    }
    if let Some(threshold) = args.dual_control_threshold {
        terms.dual_control_threshold_cents = threshold;
    }
    record(&args.signing, Event::SchemeEstablished(terms)).await
}
