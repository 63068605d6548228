//! The HTTP hardening both fundledger ports share (the writer's API and the
//! query API). A crate of its own, named for its job, because neither service
//! crate should depend on the other and `fundledger-metrics` is about
//! metrics; both ports must fail the same way under the same abuse.
//!
//! What it guards against, and how:
//! - a client that sends nothing or half a header block: hyper's header read
//!   timeout ([`HEADER_READ_TIMEOUT_MS`]), and an idle timeout
//!   ([`IDLE_TIMEOUT_MS`]) for a connection with no request under way;
//! - a client that sends part of a body: one deadline for the whole body
//!   ([`BODY_READ_TIMEOUT_MS`]), answered 408;
//! - many connections: a cap per port ([`CONNECTIONS_MAX`], lowered to a
//!   share of the process's file limit); a connection over the cap closes the
//!   least recently active idle one, so `/healthz` still gets in; running out
//!   of file descriptors (EMFILE) does the same and backs off instead of spinning;
//! - one client sending too much: a token bucket per IP address
//!   ([`REQUESTS_PER_SECOND_PER_CLIENT`], [`REQUESTS_BURST_PER_CLIENT`]), 429;
//! - eavesdropping: TLS with rustls from PEM files ([`tls`]);
//! - browsers: no CORS headers unless origins are configured;
//! - `/metrics`: optionally behind a bearer token or on its own listener.

mod body;
mod limits;
mod rate;
mod registry;
mod serve;
pub mod tls;

pub mod openapi;

pub use body::{is_body_timeout, BodyTimeout};
pub use limits::*;
pub use serve::{serve, serve_until};
