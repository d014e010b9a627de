"""The `tclearn` CLI: init → deploy → status, its --json shapes, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tclearn.cli import main


def run(directory: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--dir", str(directory), *args])
    return result.exit_code, result.stdout, result.stderr


def init_args(*extra: str) -> list[str]:
    return ["init", "--members", "2", "--validators", "4", "--scrypt-n", "1024", *extra]


@pytest.fixture(autouse=True)
def no_env_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TCLEARN_PASSWORD", raising=False)


def test_init_deploy_status_on_the_inprocess_chain(tmp_path: Path) -> None:
    directory = tmp_path / "hospitals"
    code, out, _ = run(directory, *init_args("--json"))
    assert code == 0
    created = json.loads(out)
    assert set(created["participants"]) == {"operator", "member-1", "member-2", "auditor-1"} | {
        f"validator-{i}" for i in range(1, 5)
    }
    assert created["genesis"]["cid"].startswith("Qm")
    password_file = directory / "secrets" / "keystore.password"
    assert password_file.stat().st_mode & 0o077 == 0
    config_text = (directory / "coalition.json").read_text()
    assert password_file.read_text().strip() not in config_text

    code, out, _ = run(directory, "deploy", "--json")
    assert code == 0
    deployed = json.loads(out)
    assert deployed["address"].startswith("0x") and deployed["gas_used"] > 0

    code, out, _ = run(directory, "status", "--json")  # a new process would replay the journal
    assert code == 0
    status = json.loads(out)
    assert status["ledger"] == deployed["address"]
    assert status["head"]["id"] == 1
    assert status["head"]["model_hash"] == "0x" + json.loads(config_text)["genesis"]["sha256"]
    assert status["candidate"] is None
    from tclearn.config import CoalitionConfig

    assert status["rules_digest"] == "0x" + CoalitionConfig.load(directory).rules.digest().hex()
    assert status["round"]["general_name"].startswith("validator-")
    assert status["counts"] == {"blocks": 1, "updates": 0, "validators": 4}

    code, out, _ = run(directory, "status")
    assert code == 0 and "head      block 1" in out


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (False, ["status"], "no coalition at"),
        (True, ["status"], "not deployed yet"),
        (True, ["init"], "already holds a coalition"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, setup: bool, args: list[str], message: str) -> None:
    if setup:
        assert run(tmp_path, *init_args())[0] == 0
    code, out, err = run(tmp_path, *args)
    assert code == 1
    assert message in err
    assert "Traceback" not in err + out and len(err.strip().splitlines()) == 1


def test_deploying_twice_is_refused(tmp_path: Path) -> None:
    run(tmp_path, *init_args())
    assert run(tmp_path, "deploy")[0] == 0
    code, _, err = run(tmp_path, "deploy")
    assert code == 1 and "deployed already" in err


def test_wrong_password_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(tmp_path, *init_args())
    monkeypatch.setenv("TCLEARN_PASSWORD", "not the password")
    code, _, err = run(tmp_path, "deploy")
    assert code == 1 and "wrong password" in err


def test_mode_c_without_supervisor_is_refused(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, *init_args("--mode", "C", "--supervisors", "0"))
    assert code == 1 and "supervisor" in err


def test_mode_c_refusals_are_one_line(tmp_path: Path) -> None:
    code, _, err = run(tmp_path / "cnn", *init_args("--mode", "C", "--architecture", "cnn"))
    assert code == 1 and "mode C trains a linear head on frozen features" in err
    assert run(tmp_path / "a", *init_args())[0] == 0
    code, _, err = run(tmp_path / "a", "supervisor", "run", "--as", "operator", "--once")
    assert code == 1 and "a supervisor runs only in mode C" in err
    leaked = tmp_path / "leaked.bin"
    leaked.write_bytes(b"anything")
    code, _, err = run(tmp_path / "a", "audit", "whose", str(leaked), "--as", "member-1")
    assert code == 1 and "member-1 is not a supervisor" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_whose_says_when_no_copy_matches(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    assert run(directory, *init_args("--mode", "C", "--dataset", "breast-cancer"))[0] == 0
    assert run(directory, "deploy")[0] == 0
    leaked = tmp_path / "leaked.bin"
    leaked.write_bytes(b"not a copy anyone was issued")
    code, out, _ = run(directory, "audit", "whose", str(leaked), "--json")
    assert code == 1 and json.loads(out) == {"found": False}


@pytest.mark.anvil
def test_devnet_commands_and_a_coalition_on_anvil(tmp_path: Path) -> None:
    assert run(tmp_path, *init_args("--chain", "anvil"))[0] == 0
    code, _, err = run(tmp_path, "deploy")
    assert code == 1 and "devnet is not running" in err
    code, out, _ = run(tmp_path, "devnet", "up", "--json")
    assert code == 0
    try:
        up = json.loads(out)
        assert up["running"] and up["url"].startswith("http://127.0.0.1:")
        assert run(tmp_path, "deploy")[0] == 0
        code, out, _ = run(tmp_path, "status", "--json")
        assert code == 0 and json.loads(out)["chain"]["chain_id"] == 31337
        code, out, _ = run(tmp_path, "devnet", "status", "--json")
        assert json.loads(out)["block_number"] > 0
    finally:
        code, out, _ = run(tmp_path, "devnet", "down", "--json")
    assert json.loads(out) == {"stopped": True}
    code, out, _ = run(tmp_path, "devnet", "status", "--json")
    stopped = json.loads(out)
    assert not stopped["running"] and stopped["url"] == up["url"], "its URL stays for the next `up`"


def test_init_fixes_the_preprocessing_of_raw_csv_files_from_a_reference(tmp_path: Path) -> None:
    reference = tmp_path / "reference.csv"
    reference.write_text("".join(f"{i},{10 * i},{i % 2}\n" for i in range(1, 41)))
    args = ("--dataset", "none", "--input-shape", "2", "--scale-from", str(reference), "--log1p")
    assert run(tmp_path / "c", *init_args(*args))[0] == 0
    rule = json.loads((tmp_path / "c" / "coalition.json").read_text())["rules"]["preprocessing"]
    assert rule["log1p"] is True and len(rule["mean"]) == len(rule["std"]) == 2
    demo = tmp_path / "demo"
    assert run(demo, *init_args())[0] == 0
    assert len(json.loads((demo / "coalition.json").read_text())["rules"]["preprocessing"]["mean"]) == 30


def test_a_failed_init_leaves_nothing_and_can_be_run_again(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    code, _, err = run(directory, *init_args("--store", "http://127.0.0.1:9"))
    assert code == 1 and err.count("\n") == 1 and "unreachable" in err
    assert not directory.exists() and list(tmp_path.iterdir()) == [], "no keystore, no password file left behind"
    assert run(directory, *init_args())[0] == 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda c: b"\x89PNG\xff\xfe", "is not text"),
        (lambda c: b"[1, 2]", "is not a JSON object"),
        (lambda c: json.dumps({**c, "participants": [1, 2]}).encode(), "participants must be a JSON object"),
        (lambda c: json.dumps({**c, "rules": {**c["rules"], "architecture": {"name": "resnet"}}}).encode(), "rules"),
        (lambda c: json.dumps({**c, "proposal_timeout": "soon"}).encode(), "proposal_timeout must be"),
        (
            lambda c: json.dumps(
                {
                    **c,
                    "participants": {
                        **c["participants"],
                        "member-1": {**c["participants"]["member-1"], "address": "0x1234"},
                    },
                }
            ).encode(),
            "has no valid address",
        ),
        (
            lambda c: json.dumps(
                {
                    **c,
                    "participants": {
                        **c["participants"],
                        "member-1": {**c["participants"]["member-1"], "address": "0x" + "ab" * 20},
                    },
                }
            ).encode(),
            "but its keystore holds",
        ),
    ],
)
def test_a_damaged_config_is_one_line(tmp_path: Path, damage: object, message: str) -> None:
    assert run(tmp_path, *init_args())[0] == 0
    assert run(tmp_path, "deploy")[0] == 0
    path = tmp_path / "coalition.json"
    path.write_bytes(damage(json.loads(path.read_text())))  # type: ignore[operator]
    code, out, err = run(tmp_path, "member", "status", "--as", "member-1")
    assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err + out
