//! Who may read what. The ledger is its own identity provider: a reader
//! proves it holds a registered key by signing a challenge the server chose
//! (so a signature is good for one sign-in only), and the roles the ledger
//! gives that key *at its head* decide what it may read. Services ask this
//! module on every request, so a key or role revoked on the ledger reads
//! nothing more from the next request on (docs/QUERYING.md, "Who may read
//! what"; the signed bytes are in docs/FORMAT.md 11.4).

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;

use crate::crypto::{domain, verify, CryptoError, KeyId, SecretKey, Signature};
use crate::event::{Event, Role, Scope};
use crate::id::{FundId, GrantId, LedgerId, SchemeId, SubFundId};

/// Bytes in a sign-in challenge (chosen by the server, at random).
pub const CHALLENGE_BYTES: usize = 32;

/// What a reader may read, from the roles its key holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReadAccess {
    /// Every view and every record (admin, auditor, reporting).
    pub everything: bool,
    /// Every fund (a fund manager for the whole ledger).
    pub all_funds: bool,
    /// The funds it may read (a fund manager's funds).
    pub funds: BTreeSet<FundId>,
    /// Every scheme (a grant officer for the whole ledger).
    pub all_schemes: bool,
    /// The schemes it may read (a grant officer's schemes).
    pub schemes: BTreeSet<SchemeId>,
}

/// What reading something needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readable {
    /// Public aggregates: fund totals, scheme budgets and utilisation, the ledger's size.
    Aggregates,
    /// What belongs to one fund (its sub-funds, investments, their events).
    Fund(FundId),
    /// What belongs to one scheme (its grants, their events).
    Scheme(SchemeId),
    /// Everything else: keys and roles, enterprises across schemes, reports, the whole event list.
    Ledger,
}

impl ReadAccess {
    /// Without a key: public aggregates only.
    pub fn public() -> ReadAccess {
        ReadAccess::default()
    }

    /// Everything (also what an operator who opens all reads gives everyone).
    pub fn everything() -> ReadAccess {
        ReadAccess { everything: true, ..ReadAccess::default() }
    }

    /// What a key may read given its state at the ledger's head: nothing
    /// beyond the public aggregates once revoked; admin, auditor and
    /// reporting read everything; a fund manager its funds, a grant officer
    /// its schemes (every fund or scheme when granted for the whole ledger).
    pub fn of_key(revoked: bool, roles: &[(Role, Scope)]) -> ReadAccess {
        let mut access = ReadAccess::public();
        if revoked {
            return access;
        }
        for (role, scope) in roles {
            match (role, scope) {
                (Role::Admin | Role::Auditor | Role::Reporting, _) => access.everything = true,
                (Role::FundManager, Scope::Ledger) => access.all_funds = true,
                (Role::FundManager, Scope::Fund(fund)) => {
                    access.funds.insert(fund.clone());
                }
                (Role::GrantOfficer, Scope::Ledger) => access.all_schemes = true,
                (Role::GrantOfficer, Scope::Scheme(scheme)) => {
                    access.schemes.insert(scheme.clone());
                }
                // A role for a scope of the other kind reads nothing more.
                (Role::FundManager, Scope::Scheme(_)) | (Role::GrantOfficer, Scope::Fund(_)) => {}
            }
        }
        access
    }

    pub fn may_read(&self, what: &Readable) -> bool {
        match what {
            Readable::Aggregates => true,
            _ if self.everything => true,
            Readable::Fund(fund) => self.all_funds || self.funds.contains(fund),
            Readable::Scheme(scheme) => self.all_schemes || self.schemes.contains(scheme),
            Readable::Ledger => false,
        }
    }

    /// Reads more than the public aggregates.
    pub fn is_public(&self) -> bool {
        *self == ReadAccess::public()
    }
}

impl std::fmt::Display for Readable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readable::Aggregates => formatter.write_str("the public aggregates"),
            Readable::Fund(fund) => write!(formatter, "fund {fund} (a fund_manager role for it, or admin, auditor or reporting)"),
            Readable::Scheme(scheme) => write!(formatter, "scheme {scheme} (a grant_officer role for it, or admin, auditor or reporting)"),
            Readable::Ledger => formatter.write_str("the whole ledger (the admin, auditor or reporting role)"),
        }
    }
}

/// What reading an event needs: the fund or scheme it belongs to, found
/// through `fund_of` (a sub-fund's fund) and `scheme_of` (a grant's scheme);
/// ledger-wide events (genesis, keys, roles, associations) need the ledger.
/// An event whose sub-fund or grant cannot be found needs the ledger.
pub fn readable_of(event: &Event, fund_of: impl Fn(&SubFundId) -> Option<FundId>, scheme_of: impl Fn(&GrantId) -> Option<SchemeId>) -> Readable {
    let fund = |subfund: &SubFundId| fund_of(subfund).map_or(Readable::Ledger, Readable::Fund);
    let scheme = |grant: &GrantId| scheme_of(grant).map_or(Readable::Ledger, Readable::Scheme);
    match event {
        Event::LedgerGenesis(_)
        | Event::KeyRegistered(_)
        | Event::KeyRevoked(_)
        | Event::RoleGranted(_)
        | Event::RoleRevoked(_)
        | Event::EnterprisesAssociated(_) => Readable::Ledger,
        Event::FundEstablished(data) => Readable::Fund(data.fund.clone()),
        Event::SubFundAdmitted(data) => Readable::Fund(data.fund.clone()),
        Event::MarketCommitted(data) => fund(&data.subfund),
        Event::GovernmentCommitted(data) => fund(&data.subfund),
        Event::CapitalCalled(data) => fund(&data.subfund),
        Event::Distributed(data) => fund(&data.subfund),
        Event::NavReported(data) => fund(&data.subfund),
        Event::Invested(data) => fund(&data.subfund),
        Event::WrittenOff(data) => fund(&data.subfund),
        Event::FeeCharged(data) => fund(&data.subfund),
        Event::ProductionSpendReported(data) => fund(&data.subfund),
        Event::SchemeEstablished(data) => Readable::Scheme(data.scheme.clone()),
        Event::SchemeAmended(data) => Readable::Scheme(data.scheme.clone()),
        Event::GrantApproved(data) => Readable::Scheme(data.scheme.clone()),
        Event::SpendVerified(data) => scheme(&data.grant),
        Event::GrantCompleted(data) => scheme(&data.grant),
        Event::GrantDisbursed(data) => scheme(&data.grant),
        Event::GrantClawedBack(data) => scheme(&data.grant),
        Event::GrantClosed(data) => scheme(&data.grant),
        Event::SpendDisallowed(data) => scheme(&data.grant),
        Event::MilestoneAccepted(data) => scheme(&data.grant),
    }
}

