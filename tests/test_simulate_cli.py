"""`tclearn simulate`: its --json shape, its plot, and the same run on anvil and a real IPFS node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tclearn.cli import main

pytestmark = pytest.mark.slow  # end to end: whole coalitions train

KEYS = {
    "rounds",
    "accepted",
    "rejected",
    "head",
    "final_accuracy",
    "centralized_accuracy",
    "attacks_proposed",
    "attacks_accepted",
    "honest_proposed",
    "honest_accepted",
}


def simulate(tmp_path: Path, *args: str) -> dict:
    plot = tmp_path / "accuracy.png"
    result = CliRunner().invoke(
        main,
        ["simulate", "--members", "4", "--rounds", "3", "--plot", str(plot), "--json", *args],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary.keys() >= KEYS
    assert plot.read_bytes().startswith(b"\x89PNG")
    return summary


def test_simulate_json_on_the_embedded_default(tmp_path: Path) -> None:
    summary = simulate(tmp_path, "--attack", "noise", "--attackers", "1")
    assert summary["rounds"] == 3 and summary["accepted"] == 3
    assert summary["attacks_proposed"] == 3 and summary["attacks_accepted"] == 0
    assert summary["head"] == "4"
    assert summary["honest_proposed"] == 9 and 3 <= summary["honest_accepted"] <= 9


def test_the_image_track_trains_a_cnn_on_digits(tmp_path: Path) -> None:
    summary = simulate(tmp_path, "--dataset", "digits", "--learning", "sequential")
    assert summary["accepted"] >= 2 and summary["final_accuracy"] > 0.3


def test_a_backdoor_run_on_a_subset_reports_the_triggers_success(tmp_path: Path) -> None:
    summary = simulate(tmp_path, "--dataset", "digits", "--subset", "600", "--attack", "backdoor", "--attackers", "1")
    assert 0.0 <= summary["backdoor_success"] <= 1.0
    assert summary["attacks_proposed"] == 3 and summary["honest_proposed"] == 9
    clean = simulate(tmp_path, "--dataset", "digits", "--subset", "600")
    assert "backdoor_success" not in clean, "reported only when the attack is a backdoor"


def test_simulate_table_for_people(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", "--rounds", "2", "--plot", str(tmp_path / "p.png")])
    assert result.exit_code == 0
    assert "G accuracy" in result.stdout and "final accuracy" in result.stdout


def test_bad_flags_are_one_line_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", "--attack", "noise", "--attackers", "9", "--members", "4"])
    assert result.exit_code != 0 and "more attackers than members" in result.output


@pytest.mark.anvil
@pytest.mark.ipfs
def test_the_same_run_on_anvil_and_a_real_ipfs_node(tmp_path: Path) -> None:
    summary = simulate(tmp_path, "--chain", "anvil", "--store", "ipfs", "--attack", "label-flip", "--attackers", "1")
    assert summary["accepted"] == 3 and summary["attacks_accepted"] == 0


@pytest.mark.anvil
@pytest.mark.ipfs
def test_mode_b_on_anvil_and_a_real_ipfs_node_locks_the_removed_member_out(tmp_path: Path) -> None:
    summary = simulate(tmp_path, "--chain", "anvil", "--store", "ipfs", "--mode", "B", "--remove-member-at", "2")
    assert summary["mode"] == "B" and summary["accepted"] == 3
    removed = summary["removed_member"]
    assert removed["read_before"] == removed["models_before"] >= 1
    assert removed["models_after"] >= 1 and removed["read_after"] == 0


def test_mode_b_flags_are_refused_in_mode_a(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", "--remove-member-at", "2"])
    assert result.exit_code != 0 and "only in mode B" in result.output
    result = CliRunner().invoke(main, ["simulate", "--mode", "B", "--rounds", "2", "--join-member-at", "5"])
    assert result.exit_code != 0 and "after the last round" in result.output


def test_a_dead_member_is_mode_c_s(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", "--drop-member-at", "2"])
    assert result.exit_code != 0 and "only in mode C" in result.output
    result = CliRunner().invoke(main, ["simulate", "--mode", "C", "--rounds", "2", "--drop-member-at", "3"])
    assert result.exit_code != 0 and "after the last round" in result.output


def test_rogue_generals_and_a_kept_run_are_refused_where_they_cannot_be(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", "--validators", "4", "--rogue-generals", "4"])
    assert result.exit_code != 0 and "at least one validator must be honest" in result.output
    result = CliRunner().invoke(main, ["simulate", "--chain", "anvil", "--keep", str(tmp_path / "run")])
    assert result.exit_code != 0 and "does not outlive the run" in result.output
    assert not (tmp_path / "run").exists()
