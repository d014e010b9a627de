"""A local IPFS node that the project starts and stops itself: js-ipfs from npm, offline.

npm's kubo downloads its binary at install (impossible here), so the node is js-ipfs 0.66.1,
whose HTTP RPC API is kubo-compatible. It keeps its own repository (IPFS_PATH) in the given
directory, listens on 127.0.0.1 only, and runs `--offline`: content persists in the repository
across restarts, nothing is announced to any network.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tclearn.chain.compile import REPO_ROOT
from tclearn.procs import HOST, alive, free_port
from tclearn.store.base import StoreError

JSIPFS = REPO_ROOT / "node_modules" / ".bin" / "jsipfs"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class IpfsNodeInfo:
    pid: int
    url: str
    running: bool


def up(repo: Path) -> IpfsNodeInfo:
    """Initialises the repository if needed and starts the daemon; returns once it serves."""
    current = status(repo)
    if current is not None and current.running:
        return current
    if not JSIPFS.exists():
        raise StoreError(f"js-ipfs is not installed at {JSIPFS}: run scripts/setup.sh (npm install)")
    env = {**os.environ, "IPFS_PATH": str(repo)}
    if not (repo / "config").exists():
        repo.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(JSIPFS), "init", "--profile", "test", "--emptyRepo"], env=env, check=True, capture_output=True
        )
    api_port = _configure_loopback(repo / "config")
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
    (repo / "node.json").write_text(json.dumps({"pid": process.pid, "url": url}))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StoreError(f"the IPFS daemon exited at start: see {log_path}")
        # The API answers a moment before the daemon installs its signal handlers; wait for both.
        if "Daemon is ready" in log_path.read_text() and _answers(url):
            return IpfsNodeInfo(process.pid, url, True)
        time.sleep(0.05)
    down(repo)
    raise StoreError(f"the IPFS daemon did not answer on {url}: see {log_path}")


def down(repo: Path, timeout_s: float = 15.0) -> bool:
    """Stops the daemon cleanly (SIGINT), killing it if it lingers. False if none ran."""
    info = status(repo)
    (repo / "node.json").unlink(missing_ok=True)
    if info is None or not alive(info.pid):
        return False
    os.kill(info.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(info.pid):
        os.killpg(info.pid, signal.SIGKILL)
    return True


def status(repo: Path) -> IpfsNodeInfo | None:
    try:
        record = json.loads((repo / "node.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    pid, url = int(record["pid"]), str(record["url"])
    return IpfsNodeInfo(pid, url, alive(pid) and _answers(url))


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
    config_path.write_text(json.dumps(config, indent=2))
    return api


def _answers(url: str) -> bool:
    try:
        return requests.post(f"{url}/api/v0/version", timeout=1).status_code == 200
    except requests.exceptions.RequestException:
        return False
