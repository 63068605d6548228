//! The ledger streams are created append-only and the server enforces it; an
//! existing stream with weaker settings is refused, not changed.

mod common;

use async_nats::jetstream::stream::{Config, StorageType};
use bytes::Bytes;
use common::{bounded, server_with_ledger};
use fundledger_nats::{ensure_ledger_streams, Broker, EmbeddedNats, EmbeddedOptions, NatsError, StreamSettings};

#[tokio::test]
async fn ensure_creates_append_only_streams_that_refuse_delete_and_purge() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk-gov").await?;
    assert_eq!(streams.events_stream, "FUNDLEDGER_HK_GOV");
    assert_eq!(streams.checkpoint_stream, "FUNDLEDGER_HK_GOV_CHECKPOINTS");
    assert!(streams.events_created && streams.checkpoints_created);

    for (name, subjects) in [
        ("FUNDLEDGER_HK_GOV", vec!["fl.hk-gov.ev.>".to_string()]),
        ("FUNDLEDGER_HK_GOV_CHECKPOINTS", vec!["fl.hk-gov.checkpoint".to_string(), "fl.hk-gov.witness.*".to_string()]),
    ] {
        let mut stream = js.raw_jetstream().get_stream(name).await?;
        let config = stream.info().await?.config.clone();
        assert_eq!(config.storage, StorageType::File, "{name}");
        assert!(config.deny_delete && config.deny_purge, "{name}");
        assert!(!config.allow_rollup, "{name}");
        assert_eq!(config.subjects, subjects, "{name}");
        assert!(config.max_messages <= 0 && config.max_bytes <= 0 && config.max_age.is_zero());
    }

    // The server itself refuses to delete or purge.
    let ack = js.raw_jetstream().publish("fl.hk-gov.ev.ledger.hk-gov.ledger.opened", Bytes::from_static(b"genesis")).await?.await?;
    assert_eq!(ack.sequence, 1);
    let stream = js.raw_jetstream().get_stream("FUNDLEDGER_HK_GOV").await?;
    let refused = |what: &str, result: Result<String, String>| match result {
        Err(message) => assert!(message.contains("not permitted"), "{what} refused for another reason: {message}"),
        Ok(ok) => panic!("{what} must be refused, got {ok}"),
    };
    let delete = bounded("delete", stream.delete_message(1)).await?;
    refused("delete", delete.map(|r| format!("{r:?}")).map_err(|e| e.to_string()));
    let purge = bounded("purge", stream.purge()).await?;
    refused("purge", purge.map(|r| format!("{r:?}")).map_err(|e| e.to_string()));
    let purge = bounded("purge subject", stream.purge().filter("fl.hk-gov.ev.>")).await?;
    refused("filtered purge", purge.map(|r| format!("{r:?}")).map_err(|e| e.to_string()));
    let checkpoints = js.raw_jetstream().get_stream("FUNDLEDGER_HK_GOV_CHECKPOINTS").await?;
    let purge = bounded("purge", checkpoints.purge()).await?;
    refused("checkpoint purge", purge.map(|r| format!("{r:?}")).map_err(|e| e.to_string()));
    let state = js.raw_jetstream().get_stream("FUNDLEDGER_HK_GOV").await?.cached_info().state.clone();
    assert_eq!((state.messages, state.last_sequence), (1, 1));

    // A second ensure finds them and changes nothing.
    let again = ensure_ledger_streams(&js, "hk-gov", &StreamSettings::default()).await?;
    assert!(!again.events_created && !again.checkpoints_created);
    assert_eq!(again.events_info.state.last_sequence, 1);
    Ok(())
}

type Change = Box<dyn Fn(&mut Config)>;

#[tokio::test]
async fn ensure_refuses_existing_streams_with_weaker_settings() -> anyhow::Result<()> {
    let server = EmbeddedNats::start(EmbeddedOptions::default()).await?;
    let js = Broker::connect(&server.url()).await?;

    let cases: [(&str, Change, &str); 4] = [
        ("a", Box::new(|c| c.deny_delete = false), "deny_delete"),
        ("b", Box::new(|c| c.deny_purge = false), "deny_purge"),
        ("c", Box::new(|c| c.storage = StorageType::Memory), "storage"),
        ("d", Box::new(|c| c.subjects = vec!["fl.d.ev.fund.>".into()]), "subjects"),
    ];
    for (ledger, weaken, setting) in cases {
        let mut config = fundledger_nats::streams::ledger_stream_config(
            fundledger_nats::stream_name(ledger)?,
            vec![fundledger_nats::ledger_events_filter(ledger)?],
            "pre-existing".into(),
            &StreamSettings::default(),
        );
        weaken(&mut config);
        js.raw_jetstream().create_stream(config.clone()).await?;
        match ensure_ledger_streams(&js, ledger, &StreamSettings::default()).await {
            Err(NatsError::StreamSettingMismatch { setting: found, stream, .. }) => {
                assert_eq!(found, setting);
                assert_eq!(stream, fundledger_nats::stream_name(ledger)?);
            }
            other => panic!("ledger {ledger}: expected a {setting} mismatch, got {other:?}"),
        }
        // Nothing was changed.
        let mut stream = js.raw_jetstream().get_stream(&config.name).await?;
        let now = stream.info().await?.config.clone();
        assert_eq!(
            (now.deny_delete, now.deny_purge, now.storage, now.subjects.clone()),
            (config.deny_delete, config.deny_purge, config.storage, config.subjects.clone())
        );
    }
    Ok(())
}

#[tokio::test]
async fn ensure_refuses_fewer_replicas_than_requested() -> anyhow::Result<()> {
    let (_server, js, _) = server_with_ledger("r").await?;
    let settings = StreamSettings { replicas: 3, ..StreamSettings::default() };
    match ensure_ledger_streams(&js, "r", &settings).await {
        Err(NatsError::StreamSettingMismatch { setting, .. }) => {
            assert_eq!(setting, "num_replicas")
        }
        other => panic!("expected a num_replicas mismatch, got {other:?}"),
    }
    Ok(())
}
