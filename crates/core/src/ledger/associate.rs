//! Associated enterprises (common ownership): an officer records that
//! enterprises belong together, and from then on per-enterprise caps and
//! project counts apply to the group, so a cap cannot be dodged by splitting
//! a project across companies of one owner. Groups only merge; a group is
//! named by its first member in id order.

use super::{Change, GroupChange, Ledger, Rule, Violation};
use crate::event::{EnterprisesAssociated, ASSOCIATED_ENTERPRISES_MAX};
use crate::id::EnterpriseId;

impl Ledger {
    pub(super) fn decide_enterprises_associated(&self, data: &EnterprisesAssociated) -> Result<Change, Violation> {
        let named = data.enterprises.len();
        if !(2..=ASSOCIATED_ENTERPRISES_MAX).contains(&named) {
            return Err(Violation::new(Rule::InvalidParameter, format!("an association names 2 to {ASSOCIATED_ENTERPRISES_MAX} enterprises, got {named}")));
        }
        let mut members: Vec<EnterpriseId> = Vec::new();
        let mut dissolved: Vec<EnterpriseId> = Vec::new();
        for enterprise in &data.enterprises {
            if let Some(group) = self.group_of.get(enterprise) {
                if !dissolved.contains(group) {
                    dissolved.push(group.clone());
                }
            }
            members.extend(self.associated_with(enterprise));
        }
        members.sort();
        members.dedup();
        if dissolved.len() == 1 && members.len() == self.groups.get(&dissolved[0]).map_or(0, Vec::len) {
            return Err(Violation::new(
                Rule::AlreadyExists,
                format!("enterprises {} are already associated (group {})", names(&data.enterprises), dissolved[0]),
            ));
        }
        if members.len() < 2 {
            return Err(Violation::new(Rule::InvalidParameter, format!("an association needs two distinct enterprises, got {}", names(&data.enterprises))));
        }
        let group = members[0].clone();
        Ok(Change { group: Some(GroupChange { dissolved, group, members }), ..Change::default() })
    }
}

fn names(enterprises: &[EnterpriseId]) -> String {
    enterprises.iter().map(EnterpriseId::as_str).collect::<Vec<_>>().join(", ")
}
