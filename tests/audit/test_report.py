"""`tclearn audit report`: the page opens offline in headless Chromium, and its screenshot and
content show the lineage graph, the accuracy plot and the vote matrix; the PROV-JSON and the
model cards describe the same lineage."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from tclearn.audit.report import FINAL, GENESIS, REFUSED
from tclearn.cli import main
from tclearn.simulate import SimulationConfig, run_simulation

pytestmark = [pytest.mark.slow, pytest.mark.chromium]

CONFIG = SimulationConfig(members=6, validators=4, rounds=5, seed=1, attack="label-flip", attackers=2, rogue_generals=2)
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scratch = tmp_path_factory.mktemp("report")
    run_simulation(CONFIG, "inprocess", keep=scratch / "run")
    result = CliRunner().invoke(main, ["--dir", str(scratch / "run"), "audit", "report", "--out", str(scratch / "out")])
    assert result.exit_code == 0, result.output
    return scratch / "out"


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is missing: run scripts/setup.sh (as root it installs it)"
    command = [binary, *HEADLESS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_the_page_is_self_contained(report: Path) -> None:
    page = (report / "index.html").read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page), "nothing is fetched from elsewhere"
    assert "<script" not in page


def test_chromium_draws_the_lineage_the_plot_and_the_vote_matrix(report: Path, tmp_path: Path) -> None:
    url = (report / "index.html").as_uri()
    dom = chromium("--dump-dom", url, profile=tmp_path / "dom").stdout
    assert len(re.findall(r"<circle class=\"block final\"", dom)) == 2, "blocks 4 and 6 accepted"
    assert len(re.findall(r"<circle class=\"block rejected\"", dom)) == 3, "the rogue generals' three"
    assert re.search(r"<svg id=\"accuracy\".*?<polyline points=\"[\d., ]+\"", dom, re.S)
    matrix = re.search(r"<table id=\"votes\">(.*?)</table>", dom, re.S)
    assert matrix and matrix.group(1).count("<tr>") == 5, "a header and one row per validator"
    assert matrix.group(1).count('class="reject"') >= 6 and matrix.group(1).count('class="accept"') >= 6
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1250,1400", url, profile=tmp_path / "shot")
    pixels = imread(shot)[..., :3]
    for colour in (FINAL, REFUSED, GENESIS):  # the graph's nodes and the plot's line are drawn
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
        assert (np.abs(pixels - rgb).max(axis=2) < 0.02).sum() > 100, colour


def test_prov_and_model_cards_describe_the_lineage(report: Path) -> None:
    prov = json.loads((report / "lineage.prov.json").read_text())
    assert prov["prefix"] == {"tcl": "urn:tclearn:"}
    assert len(prov["wasDerivedFrom"]) == 5, "every proposed block's model derives from its parent's"
    roles = {a["tcl:role"] for a in prov["agent"].values()}
    assert roles == {"general", "member", "validator"}
    cards = sorted((report / "cards").glob("block-*.md"))
    assert [c.name for c in cards] == ["block-4.md", "block-6.md"]
    card = cards[-1].read_text()
    assert "Lineage digest" in card and "blocks 1, 4, 6" in card
    assert "label-flip attacker" not in card, "an attacker's data is not in the accepted lineage"


def test_a_mode_b_report_lists_the_access_grants(tmp_path: Path) -> None:
    config = SimulationConfig(members=4, validators=4, rounds=2, mode="B", remove_member_at=2)
    run_simulation(config, "inprocess", keep=tmp_path / "run")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["--dir", str(tmp_path / "run"), "audit", "report", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    grants = re.search(r"<table id='grants'>(.*?)</table>", page, re.S)
    assert grants and grants.group(1).count("<tr>") > 10, "every model and update key, each grantee"
    assert "class='ok' id='verdict'" in page
