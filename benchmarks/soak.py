"""The soak: a coalition of separate processes on anvil and its own IPFS node, attacked with crashes.

    python benchmarks/soak.py [--kills 100] [--seed 0] [--dir DIR]

Four validator daemons and two members run as OS processes, as at four hospitals. While rounds
go on, the soak kills validator daemons (SIGKILL) at random moments and restarts them, kills
anvil hard twice (once right after a block became final, so the restarted chain may have lost
it) and restarts it, and kills the IPFS node and restarts it. Members keep submitting; a submit
that meets an outage must fail in one line. Afterwards it checks what users rely on:

- no validator voted twice on any block (every `VoteCast` of the chain, per block);
- the lineage holds every block the restarted chain holds as final;
- at least `MIN_BLOCKS_AFTER` more blocks became final after the last crash;
- no daemon exited on its own, and no log holds a traceback, the keystore password, or a
  private key.

Writes benchmarks/results/soak.json; `scripts/soak.sh` runs it long and puts its figures in
docs/RELIABILITY.md. `tests/nodes/test_soak.py` runs it short, in CI.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click

from tclearn.config import CoalitionConfig
from tclearn.errors import TCLearnError

RESULTS = Path(__file__).resolve().parent / "results"
TCLEARN = [sys.executable, "-c", "from tclearn.cli import main; main()"]
VALIDATORS = 4
MIN_BLOCKS_AFTER = 3
PASSWORD = "soak: a password that must never reach a log"
HEX_KEY = re.compile(r"\b(0x)?[0-9a-fA-F]{64}\b")


@dataclass
class SoakReport:
    validator_kills: int = 0
    anvil_kills: int = 0
    anvil_kills_after_final: int = 0
    ipfs_kills: int = 0
    blocks_lost_to_rollbacks: int = 0
    final_blocks: int = 0
    blocks_after_last_crash: int = 0
    votes: int = 0
    double_votes: int = 0
    final_not_in_lineage: int = 0
    daemons_exited: int = 0
    submits: int = 0
    submits_refused_in_one_line: int = 0
    submit_failures_not_one_line: int = 0
    tracebacks: int = 0
    secrets_in_logs: int = 0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return (
            self.double_votes == 0
            and self.final_not_in_lineage == 0
            and self.blocks_after_last_crash >= MIN_BLOCKS_AFTER
            and self.daemons_exited == 0
            and self.submit_failures_not_one_line == 0
            and self.tracebacks == 0
            and self.secrets_in_logs == 0
        )


class Coalition:
    """The coalition directory and the processes that serve it."""

    def __init__(self, directory: Path, rng: random.Random):
        self.directory, self.rng = directory, rng
        self.env = {**os.environ, "TCLEARN_PASSWORD": PASSWORD}
        self.daemons: dict[str, subprocess.Popen[bytes]] = {}

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*TCLEARN, "--dir", str(self.directory), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"tclearn {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def json(self, *args: str) -> dict:
        return json.loads(self.cli(*args, "--json").stdout)

    def start(self, name: str) -> None:
        log = (self.directory / "logs" / f"{name}.log").open("ab")
        self.daemons[name] = subprocess.Popen(
            [*TCLEARN, "--dir", str(self.directory), "validator", "run", "--as", name, "--poll", "0.5"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )

    def head(self) -> int | None:
        """The head block, or None while the chain cannot be read (read here, keyless: a
        `tclearn status` process a second would slow the soak more than it tells)."""
        try:
            config = CoalitionConfig.load(self.directory)
            chain = config.connect()
            try:
                return config.ledger_on(chain).cursor().head
            finally:
                chain.close()
        except TCLearnError:
            return None


def soak(directory: Path, kills: int, seed: int = 0) -> SoakReport:
    """Runs the soak in `directory` with `kills` validator kills; returns what it found."""
    rng = random.Random(seed)
    started = time.monotonic()
    report = SoakReport()
    coalition = Coalition(directory, rng)
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    coalition.cli("ipfs", "up")
    coalition.cli(
        *("init", "--members", "2", "--validators", str(VALIDATORS), "--chain", "anvil", "--store", "ipfs"),
        *("--scrypt-n", "1024", "--gather", "2", "--proposal-timeout", "20", "--vote-timeout", "30"),
    )
    coalition.cli("devnet", "up")
    coalition.cli("deploy")
    names = [f"validator-{i}" for i in range(1, VALIDATORS + 1)]
    for name in names:
        coalition.start(name)
    try:
        crashes = _crash_plan(kills, rng)
        last_crash_head = _play(coalition, crashes, report)
        _until_blocks(coalition, last_crash_head + MIN_BLOCKS_AFTER, report)
        report.daemons_exited = sum(p.poll() is not None for p in coalition.daemons.values())
    finally:
        for process in coalition.daemons.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in coalition.daemons.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    _audit(coalition, report, last_crash_head)
    coalition.cli("devnet", "down", check=False)
    coalition.cli("ipfs", "down", check=False)
    report.wall_s = round(time.monotonic() - started, 1)
    return report


def _crash_plan(kills: int, rng: random.Random) -> list[str]:
    """The crashes in the order they happen: validator kills, with anvil (twice: the first right
    after a block became final) and the IPFS node among them."""
    plan = ["validator"] * kills
    for crash in ("anvil-after-final", "anvil", "ipfs"):
        plan.insert(rng.randrange(len(plan) + 1), crash)
    return plan


def _play(coalition: Coalition, crashes: list[str], report: SoakReport) -> int:
    """Submits updates round after round, crashing something between and during rounds."""
    rng = coalition.rng
    for seed, crash in enumerate(crashes, start=1):
        head = _wait_for_head(coalition)
        for member in ("member-1", "member-2"):
            _submit(coalition, member, seed, report)
        if crash == "validator":
            time.sleep(rng.uniform(0.0, 4.0))  # anywhere in the round: screening, voting, idle
            name = rng.choice(sorted(coalition.daemons))
            coalition.daemons[name].send_signal(signal.SIGKILL)
            coalition.daemons[name].wait()
            report.validator_kills += 1
            time.sleep(rng.uniform(0.0, 2.0))
            coalition.start(name)
        elif crash.startswith("anvil"):
            if crash == "anvil-after-final":
                _until_blocks(coalition, head + 1, report, timeout_s=120)  # kill the moment it is final
                report.anvil_kills_after_final += 1
            before = coalition.head() or head
            pid = coalition.json("devnet", "status")["pid"]
            os.kill(pid, signal.SIGKILL)
            report.anvil_kills += 1
            time.sleep(rng.uniform(1.0, 5.0))  # the daemons meet a dead chain
            coalition.cli("devnet", "up")
            after = coalition.head() or 0
            report.blocks_lost_to_rollbacks += max(0, before - after)
        else:
            pid = coalition.json("ipfs", "status")["pid"]
            os.kill(pid, signal.SIGKILL)
            report.ipfs_kills += 1
            time.sleep(rng.uniform(1.0, 5.0))
            coalition.cli("ipfs", "up")
    return _wait_for_head(coalition)


def _submit(coalition: Coalition, member: str, seed: int, report: SoakReport) -> None:
    done = coalition.cli("member", "submit", "--as", member, "--seed", str(seed), check=False)
    report.submits += 1
    if done.returncode != 0:
        one_line = done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
        if one_line:
            report.submits_refused_in_one_line += 1
        else:
            report.submit_failures_not_one_line += 1
            report.notes.append(f"{member} submit: {done.stderr.strip()[-300:]}")


def _wait_for_head(coalition: Coalition, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        head = coalition.head()
        if head is not None:
            return head
        time.sleep(0.5)
    raise RuntimeError("the chain stayed unreadable")


def _until_blocks(coalition: Coalition, target: int, report: SoakReport, timeout_s: float = 600) -> None:
    """Keeps members submitting, once a head, until the head reaches block `target`."""
    deadline, seed, fed = time.monotonic() + timeout_s, 10_000, None
    while time.monotonic() < deadline:
        head = coalition.head()
        if head is not None and head >= target:
            return
        if head is not None and head != fed:
            seed += 1
            for member in ("member-1", "member-2"):
                _submit(coalition, member, seed, report)
            fed = head
        time.sleep(1.0)
    report.notes.append(f"the head did not reach block {target} in {timeout_s:.0f} s")


def _audit(coalition: Coalition, report: SoakReport, last_crash_head: int) -> None:
    """What the chain and the logs say once the soak is over."""
    coalition.cli("devnet", "up")
    coalition.cli("ipfs", "up")
    check = subprocess.run(
        [sys.executable, "-c", _AUDIT, str(coalition.directory)],
        capture_output=True,
        text=True,
        env=coalition.env,
        timeout=300,
    )
    if check.returncode != 0:
        raise RuntimeError(f"audit failed: {check.stderr[-2000:]}")
    found = json.loads(check.stdout)
    report.final_blocks = found["final_blocks"]
    report.votes = found["votes"]
    report.double_votes = found["double_votes"]
    report.final_not_in_lineage = found["final_not_in_lineage"]
    report.blocks_after_last_crash = found["head"] - last_crash_head
    keys = set(found["private_keys"])
    for log in coalition.directory.rglob("*.log"):  # the daemons', anvil's and the IPFS node's
        text = log.read_text(errors="replace")
        report.tracebacks += text.count("Traceback")
        leaked = PASSWORD in text or any(m.group(0).lower().removeprefix("0x") in keys for m in HEX_KEY.finditer(text))
        report.secrets_in_logs += leaked


# Run apart so the soak's own process never holds a key: it reads the chain as the auditor, and
# lists the private keys only to look for them in the logs.
_AUDIT = """
import json, sys
from collections import Counter
from pathlib import Path
from tclearn.chain.ledger import BlockState
from tclearn.config import CoalitionConfig
from tclearn.nodes.site import open_node