/// The message a reader signs to sign in: the UTF-8 text
/// `<ledger id> "\n" <key, 64 hex digits> "\n" <challenge, 64 hex digits>`,
/// signed as `"fundledger/v1/read-session\0" || message`.
pub fn challenge_message(ledger: &LedgerId, key: &KeyId, challenge: &[u8; CHALLENGE_BYTES]) -> Vec<u8> {
    format!("{}\n{}\n{}", ledger.as_str(), key, hex::encode(challenge)).into_bytes()
}

/// Signs a sign-in challenge with a reader's key.
pub fn sign_challenge(secret: &SecretKey, ledger: &LedgerId, challenge: &[u8; CHALLENGE_BYTES]) -> Signature {
    secret.sign(domain::READ_SESSION, &challenge_message(ledger, &secret.key_id(), challenge))
}

/// Checks a sign-in signature (the same ZIP 215 rules as every signature).
pub fn verify_challenge(key: &KeyId, ledger: &LedgerId, challenge: &[u8; CHALLENGE_BYTES], signature: &Signature) -> Result<(), CryptoError> {
    verify(key, domain::READ_SESSION, &challenge_message(ledger, key, challenge), signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fund(id: &str) -> FundId {
        FundId::parse(id).unwrap()
    }
    fn scheme(id: &str) -> SchemeId {
        SchemeId::parse(id).unwrap()
    }

    #[test]
    fn roles_decide_what_a_key_reads() {
        let manager = ReadAccess::of_key(false, &[(Role::FundManager, Scope::Fund(fund("itif")))]);
        assert!(manager.may_read(&Readable::Fund(fund("itif"))));
        assert!(!manager.may_read(&Readable::Fund(fund("other"))));
        assert!(!manager.may_read(&Readable::Scheme(scheme("nifs"))));
        assert!(!manager.may_read(&Readable::Ledger));
        assert!(manager.may_read(&Readable::Aggregates));

        let officer = ReadAccess::of_key(false, &[(Role::GrantOfficer, Scope::Scheme(scheme("nifs")))]);
        assert!(officer.may_read(&Readable::Scheme(scheme("nifs"))));
        assert!(!officer.may_read(&Readable::Scheme(scheme("pilot"))));
        assert!(!officer.may_read(&Readable::Fund(fund("itif"))));

        let everywhere = ReadAccess::of_key(false, &[(Role::GrantOfficer, Scope::Ledger)]);
        assert!(everywhere.may_read(&Readable::Scheme(scheme("pilot"))));
        assert!(!everywhere.may_read(&Readable::Fund(fund("itif"))));

        for role in [Role::Admin, Role::Auditor, Role::Reporting] {
            let all = ReadAccess::of_key(false, &[(role, Scope::Ledger)]);
            assert!(all.may_read(&Readable::Ledger) && all.may_read(&Readable::Fund(fund("x"))) && all.may_read(&Readable::Scheme(scheme("y"))), "{role}");
            assert!(ReadAccess::of_key(true, &[(role, Scope::Ledger)]).is_public(), "a revoked {role} key reads only the public aggregates");
        }
        assert!(ReadAccess::of_key(false, &[]).is_public());
        assert!(ReadAccess::of_key(false, &[(Role::FundManager, Scope::Scheme(scheme("nifs")))]).is_public());
    }

    #[test]
    fn a_challenge_signature_is_bound_to_ledger_key_and_challenge() {
        let secret = SecretKey::from_seed_label("reader");
        let other = SecretKey::from_seed_label("other");
        let ledger = LedgerId::parse("hk").unwrap();
        let challenge = [7u8; CHALLENGE_BYTES];
        let signature = sign_challenge(&secret, &ledger, &challenge);
        assert_eq!(verify_challenge(&secret.key_id(), &ledger, &challenge, &signature), Ok(()));
        assert!(verify_challenge(&other.key_id(), &ledger, &challenge, &signature).is_err());
        assert!(verify_challenge(&secret.key_id(), &LedgerId::parse("other").unwrap(), &challenge, &signature).is_err());
        assert!(verify_challenge(&secret.key_id(), &ledger, &[8u8; CHALLENGE_BYTES], &signature).is_err());
        // An event signature over the same bytes is not a sign-in signature.
        let message = challenge_message(&ledger, &secret.key_id(), &challenge);
        assert!(verify_challenge(&secret.key_id(), &ledger, &challenge, &secret.sign(domain::EVENT_SIGNATURE, &message)).is_err());
        assert_eq!(
            String::from_utf8(message).unwrap(),
            format!("hk\n{}\n{}", secret.key_id(), "07".repeat(CHALLENGE_BYTES)),
            "the signed text is documented in FORMAT.md 11.4"
        );
    }
}
