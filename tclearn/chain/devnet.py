"""A local anvil devnet that the project starts and stops itself (`tclearn devnet up|down|status`).

anvil comes as a prebuilt ELF inside the npm package `@foundry-rs/anvil-linux-amd64`; we start
that binary directly, bound to 127.0.0.1. Its chain state is dumped to the devnet directory
every few seconds and on exit, and loaded again at the next start, so a restart keeps the chain.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from tclearn.chain.compile import REPO_ROOT
from tclearn.errors import DevnetError
from tclearn.procs import HOST, alive, free_port

ANVIL = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
STATE_INTERVAL_S = 5
READY_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class DevnetInfo:
    pid: int
    port: int
    url: str
    running: bool
    block_number: int | None = None
    chain_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def up(devnet_dir: Path, port: int | None = None) -> DevnetInfo:
    """Starts anvil for this directory (or returns the one already running)."""
    current = status(devnet_dir)
    if current is not None and current.running:
        return current
    if not ANVIL.exists():
        raise DevnetError(f"anvil not installed at {ANVIL}: run scripts/setup.sh (npm install)")
    devnet_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = open(devnet_dir / "anvil.log", "ab")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [
            str(ANVIL),
            "--host",
            HOST,
            "--port",
            str(port),
            "--silent",
            "--state",
            str(devnet_dir / "state.json"),
            "--state-interval",
            str(STATE_INTERVAL_S),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    url = f"http://{HOST}:{port}"
    _write_record(devnet_dir, {"pid": process.pid, "port": port, "url": url})
    if not _wait_ready(url, process):
        down(devnet_dir)
        raise DevnetError(f"anvil did not answer on {url}; see {devnet_dir / 'anvil.log'}")
    info = status(devnet_dir)
    assert info is not None
    return info


def down(devnet_dir: Path, timeout_s: float = 10.0) -> bool:
    """Stops this directory's anvil (it dumps its state on the way out). False if none ran."""
    record = _read_record(devnet_dir)
    if record is None:
        return False
    pid = int(record["pid"])
    stopped = False
    if alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        stopped = True
    (devnet_dir / "anvil.json").unlink(missing_ok=True)
    return stopped


def status(devnet_dir: Path) -> DevnetInfo | None:
    """What is known of this directory's anvil; None if it was never started here."""
    record = _read_record(devnet_dir)
    if record is None:
        return None
    pid, port, url = int(record["pid"]), int(record["port"]), str(record["url"])
    if not alive(pid):
        return DevnetInfo(pid, port, url, running=False)
    try:
        block = int(_rpc(url, "eth_blockNumber"), 16)
        chain_id = int(_rpc(url, "eth_chainId"), 16)
    except (requests.exceptions.RequestException, KeyError, ValueError):
        return DevnetInfo(pid, port, url, running=False)
    return DevnetInfo(pid, port, url, running=True, block_number=block, chain_id=chain_id)


def _rpc(url: str, method: str) -> str:
    response = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []}, timeout=2)
    return str(response.json()["result"])


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            _rpc(url, "eth_chainId")
            return True
        except requests.exceptions.RequestException:
            time.sleep(0.05)
    return False


def _read_record(devnet_dir: Path) -> dict[str, object] | None:
    try:
        return json.loads((devnet_dir / "anvil.json").read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise DevnetError(f"{devnet_dir / 'anvil.json'} is damaged: delete it and run devnet up") from exc


def _write_record(devnet_dir: Path, record: dict[str, object]) -> None:
    tmp = devnet_dir / "anvil.json.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, devnet_dir / "anvil.json")
