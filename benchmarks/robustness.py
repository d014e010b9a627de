"""Robustness against poisoning: TCLearn's FBA against plain federated learning's defences.

    python benchmarks/robustness.py            # the full grid (hours; not part of CI; resumable)
    python benchmarks/robustness.py --quick    # a reduced grid, under 10 minutes
    python benchmarks/robustness.py --defences fedavg,fba-fedavg --attackers 2   # part of the grid
    python benchmarks/robustness.py --track fashion-mnist   # 10 members on 12,000 images (a CNN)

Every cell runs the same harness: the same data split, seeds, model, local training and attacks
(`tclearn.simulate.Simulation`). The baselines (FedAvg with no defence, coordinate median,
trimmed mean, Krum) aggregate with Flower's own implementations (`flwr`, the benchmark extra)
and accept every aggregate; the FBA cells run the whole protocol on the in-process EVM and the
embedded store. Writes benchmarks/results/robustness[-quick|-fmnist].json (one row per cell; the quick
grid's file also holds every run's per-round accuracy, the full grid's are in its journal) and
prints one JSON line per cell.

Two tracks: the Wisconsin breast-cancer table (6 members, an MLP; α = 0.5 and 100, 1 and 2
attackers) and Fashion-MNIST (10 members, a CNN, a 12,000-image stratified subset per seed;
α = 0.5 and 0.1, 3 attackers), each with its own journal.

The full grid takes hours on two cores, so it runs the cells that bear on the issue's claim
first (a third of the members attacking, FedAvg and the FBA) and appends every finished run to
benchmarks/results/robustness-runs.jsonl: a run stopped at any point resumes where it was, and
the summary is always of every run recorded for the grid.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import click
import numpy as np

from benchmarks.stats import mean_sd
from tclearn.attacks import ATTACKS
from tclearn.chain.backends import connect
from tclearn.fba.aggregate import krum_scores
from tclearn.report_plot import curves, grouped_bars
from tclearn.simulate import Simulation, SimulationConfig
from tclearn.store import open_store

RESULTS = Path(__file__).parent / "results"
BASELINES = ("fedavg", "median", "trimmed-mean", "krum", "multi-krum")
FBA = ("fba-sequential", "fba-fedavg", "fba-median")
DEFENCES = BASELINES + FBA


@dataclass(frozen=True)
class Cell:
    defence: str
    attack: str  # or "none"
    attackers: int
    alpha: float
    seed: int
    rounds: int
    members: int = 6
    validators: int = 4
    dataset: str = "breast-cancer"
    subset: int | None = None

    def config(self) -> SimulationConfig:
        learning = "sequential" if self.defence == "fba-sequential" else "fedavg"
        rule = {"fba-median": "median"}.get(self.defence, "mean")
        return SimulationConfig(
            members=self.members,
            validators=self.validators,
            rounds=self.rounds * (self.members if learning == "sequential" else 1),
            learning=learning,
            alpha=self.alpha,
            attack=None if self.attack == "none" else self.attack,
            attackers=self.attackers if self.attack != "none" else 0,
            aggregator=rule,
            seed=self.seed,
            dataset=self.dataset,
            subset=self.subset,
        )


@dataclass
class Run:
    cell: Cell
    accuracy: list[float]  # G accuracy of the head after each round
    centralized: float
    backdoor_success: float  # measured on every run: without the attack, it is the clean rate
    attacked_heads: float | None  # share of new heads built with an attacker's update
    attack_updates_in: int
    attack_updates: int
    # Candidate blocks (baselines: aggregates) built with an attacker's update, and how many of
    # them became the head; None in runs journalled before these were counted.
    attacked_candidates: int | None = None
    attacked_candidates_final: int | None = None
    # Honest members' updates, and how many of them the new models were built from (baselines:
    # the rule used them; the FBA: in the final head's lineage); None in older journals.
    honest_updates: int | None = None
    honest_updates_in: int | None = None
    # The commit the run's code came from ("+changes" when tclearn/ or benchmarks/ differed from
    # it): the FBA's rules change between sessions, and a journal outlives them.
    revision: str | None = None

    @property
    def complete(self) -> bool:
        """Recorded with every measure the harness takes now (else the grid runs it again)."""
        return self.attacked_candidates is not None and self.honest_updates is not None


def run_cell(cell: Cell) -> Run:
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="tclearn-robustness-") as scratch:
        chain = connect("inprocess:memory")
        try:
            sim = Simulation(cell.config(), chain, open_store("local", Path(scratch)))
            run = _baseline(sim, cell) if cell.defence in BASELINES else _fba(sim, cell)
        finally:
            chain.close()
    return replace(run, revision=revision())


def revision() -> str | None:
    """The checkout's commit, marked when the code the runs use differs from it; None outside git."""
    root = Path(__file__).parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "tclearn", "benchmarks/*.py"],
            cwd=root,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if head.returncode:
        return None
    return head.stdout.strip() + ("+changes" if changed.stdout.strip() else "")


