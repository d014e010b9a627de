"""The local servers TCLearn starts and stops itself, for one machine and for the tests: an anvil
devnet and a js-ipfs node. The only place the package manages processes.

Both come from npm (see README): anvil as the prebuilt ELF inside `@foundry-rs/anvil-linux-amd64`,
started directly; js-ipfs 0.66.1 (`jsipfs`), whose HTTP RPC API is kubo-compatible (npm's kubo
downloads its binary at install, impossible here). Each listens on 127.0.0.1 only, keeps its
state in the directory it is given, and leaves a small record there (pid, URL) so `status` and
`down` work from another process:

- anvil dumps its chain state every second and on exit, and loads it again at the next `up`,
  so a restarted devnet keeps its chain (`tclearn devnet up|down|status`). The coalition's
  devnet also mines a block every second, as a consortium chain does, besides one per
  transaction: deadlines pass, and a silent general is replaced, without any traffic;
- js-ipfs runs `--offline` with its own repository (IPFS_PATH): content persists across
  restarts, nothing is announced to any network (`tclearn ipfs up|down|status`).

A service keeps its port across restarts (the record stays when it stops), so the URLs nodes
were given stay true.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tclearn.errors import DevnetError, TCLearnError
from tclearn.fileio import write_atomic
from tclearn.store.base import StoreError

# The checkout's node_modules; an installed package names its own with TCLEARN_NODE_MODULES.
NODE_MODULES = Path(os.environ.get("TCLEARN_NODE_MODULES", Path(__file__).resolve().parents[1] / "node_modules"))
ANVIL = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
JSIPFS = NODE_MODULES / ".bin" / "jsipfs"
HOST = "127.0.0.1"
ANVIL_STATE_INTERVAL_S = 1  # anvil's finest: a hard kill loses at most this much of the chain
ANVIL_READY_S = 20.0
IPFS_READY_S = 60.0


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    """True while process `pid` runs (a child of ours that exited is reaped, not alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # not our child: it exists, since kill(pid, 0) succeeded
    return waited == 0


def _stop(pid: int, first: signal.Signals, timeout_s: float) -> bool:
    """Asks process `pid` to stop with `first`, then kills its group if it lingers."""
    if not alive(pid):
        return False
    os.kill(pid, first)
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


def _require_free(port: int, error: type[TCLearnError]) -> None:
    """Refuses, in one line, a port another process listens on (connections of the last run
    lingering in TIME_WAIT do not count: the servers bind with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise error(f"port {port} on {HOST} is taken by another process: stop it, or pass --port") from None


def _read_record(path: Path, error: type[TCLearnError]) -> dict[str, object] | None:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise error(f"{path} is damaged: delete it and start the service again") from exc


# ---------------------------------------------------------------------------- anvil


@dataclass(frozen=True)
class DevnetInfo:
    pid: int
    port: int
    url: str
    running: bool
    block_number: int | None = None
    chain_id: int | None = None


def anvil_up(directory: Path, port: int | None = None, block_time: int | None = None) -> DevnetInfo:
    """Starts anvil for this directory (or returns the one already running), on `port`, else
    on the port it had before, else on a free one; with `block_time`, it also mines a block
    every that many seconds."""
    current = anvil_status(directory)
    if current is not None and current.running:
        return current
    if not ANVIL.exists():
        raise DevnetError(f"anvil not installed at {ANVIL}: run scripts/setup.sh (npm install)")
    directory.mkdir(parents=True, exist_ok=True)
    port = port or (current.port if current is not None else free_port())
    _require_free(port, DevnetError)
    interval = ["--block-time", str(block_time), "--mixed-mining"] if block_time else []
    with (directory / "anvil.log").open("ab") as log:
        process = subprocess.Popen(
            [
                *(str(ANVIL), "--host", HOST, "--port", str(port), "--silent", *interval),
                *("--state", str(directory / "state.json"), "--state-interval", str(ANVIL_STATE_INTERVAL_S)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://{HOST}:{port}"
    write_atomic(directory / "anvil.json", json.dumps({"pid": process.pid, "port": port, "url": url}))
    deadline = time.monotonic() + ANVIL_READY_S
    while time.monotonic() < deadline and process.poll() is None:
        info = anvil_status(directory)
        if info is not None and info.running:
            return info
        time.sleep(0.05)
    anvil_down(directory)
    raise DevnetError(f"anvil did not answer on {url}; see {directory / 'anvil.log'}")


def anvil_down(directory: Path, timeout_s: float = 10.0) -> bool:
    """Stops this directory's anvil (it dumps its state on the way out). False if none ran."""
    record = _read_record(directory / "anvil.json", DevnetError)
    if record is None:
        return False
    return _stop(int(record["pid"]), signal.SIGTERM, timeout_s)  # type: ignore[call-overload]


def anvil_status(directory: Path) -> DevnetInfo | None:
    """What is known of this directory's anvil; None if it was never started here."""
    record = _read_record(directory / "anvil.json", DevnetError)
    if record is None:
        return None
    pid, port, url = int(record["pid"]), int(record["port"]), str(record["url"])  # type: ignore[call-overload]
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


# ---------------------------------------------------------------------------- js-ipfs


@dataclass(frozen=True)
class IpfsNodeInfo:
    pid: int
    url: str
    running: bool


def ipfs_up(repo: Path) -> IpfsNodeInfo:
    """Initialises the repository if needed (choosing its loopback ports once: they stay) and
    starts the daemon; returns once it serves."""
    current = ipfs_status(repo)
    if current is not None and current.running:
        return current
    if current is not None and alive(current.pid):  # running, but slow to answer: never start a second
        return _wait_for_ipfs(repo, current.pid, current.url)
    if not JSIPFS.exists():
        raise StoreError(f"js-ipfs is not installed at {JSIPFS}: run scripts/setup.sh (npm install)")
    # A daemon killed hard leaves its repository lock behind; its owner is gone (we knew its pid).
    shutil.rmtree(repo / "repo.lock", ignore_errors=True)
    env = {**os.environ, "IPFS_PATH": str(repo)}
    if not (repo / "config").exists():
        repo.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(JSIPFS), "init", "--profile", "test", "--emptyRepo"], env=env, check=True, capture_output=True
        )
        _configure_loopback(repo / "config")
    api_port = _api_port(repo / "config")
    _require_free(api_port, StoreError)
    log_path = repo / "daemon.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(JSIPFS), "daemon", "--offline", "--enable-preload=false"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://{HOST}:{api_port}"
    write_atomic(repo / "node.json", json.dumps({"pid": process.pid, "url": url}))
    return _wait_for_ipfs(repo, process.pid, url)


