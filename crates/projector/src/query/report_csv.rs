//! The quarterly report as CSV: one table per section, amounts in cents.

use super::report::QuarterlyReport;

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The report as CSV: one table per section, amounts in cents.
pub fn report_csv(report: &QuarterlyReport) -> String {
    let mut out = String::new();
    out.push_str("section,quarter,fund,subfund,name,theme,general_partner,government_committed_in_quarter_cents,market_committed_in_quarter_cents,called_in_quarter_cents,fees_in_quarter_cents,distributed_in_quarter_cents,government_committed_cents,market_committed_cents,paid_in_cents,distributed_cents,nav_cents,nav_as_of,dpi,rvpi,tvpi\n");
    for row in &report.subfunds {
        let fields = [
            "subfund".to_string(),
            report.quarter.clone(),
            row.fund.to_string(),
            row.subfund.to_string(),
            row.name.clone(),
            row.theme.clone(),
            row.general_partner.clone(),
            row.government_committed_in_quarter_cents.cents().to_string(),
            row.market_committed_in_quarter_cents.cents().to_string(),
            row.called_in_quarter_cents.cents().to_string(),
            row.fees_in_quarter_cents.cents().to_string(),
            row.distributed_in_quarter_cents.cents().to_string(),
            row.government_committed_cents.cents().to_string(),
            row.market_committed_cents.cents().to_string(),
            row.paid_in_cents.cents().to_string(),
            row.distributed_cents.cents().to_string(),
            row.nav_cents.map(|nav| nav.cents().to_string()).unwrap_or_default(),
            row.nav_as_of.as_ref().map(|date| date.to_string()).unwrap_or_default(),
            row.dpi.decimal.clone().unwrap_or_default(),
            row.rvpi.decimal.clone().unwrap_or_default(),
            row.tvpi.decimal.clone().unwrap_or_default(),
        ];
        out.push_str(&fields.iter().map(|field| csv_field(field)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str("section,quarter,scheme,name,budget_cents,approved_in_quarter_cents,grants_approved_in_quarter,disbursed_in_quarter_cents,clawed_back_in_quarter_cents,approved_cents,disbursed_cents,utilisation_bps,budget_used_bps\n");
    for row in &report.schemes {
        let fields = [
            "scheme".to_string(),
            report.quarter.clone(),
            row.scheme.to_string(),
            row.name.clone(),
            row.budget_cents.cents().to_string(),
            row.approved_in_quarter_cents.cents().to_string(),
            row.grants_approved_in_quarter.to_string(),
            row.disbursed_in_quarter_cents.cents().to_string(),
            row.clawed_back_in_quarter_cents.cents().to_string(),
            row.approved_cents.cents().to_string(),
            row.disbursed_cents.cents().to_string(),
            row.utilisation.bps.map(|bps| bps.to_string()).unwrap_or_default(),
            row.budget_used.bps.map(|bps| bps.to_string()).unwrap_or_default(),
        ];
        out.push_str(&fields.iter().map(|field| csv_field(field)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}
