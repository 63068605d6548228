//! The embedded nats-server: start-up, failure reporting, kill/stop/restart
//! keeping the data, and no server or temp dir left behind.

mod common;

use std::path::PathBuf;

use common::{bounded, messages, server_with_ledger};
use fundledger_nats::{read_from, AppendError, Appender, Broker, EmbeddedNats, EmbeddedOptions, NatsError};
use futures::TryStreamExt as _;

fn process_exists(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn kill_and_restart_keep_the_data() -> anyhow::Result<()> {
    let (mut server, js, streams) = server_with_ledger("hk").await?;
    let url = server.url();
    let appender = Appender::new(js, &streams.events_stream);
    let batch = messages("hk", "a", 1_000)?;
    appender.append_batch(1, &batch).await?;

    let pid = server.pid().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    server.kill();
    assert!(!server.is_running());
    assert!(!process_exists(pid), "the killed server must be reaped");
    assert!(Broker::connect(&url).await.is_err(), "nothing listens after a kill");

    server.restart().await?;
    assert_eq!(server.url(), url, "a restart keeps the port");
    let js = Broker::connect(&url).await?;
    let appender = Appender::new(js.clone(), &streams.events_stream);
    assert_eq!(bounded("tail", appender.last_sequence()).await??, 1_000);
    let replayed: Vec<_> = bounded("replay", read_from(&js, &streams.events_stream, None, 1).await?.try_collect::<Vec<_>>()).await??;
    assert_eq!(replayed.len(), 1_000);
    assert!(replayed.iter().zip(&batch).all(|(s, m)| s.payload == m.payload && s.subject == m.subject));
    // Appending continues at the next sequence, and the de-duplication window
    // survived the crash: an id stored before it is not stored again at the
    // tail (a check every supported release makes before storing).
    let more = messages("hk", "b", 10)?;
    assert_eq!(appender.append_batch(1_001, &more).await?.len(), 10);
    match appender.append_batch(1_011, &batch[..1]).await {
        Err(AppendError::Duplicate { sequence: 1, expected_sequence: 1_011, acknowledged: 0, .. }) => {}
        other => panic!("expected the id stored at 1 to be a duplicate, got {other:?}"),
    }

    // A graceful stop and restart keep the data too.
    server.stop().await?;
    assert!(!server.is_running());
    server.restart().await?;
    let appender = Appender::new(Broker::connect(&url).await?, &streams.events_stream);
    assert_eq!(bounded("tail", appender.last_sequence()).await??, 1_010);
    Ok(())
}

#[tokio::test]
async fn drop_kills_the_server_and_removes_its_temporary_dir() -> anyhow::Result<()> {
    let server = EmbeddedNats::start(EmbeddedOptions::default()).await?;
    let pid = server.pid().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    let dir = server.data_dir().to_path_buf();
    assert!(dir.join("nats-server.conf").is_file());
    assert!(server.log_path().is_file());
    assert!(process_exists(pid));
    drop(server);
    assert!(!process_exists(pid), "the server outlived its handle");
    assert!(!dir.exists(), "the temporary data dir outlived its handle");
    Ok(())
}

#[tokio::test]
async fn a_given_data_dir_and_port_are_used_and_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("nats");
    let port = fundledger_nats::embedded::free_loopback_port()?;
    {
        let server = EmbeddedNats::start(EmbeddedOptions { data_dir: Some(data_dir.clone()), port: Some(port), ..EmbeddedOptions::default() }).await?;
        assert_eq!(server.url(), format!("nats://127.0.0.1:{port}"));
        let js = Broker::connect(&server.url()).await?;
        fundledger_nats::ensure_ledger_streams(&js, "keep", &Default::default()).await?;
    }
    assert!(data_dir.join("jetstream").is_dir(), "a caller's data dir is not deleted");
    // A new server on the same dir finds the stream.
    let server = EmbeddedNats::start(EmbeddedOptions { data_dir: Some(data_dir.clone()), ..EmbeddedOptions::default() }).await?;
    let js = Broker::connect(&server.url()).await?;
    let found = fundledger_nats::ensure_ledger_streams(&js, "keep", &Default::default()).await?;
    assert!(!found.events_created);
    Ok(())
}

#[tokio::test]
async fn start_up_failures_are_explained() -> anyhow::Result<()> {
    // A broken config: the error says the server exited and shows its log.
    let err = EmbeddedNats::start(EmbeddedOptions { extra_config: "this is { not valid".into(), ..EmbeddedOptions::default() }).await;
    match err {
        Err(NatsError::ServerExited { log_tail, .. }) => {
            assert!(log_tail.contains("Parse error"), "log tail: {log_tail}");
        }
        other => panic!("expected ServerExited, got {other:?}"),
    }
    // A missing binary.
    let err = EmbeddedNats::start(EmbeddedOptions { server_binary: Some("/nonexistent/nats-server".into()), ..EmbeddedOptions::default() }).await;
    match err {
        Err(err @ NatsError::Io { .. }) => assert!(err.to_string().contains("spawn nats-server")),
        other => panic!("expected a spawn error, got {other:?}"),
    }
    // A port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let err = EmbeddedNats::start(EmbeddedOptions { port: Some(port), ..EmbeddedOptions::default() }).await;
    match err {
        Err(NatsError::ServerExited { log_tail, .. }) => {
            assert!(log_tail.contains("address already in use"), "log tail: {log_tail}");
        }
        other => panic!("expected ServerExited for a taken port, got {other:?}"),
    }
    Ok(())
}

#[test]
fn the_missing_binary_message_says_how_to_install_it() {
    let message = NatsError::ServerBinaryNotFound { tried: "x".into() }.to_string();
    assert!(message.contains("scripts/setup"), "{message}");
    assert!(message.contains("apt-get install nats-server"), "{message}");
    assert!(message.contains("FUNDLEDGER_NATS_SERVER"), "{message}");
}
