//! A 3-node JetStream cluster: an R3 ledger stream keeps taking appends when
//! its leader is killed, and the node catches up after a restart.

mod common;

use std::time::Duration;

use common::{bounded, messages};
use fundledger_nats::{ensure_ledger_streams, read_from, AppendError, Appender, Broker, EmbeddedCluster, OutgoingMessage, StreamSettings};
use futures::TryStreamExt as _;
use tokio::time::Instant;

/// Bound on appending one batch through a leader election.
const FAILOVER_TIMEOUT_MS: u64 = 20_000;
/// Bound on one tail request while a leader may be missing.
const TAIL_TIMEOUT_MS: u64 = 2_000;
/// Pause between attempts while the cluster elects a leader.
const RETRY_PAUSE_MS: u64 = 200;

/// Appends `batch` after `base` (the tail before the batch), retrying through
/// leader elections. As the only writer, the tail tells how much has landed.
async fn append_through_failover(appender: &Appender, base: u64, batch: &[OutgoingMessage]) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_millis(FAILOVER_TIMEOUT_MS);
    let mut retries = 0usize;
    loop {
        let tail = tokio::time::timeout(Duration::from_millis(TAIL_TIMEOUT_MS), appender.last_sequence())
            .await
            .map_err(anyhow::Error::from)
            .and_then(|tail| tail.map_err(anyhow::Error::from));
        let landed = match tail {
            Ok(tail) => (tail - base) as usize,
            Err(err) if Instant::now() < deadline => {
                eprintln!("tail unavailable: {err}");
                tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
                continue;
            }
            Err(err) => return Err(err),
        };
        if landed == batch.len() {
            return Ok(retries);
        }
        match appender.append_batch(base + 1 + landed as u64, &batch[landed..]).await {
            Ok(_) => return Ok(retries),
            Err(err @ (AppendError::Timeout { .. } | AppendError::Broker { .. })) if Instant::now() < deadline => {
                eprintln!("append interrupted: {err}");
                retries += 1;
                tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

async fn stream_leader(js: &Broker, stream: &str) -> anyhow::Result<Option<String>> {
    let mut handle = js.raw_jetstream().get_stream(stream).await?;
    let info = handle.info().await?;
    Ok(info.cluster.as_ref().and_then(|c| c.leader.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_r3_stream_keeps_appending_when_its_leader_dies() -> anyhow::Result<()> {
    let started = Instant::now();
    let mut cluster = EmbeddedCluster::start(3).await?;
    assert_eq!(cluster.urls().len(), 3);
    eprintln!("cluster ready after {:?}", started.elapsed());
    let js = Broker::connect(&cluster.url_list()).await?;
    let settings = StreamSettings { replicas: 3, ..StreamSettings::default() };
    let streams = bounded("ensure", ensure_ledger_streams(&js, "hk", &settings)).await??;
    assert_eq!(streams.events_info.config.num_replicas, 3);
    let appender = Appender::new(js.clone(), &streams.events_stream);

    let first = messages("hk", "a", 1_000)?;
    bounded("first append", append_through_failover(&appender, 0, &first)).await??;

    // Kill the node leading the stream.
    let leader = stream_leader(&js, &streams.events_stream).await?.ok_or_else(|| anyhow::anyhow!("the R3 stream has no leader"))?;
    let index: usize = leader.strip_prefix('n').and_then(|i| i.parse().ok()).ok_or_else(|| anyhow::anyhow!("unexpected server name {leader}"))?;
    eprintln!("first batch done after {:?}", started.elapsed());
    cluster.kill_node(index)?;

    let second = messages("hk", "b", 1_000)?;
    let retries = bounded("append after kill", append_through_failover(&appender, 1_000, &second)).await??;
    let new_leader = stream_leader(&js, &streams.events_stream).await?;
    assert!(new_leader.is_some() && new_leader != Some(leader.clone()), "leader {new_leader:?}");
    eprintln!("killed leader {leader}; appends resumed after {retries} retries on {new_leader:?}");

    eprintln!("second batch done after {:?}", started.elapsed());
    // Bring the node back; appends go on and the node catches up.
    cluster.restart_node(index).await?;
    let third = messages("hk", "c", 1_000)?;
    bounded("append after restart", append_through_failover(&appender, 2_000, &third)).await??;
    eprintln!("third batch done after {:?}", started.elapsed());
    let deadline = Instant::now() + Duration::from_millis(FAILOVER_TIMEOUT_MS);
    loop {
        let mut handle = js.raw_jetstream().get_stream(&streams.events_stream).await?;
        let info = handle.info().await?;
        let replicas = info.cluster.as_ref().map(|c| c.replicas.clone()).unwrap_or_default();
        let caught_up = replicas.len() == 2 && replicas.iter().all(|r| r.current && !r.offline);
        if caught_up {
            break;
        }
        assert!(Instant::now() < deadline, "restarted node never caught up: {replicas:?}");
        tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
    }

    // Exactly the three batches, in order, without gaps or duplicates.
    let replay = async {
        let messages = read_from(&js, &streams.events_stream, None, 1).await?;
        anyhow::Ok(messages.try_collect::<Vec<_>>().await?)
    };
    let replayed = match bounded("replay", replay).await.and_then(|r| r) {
        Ok(replayed) => replayed,
        Err(err) => {
            for i in 0..cluster.size() {
                eprintln!("--- log of node {i}:\n{}", cluster.node(i)?.log_tail());
            }
            return Err(err);
        }
    };
    eprintln!("replayed {} messages, last {:?}, tail {}", replayed.len(), replayed.last().map(|m| m.sequence), appender.last_sequence().await?);
    let expected: Vec<&OutgoingMessage> = first.iter().chain(&second).chain(&third).collect();
    assert_eq!(replayed.len(), expected.len());
    for (i, (stored, sent)) in replayed.iter().zip(&expected).enumerate() {
        assert_eq!(stored.sequence, i as u64 + 1);
        assert_eq!(stored.message_id.as_deref(), Some(sent.message_id.as_str()));
    }
    eprintln!("cluster test took {:?}", started.elapsed());
    Ok(())
}
