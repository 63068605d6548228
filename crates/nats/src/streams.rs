//! Creating and checking the ledger's two JetStream streams.
//!
//! Why so strict: the ledger's promise is that nothing is ever removed or
//! rewritten. The server enforces that only if the stream is configured for
//! it — file storage, no deletes, no purges, no roll-ups, no limits that age
//! messages out. So an existing stream is checked field by field, and a
//! difference is an error naming the field: changing it silently could
//! discard history, and accepting it silently would void the promise.
//!
//! The one setting changed on an existing stream is `allow_atomic` on the
//! event stream (nats-server 2.12+): it adds a way to append, all or nothing
//! ([`crate::append::AppendMode::Atomic`]), and takes nothing away. Where the
//! server or the account's rights refuse it, appends stay pipelined-fenced.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    context::{CreateStreamErrorKind, GetStreamErrorKind},
    stream::{Config, DiscardPolicy, RetentionPolicy, StorageType},
};

use crate::client::Broker;
use crate::error::NatsError;
use crate::subjects;

/// Default duplicate window: message ids seen within it are not stored twice.
pub const DUPLICATE_WINDOW_DEFAULT_MS: u64 = 2 * 60 * 1000;
/// The first nats-server release with atomic batch publish (ADR-50), as
/// (major, minor).
pub const ATOMIC_PUBLISH_SERVER_MIN: (u64, u64) = (2, 12);

/// The tunable settings of the ledger streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// Replicas of both streams (1 for a single server, 3 for a cluster).
    pub replicas: usize,
    /// How long message ids are remembered for de-duplication.
    pub duplicate_window: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings { replicas: 1, duplicate_window: Duration::from_millis(DUPLICATE_WINDOW_DEFAULT_MS) }
    }
}

/// What [`ensure_ledger_streams`] found or created.
#[derive(Debug, Clone)]
pub struct LedgerStreams {
    /// Name of the event stream (`FUNDLEDGER_<LEDGER>`).
    pub events_stream: String,
    /// Name of the checkpoint stream (`FUNDLEDGER_<LEDGER>_CHECKPOINTS`).
    pub checkpoint_stream: String,
    /// Whether the event stream was created by this call.
    pub events_created: bool,
    /// Whether the checkpoint stream was created by this call.
    pub checkpoints_created: bool,
    /// The event stream's info as of this call.
    pub events_info: jetstream::stream::Info,
    /// The checkpoint stream's info as of this call.
    pub checkpoint_info: jetstream::stream::Info,
    /// Whether the event stream allows atomic batches (`allow_atomic`).
    pub atomic_publish: bool,
}

/// Creates a plain file stream of `subjects`, without the ledger's settings:
/// the raw baseline benchmarks measure fenced appends against.
pub async fn create_plain_stream(broker: &Broker, name: &str, subjects: Vec<String>) -> Result<(), NatsError> {
    let config = Config { name: name.to_string(), subjects, storage: jetstream::stream::StorageType::File, ..Config::default() };
    broker.js().create_stream(config).await.map(drop).map_err(|error| NatsError::jetstream(format!("create stream {name}"), error))
}

/// Whether the server the context is connected to supports atomic batch
/// publish (its version is at least [`ATOMIC_PUBLISH_SERVER_MIN`]).
pub fn server_supports_atomic_publish(broker: &Broker) -> bool {
    let js = broker.js();
    version_supports_atomic_publish(&js.client().server_info().version)
}

fn version_supports_atomic_publish(version: &str) -> bool {
    let mut parts = version.trim_start_matches('v').split(['.', '-']).map(|part| part.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= ATOMIC_PUBLISH_SERVER_MIN,
        _ => false,
    }
}

/// The configuration the ledger requires of a stream with these subjects.
pub fn ledger_stream_config(name: String, subjects: Vec<String>, description: String, settings: &StreamSettings) -> Config {
    Config {
        name,
        subjects,
        description: Some(description),
        storage: StorageType::File,
        retention: RetentionPolicy::Limits,
        discard: DiscardPolicy::Old,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        max_age: Duration::ZERO,
        max_consumers: -1,
        num_replicas: settings.replicas,
        duplicate_window: settings.duplicate_window,
        deny_delete: true,
        deny_purge: true,
        allow_rollup: false,
        ..Config::default()
    }
}

