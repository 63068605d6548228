//! The open connections of one port: how many, which are idle (no request
//! under way) or only waiting for request bodies, and when each last moved a
//! byte, so that a port at its cap, or out of file descriptors, can close the
//! least recently active idle one, else the least recently active one that
//! is only trickling a body in (a slow client must not hold a slot for the
//! whole body timeout while others wait).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// What one connection shares with the registry and its service.
pub(crate) struct Connection {
    /// Requests under way.
    pub(crate) in_flight: AtomicUsize,
    /// Requests under way whose body has not all arrived.
    pub(crate) receiving: AtomicUsize,
    /// Milliseconds since the registry's epoch of the last byte moved.
    last_active_ms: AtomicU64,
    epoch: Instant,
    /// Notified to close the connection at once.
    pub(crate) evict: Notify,
}

impl Connection {
    pub(crate) fn touch(&self) {
        self.last_active_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since a byte moved.
    pub(crate) fn quiet_for(&self) -> std::time::Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        std::time::Duration::from_millis(now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)))
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Every request under way is still waiting for its body: nothing is
    /// being worked on for this client.
    fn is_only_receiving(&self) -> bool {
        let in_flight = self.in_flight.load(Ordering::SeqCst);
        in_flight > 0 && self.receiving.load(Ordering::SeqCst) >= in_flight
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    epoch: Option<Instant>,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry { epoch: Some(Instant::now()), ..Registry::default() }
    }

    pub(crate) fn len(&self) -> usize {
        self.open.lock().map(|open| open.len()).unwrap_or(0)
    }

    /// Registers a new connection; it is removed when the returned guard drops.
    pub(crate) fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            in_flight: AtomicUsize::new(0),
            receiving: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            epoch: self.epoch.unwrap_or_else(Instant::now),
            evict: Notify::new(),
        });
        connection.touch();
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, connection.clone());
        }
        Registered { registry: self.clone(), id, connection }
    }

    /// Closes the least recently active idle connection, else the least
    /// recently active one only waiting for request bodies; false if every
    /// connection has a request being worked on.
    pub(crate) fn evict_one(&self) -> bool {
        let Ok(mut open) = self.open.lock() else { return false };
        let quietest = |only: fn(&Connection) -> bool| {
            open.iter().filter(|(_, connection)| only(connection)).max_by_key(|(_, connection)| connection.quiet_for()).map(|(id, _)| *id)
        };
        let chosen = quietest(Connection::is_idle).or_else(|| quietest(Connection::is_only_receiving));
        match chosen.and_then(|id| open.remove(&id)) {
            Some(connection) => {
                connection.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Counts a request whose body is still arriving while alive.
pub(crate) struct Receiving(Arc<Connection>);

impl Receiving {
    pub(crate) fn new(connection: Arc<Connection>) -> Receiving {
        connection.receiving.fetch_add(1, Ordering::SeqCst);
        Receiving(connection)
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.0.receiving.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) struct Registered {
    registry: Arc<Registry>,
    id: u64,
    pub(crate) connection: Arc<Connection>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut open) = self.registry.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// A stream that records when it last moved a byte.
pub(crate) struct TrackedIo<T> {
    pub(crate) inner: T,
    pub(crate) connection: Arc<Connection>,
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.connection.touch();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.connection.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
