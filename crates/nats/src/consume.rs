//! A durable, acknowledged consumer of the ledger stream: how projectors
//! receive records live.
//!
//! Why durable and explicitly acknowledged: several projector instances
//! share one consumer (each gets part of the deliveries), and a record is
//! acknowledged only after the read models committed it, so a crash means a
//! redelivery (which the projector skips), never a gap.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::Message;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt as _};

use crate::client::Broker;
use crate::error::NatsError;

/// The durable consumer a projector asks for.
#[derive(Clone, Debug)]
pub struct DurableConsumer {
    /// The stream it reads.
    pub stream: String,
    /// Its durable name, shared by the instances that split the deliveries.
    pub name: String,
    pub description: String,
    /// Where a consumer created now starts (an existing one keeps its place).
    pub start_sequence: u64,
    /// How long a delivery may stay unacknowledged before it is redelivered.
    pub ack_wait: Duration,
    /// Deliveries outstanding at most.
    pub max_ack_pending: i64,
}

/// A record delivered to a durable consumer.
pub struct Delivery {
    /// Its stream sequence.
    pub seq: u64,
    pub payload: Bytes,
    /// Deliveries still pending on the consumer after this one.
    pub pending: u64,
    message: Message,
}

impl Delivery {
    /// Acknowledges it: it is not delivered again.
    pub async fn ack(&self) -> Result<(), NatsError> {
        self.message.ack().await.map_err(|error| NatsError::jetstream(format!("acknowledge record {}", self.seq), error))
    }
}

/// Deliveries in the order the server sends them.
pub type Deliveries = BoxStream<'static, Result<Delivery, NatsError>>;

impl DurableConsumer {
    /// Gets or creates the consumer and returns its deliveries.
    pub async fn deliveries(&self, broker: &Broker) -> Result<Deliveries, NatsError> {
        let operation = |what: &str| format!("{what} durable consumer {} on {}", self.name, self.stream);
        let stream = broker.js().get_stream(&self.stream).await.map_err(|error| NatsError::jetstream(operation("find the stream of"), error))?;
        let config = pull::Config {
            durable_name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: self.start_sequence },
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_ack_pending: self.max_ack_pending,
            ..pull::Config::default()
        };
        let consumer = stream.get_or_create_consumer(&self.name, config).await.map_err(|error| NatsError::jetstream(operation("create"), error))?;
        let messages = consumer.messages().await.map_err(|error| NatsError::jetstream(operation("read"), error))?;
        let name = self.name.clone();
        Ok(messages
            .map(move |item| {
                let message = item.map_err(|error| NatsError::jetstream(format!("durable consumer {name}"), error))?;
                let info = message.info().map_err(|error| NatsError::jetstream(format!("durable consumer {name}: delivery info"), error))?;
                let (seq, pending) = (info.stream_sequence, info.pending);
                Ok(Delivery { seq, payload: message.payload.clone(), pending, message })
            })
            .boxed())
    }
}
