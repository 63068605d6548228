#!/usr/bin/env python3
"""Writes corpus/<target>/ seed files for cargo-fuzz from docs/vectors/vectors.json
(the same seeds as crates/core/tests/fuzz.rs uses on stable)."""
import hashlib
import json
import pathlib

here = pathlib.Path(__file__).resolve().parent
vectors = json.loads((here.parent / "docs" / "vectors" / "vectors.json").read_text())
seeds = {
    "submission": [e["submission"] for e in vectors["events"]] + [s["submission"] for s in vectors["submission_layouts"]],
    "record": [r["stored"] for r in vectors["ledger"]["records"]] + [r["stored"] for r in vectors["invalid_records"]],
    "canonical": [c["input"] for c in vectors["canonicalization"] + vectors["canonicalization_refused"]]
    + [e["body_canonical"] for e in vectors["events"]],
    "proof": [json.dumps(p) for p in vectors["ledger"]["inclusion_proofs"] + vectors["ledger"]["consistency_proofs"]]
    + [vectors["checkpoint"]["signed_json"], vectors["checkpoint"]["cosignature_json"]],
}
for target, items in seeds.items():
    directory = here / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    for item in items:
        data = item.encode()
        (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)
    print(f"{target}: {len(items)} seeds in {directory}")