def _wait_for_ipfs(repo: Path, pid: int, url: str) -> IpfsNodeInfo:
    log_path = repo / "daemon.log"
    deadline = time.monotonic() + IPFS_READY_S
    while time.monotonic() < deadline:
        if not alive(pid):
            raise StoreError(f"the IPFS daemon exited at start: see {log_path}")
        # The API answers a moment before the daemon installs its signal handlers; wait for both.
        if "Daemon is ready" in log_path.read_text() and _ipfs_answers(url):
            return IpfsNodeInfo(pid, url, True)
        time.sleep(0.05)
    ipfs_down(repo)
    raise StoreError(f"the IPFS daemon did not answer on {url}: see {log_path}")


def ipfs_down(repo: Path, timeout_s: float = 15.0) -> bool:
    """Stops the daemon cleanly (SIGINT), killing it if it lingers. False if none ran."""
    record = _read_record(repo / "node.json", StoreError)
    if record is None:
        return False
    return _stop(int(record["pid"]), signal.SIGINT, timeout_s)  # type: ignore[call-overload]


def ipfs_status(repo: Path) -> IpfsNodeInfo | None:
    """What is known of the node serving this repository; None if it was never started here."""
    record = _read_record(repo / "node.json", StoreError)
    if record is None:
        return None
    pid, url = int(record["pid"]), str(record["url"])  # type: ignore[call-overload]
    return IpfsNodeInfo(pid, url, alive(pid) and _ipfs_answers(url))


def _api_port(config_path: Path) -> int:
    try:
        return int(json.loads(config_path.read_text())["Addresses"]["API"].rsplit("/", 1)[1])
    except (OSError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise StoreError(f"{config_path} names no API address: delete the repository to start afresh") from exc


def _configure_loopback(config_path: Path) -> int:
    """Binds the API, gateway and RPC to free loopback ports and opens no swarm port."""
    config = json.loads(config_path.read_text())
    api, gateway, rpc = free_port(), free_port(), free_port()
    config["Addresses"].update(
        {
            "API": f"/ip4/{HOST}/tcp/{api}",
            "Gateway": f"/ip4/{HOST}/tcp/{gateway}",
            "RPC": f"/ip4/{HOST}/tcp/{rpc}",
            "Swarm": [],
        }
    )
    write_atomic(config_path, json.dumps(config, indent=2))
    return api


def _ipfs_answers(url: str) -> bool:
    try:
        return requests.post(f"{url}/api/v0/version", timeout=1).status_code == 200
    except requests.exceptions.RequestException:
        return False


# ---------------------------------------------------------------------------- for one run


@contextmanager
def temporary_services(chain: str, store: str) -> Iterator[tuple[str, str]]:
    """The chain and store URLs, starting temporary local servers where asked."""
    with tempfile.TemporaryDirectory(prefix="tclearn-services-") as scratch:
        started: list[tuple[Callable[[Path], bool], Path]] = []
        try:
            if chain == "anvil":
                chain = anvil_up(Path(scratch) / "anvil").url
                started.append((anvil_down, Path(scratch) / "anvil"))
            elif chain == "inprocess":
                chain = "inprocess:memory"
            if store == "ipfs":
                store = ipfs_up(Path(scratch) / "ipfs").url
                started.append((ipfs_down, Path(scratch) / "ipfs"))
            yield chain, store
        finally:
            for down, directory in started:
                down(directory)