directory = Path(sys.argv[1])
node = open_node(directory, "auditor-1")
ledger = node.ctx.ledger
count = ledger.cursor().block_count
final = [b for b in range(2, count + 1) if ledger.block(b).state is BlockState.FINAL]
lineage = set(ledger.lineage())
votes = doubles = 0
for block in range(2, count + 1):
    voters = Counter(v["validator"] for v in ledger.votes(block))
    votes += sum(voters.values())
    doubles += sum(n - 1 for n in voters.values())
config = CoalitionConfig.load(directory)
keys = [config.unlock(name).key.hex().removeprefix("0x") for name in config.participants]
print(json.dumps({"final_blocks": len(final), "head": ledger.cursor().head, "votes": votes,
    "double_votes": doubles, "final_not_in_lineage": len(set(final) - lineage), "private_keys": keys}))
node.close()
"""


DOCS = Path(__file__).resolve().parents[1] / "docs" / "RELIABILITY.md"
FIGURES = ("<!-- soak figures: written by benchmarks/soak.py --docs -->", "<!-- end of soak figures -->")


def figures(report: SoakReport, kills: int, seed: int) -> str:
    """The soak's figures as docs/RELIABILITY.md shows them."""
    held = "held" if report.held else "did NOT hold"
    rows = "\n".join(
        f"| {name.replace('_', ' ')} | {value} |" for name, value in asdict(report).items() if name != "notes"
    )
    notes = "".join(f"\n- {note}" for note in report.notes)
    return (
        f"`python -m benchmarks.soak --kills {kills} --seed {seed}`: every check {held}.\n\n"
        f"| figure | value |\n|---|---|\n{rows}\n{notes}"
    )


def write_docs(text: str) -> None:
    """Replaces the figures between the markers of docs/RELIABILITY.md."""
    doc = DOCS.read_text()
    start, end = doc.index(FIGURES[0]) + len(FIGURES[0]), doc.index(FIGURES[1])
    DOCS.write_text(doc[:start] + "\n" + text.strip() + "\n" + doc[end:])


@click.command()
@click.option("--kills", type=click.IntRange(1), default=100, show_default=True, help="Validator kills.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None, help="Default: a scratch directory.")
@click.option("--docs", "to_docs", is_flag=True, help="Write the figures into docs/RELIABILITY.md.")
def main(kills: int, seed: int, directory: Path | None, to_docs: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="tclearn-soak-") as scratch:
        report = soak(directory or Path(scratch), kills, seed)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps({**asdict(report), "held": report.held}, indent=2) + "\n")
    if to_docs:
        write_docs(figures(report, kills, seed))
    print(figures(report, kills, seed))
    sys.exit(0 if report.held else 1)


if __name__ == "__main__":
    main()