def _fba(sim: Simulation, cell: Cell) -> Run:
    result = sim.run()
    history = result.history
    if cell.defence == "fba-sequential":  # one member per block: a round is one turn of all members
        history = history[cell.members - 1 :: cell.members]
    finals = [r for r in result.history if r.outcome == "final"]
    attacked = [r for r in result.history if r.attackers_in > 0]  # proposed candidates only
    head_state = sim.ctx.block_weights(result.head)[1]
    return Run(
        cell,
        [r.global_accuracy for r in history],
        result.centralized_accuracy,
        sim.backdoor_success(head_state),
        sum(r.attackers_in > 0 for r in finals) / len(finals) if finals and cell.attack != "none" else None,
        result.attacks_accepted,
        result.attacks_proposed,
        len(attacked),
        sum(r.outcome == "final" for r in attacked),
        result.honest_proposed,
        result.honest_accepted,
    )


def _baseline(sim: Simulation, cell: Cell) -> Run:
    """Plain federated learning: every member's update, Flower's rule, no vote."""
    rule = _flower_rule(cell)
    state = sim.ctx.block_weights(1)[1]
    accuracy, attack_updates, attack_updates_in, attacked_heads, honest_in = [], 0, 0, 0, 0
    for number in range(1, cell.rounds + 1):
        steps = [sim.member_step(i, state, seed=cell.seed * 1000 + number * 50 + i) for i in range(cell.members)]
        arrays = [(sim.family.to_arrays(s), len(sim.split.members[i])) for i, (s, _) in enumerate(steps)]
        aggregate = rule(arrays)
        used = _used_updates(cell, arrays, aggregate)
        attacking_in = sum(attacking and is_used for (_, attacking), is_used in zip(steps, used, strict=True))
        attack_updates += sum(attacking for _, attacking in steps)
        honest_in += sum(not attacking and is_used for (_, attacking), is_used in zip(steps, used, strict=True))
        attack_updates_in += attacking_in
        attacked_heads += attacking_in > 0
        state = sim.family.from_arrays(aggregate)
        accuracy.append(sim.global_accuracy(state))
    return Run(
        cell,
        accuracy,
        sim.centralized_accuracy(),
        sim.backdoor_success(state),
        attacked_heads / cell.rounds if cell.attack != "none" else None,
        attack_updates_in,
        attack_updates,
        attacked_heads,  # no vote: every attacked aggregate becomes the head
        attacked_heads,
        cell.rounds * cell.members - attack_updates,
        honest_in,
    )


def _used_updates(cell: Cell, arrays: list[tuple[list[np.ndarray], int]], aggregate: list[np.ndarray]) -> list[bool]:
    """Which updates the new model is built from: Krum keeps the one it selects (its output is
    that update), Multi-Krum the n − f with the lowest scores (Flower's selection, which
    `tclearn.fba.aggregate.krum_scores` follows); mean, median and trimmed mean compute every
    coordinate over all of them."""
    if cell.defence == "krum":
        return [all(np.array_equal(a, b) for a, b in zip(update, aggregate, strict=True)) for update, _ in arrays]
    if cell.defence == "multi-krum":
        bad = _expected_bad(cell)
        chosen = set(np.argsort(krum_scores([u for u, _ in arrays], bad), kind="stable")[: len(arrays) - bad].tolist())
        return [i in chosen for i in range(len(arrays))]
    return [True] * len(arrays)


def _expected_bad(cell: Cell) -> int:
    return max(1, cell.attackers)


