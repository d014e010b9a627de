"""A real IPFS node through its HTTP RPC API (kubo-compatible: js-ipfs here, kubo elsewhere).

Plain HTTP rather than ipfshttpclient: `ipfshttpclient.connect()` refuses every daemon newer
than 0.8 (js-ipfs reports 0.18, kubo 0.2x+), and the three calls needed are simple POSTs.
Transient failures (node restarting, connection refused) are retried with backoff before a
clear `StoreError`.
"""

from __future__ import annotations

import time

import requests

from tclearn.store.base import StoreError
from tclearn.store.cid import cid_digest, cid_v0
from tclearn.transport import failure, session_for

RETRIES = 4
BACKOFF_S = 0.25


class IpfsStore:
    """Content on an IPFS node, added as CIDv0 with the default chunker and pinned."""

    def __init__(self, url: str, timeout_s: float = 60.0, fetch_timeout_s: int = 30):
        self.url = url.rstrip("/")
        self._timeout = timeout_s
        # How long the node may look for content it lacks; an offline node would look forever.
        self._fetch_timeout = fetch_timeout_s
        self._session = session_for(self.url)

    def version(self) -> str:
        return str(self._call("version").json()["Version"])

    def put(self, data: bytes) -> str:
        files = {"file": ("blob", data, "application/octet-stream")}
        answer = self._call("add", params={"cid-version": 0, "pin": "true", "quieter": "true"}, files=files)
        cid = str(answer.json()["Hash"])
        if cid != cid_v0(data):
            raise StoreError(f"the IPFS node at {self.url} returned {cid} for bytes whose CIDv0 is {cid_v0(data)}")
        return cid

    def get(self, cid: str) -> bytes:
        cid_digest(cid)
        data = self._call("cat", params={"arg": cid, "timeout": f"{self._fetch_timeout}s"}).content
        if (actual := cid_v0(data)) != cid:
            raise StoreError(f"the bytes the IPFS node returned for {cid} do not match that CID", "altered", actual)
        return data

    def _call(self, command: str, **kwargs: object) -> requests.Response:
        delay = BACKOFF_S
        for attempt in range(RETRIES + 1):
            try:
                response = self._session.post(f"{self.url}/api/v0/{command}", timeout=self._timeout, **kwargs)
            except requests.exceptions.RequestException as exc:
                if attempt == RETRIES or isinstance(exc, requests.exceptions.SSLError):  # no retry mends trust
                    raise StoreError(f"IPFS node unreachable at {self.url}: {failure(exc)}") from exc
                time.sleep(delay)
                delay *= 2
                continue
            if response.status_code == 200:
                return response
            message = _error_message(response)
            if command == "cat" and ("not found" in message.lower() or "timed out" in message.lower()):
                missing = kwargs["params"]["arg"]  # type: ignore[index]
                raise StoreError(f"{missing} is not available from the IPFS node at {self.url}", "missing")
            raise StoreError(f"IPFS node at {self.url} refused {command}: {message}")
        raise AssertionError("unreachable")


def _error_message(response: requests.Response) -> str:
    try:
        return str(response.json().get("Message", response.text))
    except ValueError:
        return response.text[:200]
