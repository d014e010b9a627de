"""The coalition's rules: one canonical document, fixed on chain at deploy, and every node held to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tclearn.cli import main
from tclearn.errors import ConfigError
from tclearn.fba.policy import Tolerance
from tclearn.fba.strategy import FederatedAveraging, Sequential, Unscreened
from tclearn.rules import CoalitionRules, TrainingRecipe

ARCH = {"name": "mlp", "input_shape": [30], "num_classes": 2, "hidden": 32}


def test_the_document_is_canonical_and_round_trips() -> None:
    rules = CoalitionRules(ARCH, aggregator="trimmed-mean", aggregator_params={"beta": 0.2})
    again = CoalitionRules.from_document(rules.document())
    assert again == rules and again.document() == rules.document() and again.digest() == rules.digest()
    assert CoalitionRules(ARCH, tolerance=Tolerance(accuracy=0.03)).digest() != rules.digest()
    assert json.loads(rules.document())["format"] == "tclearn-rules/1"


def test_rules_written_before_gradient_clipping_keep_their_digest_and_train_unclipped() -> None:
    """A coalition deployed before the recipe clipped gradients: its document does not name
    `clip_norm`, its ledger holds that document's digest, and its members trained unclipped."""
    document = json.loads(CoalitionRules(ARCH).document())
    del document["training"]["clip_norm"]
    old = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    rules = CoalitionRules.from_document(old)
    assert rules.training.clip_norm is None and rules.training.config().clip_norm is None
    assert rules.document() == old
    assert CoalitionRules(ARCH).training.config().clip_norm == 1.0


def test_rules_name_the_strategy() -> None:
    assert CoalitionRules(ARCH, learning="sequential").strategy() == Sequential()
    assert CoalitionRules(ARCH, aggregator="median").strategy() == FederatedAveraging("median", {})
    assert CoalitionRules(ARCH, screening=False).strategy() == Unscreened(FederatedAveraging())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning": "gossip"}, "unknown learning mode"),
        ({"aggregator": "average"}, "unknown aggregation rule"),
        ({"mode": "D"}, "unknown mode"),
        ({"colour": "blue"}, "unknown rules"),
        ({"training": {"batch_size": 4}}, "below the minimum 16"),
        ({"tolerance": {"acc": 1}}, "malformed rules"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(change: dict, message: str) -> None:
    raw = {**CoalitionRules(ARCH).as_dict(), **change}
    with pytest.raises(ConfigError, match=message):
        CoalitionRules.from_dict(raw)


def test_the_training_recipe_defaults_respect_the_minimum_batch() -> None:
    assert CoalitionRules(ARCH, min_batch_size=8, training=TrainingRecipe(batch_size=8)).training.batch_size == 8


def run(directory: Path, *args: str) -> CliRunner:
    return CliRunner().invoke(main, ["--dir", str(directory), *args])


def test_a_node_whose_rules_differ_from_the_ledger_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TCLEARN_PASSWORD", raising=False)
    assert run(tmp_path, "init", "--members", "1", "--validators", "1", "--scrypt-n", "1024").exit_code == 0
    assert run(tmp_path, "deploy").exit_code == 0
    path = tmp_path / "coalition.json"
    config = json.loads(path.read_text())
    config["rules"]["learning"] = "sequential"
    config["rules"]["tolerance"]["accuracy"] = 0.5
    path.write_text(json.dumps(config))
    result = run(tmp_path, "validator", "run", "--as", "validator-1", "--once")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("error: this node's rules (coalition.json) differ")
    assert "learning: 'sequential' here, 'fedavg' on chain" in line
    assert "tolerance.accuracy: 0.5 here, 0.02 on chain" in line
    assert run(tmp_path, "member", "submit", "--as", "member-1").exit_code == 1, "members too"
