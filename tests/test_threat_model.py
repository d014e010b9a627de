"""docs/THREAT_MODEL.md names a test for each claim: every one it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_the_threat_model_names_exists() -> None:
    text = (ROOT / "docs" / "THREAT_MODEL.md").read_text()
    cited: list[tuple[Path, str]] = []
    for cell in re.findall(r"`([^`]+)`", text):
        for part in re.split(r",\s*", cell):
            if m := re.fullmatch(r"(tests/[\w/]+\.py)::(\w+)", part):
                cited.append((ROOT / m[1], m[2]))
            elif m := re.fullmatch(r"(\w+\.t\.sol)::(\w+)", part):
                cited.append((ROOT / "contracts" / "test" / m[1], m[2]))
            elif m := re.fullmatch(r"::(\w+)", part):
                cited.append((cited[-1][0], m[1]))  # the file named last in the cell
            elif m := re.fullmatch(r"(tests/[\w/]+\.py)", part):
                assert (ROOT / m[1]).exists(), m[1]
    assert len(cited) >= 25
    for path, name in cited:
        assert path.exists(), path
        assert re.search(rf"(def|function) {name}\b", path.read_text()), f"{path.name} has no {name}"
