"""What mode C costs: encrypted inference, a round against mode A's, sizes, the supervisor's work.

    python -m benchmarks.he [--json] [--rounds 4] [--members 4,10,25] [--quick]

- **Inference**: samples a second through encrypted inference (run the encrypted head on the
  samples, decrypt the outputs: the vote's path; and with the samples encrypted first), for the
  breast-cancer head (30 features, 2 classes, 256 samples a batch) and the Fashion-MNIST head (96
  features, 10 classes, 32).
- **A round**: the median wall time of an accepted mode-C round over a mode-A round of the same
  head (`frozen-linear`: the same frozen features and linear head, trained in clear), same
  coalition (6 members, 4 validators), same data, on the in-process EVM and the embedded store.
  Setup (contexts, deployment) is left out of both.
- **Sizes**: a public context (with the Galois keys the sums rotate with), the supervisor's
  secret context, a copy, an update, the outputs of 1,000 samples.
- **The supervisor's work per round** against members (4, 10, 25; 4 validators): issuing every
  participant's copy, decrypting every member's masked update and summing, decrypting every
  validator's outputs on G and L (400 samples). Measured, not extrapolated.

Writes benchmarks/results/he.json; `--json` prints it.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from benchmarks.overhead import machine
from tclearn.chain.backends import connect
from tclearn.he import ckks, head, training
from tclearn.he.simulation import EncryptedSimulation
from tclearn.simulate import RoundRecord, Simulation, SimulationConfig
from tclearn.store import open_store

RESULTS = Path(__file__).parent / "results"
LAYOUTS = {"breast-cancer": head.HeadLayout(30, 2), "fashion-mnist": head.HeadLayout(96, 10)}
VOTE_SAMPLES = 400  # a validator's G and L together


def timed(action: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def inference(context: ckks.Context, layout: head.HeadLayout, samples: int) -> dict[str, object]:
    """The vote's path (the samples in clear, run through the encrypted copy, the outputs
    decrypted), and the same with the samples encrypted first (samples that travel)."""
    rng = np.random.default_rng(0)
    weights, x = rng.normal(size=layout.shape) * 0.1, rng.normal(size=(samples, layout.features))
    copy = head.load_copy(
        head.encrypt_copy(context, layout, weights, np.ones((layout.classes, layout.rows))), context, layout
    )
    expected = head.plain_logits(weights, x).argmax(1)
    infer_s, outputs = timed(lambda: head.infer(copy, x, context, layout))
    decrypt_s, logits = timed(lambda: head.decrypt_outputs(outputs, context, layout))
    encrypt_s, encrypted = timed(lambda: head.encrypt_samples(context, layout, x))
    encrypted_infer_s, encrypted_outputs = timed(lambda: head.infer(copy, encrypted, context, layout))
    encrypted_logits = head.decrypt_outputs(encrypted_outputs, context, layout)
    encrypted_total = encrypt_s + encrypted_infer_s + decrypt_s
    return {
        "samples": samples,
        "samples_per_rotation_batch": layout.rows,
        "samples_per_s": round(samples / (infer_s + decrypt_s), 1),
        "infer_samples_per_s": round(samples / infer_s, 1),
        "infer_s": round(infer_s, 3),
        "decrypt_s": round(decrypt_s, 3),
        "agreement": float(np.mean(logits.argmax(1) == expected)),
        "outputs_bytes_per_1000": round(len(outputs) * 1000 / samples),
        "encrypted_samples": {
            "samples_per_s": round(samples / encrypted_total, 1),
            "encrypt_s": round(encrypt_s, 3),
            "infer_s": round(encrypted_infer_s, 3),
            "agreement": float(np.mean(encrypted_logits.argmax(1) == expected)),
        },
    }


def sizes(context: ckks.Context, layout: head.HeadLayout) -> dict[str, int]:
    copy = head.encrypt_copy(context, layout, np.zeros(layout.shape), np.ones((layout.classes, layout.rows)))
    loaded = head.load_copy(copy, context, layout)
    x = np.random.default_rng(1).normal(size=(80, layout.features))
    local = training.local_map(x, np.arange(80) % layout.classes, layout.classes, training.Recipe())
    update = training.encrypted_update(loaded.vectors, context, layout, local, 1.0, np.zeros(layout.shape))
    return {"copy_bytes": len(copy), "update_bytes": len(update), "weights": layout.shape[0] * layout.shape[1]}


def round_times(dataset: str, rounds: int, subset: int | None) -> dict[str, object]:
    """Median accepted-round wall time, mode C against mode A with the same head."""
    times: dict[str, list[float]] = {}
    accuracy: dict[str, float] = {}
    for mode in ("A", "C"):
        config = SimulationConfig(
            mode=mode, rounds=rounds, dataset=dataset, subset=subset, architecture="frozen-linear", seed=0
        )
        stamps: list[float] = []
        with tempfile.TemporaryDirectory(prefix="tclearn-he-bench-") as scratch:
            chain = connect("inprocess:memory")
            try:
                store = open_store("local", Path(scratch) / "store")
                if mode == "C":
                    simulation: Simulation | EncryptedSimulation = EncryptedSimulation(
                        config, chain, store, Path(scratch)
                    )
                else:
                    simulation = Simulation(config, chain, store)
                outcomes: list[RoundRecord] = []
                stamps.append(time.perf_counter())

                def tick(
                    record: RoundRecord, stamps: list[float] = stamps, outcomes: list[RoundRecord] = outcomes
                ) -> None:
                    stamps.append(time.perf_counter())
                    outcomes.append(record)

                result = simulation.run(tick)
            finally:
                chain.close()
        durations = [b - a for a, b, r in zip(stamps[:-1], stamps[1:], outcomes, strict=True) if r.outcome == "final"]
        times[mode] = durations
        accuracy[mode] = result.final_accuracy
    median = {mode: statistics.median(values) for mode, values in times.items()}
    return {
        "dataset": dataset,
        "rounds": rounds,
        "median_round_s": {mode: round(value, 3) for mode, value in median.items()},
        "ratio": round(median["C"] / median["A"], 2),
        "final_accuracy": accuracy,
    }


def supervisor_work(members: int, validators: int = 4) -> dict[str, object]:
    """One round of the supervisor's work for `members` members on the breast-cancer head."""
    layout = LAYOUTS["breast-cancer"]
    contexts = [ckks.generate() for _ in range(members + validators)]
    weights = np.random.default_rng(2).normal(size=layout.shape) * 0.1
    mark = np.ones((layout.classes, layout.rows))
    copies_s, copies = timed(lambda: [head.encrypt_copy(c, layout, weights, mark) for c in contexts])
    rng = np.random.default_rng(3)
    updates = []
    for context, copy in zip(contexts[:members], copies, strict=False):
        x = rng.normal(size=(64, layout.features))
        local = training.local_map(x, rng.integers(0, 2, 64), 2, training.Recipe())
        loaded = head.load_copy(copy, context, layout)
        updates.append(training.encrypted_update(loaded.vectors, context, layout, local, 1.0, np.zeros(layout.shape)))
    aggregate_s, _ = timed(
        lambda: sum(training.decrypt_update(u, c, layout)[0] for u, c in zip(updates, contexts, strict=False))
    )
    outputs = []
    for context, copy in zip(contexts[members:], copies[members:], strict=True):
        x = rng.normal(size=(VOTE_SAMPLES, layout.features))
        outputs.append(head.infer(head.load_copy(copy, context, layout), x, context, layout))
    labels_s, _ = timed(
        lambda: [head.decrypt_outputs(o, c, layout) for o, c in zip(outputs, contexts[members:], strict=True)]
    )
    return {
        "members": members,
        "validators": validators,
        "copies_s": round(copies_s, 3),
        "aggregate_s": round(aggregate_s, 3),
        "labels_s": round(labels_s, 3),
        "total_s": round(copies_s + aggregate_s + labels_s, 3),
    }


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--rounds", type=int, default=4, show_default=True)
@click.option("--members", "member_counts", default="4,10,25", show_default=True)
@click.option(
    "--quick",
    is_flag=True,
    help="Breast cancer only, 2 rounds, 4 and 10 members: a smoke run (its rounds hold one-off costs).",
)
def main(as_json: bool, rounds: int, member_counts: str, quick: bool) -> None:
    context = ckks.generate()
    counts = [4, 10] if quick else [int(m) for m in member_counts.split(",")]
    document: dict[str, object] = {
        "machine": machine(),
        "parameters": {
            "poly_modulus_degree": ckks.POLY_MODULUS_DEGREE,
            "coeff_mod_bit_sizes": list(ckks.COEFF_MOD_BIT_SIZES),
            "scale_bits": ckks.SCALE_BITS,
            "security_bits": ckks.SECURITY_BITS,
        },
        "context_bytes": {"public": len(context.public_bytes()), "secret": len(context.secret_bytes())},
        "inference": {name: inference(context, layout, 1024) for name, layout in LAYOUTS.items()},
        "sizes": {name: sizes(context, layout) for name, layout in LAYOUTS.items()},
        "rounds": [round_times("breast-cancer", 2 if quick else rounds, None)]
        + ([] if quick else [round_times("fashion-mnist", rounds, 3000)]),
        "supervisor": [supervisor_work(m) for m in counts],
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("he-quick.json" if quick else "he.json")
    out.write_text(json.dumps(document, indent=1) + "\n")
    click.echo(json.dumps(document) if as_json else f"wrote {out}")


if __name__ == "__main__":
    main()
