#!/usr/bin/env python3
"""Reference reporting client for a fundledger ledger (docs/SUBSCRIBING.md).

    python3 examples/reporting_client.py --nats nats://127.0.0.1:4222 \
        --ledger hk --state report.state.json --out report.txt [--user reporting --password ...] [--exit-at-seq N]

Reads every record of ledger L from its JetStream stream FUNDLEDGER_<L>, in
order, verifies each one (record hash, FORMAT.md 7; chain link and sequence,
FORMAT.md 9) and applies it to its "view": one line appended to --out per
record, "<seq> <event id> <type>". It survives being killed at any moment
(SIGKILL included) with nothing lost and nothing applied twice:

* Its position is its own: --state (JSON, replaced atomically) holds the last
  applied seq, that record's hash and the length of --out after it. On start
  --out is cut back to that length (a line written after the last commit is
  dropped and written again) and reading starts at seq + 1.
* Records are applied strictly in order. A delivery at or below the saved seq
  is a redelivery: acked and skipped. A delivery beyond seq + 1 means earlier
  records are still out (unacked ones come back only after ack_wait, after
  newer ones): they are fetched from the stream by sequence (STREAM.MSG.GET)
  and applied first, never skipped.
* Ack after the state is committed. A crash before the ack only causes a
  redelivery, which the first rule absorbs.

A hash or link mismatch stops it with exit status 2. Needs nats-py (pinned in
scripts/setup). Signatures (FORMAT.md 6.2) and the canonical form of the body
(FORMAT.md 4) are not checked here; `fundledger verify` checks both.
"""

import argparse
import asyncio
import hashlib
import json
import os
import sys

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

D_EVENT = b"fundledger/v1/event\0"
D_RECORD = b"fundledger/v1/record\0"
ZERO_HASH = "0" * 64
MEMBERS = {"v", "ledger", "seq", "prev", "recorded_at", "body", "signatures", "hash"}


class ChainError(Exception):
    pass


def parse_record(payload: bytes):
    """Parses a stored record (FORMAT.md 8); returns (fields, exact body bytes).

    A JSON parser that re-serialises the body may change its bytes, so the
    body's span is located in the raw text instead: raw_decode returns where
    each value ends, and the UTF-8 slice of that span is the stored bytes.
    """
    text = payload.decode("utf-8")
    decoder = json.JSONDecoder()
    ws = " \t\n\r"
    i = 0
    fields, body_bytes = {}, None

    def skip(j):
        while j < len(text) and text[j] in ws:
            j += 1
        return j

    i = skip(i)
    if text[i] != "{":
        raise ChainError("record is not a JSON object")
    i = skip(i + 1)
    while True:
        key, i = decoder.raw_decode(text, i)
        i = skip(i)
        if text[i] != ":":
            raise ChainError("malformed record")
        start = skip(i + 1)
        value, end = decoder.raw_decode(text, start)
        if not isinstance(key, str) or key not in MEMBERS or key in fields:
            raise ChainError(f"unknown or repeated member {key!r}")
        fields[key] = value
        if key == "body":
            body_bytes = text[start:end].encode("utf-8")
        i = skip(end)
        if text[i] == "}":
            break
        if text[i] != ",":
            raise ChainError("malformed record")
        i = skip(i + 1)
    if set(fields) != MEMBERS or fields["v"] != 1:
        raise ChainError("missing member or unknown version")
    return fields, body_bytes


def record_hash(fields, body_bytes: bytes) -> str:
    """FORMAT.md 7."""
    ledger = fields["ledger"].encode("ascii")
    recorded_at = fields["recorded_at"].encode("ascii")
    signatures = [bytes.fromhex(s) for s in fields["signatures"]]
    event_hash = hashlib.sha256(D_EVENT + body_bytes).digest()
    preimage = (
        D_RECORD
        + fields["seq"].to_bytes(8, "big")
        + bytes.fromhex(fields["prev"])
        + len(ledger).to_bytes(2, "big") + ledger
        + len(recorded_at).to_bytes(2, "big") + recorded_at
        + event_hash
        + len(signatures).to_bytes(2, "big")
        + b"".join(signatures)
    )
    return hashlib.sha256(preimage).hexdigest()