def _flower_rule(cell: Cell) -> Callable[[list[tuple[list[np.ndarray], int]]], list[np.ndarray]]:
    from flwr.server.strategy import aggregate as flower

    expected_bad = _expected_bad(cell)
    if cell.defence == "fedavg":
        return flower.aggregate
    if cell.defence == "median":
        return flower.aggregate_median
    if cell.defence == "trimmed-mean":
        return lambda results: flower.aggregate_trimmed_avg(results, min(0.4, expected_bad / cell.members))
    keep = cell.members - expected_bad if cell.defence == "multi-krum" else 0
    return lambda results: flower.aggregate_krum(results, expected_bad, keep)


PRIORITY = ("fedavg", "fba-fedavg", "median", "trimmed-mean", "krum", "multi-krum", "fba-median", "fba-sequential")
TRACKS = ("breast-cancer", "fashion-mnist")
FASHION_ATTACKS = ("none", "label-flip", "sign-flip", "noise", "scale", "backdoor", "free-ride")
FASHION_SUBSET = 12_000


def fashion_grid(seeds: int, rounds: int) -> list[Cell]:
    """The imaging track: 10 members and 5 validators on a 12,000-image subset, 0 or 3 members
    attacking, Flower's rules against the FBA with federated averaging and with the median."""
    defences = (*BASELINES, "fba-fedavg", "fba-median")
    cells = [
        Cell(defence, attack, 0 if attack == "none" else 3, alpha, seed, rounds, 10, 5, "fashion-mnist", FASHION_SUBSET)
        for alpha in (0.5, 0.1)
        for attack in FASHION_ATTACKS
        for defence in defences
        for seed in range(seeds)
    ]
    return sorted(cells, key=_priority)


def grid(quick: bool, seeds: int, rounds: int) -> list[Cell]:
    if quick:
        attacks, fractions, alphas, defences = (
            ("none", "noise", "sign-flip", "backdoor"),
            (2,),
            (0.5,),
            (
                "fedavg",
                "median",
                "krum",
                "fba-fedavg",
            ),
        )
    else:
        baselines = tuple(d for d in DEFENCES if d != "multi-krum")  # the table's grid, as measured
        attacks, fractions, alphas, defences = ("none", *ATTACKS), (1, 2), (0.5, 100.0), baselines
    cells = []
    for alpha in alphas:
        for attack in attacks:
            for attackers in (0,) if attack == "none" else fractions:
                for defence in defences:
                    cells += [Cell(defence, attack, attackers, alpha, seed, rounds) for seed in range(seeds)]
    # The claim's cells first: a third of the members attacking (and no attack), FedAvg, then the
    # FBA; sequential FBA (six times the blocks) last.
    return sorted(cells, key=_priority)


def _priority(cell: Cell) -> tuple[bool, int, int, int]:
    group = -cell.attackers if cell.attackers else -2
    return cell.defence == "fba-sequential", group, PRIORITY.index(cell.defence), cell.seed


def summarise(runs: Sequence[Run]) -> list[dict[str, object]]:
    """One row per cell (over seeds)."""
    groups: dict[Cell, list[Run]] = {}
    for run in runs:
        groups.setdefault(replace(run.cell, seed=0), []).append(run)
    rows = []
    for cell, cell_runs in groups.items():
        row = {k: v for k, v in asdict(cell).items() if k != "seed"}
        row |= {
            "seeds": len(cell_runs),
            **mean_sd("final_accuracy", (r.accuracy[-1] for r in cell_runs)),
            "centralized_accuracy_mean": round(statistics.mean(r.centralized for r in cell_runs), 4),
            "backdoor_success_mean": _mean(r.backdoor_success for r in cell_runs),
            "attacked_heads_mean": _mean(r.attacked_heads for r in cell_runs),
            "attack_updates_in": sum(r.attack_updates_in for r in cell_runs),
            "attack_updates": sum(r.attack_updates for r in cell_runs),
            "rounds_to_95pct_centralized": _mean(_rounds_to(r, 0.95) for r in cell_runs),  # of the runs reaching it
            "runs_reaching_95pct": sum(_rounds_to(r, 0.95) is not None for r in cell_runs),
            "attacked_candidates": _total(r.attacked_candidates for r in cell_runs),
            "attacked_candidates_final": _total(r.attacked_candidates_final for r in cell_runs),
            "honest_updates_in": _total(r.honest_updates_in for r in cell_runs),
            "honest_updates": _total(r.honest_updates for r in cell_runs),
            "honest_share_min": _least_share(cell_runs),
        }
        rows.append(row)
    return rows


