"""An ephemeral coalition: fresh accounts, held in memory and funded on a dev chain, and a
ledger deployed for them. What tests, benchmarks and one-machine simulations need; a real
coalition uses keystores and `tclearn deploy`.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from tclearn.chain.backends import Chain
from tclearn.chain.deploy import Genesis, deploy_ledger
from tclearn.chain.ledger import Ledger, LedgerParams

DEV_FUNDS_WEI = 10 * 10**18


@dataclass
class EphemeralCoalition:
    chain: Chain
    ledger: Ledger
    deploy_gas: int
    operator: LocalAccount
    validators: list[LocalAccount]
    members: list[LocalAccount]
    outsider: LocalAccount

    def general(self) -> LocalAccount:
        """The validator drawn for the current round."""
        drawn = self.ledger.current_round().general
        return next(v for v in self.validators if v.address == drawn)


def funded_accounts(chain: Chain, count: int, wei: int = DEV_FUNDS_WEI, seed: int | None = None) -> list[LocalAccount]:
    """`count` new accounts, each given `wei` by the dev chain's faucet.

    With a `seed` the keys derive from it, so a simulation's addresses (hence its ledger address
    and every general draw) are the same each time it runs; without, they are random.
    """
    if seed is None:
        accounts = [Account.create() for _ in range(count)]
    else:
        accounts = [Account.from_key(keccak(text=f"tclearn-simulation/{seed}/{i}")) for i in range(count)]
    for account in accounts:
        chain.fund(account.address, wei)
    return accounts


def ephemeral_coalition(
    chain: Chain,
    params: LedgerParams,
    genesis: Genesis,
    validators: int = 4,
    members: int = 2,
    seed: int | None = None,
) -> EphemeralCoalition:
    """Deploys a ledger for new accounts: one operator (also the supervisor in mode C), the
    validators, the members, and an outsider holding no role (`seed`: see funded_accounts)."""
    operator, outsider, *rest = funded_accounts(chain, 2 + validators + members, seed=seed)
    vals, mems = rest[:validators], rest[validators:]
    roles = {"member": [m.address for m in mems], "validator": [v.address for v in vals]}
    if params.mode == "C":
        roles["supervisor"] = [operator.address]
    deployment = deploy_ledger(chain, operator, params, genesis, roles)
    return EphemeralCoalition(chain, deployment.ledger, deployment.gas_used, operator, vals, mems, outsider)
