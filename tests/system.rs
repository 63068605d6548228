//! System tests: real nats-server processes, the real writer and CLI.
