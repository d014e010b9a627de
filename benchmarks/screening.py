"""What judging a round costs as the coalition grows: the general's screening and one
validator's check, against the number of members, as a ratio to one member's local training.

    python -m benchmarks.screening                              # 4, 10, 25 members; both tracks
    python -m benchmarks.screening --members 4,10 --datasets breast-cancer

Each cell plays rounds of the engine `tclearn simulate` and the daemons run
(`Simulation.play_round`) with a stopwatch on its phases: `training` (every member's local
step), `candidate` (the general's screening and building of its candidate) and `validation`
(every validator's check). It also counts the samples each validator ran through a model, in
units of G: the cost in evaluations, which the screening keeps linear in the members. Rounds
after the first are measured (the first starts from a random model), and the median over
them is reported. Writes benchmarks/results/screening.json and prints one JSON line per cell.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from tclearn.chain.backends import connect
from tclearn.engine.phases import Stopwatch
from tclearn.errors import TCLearnError
from tclearn.simulate import Simulation, SimulationConfig
from tclearn.store import open_store

RESULTS = Path(__file__).parent / "results"
SUBSETS = {"fashion-mnist": 12_000}  # images, as in the robustness grid
# Label skew where the data allows it: 341 breast-cancer patients cannot give 25 members 16 each
# under Dirichlet α = 0.5, so that track is split IID.
ALPHAS = {"fashion-mnist": 0.5}


@dataclass(frozen=True)
class RoundCost:
    training: float  # seconds of one member's local step (mean over members)
    general: float  # seconds of the general's screening
    validator: float  # seconds of one validator's check (mean over validators)
    samples_per_validator: float  # samples run through a model per validator, in units of |G|


def measure(dataset: str, members: int, validators: int, rounds: int, seed: int) -> list[RoundCost]:
    config = SimulationConfig(
        members=members,
        validators=validators,
        rounds=rounds,
        dataset=dataset,
        alpha=ALPHAS.get(dataset),
        subset=SUBSETS.get(dataset),
        seed=seed,
    )
    costs = []
    with tempfile.TemporaryDirectory(prefix="tclearn-screening-") as scratch:
        chain = connect("inprocess:memory")
        try:
            sim = Simulation(config, chain, open_store("local", Path(scratch)))
            g = len(sim.split.global_test)
            for number in range(1, rounds + 1):
                watch = Stopwatch()
                sim.phases = watch
                before = [e.forwarded for e in sim.evaluators.values()]
                record = sim.play_round(number)
                runs = [e.forwarded - b for e, b in zip(sim.evaluators.values(), before, strict=True)]
                if number == 1 or record.block is None:
                    continue
                costs.append(
                    RoundCost(
                        training=watch.seconds["training"] / members,
                        general=watch.seconds["candidate"],
                        validator=watch.seconds["validation"] / validators,
                        samples_per_validator=statistics.median(runs) / g,
                    )
                )
        finally:
            chain.close()
    return costs


def summarise(dataset: str, members: int, costs: list[RoundCost]) -> dict[str, object]:
    def median(field: str) -> float:
        return statistics.median(getattr(c, field) for c in costs)

    training = median("training")
    return {
        "dataset": dataset,
        "members": members,
        "rounds_measured": len(costs),
        "training_s": round(training, 4),
        "general_s": round(median("general"), 4),
        "validator_s": round(median("validator"), 4),
        "general_per_training": round(median("general") / training, 2),
        "validator_per_training": round(median("validator") / training, 2),
        "samples_per_validator_in_G": round(median("samples_per_validator"), 2),
    }


def growth(rows: list[dict[str, object]], key: str) -> float | None:
    """The exponent k of cost ∝ membersᵏ between the smallest and largest coalition measured."""
    if len(rows) < 2:
        return None
    first, last = rows[0], rows[-1]
    ratio = float(last[key]) / max(float(first[key]), 1e-9)  # type: ignore[arg-type]
    return round(math.log(ratio) / math.log(int(last["members"]) / int(first["members"])), 2)  # type: ignore[call-overload]


@click.command()
@click.option("--datasets", default="breast-cancer,fashion-mnist", show_default=True)
@click.option("--members", "member_counts", default="4,10,25", show_default=True)
@click.option("--validators", type=int, default=4, show_default=True)
@click.option("--rounds", type=int, default=3, show_default=True, help="Rounds per cell (the first is not measured).")
@click.option("--seed", type=int, default=0, show_default=True)
def main(datasets: str, member_counts: str, validators: int, rounds: int, seed: int) -> None:
    rows, growths = [], {}
    for dataset in datasets.split(","):
        track = []
        for members in (int(m) for m in member_counts.split(",")):
            try:
                costs = measure(dataset, members, validators, rounds, seed)
            except TCLearnError as exc:  # 341 breast-cancer patients cannot make 25 members
                click.echo(json.dumps({"dataset": dataset, "members": members, "skipped": str(exc)}))
                continue
            row = summarise(dataset, members, costs)
            click.echo(json.dumps(row))
            track.append(row)
        growths[dataset] = {
            key: growth(track, key) for key in ("general_s", "validator_s", "samples_per_validator_in_G")
        }
        rows += track
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "screening.json"
    if out.exists():  # the tracks not measured this time keep their rows
        kept = json.loads(out.read_text())
        rows = [r for r in kept["rows"] if r["dataset"] not in growths] + rows
        growths = {k: v for k, v in kept["growth_exponent"].items() if k not in growths} | growths
    out.write_text(json.dumps({"rows": rows, "growth_exponent": growths}, indent=1) + "\n")
    click.echo(json.dumps({"growth_exponent": growths}))
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
