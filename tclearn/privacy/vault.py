"""A participant's side of mode B: it seals what it stores and opens what it was granted.

Who reads what is decided by the chain's roles at the moment an object is sealed:

| object | sealed by | its key wrapped for |
|---|---|---|
| a member's update | the member | every validator (any may be drawn general), and the member |
| a candidate model | the general | every member, validator and auditor, and the general |

A fresh data key per object (per model version, not per membership epoch): a participant the
validators voted out is missing from the grants of every model sealed afterwards, with no epoch
to track or rotate, and an auditor can tell exactly which blocks each account could read. Its
cost is one HPKE wrap per grantee per object (measured in `benchmarks/overhead.py --mode B`).
A participant obtains a key only from an object whose SHA-256 the chain committed to, so every
grant is on chain: who, which key, for which block, when (`tclearn.privacy.access`). Validators
refuse a candidate whose grants are not exactly the participants the chain authorises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from tclearn.chain.ledger import Ledger
from tclearn.privacy.envelope import SealContext, SealError, data_key, open_sealed, read_header, seal
from tclearn.privacy.history import history_wrap, issue_history
from tclearn.privacy.keys import ParticipantKey, fingerprint
from tclearn.store.base import ContentStore, StoreError

KEY_PURPOSE = "tclearn.hpke"  # `registerKey` purpose of a participant's HPKE public key
MODEL_READERS = ("member", "validator", "auditor")
UPDATE_READERS = ("validator",)
ROLES_WITH_KEYS = ("member", "validator", "auditor", "supervisor")


def publish_key(ledger: Ledger, store: ContentStore, account: LocalAccount, key: ParticipantKey) -> str:
    """Stores `account`'s public key and registers its fingerprint on chain; returns its CID."""
    public = key.public_bytes()
    cid = store.put(public)
    ledger.register_key(account, KEY_PURPOSE, fingerprint(public), cid)
    return cid


def model_context(ledger: Ledger, parent: int, round_number: int, general: str) -> SealContext:
    """What a candidate model is sealed for: read from its proposal, or known to its general."""
    return SealContext(ledger.address, "model", parent, round_number, general)


def update_context(ledger: Ledger, parent: int, member: str) -> SealContext:
    """What an update is sealed for: read from its registration, or known to its member."""
    return SealContext(ledger.address, "update", parent, 0, member)


@dataclass
class Vault:
    """One participant's keys and its view of everyone's public keys, as the chain lists them."""

    ledger: Ledger
    store: ContentStore
    account: str
    key: ParticipantKey | None  # None: a participant of no role, who holds no key
    share_history: bool = False  # the rules' `joiners_read_history`
    _keys: dict[str, bytes] = field(default_factory=dict, repr=False)
    _seen: int = field(default=0, repr=False)
    _history_checked: tuple[int, int, int] | None = field(default=None, repr=False)

    def public_keys(self) -> dict[str, bytes]:
        """Each participant's latest registered public key, fetched and checked against the
        fingerprint on chain (a key whose bytes do not match is ignored)."""
        registrations = self.ledger.key_registrations(KEY_PURPOSE)
        for reg in registrations[self._seen :]:
            try:
                public = self.store.get(reg.uri)
            except StoreError:
                continue
            if fingerprint(public) == reg.fingerprint:
                self._keys[reg.account] = public
        self._seen = len(registrations)
        return self._keys

    def grantees(self, readers: tuple[str, ...], author: str) -> dict[str, bytes]:
        """Who may read an object of `readers`' kind now: the role holders and its author,
        among those with a registered key."""
        keys = self.public_keys()
        allowed = self.ledger.role_holders(readers) | {to_checksum_address(author)}
        return {a: keys[a] for a in sorted(allowed) if a in keys}

    def register(self, account: LocalAccount) -> None:
        """Registers this participant's public key unless the chain holds it already: a node
        starting for the first time (or after its key changed) makes itself reachable. A
        participant of no role can neither register nor be granted anything."""
        if self.key is None:
            return
        mine = fingerprint(self.key.public_bytes())
        latest = [r for r in self.ledger.key_registrations(KEY_PURPOSE) if r.account == self.account]
        if (not latest or latest[-1].fingerprint != mine) and self.ledger.role_holders(ROLES_WITH_KEYS) & {
            self.account
        }:
            publish_key(self.ledger, self.store, account, self.key)

    def usable_key(self) -> ParticipantKey:
        if self.key is None:
            raise SealError("no-key", f"{self.account} holds no key of this coalition (mode B)")
        return self.key

    def seal(self, plaintext: bytes, context: SealContext) -> bytes:
        readers = MODEL_READERS if context.purpose == "model" else UPDATE_READERS
        sealed, _, _ = seal(plaintext, context, self.usable_key().kem, self.grantees(readers, context.author))
        return sealed

    def open(self, blob: bytes, context: SealContext) -> bytes:
        """The plaintext, by this participant's own grant in the object or, for a model sealed
        before it joined, by a history grant (`tclearn.privacy.history`)."""
        header, _ = read_header(blob)
        if to_checksum_address(self.account) in header.grants or not self.share_history:
            return open_sealed(blob, context, self.usable_key(), self.account)
        wrapped = history_wrap(self, header.key_id)
        if wrapped is None:
            raise SealError("no-key", f"{self.account} holds no grant of key {header.key_id}, nor a history grant")
        dek = data_key(header, self.usable_key(), self.account, wrapped)
        return open_sealed(blob, context, self.usable_key(), self.account, dek)

    def grant_history(self, issuer: LocalAccount) -> list[str]:
        """Issues the history grants joiners lack (the drawn general does, once something
        changed: a role, a registered key, the head)."""
        if not self.share_history:
            return []
        ledger = self.ledger
        seen = (len(ledger.role_changes()), len(ledger.key_registrations(KEY_PURPOSE)), ledger.cursor().head)
        if seen == self._history_checked:
            return []
        granted = issue_history(self, issuer, self.ledger.role_holders(MODEL_READERS))
        self._history_checked = seen
        return granted

    def check_grants(self, blob: bytes, context: SealContext) -> None:
        """Refuses (`SealError`, reason `grants`) a model whose key is not wrapped for exactly
        the participants the chain authorises now."""
        header, _ = read_header(blob)
        expected = set(self.grantees(MODEL_READERS, context.author))
        granted = set(header.grants)
        if granted != expected:
            extra, missing = sorted(granted - expected), sorted(expected - granted)
            raise SealError(
                "grants",
                f"key {header.key_id} granted to {extra or 'no one'} beyond the "
                f"coalition's participants, and withheld from {missing or 'no one'}",
            )