def _least_share(runs: Sequence[Run]) -> float | None:
    """The lowest share of honest updates in over a cell's runs (the claim holds run by run)."""
    counted = [r for r in runs if r.honest_updates and r.honest_updates_in is not None]
    shares = [r.honest_updates_in / r.honest_updates for r in counted]  # type: ignore[operator]
    return round(min(shares), 4) if shares else None


CLAIM_POINTS = 0.03  # within 3 points of the defence's own attack-free run
CLAIM_BACKDOOR = 0.05
CLAIM_HONEST = 0.90


def claim_checks(runs: Sequence[Run]) -> list[dict[str, object]]:
    """Issue 16's claim, cell by cell, for every FBA defence under attack: it ends at least as
    high as the best of Flower's rules, within 3 points of its own attack-free run, with
    backdoor success at most 0.05 and at least 90 % of honest updates in every run. Accuracies
    are means over the seeds the FBA's cell has run, and another cell counts only once it has
    run them all, so that every comparison is on the same splits. A check that cannot be made
    yet is None."""
    by: dict[Cell, dict[int, Run]] = {}
    for run in runs:
        by.setdefault(replace(run.cell, seed=0), {})[run.cell.seed] = run

    def mean_on(cell: Cell, seeds: list[int], measure: str = "accuracy") -> float | None:
        found = by.get(cell, {})
        if not all(s in found for s in seeds):
            return None
        if measure == "backdoor":
            return statistics.mean(found[s].backdoor_success for s in seeds)
        return statistics.mean(found[s].accuracy[-1] for s in seeds)

    checks = []
    for cell, seeded in sorted(by.items(), key=lambda kv: (kv[0].alpha, kv[0].attackers, kv[0].attack, kv[0].defence)):
        if cell.defence not in FBA or not cell.attackers:
            continue
        seeds = sorted(seeded)
        accuracy = statistics.mean(seeded[s].accuracy[-1] for s in seeds)
        flower = [mean_on(replace(cell, defence=d), seeds) for d in BASELINES]
        best = max((a for a in flower if a is not None), default=None)
        # The best of the rules that held the backdoor too: FedAvg's accuracy under a backdoor
        # is its attackers' clean data, bought with the trigger working on nearly every input.
        holding = [
            a
            for a, d in zip(flower, BASELINES, strict=True)
            if a is not None and (mean_on(replace(cell, defence=d), seeds, "backdoor") or 0.0) <= CLAIM_BACKDOOR
        ]
        best_holding = max(holding, default=None)
        free = mean_on(replace(cell, attack="none", attackers=0), seeds)
        backdoor = statistics.mean(seeded[s].backdoor_success for s in seeds)
        honest = _least_share(list(seeded.values()))
        checks.append(
            {
                "alpha": cell.alpha,
                "attackers": cell.attackers,
                "attack": cell.attack,
                "defence": cell.defence,
                "seeds": seeds,
                "accuracy": round(accuracy, 4),
                "best_flower": None if best is None else round(best, 4),
                "attack_free": None if free is None else round(free, 4),
                "backdoor_success": round(backdoor, 4),
                "honest_share_min": honest,
                "best_flower_holding_backdoor": None if best_holding is None else round(best_holding, 4),
                "at_least_flower": None if best is None else accuracy >= best,
                "at_least_flower_holding_backdoor": None if best_holding is None else accuracy >= best_holding,
                "within_3_points": None if free is None else accuracy >= free - CLAIM_POINTS,
                "backdoor_ok": backdoor <= CLAIM_BACKDOOR,
                "honest_ok": None if honest is None else honest >= CLAIM_HONEST,
            }
        )
    return checks


CHECKS = ("at_least_flower", "within_3_points", "backdoor_ok", "honest_ok")


