"""An installed TCLearn runs without the checkout: the compiled contracts ship as package data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_runs_a_simulation_without_node_modules(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("tclearn-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "tclearn/chain/artifacts/ModelLedger.json" in archive.namelist()
        archive.extractall(tmp_path / "site")
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path / "site"),
        "TCLEARN_NODE_MODULES": str(tmp_path / "no-node-modules"),
    }
    probe = "import tclearn, sys; print(tclearn.__file__)"
    where = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert where.stdout.startswith(str(tmp_path / "site")), "the wheel's copy runs, not the checkout's"
    command = "from tclearn.cli import main; main()"
    args = ["simulate", "--members", "2", "--validators", "1", "--rounds", "1", "--json", "--plot", "p.png"]
    done = subprocess.run([sys.executable, "-c", command, *args], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == 1
