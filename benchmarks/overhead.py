"""The cost of the ledger: where an accepted round's time goes, and how it grows.

    python benchmarks/overhead.py [--chain inprocess|anvil|URL] [--store local|ipfs|URL]
        [--validators 4,10,25,50] [--params 10k,1m,10m] [--repeats 5] [--mode A|B]

For each (validators, model size) it plays `--repeats` accepted federated-averaging rounds of
6 members on breast cancer and times each phase: local training, storage (put), registration,
general draw, candidate building (the general's screening: evaluation), proposal, validation
(per validator: evaluation), votes, and finality (the deciding vote, which makes the block the
head). The ledger's overhead is everything but training and evaluation, as a share of the
round. Gas per round is read from the chain's blocks. Medians of the repeats, in one process;
the machine is described in the output. Writes benchmarks/results/overhead-<chain>-<store>.json
and a plot of each row's shares; `--markdown` prints the file's rows as docs/RESULTS.md's table.

`--mode B` plays the same rounds in mode A and in mode B, one after the other, and reports the
ratio of their medians, with the time to seal one object (encrypt and wrap its key for every
participant) and to open it, per model size. Writes benchmarks/results/overhead-b-<chain>-<store>.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import click

from tclearn.chain.backends import connect
from tclearn.data.datasets import load_dataset
from tclearn.engine.phases import PHASES, Stopwatch
from tclearn.model.architectures import build
from tclearn.model.family import ModelFamily
from tclearn.privacy.envelope import SealContext, open_sealed, seal
from tclearn.privacy.keys import DEFAULT_KEM, ParticipantKey
from tclearn.report_plot import grouped_bars
from tclearn.services import temporary_services
from tclearn.simulate import Simulation, SimulationConfig, default_architecture
from tclearn.store import open_store

RESULTS = Path(__file__).parent / "results"
HIDDEN = {"10k": 90, "1m": 985, "10m": 3145}  # MLP widths on 30 features → ~10k, 1M, 10M parameters
EVALUATION = ("candidate", "validation")
TRAINING = ("training",)


def timed_round(sim: Simulation, number: int) -> tuple[dict[str, float], int, int]:
    """One federated-averaging round as the engine plays it, phase by phase: (seconds per
    phase, gas, validators' checks)."""
    watch = Stopwatch()
    sim.phases = watch
    w3 = sim.chain.w3
    first_block = w3.eth.block_number + 1
    record = sim.play_round(number)
    if record.outcome != "final":
        raise RuntimeError(f"round {number} was not accepted ({record.outcome})")
    gas = sum(int(w3.eth.get_block(n)["gasUsed"]) for n in range(first_block, w3.eth.block_number + 1))
    return dict(watch.seconds), gas, record.accepts + record.rejects


def measure(
    chain_url: str, store_url: str, validators: int, size: str, repeats: int, mode: str = "A"
) -> dict[str, object]:
    config = SimulationConfig(validators=validators, hidden=HIDDEN[size], seed=0, mode=mode)
    with tempfile.TemporaryDirectory(prefix="tclearn-overhead-") as scratch:
        chain = connect(chain_url)
        try:
            sim = Simulation(config, chain, open_store(store_url, Path(scratch)))
            rounds = [timed_round(sim, n) for n in range(1, repeats + 1)]
            throughput = storage_throughput(sim, repeats)
        finally:
            chain.close()
    phases = sorted({p for seconds, _, _ in rounds for p in seconds})
    medians = {p: statistics.median(seconds.get(p, 0.0) for seconds, _, _ in rounds) for p in phases}
    totals = [sum(seconds.values()) for seconds, _, _ in rounds]
    ledger_share = [
        sum(v for p, v in seconds.items() if p not in TRAINING + EVALUATION) / sum(seconds.values())
        for seconds, _, _ in rounds
    ]
    checks = statistics.median(c for _, _, c in rounds)
    return {
        "validators": validators,
        "model": size,
        "parameters": sum(p.numel() for p in build(sim.family.spec).parameters()),
        "round_seconds_median": round(statistics.median(totals), 4),
        "phase_seconds_median": {p: round(v, 4) for p, v in medians.items()},
        "validation_seconds_per_validator": round(medians.get("validation", 0.0) / max(1, checks), 4),
        "ledger_share_median": round(statistics.median(ledger_share), 4),
        "gas_per_round_median": int(statistics.median(g for _, g, _ in rounds)),
        **throughput,
    }


def mode_b_row(chain_url: str, store_url: str, validators: int, size: str, repeats: int) -> dict[str, object]:
    """Mode B against mode A on the same rounds, measured in turns (A, B, A, B: a round's time
    drifts by more than sealing costs over a run), and sealing's own cost per round: every
    member seals its update and opens its parent, the general seals the candidate, every
    validator opens each update and the candidate."""
    runs = {"A": [], "B": []}  # type: dict[str, list[dict[str, object]]]
    for mode in ("A", "B", "A", "B"):
        runs[mode].append(measure(chain_url, store_url, validators, size, repeats, mode=mode))
    a = statistics.median(float(r["round_seconds_median"]) for r in runs["A"])  # type: ignore[arg-type]
    b = statistics.median(float(r["round_seconds_median"]) for r in runs["B"])  # type: ignore[arg-type]
    members = SimulationConfig().members
    costs = seal_costs(size, validators + members, repeats)
    seals, opens = members + 1, members + validators * (members + 1)
    crypto = (seals * float(costs["seal_ms"]) + opens * float(costs["open_ms"])) / 1000  # type: ignore[arg-type]
    return {
        "validators": validators,
        "model": size,
        "parameters": runs["A"][0]["parameters"],
        "model_megabytes": runs["A"][0]["model_megabytes"],
        "round_seconds_a": round(a, 4),
        "round_seconds_b": round(b, 4),
        "ratio": round(b / a, 3),
        "seals_per_round": seals,
        "opens_per_round": opens,
        "crypto_seconds_per_round": round(crypto, 4),
        "crypto_ratio": round((a + crypto) / a, 4),
        **costs,
    }


def seal_costs(size: str, grantees: int, repeats: int, kem: str = DEFAULT_KEM) -> dict[str, object]:
    """Medians, in ms: sealing a model of `size` for `grantees` participants (AES-256-GCM and one
    HPKE wrap each) and opening it (one unwrap, the decryption)."""
    family = ModelFamily(default_architecture(load_dataset(SimulationConfig().dataset), HIDDEN[size]))
    data = family.dump(build(family.spec).state_dict())
    keys = [ParticipantKey.generate(kem) for _ in range(grantees)]
    accounts = [f"0x{i + 1:040x}" for i in range(grantees)]
    context = SealContext(accounts[0], "model", 1, 1, accounts[0])
    public = {a: k.public_bytes() for a, k in zip(accounts, keys, strict=True)}
    seals, opens = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        blob, _, _ = seal(data, context, kem, public)
        seals.append(time.perf_counter() - start)
        start = time.perf_counter()
        open_sealed(blob, context, keys[0], accounts[0])
        opens.append(time.perf_counter() - start)
    return {
        "kem": kem,
        "grantees": grantees,
        "seal_ms": round(1000 * statistics.median(seals), 2),
        "open_ms": round(1000 * statistics.median(opens), 2),
        "sealed_overhead_bytes": len(blob) - len(data),
    }


def storage_throughput(sim: Simulation, repeats: int) -> dict[str, float]:
    """Put and get of the head's stored bytes (fresh content each time), MB/s medians."""
    _, state = sim.ctx.block_weights(sim.ctx.ledger.cursor().head)
    data = sim.family.dump(state)
    puts, gets = [], []
    for i in range(repeats):
        blob = data + i.to_bytes(4, "big") + os.urandom(16)
        start = time.perf_counter()
        cid = sim.ctx.store.put(blob)
        puts.append(time.perf_counter() - start)
        start = time.perf_counter()
        sim.ctx.store.get(cid)
        gets.append(time.perf_counter() - start)
    megabytes = len(data) / 1e6
    return {
        "model_megabytes": round(megabytes, 3),
        "store_put_mb_per_s": round(megabytes / statistics.median(puts), 2),
        "store_get_mb_per_s": round(megabytes / statistics.median(gets), 2),
    }


def machine() -> dict[str, object]:
    import torch

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
    }