def claim_markdown(checks: Sequence[dict[str, object]]) -> str:
    """The claim's table: each FBA cell under attack, each check ✓ or ✗ with its figures."""
    out = ["The claim, cell by cell (✓ holds, ✗ fails, — not yet measurable):", ""]
    heads = ("≥ best of Flower", "within 3 points of attack-free", "backdoor ≤ 0.05", "honest ≥ 90 %")
    out += [
        "| α | attackers | attack | defence | seeds | " + " | ".join(heads) + " |",
        "|---|---:|---|---|---:|---|---|---|---|",
    ]
    for c in checks:
        marks = {k: "—" if c[k] is None else ("✓" if c[k] else "✗") for k in CHECKS}
        best = "—" if c["best_flower"] is None else f"{c['best_flower']:.3f}"
        free = "—" if c["attack_free"] is None else f"{c['attack_free']:.3f}"
        honest = "—" if c["honest_share_min"] is None else f"{100 * float(c['honest_share_min']):.0f} %"  # type: ignore[arg-type]
        out.append(
            f"| {c['alpha']} | {c['attackers']} | {c['attack']} | {c['defence']} | {len(c['seeds'])} "
            f"| {marks['at_least_flower']} {c['accuracy']:.3f} vs {best} "
            f"| {marks['within_3_points']} vs {free} "
            f"| {marks['backdoor_ok']} {c['backdoor_success']:.3f} "
            f"| {marks['honest_ok']} {honest} |"
        )
    holding = sum(all(c[k] for k in CHECKS) for c in checks)
    out += ["", f"Every check holds in {holding} of {len(checks)} cells (seeds: those the FBA's cell has run).", ""]
    compared = [c for c in checks if c["at_least_flower_holding_backdoor"] is not None]
    ahead = sum(bool(c["at_least_flower_holding_backdoor"]) for c in compared)
    out += [
        f"Against the best of Flower's rules whose backdoor success was at most {CLAIM_BACKDOOR} on the same "
        f"seeds: at least as high in {ahead} of {len(compared)} cells.",
        "",
    ]
    return "\n".join(out)


def _rounds_to(run: Run, share: float) -> float | None:
    return next((i + 1.0 for i, a in enumerate(run.accuracy) if a >= share * run.centralized), None)


def _total(values: Iterable[int | None]) -> int | None:
    """The sum over seeds, or None if a run did not count it."""
    counted = list(values)
    return None if any(v is None for v in counted) else sum(counted)  # type: ignore[misc]


def _mean(values: object) -> float | None:
    present = [v for v in values if v is not None]  # type: ignore[attr-defined]
    return round(statistics.mean(present), 4) if present else None


@click.command()
@click.option("--track", type=click.Choice(TRACKS), default="breast-cancer", show_default=True)
@click.option("--quick", is_flag=True, help="A reduced grid for CI smoke (under 10 minutes).")
@click.option("--seeds", type=int, default=None, help="Seeds per cell [3; quick: 1].")
@click.option("--rounds", type=int, default=None, help="Rounds per run [20; quick: 8].")
@click.option("--defences", default=None, help="Only these defences (comma-separated).")
@click.option("--attackers", "attacker_counts", default=None, help="Only these attacker counts, e.g. 2 or 0,2.")
@click.option("--attacks", default=None, help="Only these attacks (comma-separated; none: the attack-free runs).")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--no-run", is_flag=True, help="Only summarise and plot the runs the journal holds.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the summary as docs/RESULTS.md's tables.")
@click.option("--plots", type=click.Path(path_type=Path), default=Path("docs/img"), show_default=True)
def main(
    track: str,
    quick: bool,
    seeds: int | None,
    rounds: int | None,
    defences: str | None,
    attacker_counts: str | None,
    attacks: str | None,
    workers: int,
    no_run: bool,
    as_markdown: bool,
    plots: Path,
) -> None:
    seeds, rounds = seeds or (1 if quick else 3), rounds or (8 if quick else 20)
    fashion = track == "fashion-mnist"
    cells = fashion_grid(seeds, rounds) if fashion else grid(quick, seeds, rounds)
    if defences:
        cells = [c for c in cells if c.defence in defences.split(",")]
    if attacker_counts:
        cells = [c for c in cells if str(c.attackers) in attacker_counts.split(",")]
    if attacks:
        cells = [c for c in cells if c.attack in attacks.split(",")]
    stem = "robustness-fmnist" if fashion else "robustness-quick" if quick else "robustness"
    journal = None if quick else RESULTS / f"{stem}-runs.jsonl"
    runs = run_all(cells, 0 if no_run else workers, journal)
    rows = summarise(runs)
    for row in rows:
        click.echo(json.dumps(row))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{stem}.json"
    document: dict[str, object] = {"rows": rows, "claim": claim_checks(runs)}
    if journal is None:  # the full grid's runs are in its journal
        document["runs"] = [asdict(r) for r in runs]
    out.write_text(json.dumps(document, indent=1) + "\n")
    click.echo(f"wrote {out}")
    for path in [*plot(rows, plots, stem), *plot_curves(runs, plots, stem)]:
        click.echo(f"wrote {path}")
    if as_markdown:
        click.echo(markdown(rows))
        click.echo(claim_markdown(claim_checks(runs)))


