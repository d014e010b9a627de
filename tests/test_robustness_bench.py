"""The robustness benchmark's harness: baselines through Flower's rules, FBA cells through the protocol."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import click
import numpy as np
import pytest

pytest.importorskip("flwr")

from benchmarks import robustness
from benchmarks.robustness import (
    Cell,
    Run,
    _flower_rule,
    _used_updates,
    claim_checks,
    claim_markdown,
    fashion_grid,
    grid,
    markdown,
    plot,
    plot_curves,
    run_all,
    run_cell,
    summarise,
)
from tclearn.fba import aggregate as ours

pytestmark = pytest.mark.slow  # end to end: whole coalitions train


def test_quick_grid_is_small_and_covers_the_claim() -> None:
    cells = grid(quick=True, seeds=1, rounds=8)
    assert {c.attack for c in cells} >= {"none", "noise", "sign-flip"}
    assert {c.defence for c in cells} >= {"fedavg", "fba-fedavg"}
    assert all(c.attackers == 2 for c in cells if c.attack != "none")
    assert len(cells) <= 16


def test_the_fashion_grid_is_the_issues_grid() -> None:
    cells = fashion_grid(seeds=3, rounds=20)
    assert {c.alpha for c in cells} == {0.5, 0.1} and {c.attackers for c in cells} == {0, 3}
    flower = {"fedavg", "median", "trimmed-mean", "krum", "multi-krum"}
    assert {c.defence for c in cells} == flower | {"fba-fedavg", "fba-median"}
    assert {c.attack for c in cells} == {"none", "label-flip", "sign-flip", "noise", "scale", "backdoor", "free-ride"}
    assert all((c.members, c.validators, c.subset, c.rounds) == (10, 5, 12_000, 20) for c in cells)
    assert len(cells) == 2 * 7 * 7 * 3


@pytest.mark.parametrize("defence", ["fedavg", "median", "trimmed-mean", "krum", "multi-krum"])
def test_baselines_aggregate_with_flowers_rules(defence: str) -> None:
    rng = np.random.default_rng(1)
    updates = [[rng.normal(size=(3, 2)), rng.normal(size=2)] for _ in range(6)]
    samples = [10, 20, 30, 40, 50, 60]
    expected = {
        "fedavg": ours.weighted_mean(updates, samples),
        "median": ours.coordinate_median(updates),
        "trimmed-mean": ours.trimmed_mean(updates, 2 / 6),
        "krum": ours.krum(updates, 2),
        "multi-krum": ours.multi_krum(updates, samples, 2, 4),
    }[defence]
    got = _flower_rule(Cell(defence, "noise", 2, 0.5, 0, 1))(list(zip(updates, samples, strict=True)))
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b)


def test_krums_new_model_is_built_from_the_one_update_it_selects_only() -> None:
    rng = np.random.default_rng(2)
    honest = [[rng.normal(0, 0.1, size=(3, 2)), rng.normal(0, 0.1, size=2)] for _ in range(4)]
    noise = [[rng.normal(0, 10, size=(3, 2)), rng.normal(0, 10, size=2)] for _ in range(2)]
    results = [(u, 10) for u in noise + honest]
    krum = Cell("krum", "noise", 2, 0.5, 0, 1)
    used = _used_updates(krum, results, _flower_rule(krum)(results))
    assert sum(used) == 1 and not any(used[:2]), "one honest update selected"
    median = Cell("median", "noise", 2, 0.5, 0, 1)
    assert all(_used_updates(median, results, _flower_rule(median)(results)))
    multi = Cell("multi-krum", "noise", 2, 0.5, 0, 1)
    assert _used_updates(multi, results, _flower_rule(multi)(results)) == [False, False, True, True, True, True]


def test_a_baseline_and_an_fba_cell_run_on_the_same_harness(tmp_path: Path) -> None:
    runs = [run_cell(Cell(defence, "noise", 2, 0.5, 0, 2)) for defence in ("fedavg", "fba-fedavg")]
    baseline, fba = runs
    assert baseline.attack_updates == 4 and baseline.attack_updates_in == 4, "no defence: every update is in"
    assert fba.attack_updates == 4 and fba.attack_updates_in == 0
    assert baseline.centralized == fba.centralized, "same data, seed and model"
    assert baseline.revision == fba.revision == robustness.revision(), "each run names the code it ran"
    rows = summarise(runs)
    assert [r["defence"] for r in rows] == ["fedavg", "fba-fedavg"]
    assert rows[1]["final_accuracy_mean"] > rows[0]["final_accuracy_mean"]
    assert all(0.0 <= r["backdoor_success_mean"] <= 1.0 for r in rows)
    tables = markdown(rows)
    assert "| attack | fedavg | fba-fedavg |" in tables
    assert baseline.attacked_candidates == baseline.attacked_candidates_final == 2, "no vote: every aggregate is head"
    assert fba.attacked_candidates is not None and fba.attacked_candidates_final == 0
    assert baseline.honest_updates == baseline.honest_updates_in == 8, "no defence: every honest update is in"
    assert fba.honest_updates == 8 and fba.honest_updates_in is not None and fba.honest_updates_in <= 8
    fba_backdoor, fba_honest = f"{rows[1]['backdoor_success_mean']:.2f}", f"{fba.honest_updates_in}/8"
    fba_line = f"| noise | fba-fedavg | {fba_backdoor} | 0/{fba.attacked_candidates} | 0.00 | 0/4 | {fba_honest} |"
    assert fba_line in tables
    assert f"| noise | fedavg | {rows[0]['backdoor_success_mean']:.2f} | 2/2 | 1.00 | 4/4 | 8/8 |" in tables
    assert "| noise | — | — |" in tables, "no attack-free run in this grid: no drop to show"
    (check,) = claim_checks(runs)  # the claim, on the seeds the FBA's cell ran
    assert (check["defence"], check["attack"], check["seeds"]) == ("fba-fedavg", "noise", [0])
    assert check["at_least_flower"] is True and check["best_flower"] == round(baseline.accuracy[-1], 4)
    assert check["within_3_points"] is None, "no attack-free run: not yet measurable"
    assert check["honest_ok"] == (fba.honest_updates_in / 8 >= 0.9)
    assert "| 0.5 | 2 | noise | fba-fedavg | 1 | ✓ " in claim_markdown([check]), "each cell names its attackers"
    bars, curves = plot(rows, tmp_path, "t"), plot_curves(runs, tmp_path, "t")
    assert [p.name for p in bars + curves] == ["t-alpha0.5-attackers2.png", "t-curves-alpha0.5-noise.png"]
    assert all(p.stat().st_size > 10_000 for p in bars + curves)


def test_the_full_grid_puts_the_claims_cells_first() -> None:
    cells = grid(quick=False, seeds=3, rounds=20)
    head = cells[: 2 * 3 * 9]  # FedAvg: 2 splits x 3 seeds x (none + 8 attacks) with 2 attackers
    assert {c.defence for c in head} == {"fedavg"} and {c.attackers for c in head} == {0, 2}
    assert cells[len(head)].defence == "fba-fedavg"
    assert {c.attackers for c in cells} == {0, 1, 2} and len(cells) == len(set(cells))


def test_a_stopped_grid_resumes_from_its_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "runs.jsonl"
    cell = Cell("fedavg", "noise", 2, 0.5, 0, 1)
    first = run_all([cell], 1, journal)
    with journal.open("a") as handle:
        handle.write('{"cell": {"defence": "fed')  # a line cut short by a crash

    def refuse(_: Cell) -> None:
        raise AssertionError("a journaled cell ran again")

    monkeypatch.setattr(robustness, "run_cell", refuse)
    again = run_all([cell], 1, journal)
    assert again == first and again[0].cell == cell
    other = Cell("median", "noise", 2, 0.5, 0, 1)
    assert run_all([cell, other], 0, journal) == first, "no workers: the journal's runs only"


def test_a_run_journalled_before_a_measure_was_added_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "runs.jsonl"
    cell = Cell("fedavg", "noise", 2, 0.5, 0, 1)
    old = robustness.Run(cell, [0.5], 0.9, 0.0, 1.0, 2, 2)  # no attacked candidates counted
    journal.write_text(json.dumps(asdict(old)) + "\n" + '{"cell": {"defence": "fed')  # then a torn line
    assert run_all([cell], 0, journal) == [old], "until it has run again, the old record stands"
    fresh = replace(old, attacked_candidates=1, attacked_candidates_final=1, honest_updates=4, honest_updates_in=4)
    assert not replace(old, attacked_candidates=1, attacked_candidates_final=1).complete, "honest work not counted"
    never_run = Cell("median", "noise", 2, 0.5, 0, 1)
    order: list[Cell] = []

    def record(c: Cell) -> robustness.Run:
        order.append(c)
        return replace(fresh, cell=c)

    monkeypatch.setattr(robustness, "run_cell", record)
    monkeypatch.setattr(robustness, "ProcessPoolExecutor", ThreadPoolExecutor)  # the patch reaches the run
    assert run_all([cell, never_run], 1, journal) == [fresh, replace(fresh, cell=never_run)]
    assert order == [never_run, cell], "cells never run come before runs to refresh"
    assert run_all([cell], 0, journal) == [fresh], "the newest record counts, written whole after the torn line"


def test_a_failed_run_is_named_and_the_others_are_journalled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "runs.jsonl"
    broken, fine = Cell("fedavg", "noise", 2, 0.5, 0, 1), Cell("median", "noise", 2, 0.5, 0, 1)
    result = robustness.Run(fine, [0.5], 0.9, 0.0, 1.0, 2, 2, 1, 1, 4, 4)

    def run(c: Cell) -> robustness.Run:
        if c == broken:
            raise ValueError("zip() argument 2 is shorter than argument 1")
        return result

    monkeypatch.setattr(robustness, "run_cell", run)
    monkeypatch.setattr(robustness, "ProcessPoolExecutor", ThreadPoolExecutor)
    with pytest.raises(click.ClickException, match=r"1 of 2 runs failed:\n.*defence='fedavg'.*zip\(\) argument"):
        run_all([broken, fine], 1, journal)
    assert run_all([broken, fine], 0, journal) == [result], "the run that ended is in the journal"


def test_the_quick_grid_supports_the_claim() -> None:
    """CI's smoke of the evidence: α = 0.5, 2 of 6 attacking, 8 rounds (about a minute)."""
    rows = {(r["attack"], r["defence"]): r for r in summarise(run_all(grid(quick=True, seeds=1, rounds=8), 2, None))}

    def drop(attack: str, defence: str) -> float:
        clean = rows[("none", defence)]["final_accuracy_mean"]
        return float(clean) - float(rows[(attack, defence)]["final_accuracy_mean"])  # type: ignore[arg-type]

    for attack in ("noise", "sign-flip"):
        assert drop(attack, "fba-fedavg") <= 0.03, attack  # the claim: within 3 points
        assert drop(attack, "fedavg") > 0.10, attack
        assert rows[(attack, "fba-fedavg")]["attack_updates_in"] == 0


def test_the_claim_also_compares_with_the_best_flower_rule_that_held_the_backdoor() -> None:
    """FedAvg ends highest under a backdoor because it keeps its attackers' clean data, trigger
    and all; the claim's table also names the best rule that held the trigger to 0.05."""

    def run(defence: str, accuracy: float, backdoor: float, attack: str = "backdoor") -> Run:
        cell = Cell(defence, attack, 0 if attack == "none" else 3, 0.1, 0, 1, 10, 5, "fashion-mnist", 12000)
        return Run(cell, [accuracy], 0.9, backdoor, None, 0, 3, 0, 0, 7, 7)

    runs = [run("fedavg", 0.83, 0.99), run("median", 0.76, 0.02), run("krum", 0.20, 0.05)]
    runs.append(run("fba-fedavg", 0.79, 0.02))
    (check,) = claim_checks([*runs, run("fba-fedavg", 0.83, 0.02, "none")])
    assert check["best_flower"] == 0.83 and check["at_least_flower"] is False
    assert check["best_flower_holding_backdoor"] == 0.76 and check["at_least_flower_holding_backdoor"] is True
    assert "at least as high in 1 of 1 cells" in claim_markdown([check])