@click.command()
@click.option("--chain", "chain_opt", default="inprocess", show_default=True, help="inprocess, anvil, or a URL.")
@click.option("--store", "store_opt", default="local", show_default=True, help="local, ipfs, or a URL.")
@click.option("--validators", default="4,10,25,50", show_default=True)
@click.option("--params", "sizes", default="10k,1m,10m", show_default=True)
@click.option("--repeats", type=int, default=5, show_default=True)
@click.option("--plots", type=click.Path(path_type=Path), default=Path("docs/img"), show_default=True)
@click.option("--no-run", is_flag=True, help="Measure nothing: plot (and print) the rows the file holds.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the file's rows as docs/RESULTS.md's table.")
@click.option("--mode", type=click.Choice(["A", "B"]), default="A", show_default=True, help="B: mode B against A.")
def main(
    chain_opt: str,
    store_opt: str,
    validators: str,
    sizes: str,
    repeats: int,
    plots: Path,
    no_run: bool,
    as_markdown: bool,
    mode: str,
) -> None:
    if mode == "B":
        mode_b(chain_opt, store_opt, validators, sizes, repeats)
        return
    out = RESULTS / f"overhead-{chain_opt}-{store_opt}.json"
    if no_run:
        every = json.loads(out.read_text())["rows"]
    else:
        rows = []
        with temporary_services(chain_opt, store_opt) as (chain_url, store_url):
            for size in sizes.split(","):
                for count in (int(v) for v in validators.split(",")):
                    row = measure(chain_url, store_url, count, size, repeats)
                    rows.append(row)
                    click.echo(json.dumps(row))
        RESULTS.mkdir(exist_ok=True)
        every = merged(out, rows)
        out.write_text(json.dumps({"machine": machine(), "repeats": repeats, "rows": every}, indent=1) + "\n")
        click.echo(f"wrote {out}")
    title = f"where a round's time goes ({chain_opt} chain, {store_opt} store)"
    labels = [f"{r['validators']} val., {r['model']}" for r in every]
    path = plots / f"overhead-{chain_opt}-{store_opt}.png"
    click.echo(f"wrote {grouped_bars(path, labels, shares(every), 'share of the round', title)}")
    if as_markdown:
        click.echo(markdown(every))