def run_all(cells: Sequence[Cell], workers: int, journal: Path | None) -> list[Run]:
    """Every cell's run, reusing those the journal holds and appending each new one as it ends
    (with no workers: only those the journal holds). A run journalled before the harness took
    all its measures is run again once every missing cell has run; until then its record stands
    (the newest record counts). A run that fails is reported as it fails and the others go on
    (a failure used to wait, unreported, for the pool to run every other cell, and none of
    those reached the journal); the grid then stops with the failures named."""
    done = {run.cell: run for run in read_journal(journal)} if journal else {}
    missing = [c for c in cells if c not in done]
    stale = [c for c in cells if c in done and not done[c].complete]
    todo = missing + stale if workers else []
    failed: list[str] = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(run_cell, c): c for c in todo}
        for future in as_completed(futures):
            try:
                run = future.result()
            except Exception as exc:  # a run's own error: name it, keep the others
                failed.append(f"{futures[future]}: {exc!r}")
                click.echo(f"failed {failed[-1]}", err=True)
                continue
            done[run.cell] = run
            if journal is not None:
                _append(journal, run)
            click.echo(f"done {run.cell}", err=True)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(todo)} runs failed:\n" + "\n".join(failed))
    return [done[c] for c in cells if c in done]


def _append(journal: Path, run: Run) -> None:
    """One line per run; a line a crash cut short is closed first, so the new one stays whole."""
    journal.parent.mkdir(exist_ok=True)
    with journal.open("a+b") as handle:  # appends go to the end, wherever it last read
        end = handle.seek(0, os.SEEK_END)
        if end:
            handle.seek(end - 1)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        handle.write(json.dumps(asdict(run)).encode() + b"\n")


def read_journal(journal: Path) -> list[Run]:
    """The runs a journal holds; a line cut short by a crash is skipped."""
    if not journal.exists():
        return []
    runs = []
    for line in journal.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        runs.append(Run(**{**record, "cell": Cell(**record["cell"])}))
    return runs


def markdown(rows: list[dict[str, object]]) -> str:
    """The tables of docs/RESULTS.md: per split and attacker count, final accuracy per attack and
    defence, then what got in and how fast each defence learnt."""
    out = []
    for alpha, attackers in sorted({(r["alpha"], r["attackers"]) for r in rows if r["attackers"]}):
        chosen = [r for r in rows if r["alpha"] == alpha and r["attackers"] in (0, attackers)]
        defences = [d for d in PRIORITY if any(r["defence"] == d for r in chosen)]
        attacks = list(dict.fromkeys(str(r["attack"]) for r in chosen))
        by = {(r["attack"], r["defence"]): r for r in chosen}
        who = f"{attackers} of {chosen[0]['members']} members attacking"
        out += [f"Dirichlet α = {alpha}, {who}: final G accuracy, mean ± sd (seeds)", ""]
        out += ["| attack | " + " | ".join(defences) + " |", "|---|" + "---:|" * len(defences)]
        for attack in attacks:
            cells = [by.get((attack, d)) for d in defences]
            out.append(f"| {attack} | " + " | ".join(_accuracy_cell(c) for c in cells) + " |")
        out += ["", "Points of final accuracy against the same defence's attack-free run:", ""]
        out += ["| attack | " + " | ".join(defences) + " |", "|---|" + "---:|" * len(defences)]
        for attack in attacks[1:] if attacks and attacks[0] == "none" else attacks:
            drops = [_drop_cell(by.get((attack, d)), by.get(("none", d))) for d in defences]
            out.append(f"| {attack} | " + " | ".join(drops) + " |")
        out += ["", f"| attack | defence | {' | '.join(DETAILS)} |", "|---|---|" + "---:|" * len(DETAILS)]
        for attack in attacks:
            for defence in defences:
                row = by.get((attack, defence))
                if row is not None:
                    out.append(f"| {attack} | {defence} | {_detail_cells(row)} |")
        out.append("")
    return "\n".join(out)


