//! A TCP proxy in front of a real nats-server that can hold a client's
//! publishes in limbo and deliver them late.
//!
//! Why: in a cluster, a publish whose ack never came (the stream leader
//! changed under it) can still be stored later, after the writer gave up on
//! it, re-read the stream and planned the batch again. That race is rare and
//! timing-bound in a real cluster; this proxy makes it exact. It parses the
//! client-to-server half of the NATS protocol into frames (`PUB`/`HPUB` with
//! their payloads, other commands line by line), keeps the first `count`
//! `HPUB` frames on a subject prefix instead of forwarding them, and forwards
//! them just before the next such frame, i.e. right before the retry. The
//! server-to-client half is copied unchanged.
//!
//! It also stages a rival writer (docs/ARCHITECTURE.md, step 5): some
//! publishes of writer A are held ([`LimboProxy::hold_after`]) while a
//! client gives up on A and resubmits to writer B, and are delivered only
//! when the test says so ([`LimboProxy::release`]), after B appended.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with matching publishes.
#[derive(Debug, Default)]
enum Limbo {
    /// Forward everything.
    #[default]
    Open,
    /// Forward `skip` matching frames, then keep the next `count`.
    Holding { prefix: String, skip: usize, count: usize, frames: Vec<Vec<u8>>, auto_release: bool },
    /// All held; with `auto_release` the next matching frame releases them
    /// ahead of itself, else they wait for [`LimboProxy::release`].
    Held { prefix: String, frames: Vec<Vec<u8>>, auto_release: bool },
    /// The held frames were delivered (how many).
    Released(usize),
}

/// A proxy listening on a loopback port; stops with the test process.
pub struct LimboProxy {
    address: SocketAddr,
    upstream: String,
    limbo: Arc<Mutex<Limbo>>,
}