/// Creates the ledger's event and checkpoint streams, or checks that existing
/// ones have the settings the ledger requires.
///
/// An existing stream with a different storage type, retention, subject set,
/// deny-delete / deny-purge / roll-up flag, age/count/size limit, discard
/// policy, seal, or mirror, or with fewer replicas than requested, is an
/// [`NatsError::StreamSettingMismatch`] naming the setting; nothing is changed.
/// A different duplicate window or more replicas is accepted with a warning.
pub async fn ensure_ledger_streams(broker: &Broker, ledger: &str, settings: &StreamSettings) -> Result<LedgerStreams, NatsError> {
    let mut events = ledger_stream_config(
        subjects::stream_name(ledger)?,
        vec![subjects::ledger_events_filter(ledger)?],
        format!("fundledger events of ledger {ledger}"),
        settings,
    );
    let atomic_supported = server_supports_atomic_publish(broker);
    events.allow_atomic_publish = atomic_supported;
    let checkpoints = ledger_stream_config(
        subjects::checkpoint_stream_name(ledger)?,
        vec![subjects::checkpoint_subject(ledger)?, subjects::witness_filter(ledger)?],
        format!("fundledger checkpoints and witness co-signatures of ledger {ledger}"),
        settings,
    );
    let (mut events_info, events_created) = ensure_stream(broker, events).await?;
    if atomic_supported && !events_info.config.allow_atomic_publish {
        events_info = allow_atomic_publish(broker, events_info).await;
    }
    let (checkpoint_info, checkpoints_created) = ensure_stream(broker, checkpoints).await?;
    Ok(LedgerStreams {
        atomic_publish: events_info.config.allow_atomic_publish,
        events_stream: events_info.config.name.clone(),
        checkpoint_stream: checkpoint_info.config.name.clone(),
        events_created,
        checkpoints_created,
        events_info,
        checkpoint_info,
    })
}

/// Creates the stream, or checks the existing one against `wanted`. Returns
/// the stream's info and whether it was created.
pub async fn ensure_stream(broker: &Broker, wanted: Config) -> Result<(jetstream::stream::Info, bool), NatsError> {
    let js = broker.js();
    let name = wanted.name.clone();
    if let Some(info) = existing_stream_info(js, &name).await? {
        check_stream_config(&wanted, &info.config)?;
        return Ok((info, false));
    }
    match js.create_stream(wanted.clone()).await {
        Ok(mut stream) => {
            let info = stream.info().await.map_err(|err| NatsError::jetstream(format!("stream info for {name}"), err))?.clone();
            // create_stream also succeeds when an identical stream appeared
            // meanwhile; check what the server has in either case.
            check_stream_config(&wanted, &info.config)?;
            tracing::info!(stream = %name, replicas = wanted.num_replicas, "created ledger stream");
            Ok((info, true))
        }
        Err(err) => {
            // Another process may have created it with different settings
            // between our lookup and our create: report the difference.
            if let CreateStreamErrorKind::JetStream(_) = err.kind() {
                if let Some(info) = existing_stream_info(js, &name).await? {
                    check_stream_config(&wanted, &info.config)?;
                    return Ok((info, false));
                }
            }
            Err(NatsError::jetstream(format!("create stream {name}"), err))
        }
    }
}

/// Sets `allow_atomic` on an existing stream and returns its new info; if
/// the server refuses (no right to update streams, ...), logs why and
/// returns the info unchanged, and appends stay pipelined-fenced.
pub async fn allow_atomic_publish(broker: &Broker, info: jetstream::stream::Info) -> jetstream::stream::Info {
    let js = broker.js();
    let mut config = info.config.clone();
    config.allow_atomic_publish = true;
    match js.update_stream(config).await {
        Ok(updated) if updated.config.allow_atomic_publish => {
            tracing::info!(stream = %info.config.name, "allowed atomic batch publish on the existing stream");
            updated
        }
        Ok(_) => {
            tracing::warn!(stream = %info.config.name, "the server kept allow_atomic off; appends stay pipelined-fenced");
            info
        }
        Err(error) => {
            tracing::warn!(stream = %info.config.name, %error, "could not allow atomic batch publish on the existing stream; appends stay pipelined-fenced");
            info
        }
    }
}

async fn existing_stream_info(js: &jetstream::Context, name: &str) -> Result<Option<jetstream::stream::Info>, NatsError> {
    match js.get_stream(name).await {
        Ok(stream) => Ok(Some(stream.cached_info().clone())),
        Err(err) => match err.kind() {
            GetStreamErrorKind::JetStream(api) if api.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND => Ok(None),
            _ => Err(NatsError::jetstream(format!("stream info for {name}"), err)),
        },
    }
}

