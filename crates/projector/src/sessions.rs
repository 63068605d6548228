//! Readers' sessions: a reader asks for a challenge for its key, signs it
//! (`fundledger_core::read_access::sign_challenge`) and gets a bearer token.
//! A session says only *which key* is reading: what it may read is asked of
//! the ledger's roles at every request, so revoking the key or a role on the
//! ledger takes effect at once, whatever the token's expiry.
//!
//! Everything is in memory and bounded: at most [`CHALLENGES_PER_KEY_MAX`]
//! open challenges per key (a new one retires the key's oldest) and
//! [`CHALLENGES_MAX`] in all (each good once, for [`CHALLENGE_TTL`]), and
//! [`SESSIONS_MAX`] sessions; expired entries are dropped before a full table
//! refuses. The API issues challenges only to keys registered on the ledger,
//! so a stranger cannot fill the table.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fundledger_core::crypto::{KeyId, Signature};
use fundledger_core::id::LedgerId;
use fundledger_core::read_access::{verify_challenge, CHALLENGE_BYTES};
use rand_core::{OsRng, RngCore};
use thiserror::Error;

/// How long a challenge may be answered.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(60);
/// How long a session lasts unless configured otherwise.
pub const SESSION_TTL_DEFAULT: Duration = Duration::from_secs(3600);
/// Open challenges at most.
pub const CHALLENGES_MAX: usize = 10_000;
/// Open challenges of one key at most.
pub const CHALLENGES_PER_KEY_MAX: usize = 4;
/// Live sessions at most.
pub const SESSIONS_MAX: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    #[error("challenge {0} was not issued for this key, was already used or expired (challenges last {secs} s); ask for a new one", secs = CHALLENGE_TTL.as_secs())]
    UnknownChallenge(String),
    #[error("the signature does not verify for key {key} over this ledger's sign-in message: {reason}")]
    BadSignature { key: KeyId, reason: String },
    #[error("too many {0} open; try again shortly")]
    Full(&'static str),
    #[error("no randomness available for a challenge or token: {0}")]
    Random(String),
}

/// A signed-in reader's token and when it ends.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub key: KeyId,
    pub expires_in: Duration,
}

pub struct Sessions {
    ledger: LedgerId,
    ttl: Duration,
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    challenges: HashMap<[u8; CHALLENGE_BYTES], (KeyId, Instant)>,
    /// Each key's open challenges, oldest first.
    by_key: HashMap<KeyId, VecDeque<[u8; CHALLENGE_BYTES]>>,
    sessions: HashMap<String, (KeyId, Instant)>,
}

impl Tables {
    fn forget_challenge(&mut self, challenge: &[u8; CHALLENGE_BYTES], key: &KeyId) {
        self.challenges.remove(challenge);
        if let Some(open) = self.by_key.get_mut(key) {
            open.retain(|other| other != challenge);
            if open.is_empty() {
                self.by_key.remove(key);
            }
        }
    }

    fn drop_expired_challenges(&mut self, now: Instant) {
        let expired: Vec<_> = self.challenges.iter().filter(|(_, (_, expires))| *expires <= now).map(|(challenge, (key, _))| (*challenge, *key)).collect();
        for (challenge, key) in expired {
            self.forget_challenge(&challenge, &key);
        }
    }
}

fn random_bytes() -> Result<[u8; CHALLENGE_BYTES], SessionError> {
    let mut bytes = [0u8; CHALLENGE_BYTES];
    OsRng.try_fill_bytes(&mut bytes).map_err(|error| SessionError::Random(error.to_string()))?;
    Ok(bytes)
}

