"""Gas used per ledger operation for n = 4, 10 and 25 validators.

    python benchmarks/gas.py --json    # one JSON object, keyed by n

Measured on the in-process EVM (gas does not depend on the backend). Votes are measured in a
second round, where every vote also reveals the secret committed in the first round and
commits a new one: the steady state of the general draw. `vote` is the costliest vote that did
not close the block, `finalizing_vote` the one that did; `membership_change` the vote that
carried a validator addition out; `propose` references one update, `propose_10_updates` ten.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from eth_utils import keccak

from tclearn.chain.backends import connect
from tclearn.chain.deploy import Genesis
from tclearn.chain.ephemeral import EphemeralCoalition, ephemeral_coalition, funded_accounts
from tclearn.chain.ledger import LedgerParams
from tclearn.fba.draw import commitment
from tclearn.fba.quorum import threshold

ZERO = b"\x00" * 32
SIZES = (4, 10, 25)
TARGETS = {"register_update": 150_000, "propose": 150_000, "vote": 80_000, "finalizing_vote": 80_000}


def secret(validator: str, round_number: int) -> bytes:
    return keccak(text=f"{validator}/{round_number}")


def run_round(c: EphemeralCoalition, round_number: int, updates: int = 1) -> tuple[dict[str, int], list[int]]:
    """One round: `updates` registrations, a proposal, votes to finality. Gas of each step."""
    ledger = c.ledger
    head = ledger.cursor().head
    registered, register_gas = [], []
    for i in range(updates):
        member = c.members[i % len(c.members)]
        receipt = ledger.transact(member, "registerUpdate", head, keccak(text=f"w{round_number}/{i}"), ZERO, 64, 16)
        register_gas.append(receipt["gasUsed"])
        registered.append(ledger.contract.events.UpdateRegistered().process_receipt(receipt)[0]["args"]["id"])
    general = c.general()
    receipt = ledger.transact(
        general, "propose", head, keccak(text=f"m{round_number}"), ZERO, registered, ledger.current_round().number, ZERO
    )
    propose_gas = receipt["gasUsed"]
    block = ledger.cursor().open
    vote_gas = []
    for validator in c.validators[: threshold(len(c.validators))]:
        reveal = secret(validator.address, round_number - 1) if round_number > 1 else ZERO
        fresh = commitment(validator.address, secret(validator.address, round_number))
        vote_gas.append(ledger.vote(validator, block, True, keccak(text="metrics"), reveal, fresh)["gasUsed"])
    assert ledger.cursor().head == block
    return {"register_update": max(register_gas), "propose": propose_gas, "finalizing_vote": vote_gas[-1]}, vote_gas[
        :-1
    ]


def measure(n: int) -> dict[str, int]:
    chain = connect("inprocess:memory")
    params = LedgerParams("A", 16, 300, 600, 3600)
    coalition = ephemeral_coalition(chain, params, Genesis(b"\x11" * 32, ZERO, ZERO), validators=n, members=10)
    run_round(coalition, 1)  # validators commit
    gas, votes = run_round(coalition, 2)  # votes reveal and commit
    ten, _ = run_round(coalition, 3, updates=10)
    (newcomer,) = funded_accounts(chain, 1)
    ledger, vals = coalition.ledger, coalition.validators
    proposal = ledger.propose_membership(vals[0], newcomer.address, "validator", True)
    change_gas = 0
    for validator in vals[1 : threshold(n)]:
        change_gas = ledger.vote_membership(validator, proposal, True)["gasUsed"]
    assert ledger.has_role("validator", newcomer.address)
    chain.close()
    return {
        "deploy": coalition.deploy_gas,
        "register_update": gas["register_update"],
        "propose": gas["propose"],
        "propose_10_updates": ten["propose"],
        "vote": max(votes) if votes else gas["finalizing_vote"],
        "finalizing_vote": gas["finalizing_vote"],
        "membership_change": change_gas,
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object keyed by n.")
@click.option("--out", type=click.Path(path_type=Path), default=Path(__file__).parent / "results" / "gas.json")
def main(as_json: bool, out: Path) -> None:
    results = {str(n): measure(n) for n in SIZES}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(results))
        return
    ops = list(results[str(SIZES[0])])
    click.echo("| operation | " + " | ".join(f"n = {n}" for n in SIZES) + " | target |")
    click.echo("|---|" + "---:|" * (len(SIZES) + 1))
    for op in ops:
        target = f"≤ {TARGETS[op]:,}" if op in TARGETS else ""
        click.echo(f"| {op} | " + " | ".join(f"{results[str(n)][op]:,}" for n in SIZES) + f" | {target} |")


if __name__ == "__main__":
    main()