impl LimboProxy {
    /// Proxies to the nats-server at `upstream` (`nats://host:port`).
    pub async fn start(upstream: &str) -> LimboProxy {
        let upstream = upstream.trim_start_matches("nats://").to_string();
        let upstream_address = upstream.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("the proxy binds a loopback port");
        let address = listener.local_addr().expect("bound address");
        let limbo = Arc::new(Mutex::new(Limbo::Open));
        let shared = limbo.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = match TcpStream::connect(&upstream).await {
                    Ok(server) => server,
                    Err(_) => continue,
                };
                let (client_read, mut client_write) = client.into_split();
                let (mut server_read, server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                tokio::spawn(forward_client(client_read, server_write, shared.clone()));
            }
        });
        LimboProxy { address, upstream: upstream_address, limbo }
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("nats://{}", self.address)
    }

    /// Holds the next `count` publishes with headers whose subject starts
    /// with `prefix`, and delivers them just before the one after them.
    pub fn hold_next(&self, prefix: &str, count: usize) {
        assert!(count > 0, "hold at least one publish");
        *self.lock() = Limbo::Holding { prefix: prefix.to_string(), skip: 0, count, frames: Vec::new(), auto_release: true };
    }

    /// Lets the next `skip` publishes with headers whose subject starts with
    /// `prefix` through, holds the `count` after them, and lets everything
    /// else through until [`LimboProxy::release`].
    pub fn hold_after(&self, prefix: &str, skip: usize, count: usize) {
        assert!(count > 0, "hold at least one publish");
        *self.lock() = Limbo::Holding { prefix: prefix.to_string(), skip, count, frames: Vec::new(), auto_release: false };
    }

    /// Delivers the held publishes now, in order, on a connection of their
    /// own (their acks still reach the client that sent them: they go to its
    /// reply subjects), and returns how many there were.
    pub async fn release(&self) -> usize {
        let frames = match std::mem::take(&mut *self.lock()) {
            Limbo::Holding { frames, .. } | Limbo::Held { frames, .. } => frames,
            other => {
                *self.lock() = other;
                Vec::new()
            }
        };
        *self.lock() = Limbo::Released(frames.len());
        let mut server = TcpStream::connect(&self.upstream).await.expect("the proxy reaches the nats-server");
        let mut line = Vec::new();
        read_until_line_with(&mut server, &mut line, b"INFO").await;
        let mut out = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}\r\n".to_vec();
        for frame in &frames {
            out.extend_from_slice(frame);
        }
        out.extend_from_slice(b"PING\r\n");
        server.write_all(&out).await.expect("the held publishes are delivered");
        read_until_line_with(&mut server, &mut line, b"PONG").await;
        frames.len()
    }

    /// Publishes held so far (0 once released).
    pub fn held(&self) -> usize {
        match &*self.lock() {
            Limbo::Holding { frames, .. } | Limbo::Held { frames, .. } => frames.len(),
            Limbo::Open | Limbo::Released(_) => 0,
        }
    }

    /// How many held publishes were delivered, once they were.
    pub fn released(&self) -> Option<usize> {
        match &*self.lock() {
            Limbo::Released(count) => Some(*count),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Limbo> {
        self.limbo.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Reads from `server` until a line starting with `prefix` arrived.
async fn read_until_line_with(server: &mut TcpStream, buffer: &mut Vec<u8>, prefix: &[u8]) {
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buffer.windows(2).position(|pair| pair == b"\r\n") {
            let found = buffer.starts_with(prefix);
            buffer.drain(..end + 2);
            if found {
                return;
            }
        }
        match server.read(&mut chunk).await {
            Ok(0) | Err(_) => panic!("the nats-server closed the proxy's release connection"),
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

/// Copies client frames to the server, holding and releasing per `limbo`.
async fn forward_client(mut client: tokio::net::tcp::OwnedReadHalf, mut server: tokio::net::tcp::OwnedWriteHalf, limbo: Arc<Mutex<Limbo>>) {
    let mut buffer: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        buffer.extend_from_slice(&chunk[..read]);
        let mut out: Vec<u8> = Vec::new();
        let mut start = 0;
        while let Some(length) = frame_length(&buffer[start..]) {
            let frame = &buffer[start..start + length];
            start += length;
            let mut limbo = limbo.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let matching = |prefix: &str| publish_subject(frame).is_some_and(|subject| subject.starts_with(prefix));
            match &mut *limbo {
                Limbo::Holding { prefix, skip, .. } if *skip > 0 && matching(prefix) => {
                    *skip -= 1;
                    out.extend_from_slice(frame);
                }
                Limbo::Holding { prefix, count, frames, auto_release, .. } if matching(prefix) => {
                    frames.push(frame.to_vec());
                    if frames.len() == *count {
                        *limbo = Limbo::Held { prefix: std::mem::take(prefix), frames: std::mem::take(frames), auto_release: *auto_release };
                    }
                }
                Limbo::Held { prefix, frames, auto_release: true } if matching(prefix) => {
                    for held in frames.iter() {
                        out.extend_from_slice(held);
                    }
                    out.extend_from_slice(frame);
                    *limbo = Limbo::Released(frames.len());
                }
                _ => out.extend_from_slice(frame),
            }
        }
        buffer.drain(..start);
        if !out.is_empty() && server.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// The first protocol line of `bytes` (without its CRLF) and where it ends
/// (after the CRLF), once the whole line is there.
fn first_line(bytes: &[u8]) -> Option<(&str, usize)> {
    let end = bytes.windows(2).position(|pair| pair == b"\r\n")?;
    Some((std::str::from_utf8(&bytes[..end]).ok()?, end + 2))
}

/// The length of the complete frame at the start of `bytes`, if it is all there.
fn frame_length(bytes: &[u8]) -> Option<usize> {
    let (line, line_end) = first_line(bytes)?;
    let mut words = line.split_ascii_whitespace();
    let verb = words.next().unwrap_or_default();
    let length = if verb.eq_ignore_ascii_case("PUB") || verb.eq_ignore_ascii_case("HPUB") {
        // PUB <subject> [reply] <bytes> / HPUB <subject> [reply] <header bytes> <total bytes>
        line_end + words.last()?.parse::<usize>().ok()? + 2
    } else {
        line_end
    };
    (bytes.len() >= length).then_some(length)
}

/// The subject of an `HPUB` frame (the writer's publishes carry headers).
fn publish_subject(frame: &[u8]) -> Option<&str> {
    let mut words = first_line(frame)?.0.split_ascii_whitespace();
    words.next().filter(|verb| verb.eq_ignore_ascii_case("HPUB"))?;
    words.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_at_their_declared_lengths() {
        assert_eq!(frame_length(b"PING\r\nPONG\r\n"), Some(6));
        assert_eq!(frame_length(b"PUB a.b 5\r\nhello\r\n"), Some(18));
        assert_eq!(frame_length(b"PUB a.b 5\r\nhel"), None);
        let hpub = b"HPUB a.b _INBOX.1 12 17\r\nNATS/1.0\r\n\r\nhello\r\n";
        assert_eq!(frame_length(hpub), Some(hpub.len()));
        assert_eq!(publish_subject(hpub), Some("a.b"));
        assert_eq!(publish_subject(b"PUB a.b 5\r\nhello\r\n"), None);
    }
}
