"""What an auditor's `verify` costs on a long history: 100 and 1,000 blocks on anvil.

    python -m benchmarks.audit [--blocks 100,1000] [--json]

A ledger on a fresh anvil devnet (its JSON-RPC, automining) and the embedded store. Each block
is a real round on chain: 3 members register updates (4 kB of stored bytes each), the drawn
general proposes a model (8 kB) with its metadata document, and 3 of the 4 validators vote it
final. No training: the history, not the learning, is what `verify` reads. At each size the
whole verification runs as `tclearn audit verify` runs it (`History.read`: every event in one
`eth_getLogs`, timestamps in JSON-RPC batches; then every check and every stored object), and
the time is split between reading the chain, the checks, and the store.

Writes benchmarks/results/audit.json; `--json` prints it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import click

from benchmarks.overhead import machine
from tclearn.audit.history import History
from tclearn.audit.verify import check_objects, objects, verify
from tclearn.chain.backends import connect
from tclearn.chain.deploy import Genesis
from tclearn.chain.ephemeral import EphemeralCoalition, ephemeral_coalition
from tclearn.chain.ledger import LedgerParams
from tclearn.fba.metrics import VoteMetrics
from tclearn.model.weights import sha256
from tclearn.services import anvil_down, anvil_up
from tclearn.store.base import ContentStore, put_json
from tclearn.store.cid import cid_digest
from tclearn.store.local import LocalStore

RESULTS = Path(__file__).parent / "results"
METRICS = VoteMetrics(0.9, 0.9, 0.9, 0.9, 0.3, 0.3, 114, 30).encode()
ZERO = b"\0" * 32


def stored(store: ContentStore, size: int) -> tuple[bytes, bytes]:
    """Random bytes of `size` in the store: their SHA-256 and CID digest."""
    data = os.urandom(size)
    return sha256(data), cid_digest(store.put(data))


def one_block(coalition: EphemeralCoalition, store: ContentStore) -> None:
    """A round: three updates, a proposal, three accepting votes."""
    ledger = coalition.ledger
    head, number = ledger.cursor().head, ledger.current_round().number
    updates = [ledger.register_update(m, head, *stored(store, 4096), 114, 16) for m in coalition.members]
    model_hash, model_cid = stored(store, 8192)
    metadata = put_json(store, {"learning": "fedavg", "rule": "mean", "params": {}, "updates": updates})
    block = ledger.propose(coalition.general(), head, model_hash, model_cid, updates, number, metadata)
    for validator in coalition.validators[:3]:
        ledger.vote(validator, block, True, METRICS, ZERO, ZERO)


def measure(coalition: EphemeralCoalition, store: ContentStore) -> dict[str, object]:
    started = time.perf_counter()
    history = History.read(coalition.ledger)
    read = time.perf_counter()
    result = verify(history, store)
    done = time.perf_counter()
    fetch_started = time.perf_counter()  # the store's share, measured again on its own
    check_objects(history, store, objects(history, history.blocks(), 1), type(result)())
    fetch = time.perf_counter() - fetch_started
    return {
        "blocks": result.blocks,
        "events": len(history.events),
        "objects_checked": result.objects_checked,
        "ok": result.ok,
        "verify_s": round(done - started, 2),
        "read_chain_s": round(read - started, 2),
        "checks_and_store_s": round(done - read, 2),
        "store_alone_s": round(fetch, 2),
    }


@click.command()
@click.option("--blocks", default="100,1000", show_default=True, help="History sizes to verify at.")
@click.option("--json", "as_json", is_flag=True)
def main(blocks: str, as_json: bool) -> None:
    sizes = sorted(int(b) for b in blocks.split(","))
    rows = []
    with tempfile.TemporaryDirectory(prefix="tclearn-audit-bench-") as scratch:
        devnet = anvil_up(Path(scratch) / "anvil")
        chain = connect(devnet.url)
        try:
            store = LocalStore(Path(scratch) / "store")
            params = LedgerParams("A", 16, 10**6, 10**6, 86_400)
            genesis = Genesis(*stored(store, 8192), ZERO)
            coalition = ephemeral_coalition(chain, params, genesis, validators=4, members=3, seed=0)
            built, building = 1, 0.0
            for size in sizes:
                started = time.perf_counter()
                while built < size:
                    one_block(coalition, store)
                    built += 1
                building += time.perf_counter() - started
                row = {**measure(coalition, store), "build_s": round(building, 1)}
                rows.append(row)
                click.echo(json.dumps(row), err=True)
        finally:
            chain.close()
            anvil_down(Path(scratch) / "anvil")
    growth = None
    if len(rows) >= 2 and rows[0]["verify_s"]:
        growth = round(float(rows[-1]["verify_s"]) / float(rows[0]["verify_s"]), 2)  # type: ignore[arg-type]
    document = {"machine": machine(), "chain": "anvil (JSON-RPC, automine)", "store": "embedded", "rows": rows}
    document["verify_time_ratio_largest_to_smallest"] = growth
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit.json").write_text(json.dumps(document, indent=1) + "\n")
    if as_json:
        click.echo(json.dumps(document))
    else:
        for row in rows:
            click.echo(
                f"{row['blocks']:>5} blocks: verify {row['verify_s']} s (chain {row['read_chain_s']} s, "
                f"checks and store {row['checks_and_store_s']} s), {row['objects_checked']} objects"
            )


if __name__ == "__main__":
    main()
