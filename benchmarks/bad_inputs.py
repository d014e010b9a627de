"""Bad input, as users bring it: every case must end in one line and a non-zero exit, never a
traceback, never a silent acceptance.

    python -m benchmarks.bad_inputs [--markdown]

Each case starts from a copy of one pristine coalition (in-process chain, embedded store,
deployed), spoils one thing (a model file, a CSV, the config, a keystore, a password, a
directory) or asks for something the ledger refuses, and runs the `tclearn` command a user
would. Writes benchmarks/results/bad-inputs.json; `--markdown` prints the table that
docs/RELIABILITY.md holds. `tests/test_bad_inputs.py` runs every case.
"""

from __future__ import annotations

import json
import pickle
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
from click.testing import CliRunner

RESULTS = Path(__file__).resolve().parent / "results"
NO_ENV_PASSWORD = {"TCLEARN_PASSWORD": ""}  # the keystores open with <dir>/secrets/keystore.password

Prepare = Callable[[Path], list[str]]  # spoils the coalition copy; returns the command's arguments


@dataclass(frozen=True)
class Case:
    kind: str
    what: str
    expect: str  # what the one line must say
    prepare: Prepare
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Outcome:
    kind: str
    what: str
    exit_code: int
    line: str
    one_line: bool
    traceback: bool
    says_why: bool

    @property
    def held(self) -> bool:
        return self.exit_code != 0 and self.one_line and not self.traceback and self.says_why


# ---------------------------------------------------------------------------- the pristine coalition


def pristine(directory: Path) -> Path:
    """A deployed demonstration coalition (3 members, 4 validators) with one registered update."""
    runner = CliRunner()
    for args in (["init", "--members", "3", "--validators", "4", "--scrypt-n", "1024", "--gather", "0"], ["deploy"]):
        result = runner.invoke(_main(), ["--dir", str(directory), *args], env=NO_ENV_PASSWORD)
        if result.exit_code != 0:
            raise RuntimeError(f"{args[0]} failed: {result.output}")
    return directory


def run_case(base: Path, case: Case, scratch: Path) -> Outcome:
    directory = scratch / "coalition"
    shutil.copytree(base, directory)
    args = case.prepare(directory)
    env = {**NO_ENV_PASSWORD, **dict(case.env)}
    result = CliRunner().invoke(_main(), ["--dir", str(directory), *args], env=env)
    error = result.stderr.strip().replace(str(scratch), "<case>")  # the table shows no scratch paths
    lines = error.splitlines()
    traceback = result.exception is not None and not isinstance(result.exception, SystemExit)
    return Outcome(
        case.kind,
        case.what,
        result.exit_code,
        lines[-1] if lines else result.stdout.strip()[-200:],
        len(lines) == 1 or (result.exit_code == 2 and lines[-1].startswith("Error: ")),
        traceback or "Traceback" in error,
        case.expect.lower() in error.lower(),
    )


def run_all(cases: list[Case] | None = None) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="tclearn-bad-") as root:
        base = pristine(Path(root) / "pristine")
        outcomes = []
        for index, case in enumerate(cases or catalogue()):
            scratch = Path(root) / f"case-{index}"
            scratch.mkdir()
            outcomes.append(run_case(base, case, scratch))
            shutil.rmtree(scratch, ignore_errors=True)
        return outcomes


def _main() -> click.Command:
    from tclearn.cli import main

    return main


# ---------------------------------------------------------------------------- model files


def _family(directory: Path) -> Any:
    from tclearn.config import CoalitionConfig
    from tclearn.model.family import ModelFamily

    return ModelFamily.of(CoalitionConfig.load(directory).rules.architecture)


def _state(directory: Path) -> dict:
    from tclearn.model.architectures import build

    return dict(build(_family(directory).spec).state_dict())


def _model_file(make: Callable[[Path], bytes]) -> Prepare:
    def prepare(directory: Path) -> list[str]:
        path = directory.parent / "model.safetensors"
        path.write_bytes(make(directory))
        return ["model", "check", str(path)]

    return prepare


def _altered(change: Callable[[dict], None]) -> Callable[[Path], bytes]:
    def make(directory: Path) -> bytes:
        from safetensors.torch import save

        state = _state(directory)
        change(state)
        return save({k: v.contiguous() for k, v in state.items()})

    return make


def _header(header: bytes, length: int | None = None) -> Callable[[Path], bytes]:
    return lambda _: struct.pack("<Q", len(header) if length is None else length) + header


def _first(state: dict) -> str:
    return sorted(state)[0]


def _torch_save(directory: Path) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(_state(directory), buffer)
    return buffer.getvalue()


