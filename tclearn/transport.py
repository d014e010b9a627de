"""HTTP sessions to a coalition's chain and IPFS nodes, over http or https.

A coalition spanning sites will often run its chain and IPFS endpoints behind TLS issued by its
own private PKI. `TCLEARN_CA_BUNDLE` names the PEM file of the CA(s) to trust for them (instead
of the system's); the payloads of mode B are end-to-end encrypted either way, so TLS protects
the metadata and the endpoints' credentials, not the models.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tclearn.errors import ConfigError

CA_BUNDLE_ENV = "TCLEARN_CA_BUNDLE"


def session_for(url: str) -> requests.Session:
    """A session to the endpoint at `url`. On this machine's loopback it skips reading proxy
    settings from the environment, which cost more than the request itself (no proxy serves
    loopback); with `TCLEARN_CA_BUNDLE` set it trusts that CA bundle only."""
    session = requests.Session()
    session.trust_env = urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1")
    bundle = os.environ.get(CA_BUNDLE_ENV)
    if bundle:
        if not Path(bundle).is_file():
            raise ConfigError(f"{CA_BUNDLE_ENV}={bundle} is not a file: give the PEM bundle of the coalition's CA")
        session.verify = bundle
    return session


def failure(exc: BaseException) -> str:
    """What went wrong with a request, in words a user can act on."""
    if isinstance(exc, requests.exceptions.SSLError):
        hint = (
            f"set {CA_BUNDLE_ENV} to the coalition's CA bundle"
            if not os.environ.get(CA_BUNDLE_ENV)
            else (f"the certificate is not signed by the CA in {CA_BUNDLE_ENV}")
        )
        return f"TLS certificate not trusted ({hint})"
    return exc.__class__.__name__
