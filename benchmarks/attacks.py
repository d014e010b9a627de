"""What issue 7 must show: 2 of 6 members attacking every round, each attack type, FBA on.

    python benchmarks/attacks.py [--rounds 20] [--seeds 3] [--learning fedavg] [--alpha A]

For each attack (and none): final G accuracy over seeds, how many attack updates were
registered and how many reached a final block, rejected rounds, and the centralized reference.
Writes benchmarks/results/attacks-<learning>-<alpha>.json and prints one JSON line per attack.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import click

from benchmarks.stats import mean_sd
from tclearn.attacks import ATTACKS
from tclearn.fba.strategy import LEARNING_MODES
from tclearn.simulate import SimulationConfig, run_simulation


@click.command()
@click.option("--rounds", type=int, default=20, show_default=True)
@click.option("--seeds", type=int, default=3, show_default=True)
@click.option("--learning", type=click.Choice(LEARNING_MODES), default="fedavg", show_default=True)
@click.option("--alpha", type=float, default=None)
@click.option("--attacks", default="none," + ",".join(ATTACKS), show_default=True)
def main(rounds: int, seeds: int, learning: str, alpha: float | None, attacks: str) -> None:
    rows = []
    for name in attacks.split(","):
        attack = None if name == "none" else name
        runs = [
            run_simulation(
                SimulationConfig(
                    rounds=rounds,
                    attack=attack,
                    attackers=2 if attack else 0,
                    learning=learning,
                    alpha=alpha,
                    seed=seed,
                )
            )
            for seed in range(seeds)
        ]
        row = {
            "attack": name,
            **mean_sd("final_accuracy", (r.final_accuracy for r in runs)),
            "centralized_accuracy_mean": round(statistics.mean(r.centralized_accuracy for r in runs), 4),
            "attacks_proposed": sum(r.attacks_proposed for r in runs),
            "attacks_accepted": sum(r.attacks_accepted for r in runs),
            "rejected_rounds": sum(r.rejected for r in runs),
            "accepted_rounds": sum(r.accepted for r in runs),
        }
        rows.append(row)
        click.echo(json.dumps(row))
    out = Path(__file__).parent / "results" / f"attacks-{learning}-{alpha or 'iid'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rounds": rounds, "seeds": seeds, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