/// Compares an existing stream's configuration with the required one.
pub fn check_stream_config(wanted: &Config, found: &Config) -> Result<(), NatsError> {
    let mismatch = |setting: &'static str, expected: String, found: String| {
        Err(NatsError::StreamSettingMismatch { stream: wanted.name.clone(), setting, expected, found })
    };
    if found.storage != wanted.storage {
        return mismatch("storage", format!("{:?}", wanted.storage), format!("{:?}", found.storage));
    }
    if found.retention != wanted.retention {
        return mismatch("retention", format!("{:?}", wanted.retention), format!("{:?}", found.retention));
    }
    let mut wanted_subjects = wanted.subjects.clone();
    let mut found_subjects = found.subjects.clone();
    wanted_subjects.sort();
    found_subjects.sort();
    if found_subjects != wanted_subjects {
        return mismatch("subjects", format!("{wanted_subjects:?}"), format!("{found_subjects:?}"));
    }
    for (setting, want, have) in [
        ("deny_delete", wanted.deny_delete, found.deny_delete),
        ("deny_purge", wanted.deny_purge, found.deny_purge),
        ("allow_rollup_hdrs", wanted.allow_rollup, found.allow_rollup),
        ("sealed", wanted.sealed, found.sealed),
    ] {
        if want != have {
            return mismatch(setting, want.to_string(), have.to_string());
        }
    }
    for (setting, have) in [("max_msgs", found.max_messages), ("max_bytes", found.max_bytes), ("max_msgs_per_subject", found.max_messages_per_subject)] {
        if have > 0 {
            return mismatch(setting, "unlimited (-1)".to_string(), have.to_string());
        }
    }
    if !found.max_age.is_zero() {
        return mismatch("max_age", "unlimited (0)".to_string(), format!("{:?}", found.max_age));
    }
    if found.discard != wanted.discard {
        return mismatch("discard", format!("{:?}", wanted.discard), format!("{:?}", found.discard));
    }
    if found.mirror.is_some() {
        return mismatch("mirror", "none".to_string(), "a mirror of another stream".to_string());
    }
    if found.num_replicas < wanted.num_replicas {
        return mismatch("num_replicas", format!("at least {}", wanted.num_replicas), found.num_replicas.to_string());
    }
    if found.num_replicas > wanted.num_replicas {
        tracing::warn!(
            stream = %wanted.name,
            requested = wanted.num_replicas,
            found = found.num_replicas,
            "ledger stream has more replicas than requested; keeping them"
        );
    }
    if found.duplicate_window != wanted.duplicate_window {
        tracing::warn!(
            stream = %wanted.name,
            requested_ms = wanted.duplicate_window.as_millis() as u64,
            found_ms = found.duplicate_window.as_millis() as u64,
            "ledger stream has a different duplicate window; keeping it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Config {
        ledger_stream_config("FUNDLEDGER_HK".into(), vec!["fl.hk.ev.>".into()], "test".into(), &StreamSettings::default())
    }

    fn setting_of(result: Result<(), NatsError>) -> Option<&'static str> {
        match result {
            Err(NatsError::StreamSettingMismatch { setting, .. }) => Some(setting),
            _ => None,
        }
    }

    #[test]
    fn the_required_config_is_append_only() {
        let config = wanted();
        assert_eq!(config.storage, StorageType::File);
        assert!(config.deny_delete && config.deny_purge && !config.allow_rollup);
        assert_eq!(config.discard, DiscardPolicy::Old);
        assert_eq!((config.max_messages, config.max_bytes), (-1, -1));
        assert!(config.max_age.is_zero());
        assert!(check_stream_config(&config, &config).is_ok());
    }

    type Change = Box<dyn Fn(&mut Config)>;

    #[test]
    fn each_critical_difference_is_named() {
        let base = wanted();
        let cases: Vec<(&str, Change)> = vec![
            ("storage", Box::new(|c| c.storage = StorageType::Memory)),
            ("retention", Box::new(|c| c.retention = RetentionPolicy::WorkQueue)),
            ("subjects", Box::new(|c| c.subjects = vec!["fl.hk.>".into()])),
            ("deny_delete", Box::new(|c| c.deny_delete = false)),
            ("deny_purge", Box::new(|c| c.deny_purge = false)),
            ("allow_rollup_hdrs", Box::new(|c| c.allow_rollup = true)),
            ("sealed", Box::new(|c| c.sealed = true)),
            ("max_msgs", Box::new(|c| c.max_messages = 10)),
            ("max_bytes", Box::new(|c| c.max_bytes = 10)),
            ("max_msgs_per_subject", Box::new(|c| c.max_messages_per_subject = 1)),
            ("max_age", Box::new(|c| c.max_age = Duration::from_secs(60))),
            ("discard", Box::new(|c| c.discard = DiscardPolicy::New)),
            ("num_replicas", Box::new(|c| c.num_replicas = 0)),
        ];
        for (setting, change) in cases {
            let mut found = base.clone();
            change(&mut found);
            assert_eq!(setting_of(check_stream_config(&base, &found)), Some(setting));
        }
    }

    #[test]
    fn atomic_publish_needs_2_12() {
        for (version, supported) in [
            ("2.9.10", false),
            ("2.11.4", false),
            ("2.12.0", true),
            ("2.15.1", true),
            ("v2.14.0-beta.1", true),
            ("3.0.0", true),
            ("", false),
            ("garbage", false),
        ] {
            assert_eq!(version_supports_atomic_publish(version), supported, "{version}");
        }
    }

    #[test]
    fn tolerated_differences_pass() {
        let base = wanted();
        let mut found = base.clone();
        found.num_replicas = 3;
        found.duplicate_window = Duration::from_secs(1);
        found.subjects = base.subjects.iter().rev().cloned().collect();
        found.max_messages = 0;
        assert!(check_stream_config(&base, &found).is_ok());
    }
}