def mode_b(chain_opt: str, store_opt: str, validators: str, sizes: str, repeats: int) -> None:
    rows = []
    with temporary_services(chain_opt, store_opt) as (chain_url, store_url):
        for size in sizes.split(","):
            for count in (int(v) for v in validators.split(",")):
                rows.append(mode_b_row(chain_url, store_url, count, size, repeats))
                click.echo(json.dumps(rows[-1]))
    out = RESULTS / f"overhead-b-{chain_opt}-{store_opt}.json"
    every = merged(out, rows)
    out.write_text(json.dumps({"machine": machine(), "repeats": repeats, "rows": every}, indent=1) + "\n")
    click.echo(f"wrote {out}")


HEADER = (
    "| validators | parameters | round (s) | training | general: screening | validation (per validator) "
    "| storage | registration | polling | draw | proposal | votes | finality | ledger (s) | ledger share "
    "| gas / round | store put / get (MB/s) |"
)
COLUMNS = (
    "training",
    "candidate",
    "validation",
    *(p for p in PHASES if p not in ("training", "candidate", "validation")),
)


def markdown(rows: list[dict[str, object]]) -> str:
    """docs/RESULTS.md's table: one line per row, seconds per phase (medians)."""
    lines = [HEADER, "|" + "---:|" * HEADER.count(" | ") + "---:|"]
    for row in rows:
        phases = dict(row["phase_seconds_median"])  # type: ignore[call-overload]
        cells = [f"{phases.get(p, 0.0):.3f}" for p in COLUMNS]
        cells[2] += f" ({float(row['validation_seconds_per_validator']):.3f})"  # type: ignore[arg-type]
        ledger = sum(v for p, v in phases.items() if p not in TRAINING + EVALUATION)
        lines.append(
            f"| {row['validators']} | {int(row['parameters']):,} | {float(row['round_seconds_median']):.2f} | "  # type: ignore[call-overload]
            + " | ".join(cells)
            + f" | {ledger:.2f} | {100 * float(row['ledger_share_median']):.1f} % "  # type: ignore[arg-type]
            + f"| {int(row['gas_per_round_median']):,} "  # type: ignore[call-overload]
            + f"| {float(row['store_put_mb_per_s']):.0f} / {float(row['store_get_mb_per_s']):.0f} |"  # type: ignore[arg-type]
        )
    return "\n".join(lines)


def shares(rows: list[dict[str, object]]) -> dict[str, list[float]]:
    """Per row, the round's share of training, evaluation (screening and validation) and ledger."""
    series: dict[str, list[float]] = {"training": [], "evaluation": [], "ledger": []}
    for row in rows:
        phases = dict(row["phase_seconds_median"])  # type: ignore[call-overload]
        total = sum(phases.values())
        training = sum(phases.get(p, 0.0) for p in TRAINING) / total
        evaluation = sum(phases.get(p, 0.0) for p in EVALUATION) / total
        series["training"].append(training)
        series["evaluation"].append(evaluation)
        series["ledger"].append(1.0 - training - evaluation)
    return series


def merged(out: Path, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The file's earlier rows with these rows in place of the same (validators, model): a sweep
    can be run in parts (validators at one size, sizes at one validator count)."""
    earlier = json.loads(out.read_text())["rows"] if out.exists() else []
    fresh = {_row_key(r) for r in rows}
    return sorted([r for r in earlier if _row_key(r) not in fresh] + rows, key=_row_key)


def _row_key(row: dict[str, object]) -> tuple[int, int]:
    """Model size first, then validators: the table's order."""
    return list(HIDDEN).index(str(row["model"])), int(str(row["validators"]))


if __name__ == "__main__":
    main()