def _accuracy_cell(row: dict[str, object] | None) -> str:
    if row is None:
        return "—"
    return f"{row['final_accuracy_mean']:.3f} ± {row['final_accuracy_sd']:.3f} ({row['seeds']})"


def _drop_cell(row: dict[str, object] | None, clean: dict[str, object] | None) -> str:
    if row is None or clean is None:
        return "—"
    return f"{100 * (float(row['final_accuracy_mean']) - float(clean['final_accuracy_mean'])):+.1f}"


DETAILS = (
    "backdoor success",
    "attacked candidates that became the head",
    "attacked heads",
    "attack updates in",
    "honest updates in",
    "rounds to 95 %",
)


def _detail_cells(row: dict[str, object]) -> str:
    heads = "—" if row["attacked_heads_mean"] is None else f"{row['attacked_heads_mean']:.2f}"
    rounds = "—" if row["rounds_to_95pct_centralized"] is None else f"{row['rounds_to_95pct_centralized']:.1f}"
    reached = f"{rounds} ({row['runs_reaching_95pct']}/{row['seeds']})"
    updates = f"{row['attack_updates_in']}/{row['attack_updates']}"
    counted = row["attacked_candidates"] is not None
    candidates = f"{row['attacked_candidates_final']}/{row['attacked_candidates']}" if counted else "—"
    honest = "—" if row["honest_updates"] is None else f"{row['honest_updates_in']}/{row['honest_updates']}"
    return f"{row['backdoor_success_mean']:.2f} | {candidates} | {heads} | {updates} | {honest} | {reached}"


def plot(rows: list[dict[str, object]], directory: Path, stem: str) -> list[Path]:
    """Final G accuracy per attack and defence (mean, sd over seeds), one figure per (split,
    attacker count)."""
    paths = []
    for alpha, attackers in sorted({(r["alpha"], r["attackers"]) for r in rows if r["attackers"]}):
        chosen = [r for r in rows if r["alpha"] == alpha and r["attackers"] in (0, attackers)]
        attacks = list(dict.fromkeys(str(r["attack"]) for r in chosen))
        defences = [d for d in PRIORITY if any(r["defence"] == d for r in chosen)]
        by = {(r["attack"], r["defence"]): r for r in chosen}
        series = {d: _column(by, attacks, d, "final_accuracy_mean") for d in defences}
        errors = {d: _column(by, attacks, d, "final_accuracy_sd") for d in defences}
        title = f"final G accuracy, {attackers} of {chosen[0]['members']} members attacking, Dirichlet α = {alpha}"
        path = directory / f"{stem}-alpha{alpha}-attackers{attackers}.png"
        paths.append(grouped_bars(path, attacks, series, "accuracy on G", title, errors))
    return paths


Rows = dict[tuple[object, object], dict[str, object]]


def _column(by: Rows, attacks: list[str], defence: str, key: str) -> list[float]:
    """One defence's `key` per attack; nan where the cell has not run yet (no bar)."""
    return [float(by[(a, defence)][key]) if (a, defence) in by else float("nan") for a in attacks]  # type: ignore[arg-type]


CURVE_ATTACKS = ("noise", "sign-flip")


def plot_curves(runs: Sequence[Run], directory: Path, stem: str) -> list[Path]:
    """The head's G accuracy round by round (mean over seeds) per defence, for the claim's
    attacks at the largest attacker count: how fast each defence learns, and whether it falls."""
    paths = []
    most = max((r.cell.attackers for r in runs), default=0)
    for alpha in sorted({r.cell.alpha for r in runs}):
        for attack in CURVE_ATTACKS:
            chosen = [r for r in runs if (r.cell.alpha, r.cell.attack, r.cell.attackers) == (alpha, attack, most)]
            if not chosen:
                continue
            series = {
                defence: [statistics.mean(step) for step in zip(*(r.accuracy for r in same), strict=True)]
                for defence in PRIORITY
                if (same := [r for r in chosen if r.cell.defence == defence])
            }
            reference = statistics.mean(r.centralized for r in chosen)
            title = f"{attack}, {most} of {chosen[0].cell.members} members attacking, Dirichlet α = {alpha}"
            path = directory / f"{stem}-curves-alpha{alpha}-{attack}.png"
            paths.append(curves(path, series, reference, "G accuracy of the head (mean over seeds)", title))
    return paths


if __name__ == "__main__":
    main()
