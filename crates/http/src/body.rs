//! A request body with one deadline for all of it: a client that sends 10
//! bytes of a 1,000-byte body and stops gets an error when the deadline
//! passes, however slowly it trickles (a per-frame timeout would not).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::registry::Receiving;

/// The body did not arrive within the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0} ms")]
pub struct BodyTimeout(pub u64);

/// Whether `error`, or anything it was caused by, is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<BodyTimeout>() {
            return true;
        }
        current = error.source();
    }
    false
}

pub(crate) struct DeadlineBody<B> {
    inner: Pin<Box<B>>,
    deadline: Pin<Box<Sleep>>,
    timeout_ms: u64,
    /// Marks the connection as waiting for this body until it has all
    /// arrived (or failed), which makes it evictable at the connection cap.
    receiving: Option<Receiving>,
}

impl<B> DeadlineBody<B> {
    pub(crate) fn new(inner: B, timeout: std::time::Duration, receiving: Option<Receiving>) -> Self {
        let deadline = Box::pin(tokio::time::sleep_until(Instant::now() + timeout));
        DeadlineBody { inner: Box::pin(inner), deadline, timeout_ms: timeout.as_millis() as u64, receiving }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = self.inner.as_mut().poll_frame(cx) {
            if !matches!(frame, Some(Ok(_))) || self.inner.is_end_stream() {
                self.receiving = None;
            }
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.receiving = None;
                Poll::Ready(Some(Err(Box::new(BodyTimeout(self.timeout_ms)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

use std::future::Future;
