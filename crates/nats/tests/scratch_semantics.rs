use async_nats::jetstream::{self, context::Publish};
use fundledger_nats::*;

async fn pubm(js: &jetstream::Context, p: Publish) -> String {
    match js.send_publish("fl.t.ev.x", p).await {
        Ok(f) => match f.await {
            Ok(ack) => format!("ok seq={} dup={}", ack.sequence, ack.duplicate),
            Err(e) => format!("err kind={:?} {e} src={:?}", e.kind(), std::error::Error::source(&e).map(|s| s.to_string())),
        },
        Err(e) => format!("send err {e}"),
    }
}

#[tokio::test]
async fn scratch() -> anyhow::Result<()> {
    let server = EmbeddedNats::start(EmbeddedOptions::default()).await?;
    let client = async_nats::connect(server.url()).await?;
    let js = jetstream::new(client);
    js.create_stream(jetstream::stream::Config { name: "T".into(), subjects: vec!["fl.t.ev.>".into()], ..Default::default() }).await?;
    // empty stream, expected last seq 0
    println!("A exp0 on empty: {}", pubm(&js, Publish::build().payload("a".into()).expected_last_sequence(0).message_id("a")).await);
    println!("B exp0 on len1: {}", pubm(&js, Publish::build().payload("b".into()).expected_last_sequence(0).message_id("b")).await);
    println!("C exp last msg id a (last is b?): {}", pubm(&js, Publish::build().payload("c".into()).expected_last_message_id("a").message_id("c")).await);
    let last = js.get_stream("T").await?.cached_info().state.last_sequence;
    println!("last={last}");
    println!("D msgid chain from last: {}", pubm(&js, Publish::build().payload("d".into()).expected_last_sequence(last).expected_last_message_id("b").message_id("d")).await);
    println!("E no msgid: {}", pubm(&js, Publish::build().payload("e".into())).await);
    let last = js.get_stream("T").await?.cached_info().state.last_sequence;
    println!("F exp last msg id d after e(no id): {}", pubm(&js, Publish::build().payload("f".into()).expected_last_sequence(last).expected_last_message_id("d").message_id("f")).await);
    println!("G dup id a with stale seq: {}", pubm(&js, Publish::build().payload("g".into()).expected_last_sequence(1).message_id("a")).await);
    println!("H exp last subj seq 0: {}", pubm(&js, Publish::build().payload("h".into()).expected_last_subject_sequence(0).message_id("h")).await);
    // pipelined chain test: send 3 pipelined where a foreign one interleaves
    let last = js.get_stream("T").await?.cached_info().state.last_sequence;
    let f1 = js.send_publish("fl.t.ev.x", Publish::build().payload("p1".into()).expected_last_sequence(last).message_id("p1")).await?;
    let fx = js.send_publish("fl.t.ev.x", Publish::build().payload("x".into()).expected_last_sequence(last+1).message_id("x")).await?;
    let f2 = js.send_publish("fl.t.ev.x", Publish::build().payload("p2".into()).expected_last_sequence(last+1).expected_last_message_id("p1").message_id("p2")).await?;
    let f3 = js.send_publish("fl.t.ev.x", Publish::build().payload("p3".into()).expected_last_sequence(last+2).expected_last_message_id("p2").message_id("p3")).await?;
    let f4 = js.send_publish("fl.t.ev.x", Publish::build().payload("p4".into()).expected_last_sequence(last+2).message_id("p4")).await?;
    println!("p1 {:?}", f1.await.map(|a| a.sequence));
    println!("x {:?}", fx.await.map(|a| a.sequence));
    println!("p2 {:?}", f2.await.map(|a| a.sequence).map_err(|e| e.kind()));
    println!("p3 {:?}", f3.await.map(|a| a.sequence).map_err(|e| e.kind()));
    println!("p4 (seq-only, would be a hole) {:?}", f4.await.map(|a| a.sequence).map_err(|e| e.kind()));
    Ok(())
}