class Client:
    def __init__(self, args):
        self.args = args
        self.stream = "FUNDLEDGER_" + args.ledger.upper().replace("-", "_")
        self.state = {"seq": 0, "hash": ZERO_HASH, "out_len": 0}
        if os.path.exists(args.state):
            with open(args.state) as f:
                self.state = json.load(f)
        # Drop anything written to the view after the last committed state.
        with open(args.out, "ab") as out:
            out.truncate(self.state["out_len"])
        self.out = open(args.out, "ab")

    def commit(self):
        tmp = self.args.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.args.state)

    def apply(self, stream_seq: int, payload: bytes):
        """Verifies record `last + 1` and applies it; the state is committed on return."""
        fields, body_bytes = parse_record(payload)
        seq = fields["seq"]
        if seq != stream_seq or seq != self.state["seq"] + 1:
            raise ChainError(f"record at stream seq {stream_seq} says seq {seq}, expected {self.state['seq'] + 1}")
        if fields["ledger"] != self.args.ledger:
            raise ChainError(f"record {seq} is for ledger {fields['ledger']}")
        if fields["prev"] != self.state["hash"]:
            raise ChainError(f"record {seq}: prev {fields['prev']} is not the hash of record {seq - 1} ({self.state['hash']})")
        computed = record_hash(fields, body_bytes)
        if computed != fields["hash"]:
            raise ChainError(f"record {seq}: hash {fields['hash']}, recomputed {computed}")
        body = json.loads(body_bytes)
        if body.get("ledger") != fields["ledger"]:
            raise ChainError(f"record {seq}: body ledger differs from the envelope's")
        # The view: one line per record, then the state naming its new length.
        self.out.write(f"{seq} {body['id']} {body['type']}\n".encode())
        self.out.flush()
        os.fsync(self.out.fileno())
        self.state = {"seq": seq, "hash": computed, "out_len": self.out.tell()}
        self.commit()

    async def run(self):
        options = {"servers": [self.args.nats]}
        if self.args.user:
            options.update(user=self.args.user, password=self.args.password)
        nc = await nats.connect(**options)
        js = nc.jetstream()
        # A consumer of this run only, starting after the saved position: what
        # an earlier run left unacked does not matter, the state file decides.
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.state["seq"] + 1,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
            max_ack_pending=1000,
            inactive_threshold=60,
        )
        sub = await js.pull_subscribe(f"fl.{self.args.ledger}.ev.>", durable=None, stream=self.stream, config=config)
        while True:
            if self.args.exit_at_seq and self.state["seq"] >= self.args.exit_at_seq:
                break
            try:
                messages = await sub.fetch(100, timeout=1)
            except nats.errors.TimeoutError:
                continue
            for msg in messages:
                seq = msg.metadata.sequence.stream
                if seq <= self.state["seq"]:
                    await msg.ack()  # a redelivery of something already applied
                    continue
                # A gap: earlier records are still out (redelivered later). Read them now.
                while self.state["seq"] + 1 < seq:
                    missing = self.state["seq"] + 1
                    raw = await js.get_msg(self.stream, missing)
                    self.apply(missing, raw.data)
                self.apply(seq, msg.data)
                await msg.ack()
        await nc.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nats", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--user", default=os.environ.get("NATS_USER"))
    parser.add_argument("--password", default=os.environ.get("NATS_PASSWORD"))
    parser.add_argument("--exit-at-seq", type=int, default=0, help="stop once this seq is applied (tests)")
    args = parser.parse_args()
    try:
        asyncio.run(Client(args).run())
    except ChainError as error:
        print(f"reporting_client: STOP: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
