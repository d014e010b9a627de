"""What an auditor audits: a coalition directory (its `coalition.json`) or a simulation kept with
`tclearn simulate --keep DIR` (its `simulation.json`). Either names a chain, a ledger and a
store; a coalition also holds the settings document its nodes run by. What cannot even be
opened, an edited chain journal, is a problem of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from web3 import Web3

from tclearn.audit.history import History
from tclearn.audit.verify import Verification, verify
from tclearn.chain.artifacts import ledger_interface
from tclearn.chain.backends import connect
from tclearn.chain.ledger import Ledger
from tclearn.config import CONFIG_NAME, CoalitionConfig
from tclearn.errors import ConfigError, JournalError
from tclearn.rules import CoalitionRules
from tclearn.store import open_store
from tclearn.store.base import ContentStore, StoreError, get_json

RECORD = "simulation.json"  # in a kept simulation's directory: where its ledger and store are, who is who


def write_record(directory: Path, chain_url: str, ledger: str, store_url: str, names: dict[str, str]) -> None:
    """What `Audited.at` reads of a kept simulation."""
    document = {"chain": chain_url, "ledger": ledger, "store": store_url, "names": names}
    (directory / RECORD).write_text(json.dumps(document, indent=1) + "\n")


@dataclass(frozen=True)
class Audited:
    directory: Path
    chain_url: str
    ledger: str
    store_url: str
    names: dict[str, str] = field(default_factory=dict)
    rules: CoalitionRules | None = None  # the settings the coalition's nodes run by
    title: str = ""
    task: dict[str, Any] | None = None  # a demonstration coalition's data

    @classmethod
    def at(cls, directory: Path) -> Audited:
        if (directory / CONFIG_NAME).exists():
            config = CoalitionConfig.load(directory)
            if config.ledger is None:
                raise ConfigError(f"coalition {config.name} is not deployed yet: nothing to audit")
            names = {p.address: name for name, p in config.participants.items()}
            ledger, store = config.ledger.address, config.store_url()
            title = f"Coalition {config.name}"
            return cls(directory, config.chain_url(), ledger, store, names, config.rules, title, config.task or None)
        if (directory / RECORD).exists():
            record = json.loads((directory / RECORD).read_text())
            title = f"Simulation kept in {directory.name}"
            return cls(
                directory, record["chain"], record["ledger"], record["store"], dict(record["names"]), None, title
            )
        raise ConfigError(f"{directory} holds neither a coalition ({CONFIG_NAME}) nor a kept simulation ({RECORD})")

    @contextmanager
    def opened(self) -> Iterator[tuple[Ledger, ContentStore]]:
        """The ledger and the store, the chain closed afterwards."""
        chain = connect(self.chain_url, self.directory)
        try:
            yield Ledger(chain, self.ledger), open_store(self.store_url, self.directory)
        finally:
            chain.close()

    def verify(
        self, from_block: int = 1, recompute: bool = False, name: str | None = None, global_test: Path | None = None
    ) -> Verification:
        """`tclearn audit verify`; with `recompute`, also `--recompute`: the models opened as
        participant `name` (default: the coalition's first auditor), on G from `global_test` or
        the demonstration task."""
        if recompute and self.rules is None:
            raise ConfigError("--recompute needs a coalition directory: a kept simulation holds no G to evaluate on")
        if recompute and self.rules is not None and self.rules.mode == "C":
            raise ConfigError("mode C's models are encrypted for the supervisor alone: they cannot be recomputed")
        try:
            with self.opened() as (ledger, store):
                history, result = self._checked(ledger, store, from_block)
        except JournalError as exc:
            result = Verification()
            result.flag(_block_of(exc.raw), "journal", str(exc))
            return result
        if recompute:  # a node of its own: the in-process chain serves one connection at a time
            self._recompute(history, result, name, global_test, from_block)
        result.problems.sort(key=lambda p: (p.block or 0, p.kind))
        return result

    def _checked(self, ledger: Ledger, store: ContentStore, from_block: int) -> tuple[History, Verification]:
        """The history, read once, and what verifying it found (mode B: the grants too)."""
        history = History.read(ledger)
        result = verify(history, store, self.rules, from_block)
        if history.params.mode == "B":
            check_grants(ledger, store, result)
        return history, result

    def _recompute(
        self, history: History, result: Verification, name: str | None, path: Path | None, from_block: int
    ) -> None:
        from tclearn.audit.recompute import recompute
        from tclearn.nodes.site import global_test_set, open_node

        if name is None:
            auditors = [n for n, p in CoalitionConfig.load(self.directory).participants.items() if "auditor" in p.roles]
            name = auditors[0] if auditors else "operator"
        node = open_node(self.directory, name)
        try:
            result.recomputed = recompute(
                history.blocks(),
                lambda block: node.ctx.block_weights(block)[1],
                node.ctx.family,
                global_test_set(node, path),
                result,
                from_block,
            )
        finally:
            node.close()

    def report(self, out: Path) -> list[Path]:
        """`tclearn audit report --out DIR`: the HTML report, PROV-JSON and model cards."""
        from tclearn.audit.report import Report, excluded_by_block, intended_data, write_report
        from tclearn.privacy.access import access_log

        with self.opened() as (ledger, store):
            history, result = self._checked(ledger, store, 1)
            result.problems.sort(key=lambda p: (p.block or 0, p.kind))
            try:
                rules = get_json(store, history.params.rules_digest)
            except (StoreError, ValueError):
                rules = None
            report = Report(
                title=self.title or "TCLearn audit",
                history=history,
                names=self.names,
                verification=result,
                excluded=excluded_by_block(history.blocks(), store),
                grants=access_log(ledger, store, self.names)["grants"] if history.params.mode == "B" else [],
                intended_data=intended_data(rules, self.task),
            )
        return write_report(report, out)


def check_grants(ledger: Ledger, store: ContentStore, result: Verification) -> None:
    """Mode B: every key grant went to an account that held a role when it was granted."""
    from tclearn.privacy.access import access_log

    for grant in access_log(ledger, store)["grants"]:
        if not grant["role"]:
            block = grant["blocks"][0] if grant["blocks"] else grant.get("parent")
            result.flag(
                block, "grant", f"the {grant['object']} key was granted to {grant['account']}, who held no role"
            )


def _block_of(raw: bytes | None) -> int | None:
    """The ledger block a journal entry's transaction was about, if it is a ledger call that
    names one (a vote, an expiry, an update's parent)."""
    if raw is None:
        return None
    try:
        from eth_account.typed_transactions import TypedTransaction

        data = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["data"]
        _function, args = Web3().eth.contract(abi=ledger_interface().abi).decode_function_input(data)
    except Exception:  # not a typed ledger call: the deployment, a transfer, garbage
        return None
    named: dict[str, Any] = dict(args)
    value = named.get("id", named.get("parent", named.get("blockId")))
    return int(value) if value is not None else None