def _model_cases() -> list[Case]:
    import torch

    def nan(state: dict) -> None:
        state[_first(state)][0] = float("nan")

    def inf(state: dict) -> None:
        state[_first(state)][0] = float("inf")

    def reshape(state: dict) -> None:
        weight = next(name for name in sorted(state) if state[name].dim() == 2)
        state[weight] = state[weight].t()

    def float64(state: dict) -> None:
        state[_first(state)] = state[_first(state)].double()

    def integer(state: dict) -> None:
        state[_first(state)] = state[_first(state)].to(torch.int32)

    def extra(state: dict) -> None:
        state["extra"] = torch.zeros(1)

    def half(state: dict) -> None:
        state[_first(state)] = state[_first(state)].half()

    def oversized(directory: Path) -> list[str]:
        path = directory.parent / "huge.safetensors"
        with path.open("wb") as handle:  # sparse: the check refuses it by its size, unread
            handle.truncate(257 * 1024 * 1024)
        return ["model", "check", str(path)]

    valid = _altered(lambda state: None)
    return [
        Case("model file", "random bytes", "malformed", _model_file(lambda _: bytes(range(256)) * 4)),
        Case("model file", "empty file", "malformed", _model_file(lambda _: b"")),
        Case("model file", "truncated in its tensors", "malformed", _model_file(lambda d: valid(d)[:-100])),
        Case("model file", "truncated in its header", "malformed", _model_file(lambda d: valid(d)[:20])),
        Case("model file", "header length past the end", "malformed", _model_file(_header(b"{}", 2**40))),
        Case("model file", "header not JSON", "malformed", _model_file(_header(b"\xff\xfe not json"))),
        Case("model file", "header a JSON array", "malformed", _model_file(_header(b"[1, 2, 3]"))),
        Case("model file", "NaN weight", "non-finite", _model_file(_altered(nan))),
        Case("model file", "infinite weight", "non-finite", _model_file(_altered(inf))),
        Case("model file", "wrong shape", "shape", _model_file(_altered(reshape))),
        Case("model file", "float64 tensor", "dtype", _model_file(_altered(float64))),
        Case("model file", "float16 tensor", "dtype", _model_file(_altered(half))),
        Case("model file", "int32 tensor", "dtype", _model_file(_altered(integer))),
        Case("model file", "missing tensor", "architecture", _model_file(_altered(lambda s: s.pop(_first(s))))),
        Case("model file", "unexpected tensor", "architecture", _model_file(_altered(extra))),
        Case("model file", "torch.save (pickle)", "malformed", _model_file(_torch_save)),
        Case("model file", "raw pickle", "malformed", _model_file(lambda _: pickle.dumps({"weights": [1, 2]}))),
        Case("model file", "257 MB", "oversized", oversized),
        Case("model file", "a directory", "is a directory", lambda d: ["model", "check", str(d)]),
        Case("model file", "missing file", "does not exist", lambda d: ["model", "check", str(d / "none")]),
    ]


# ---------------------------------------------------------------------------- CSV files


def _raw_rows(count: int = 60) -> tuple[np.ndarray, np.ndarray]:
    from tclearn.data.datasets import _breast_cancer_raw

    x, y = _breast_cancer_raw()
    return x[:count], y[:count]


def _csv(write: Callable[[Path], None], *extra: str) -> Prepare:
    def prepare(directory: Path) -> list[str]:
        path = directory.parent / "data.csv"
        write(path)
        return ["member", "submit", "--as", "member-1", "--data", str(path), *extra]

    return prepare


def _rows(x: np.ndarray, y: np.ndarray) -> Callable[[Path], None]:
    return lambda path: np.savetxt(path, np.column_stack([x, y]), delimiter=",", fmt="%.8g")


