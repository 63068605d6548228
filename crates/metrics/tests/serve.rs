//! In a test binary of its own: nothing else in this process installs the
//! recorder first, so the test sees whether `serve` does.

use std::time::Duration;

/// A count made after `serve` is called but before its future first runs is kept.
#[tokio::test]
async fn counts_made_before_the_server_first_runs_are_served() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    let server = fundledger_metrics::serve(listener);
    // The server has not run yet; the process counts meanwhile.
    fundledger_metrics::metrics::counter!("fundledger_test_early_total").increment(12);
    let task = tokio::spawn(server);
    let text = tokio::time::timeout(Duration::from_secs(10), scrape(address)).await.expect("an answer within 10 s");
    assert!(text.contains("fundledger_test_early_total 12"), "{text}");
    task.abort();
}

/// `GET /metrics` over a plain TCP connection (HTTP/1.0: the server closes after answering).
async fn scrape(address: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connects");
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").await.expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("reads");
    assert!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
}
