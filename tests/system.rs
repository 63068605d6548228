//! System tests: real nats-server processes on random loopback ports, real
//! RocksDB directories, the real writer and the real `fundledger` binary.
//! One test binary with modules (as ripgrep does) keeps link time down.

mod audit;
mod cli;
mod cluster_drill;
mod faults;
mod http_limits;
mod ops;
mod projector;
mod rollback;
mod security;
mod shutdown;
mod subscriber;
mod writer;