def _csv_cases() -> list[Case]:
    x, y = _raw_rows()

    def cell(value: str) -> Callable[[Path], None]:
        def write(path: Path) -> None:
            _rows(x, y)(path)
            lines = path.read_text().splitlines()
            cells = lines[3].split(",")
            cells[2] = value
            lines[3] = ",".join(cells)
            path.write_text("\n".join(lines) + "\n")

        return write

    def folder_without_images(directory: Path) -> list[str]:
        folder = directory.parent / "images"
        (folder / "benign").mkdir(parents=True)
        (folder / "benign" / "scan.png").write_bytes(b"not a png")
        return ["member", "submit", "--as", "member-1", "--data", str(folder)]

    return [
        Case("CSV", "too few columns", "expected 30 features", _csv(lambda p: p.write_text("1,2,3\n4,5,6\n"))),
        Case("CSV", "one column too many", "expected 30 features", _csv(_rows(np.column_stack([x, x[:, :1]]), y))),
        Case("CSV", "a word among numbers", "non-numeric", _csv(cell("abc"))),
        Case("CSV", "an empty cell", "non-numeric", _csv(cell(""))),
        Case("CSV", "a NaN cell", "non-numeric", _csv(cell("nan"))),
        Case("CSV", "an infinite cell", "non-numeric", _csv(cell("inf"))),
        Case("CSV", "empty file", "no rows", _csv(lambda p: p.write_text(""))),
        Case("CSV", "header only", "no rows", _csv(lambda p: p.write_text("a,b,c\n"))),
        Case("CSV", "negative label", "non-negative integers", _csv(_rows(x, y - 1))),
        Case("CSV", "fractional label", "non-negative integers", _csv(_rows(x, y + 0.5))),
        Case("CSV", "label beyond the classes", "classes 0..1", _csv(_rows(x, y + 5))),
        Case("CSV", "binary file", "cannot read", _csv(lambda p: p.write_bytes(bytes(range(256)) * 8))),
        Case("CSV", "already standardised values", "raw measurements", _csv(_rows((x - x.mean(0)) / x.std(0), y))),
        Case("CSV", "negative measurements", "raw measurements", _csv(_rows(-x, y))),
        Case("CSV", "fewer rows than the minimum batch", "cannot fill one batch", _csv(_rows(x[:5], y[:5]))),
        Case(
            "CSV",
            "missing file",
            "does not exist",
            lambda d: ["member", "submit", "--as", "member-1", "--data", "/nonexistent.csv"],
        ),
        Case("CSV", "undecodable images only", "image folders load as", folder_without_images),
        Case("CSV", "training diverges to NaN", "non-finite weights", _csv(_rows(x, y), "--learning-rate", "1e30")),
    ]


# ---------------------------------------------------------------------------- configs


def _config(change: Callable[[dict], object]) -> Prepare:
    def prepare(directory: Path) -> list[str]:
        path = directory / "coalition.json"
        config = json.loads(path.read_text())
        changed = change(config)
        path.write_bytes(changed if isinstance(changed, bytes) else json.dumps(changed).encode())
        return ["member", "status", "--as", "member-1"]

    return prepare


def _with(path: str, value: object) -> Callable[[dict], dict]:
    def change(config: dict) -> dict:
        node = config
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
        return config

    return change


def _file(relative: str, content: bytes | None) -> Prepare:
    def prepare(directory: Path) -> list[str]:
        path = directory / relative
        if content is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return ["validator", "run", "--as", "validator-1", "--once"]

    return prepare


def _config_cases() -> list[Case]:
    other = "0x" + "ab" * 20
    return [
        Case("config", "coalition.json binary", "is not text", _config(lambda c: b"\x89PNG\xff\xfe\x00")),
        Case("config", "coalition.json truncated", "not valid JSON", _config(lambda c: json.dumps(c)[:100].encode())),
        Case("config", "coalition.json a list", "not a JSON object", _config(lambda c: [c])),
        Case(
            "config", "participants a list", "participants must be a JSON object", _config(_with("participants", [1]))
        ),
        Case(
            "config",
            "rules missing",
            "malformed rules",
            _config(lambda c: {k: v for k, v in c.items() if k != "rules"}),
        ),
        Case("config", "an unknown rule", "unknown rules", _config(_with("rules.speed", "fast"))),
        Case(
            "config",
            "architecture resnet",
            "differ from the ones the ledger fixed",
            _config(_with("rules.architecture.name", "resnet")),
        ),
        Case("config", "a tolerance changed", "tolerance", _config(_with("rules.tolerance.accuracy", 0.5))),
        Case("config", "an unknown learning mode", "unknown learning mode", _config(_with("rules.learning", "magic"))),
        Case(
            "config",
            "malformed preprocessing",
            "preprocessing",
            _config(_with("rules.preprocessing", {"mean": [1], "std": [0]})),
        ),
        Case("config", "ledger address 0x1234", "is not an address", _config(_with("ledger.address", "0x1234"))),
        Case("config", "ledger on another chain", "was deployed on chain", _config(_with("ledger.chain_id", 5))),
        Case("config", "ledger address with no contract", "no contract", _config(_with("ledger.address", other))),
        Case("config", "timeout a string", "proposal_timeout must be", _config(_with("proposal_timeout", "soon"))),
        Case(
            "config",
            "a member's address changed",
            "but its keystore holds",
            _config(_with("participants.member-1.address", other)),
        ),
        Case(
            "config",
            "an address not hex",
            "has no valid address",
            _config(_with("participants.member-1.address", "0x" + "zz" * 20)),
        ),
        Case("config", "an unknown role", "unknown roles", _config(_with("participants.member-1.roles", ["king"]))),
        Case("config", "unknown chain URL", "unknown chain URL", _config(_with("chain", "ftp://chain"))),
        Case("config", "unreachable chain", "chain unreachable", _config(_with("chain", "http://127.0.0.1:9"))),
        Case("config", "unknown store URL", "unknown store URL", _config(_with("store", "s3://bucket"))),
        Case("config", "devnet not running", "devnet is not running", _config(_with("chain", "anvil"))),
        Case("config", "IPFS node not running", "IPFS node is not running", _config(_with("store", "ipfs"))),
        Case("config", "coalition.json missing", "missing coalition.json", _file("coalition.json", None)),
        Case("config", "voter.json damaged", "is damaged", _file("state/validator-1/voter.json", b"{not json")),
        Case("config", "keystore missing", "not found", _file("keystores/validator-1.json", None)),
        Case("config", "keystore not JSON", "unreadable or not JSON", _file("keystores/validator-1.json", b"\x00\x01")),
    ]