impl Sessions {
    pub fn new(ledger: LedgerId, ttl: Duration) -> Sessions {
        assert!(!ttl.is_zero(), "a session must last some time");
        Sessions { ledger, ttl, tables: Mutex::new(Tables::default()) }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock leaves only whole entries behind.
        self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh challenge for `key` to sign.
    pub fn challenge(&self, key: KeyId) -> Result<[u8; CHALLENGE_BYTES], SessionError> {
        let challenge = random_bytes()?;
        let now = Instant::now();
        let mut tables = self.tables();
        let oldest = tables.by_key.get(&key).filter(|open| open.len() >= CHALLENGES_PER_KEY_MAX).and_then(|open| open.front().copied());
        if let Some(oldest) = oldest {
            tables.forget_challenge(&oldest, &key);
        }
        if tables.challenges.len() >= CHALLENGES_MAX {
            tables.drop_expired_challenges(now);
            if tables.challenges.len() >= CHALLENGES_MAX {
                return Err(SessionError::Full("sign-in challenges"));
            }
        }
        tables.challenges.insert(challenge, (key, now + CHALLENGE_TTL));
        tables.by_key.entry(key).or_default().push_back(challenge);
        debug_assert!(tables.by_key.get(&key).is_some_and(|open| open.len() <= CHALLENGES_PER_KEY_MAX));
        Ok(challenge)
    }

    /// Checks the signature over a challenge issued for `key` (each challenge
    /// is good once) and opens a session.
    pub fn sign_in(&self, key: KeyId, challenge: &[u8; CHALLENGE_BYTES], signature: &Signature) -> Result<Session, SessionError> {
        let now = Instant::now();
        {
            let mut tables = self.tables();
            match tables.challenges.get(challenge).copied() {
                Some((issued_to, expires)) if issued_to == key => {
                    tables.forget_challenge(challenge, &key);
                    if expires <= now {
                        return Err(SessionError::UnknownChallenge(hex::encode(challenge)));
                    }
                }
                // Someone else's challenge stays theirs.
                _ => return Err(SessionError::UnknownChallenge(hex::encode(challenge))),
            }
        }
        verify_challenge(&key, &self.ledger, challenge, signature).map_err(|error| SessionError::BadSignature { key, reason: error.to_string() })?;
        let token = hex::encode(random_bytes()?);
        let mut tables = self.tables();
        if tables.sessions.len() >= SESSIONS_MAX {
            tables.sessions.retain(|_, (_, expires)| *expires > now);
            if tables.sessions.len() >= SESSIONS_MAX {
                return Err(SessionError::Full("sessions"));
            }
        }
        tables.sessions.insert(token.clone(), (key, now + self.ttl));
        Ok(Session { token, key, expires_in: self.ttl })
    }

    /// The key a live session's token stands for.
    pub fn key_of(&self, token: &str) -> Option<KeyId> {
        let now = Instant::now();
        let mut tables = self.tables();
        match tables.sessions.get(token) {
            Some((key, expires)) if *expires > now => Some(*key),
            Some(_) => {
                tables.sessions.remove(token);
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundledger_core::crypto::SecretKey;
    use fundledger_core::read_access::sign_challenge;

    #[test]
    fn a_challenge_opens_one_session_for_the_key_it_was_issued_to() {
        let ledger = LedgerId::parse("hk").unwrap();
        let sessions = Sessions::new(ledger.clone(), SESSION_TTL_DEFAULT);
        let reader = SecretKey::from_seed_label("reader");
        let thief = SecretKey::from_seed_label("thief");

        let challenge = sessions.challenge(reader.key_id()).unwrap();
        // Another key cannot use it, and it stays the reader's.
        let stolen = sessions.sign_in(thief.key_id(), &challenge, &sign_challenge(&thief, &ledger, &challenge));
        assert!(matches!(stolen, Err(SessionError::UnknownChallenge(_))), "{stolen:?}");
        // A signature for another ledger does not verify.
        let elsewhere = sign_challenge(&reader, &LedgerId::parse("other").unwrap(), &challenge);
        assert!(matches!(sessions.sign_in(reader.key_id(), &challenge, &elsewhere), Err(SessionError::BadSignature { .. })));
        // A challenge is good once: the failed attempt above used it up.
        let again = sessions.sign_in(reader.key_id(), &challenge, &sign_challenge(&reader, &ledger, &challenge));
        assert!(matches!(again, Err(SessionError::UnknownChallenge(_))), "{again:?}");

        let challenge = sessions.challenge(reader.key_id()).unwrap();
        let session = sessions.sign_in(reader.key_id(), &challenge, &sign_challenge(&reader, &ledger, &challenge)).unwrap();
        assert_eq!(sessions.key_of(&session.token), Some(reader.key_id()));
        assert_eq!(sessions.key_of("not-a-token"), None);
        assert_eq!(session.token.len(), 2 * CHALLENGE_BYTES);
    }

    #[test]
    fn a_key_holds_a_few_open_challenges_and_a_new_one_retires_the_oldest() {
        let ledger = LedgerId::parse("hk").unwrap();
        let sessions = Sessions::new(ledger.clone(), SESSION_TTL_DEFAULT);
        let reader = SecretKey::from_seed_label("reader");
        let challenges: Vec<_> = (0..CHALLENGES_PER_KEY_MAX + 1).map(|_| sessions.challenge(reader.key_id()).unwrap()).collect();
        assert_eq!(sessions.tables().challenges.len(), CHALLENGES_PER_KEY_MAX, "one key cannot fill the table");
        let oldest = sessions.sign_in(reader.key_id(), &challenges[0], &sign_challenge(&reader, &ledger, &challenges[0]));
        assert!(matches!(oldest, Err(SessionError::UnknownChallenge(_))), "{oldest:?}");
        let newest = &challenges[CHALLENGES_PER_KEY_MAX];
        assert!(sessions.sign_in(reader.key_id(), newest, &sign_challenge(&reader, &ledger, newest)).is_ok());
        assert!(sessions.tables().by_key.get(&reader.key_id()).is_some_and(|open| open.len() == CHALLENGES_PER_KEY_MAX - 1));
    }
}
