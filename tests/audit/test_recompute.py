"""`tclearn audit verify --recompute` on a coalition run through the node commands, in modes A
and B: the auditor opens each accepted model (mode B: with its own key), evaluates it on G, and
finds the figures every accepting validator reported; figures measured on another G are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tclearn.audit.coalition import Audited
from tclearn.audit.history import History
from tclearn.audit.recompute import recompute
from tclearn.audit.verify import Verification
from tclearn.cli import main
from tclearn.nodes.site import global_test_set, open_node

pytestmark = pytest.mark.slow  # a coalition trains for two rounds


def run(directory: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["--dir", str(directory), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else {}


@pytest.fixture(scope="module", params=["A", "B"])
def coalition(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mode B: every model sealed; the auditor opens them with its own key."""
    directory = tmp_path_factory.mktemp("coalition")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("TCLEARN_PASSWORD", "audit-test")
    init = ["init", "--mode", request.param, "--members", "3", "--validators", "4", "--scrypt-n", "1024"]
    run(directory, *init, "--gather", "0")
    run(directory, "deploy")
    for _ in range(2):
        for i in (1, 2, 3):
            run(directory, "member", "submit", "--as", f"member-{i}")
        for _ in range(2):
            for i in range(1, 5):
                run(directory, "validator", "run", "--as", f"validator-{i}", "--once")
    yield directory
    monkeypatch.undo()


def test_the_auditor_finds_the_figures_the_validators_reported(coalition: Path) -> None:
    data = run(coalition, "audit", "verify", "--recompute", "--json")
    assert data["ok"] and data["problems"] == []
    assert data["recomputed"]["models"] == 2 and data["recomputed"]["votes_compared"] >= 6


def test_figures_measured_on_another_g_are_named(coalition: Path) -> None:
    """The same inputs with every label flipped: no accepting vote's figures hold."""
    with Audited.at(coalition).opened() as (ledger, _store):
        history = History.read(ledger)
    node = open_node(coalition, "auditor-1")
    try:
        gx, gy = global_test_set(node, None)
        result = Verification()
        models, compared = recompute(
            history.blocks(), lambda b: node.ctx.block_weights(b)[1], node.ctx.family, (gx, 1 - gy), result
        )
    finally:
        node.close()
    assert models == 2 and compared >= 6
    assert len(result.problems) == compared and {p.kind for p in result.problems} == {"metrics"}
    assert {p.block for p in result.problems} == {2, 3}


def test_a_kept_simulation_cannot_be_recomputed(tmp_path: Path) -> None:
    (tmp_path / "simulation.json").write_text(
        json.dumps({"chain": "x", "ledger": "0x0", "store": "local", "names": {}})
    )
    result = CliRunner().invoke(main, ["--dir", str(tmp_path), "audit", "verify", "--recompute"])
    assert result.exit_code == 1