# ---------------------------------------------------------------------------- ledger, passwords, directories


def _other_cases() -> list[Case]:
    def shared_password_file(directory: Path) -> list[str]:
        (directory / "secrets" / "keystore.password").chmod(0o644)
        return ["member", "status", "--as", "member-1"]

    def init_into_a_file(directory: Path) -> list[str]:
        target = directory.parent / "a-file"
        target.write_text("")
        return ["--dir", str(target), "status"]

    def clash(directory: Path) -> list[str]:
        target = directory.parent / "half-made"
        (target / "keystores").mkdir(parents=True)
        return ["--dir", str(target), "init", "--scrypt-n", "1024"]

    def as_args(*args: str) -> Prepare:
        return lambda _: list(args)

    return [
        Case(
            "ledger",
            "a validator submits as a member",
            "is not a member",
            as_args("member", "submit", "--as", "validator-1"),
        ),
        Case(
            "ledger",
            "a member runs a validator",
            "is not a validator",
            as_args("validator", "run", "--as", "member-1", "--once"),
        ),
        Case(
            "ledger",
            "the operator proposes as general",
            "is not a validator",
            as_args("general", "run", "--as", "operator", "--once"),
        ),
        Case("ledger", "a participant nobody knows", "no participant", as_args("member", "submit", "--as", "nobody")),
        Case(
            "ledger",
            "a block that does not exist",
            "no block 99",
            lambda d: ["model", "pull", "--block", "99", "--out", str(d / "pulled.safetensors")],
        ),
        Case("ledger", "deployed twice", "deployed already", as_args("deploy")),
        Case("ledger", "init over a coalition", "already holds a coalition", as_args("init")),
        Case(
            "password",
            "wrong password",
            "wrong password",
            as_args("member", "status", "--as", "member-1"),
            (("TCLEARN_PASSWORD", "wrong"),),
        ),
        Case(
            "password",
            "password file readable by others",
            "readable by others",
            shared_password_file,
            (("TCLEARN_PASSWORD", ""),),
        ),
        Case(
            "password",
            "password file gone",
            "not found",
            _file("secrets/keystore.password", None),
            (("TCLEARN_PASSWORD", ""),),
        ),
        Case(
            "directory",
            "a directory with no coalition",
            "no coalition at",
            lambda d: ["--dir", str(d.parent / "empty"), "status"],
        ),
        Case("directory", "a file as the directory", "is a file", init_into_a_file),
        Case("directory", "init where keystores already are", "already holds keystores", clash),
    ]


def catalogue() -> list[Case]:
    return [*_model_cases(), *_csv_cases(), *_config_cases(), *_other_cases()]


# ---------------------------------------------------------------------------- report


def markdown(outcomes: list[Outcome]) -> str:
    rows = ["| # | input | kind | exit | the one line |", "|---|---|---|---|---|"]
    for number, o in enumerate(outcomes, start=1):
        line = o.line.replace("|", "\\|")
        rows.append(f"| {number} | {o.what} | {o.kind} | {o.exit_code} | `{line}` |")
    tracebacks = sum(o.traceback for o in outcomes)
    accepted = sum(o.exit_code == 0 for o in outcomes)
    rows.append("")
    rows.append(f"{len(outcomes)} inputs: {tracebacks} tracebacks, {accepted} silent acceptances.")
    return "\n".join(rows)


@click.command()
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the table for docs/RELIABILITY.md.")
def main(as_markdown: bool) -> None:
    outcomes = run_all()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bad-inputs.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1) + "\n")
    print(markdown(outcomes) if as_markdown else json.dumps([asdict(o) for o in outcomes if not o.held]))
    sys.exit(0 if all(o.held for o in outcomes) else 1)


if __name__ == "__main__":
    main()
