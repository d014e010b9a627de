"""`tclearn simulate`: flags → a simulation on the chosen chain and store → table, plot, JSON.

`--chain anvil` and `--store ipfs` start a temporary anvil devnet and js-ipfs node for the run
and stop them afterwards; any other value is used as a URL.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tclearn.report_plot import accuracy_plot
from tclearn.services import temporary_services
from tclearn.simulate import RoundRecord, SimulationConfig, SimulationResult, run_simulation


def run_from_cli(opts: dict[str, Any]) -> SimulationResult:
    config = SimulationConfig(
        members=opts["members"],
        validators=opts["validators"],
        rounds=opts["rounds"],
        mode=opts["mode"],
        learning=opts["learning"],
        dataset=opts["dataset"],
        alpha=opts["alpha"],
        subset=opts["subset"],
        attack=opts["attack"],
        attackers=opts["attackers"] if opts["attack"] else 0,
        rogue_generals=opts["rogue_generals"],
        aggregator=opts["aggregator"],
        fba=not opts["no_fba"],
        seed=opts["seed"],
        local_epochs=opts["epochs"],
        remove_member_at=opts["remove_member_at"],
        kem=opts["kem"],
        join_member_at=opts["join_member_at"],
        joiners_read_history=opts["joiners_read_history"],
        drop_member_at=opts["drop_member_at"],
    )
    if config.mode != "B" and (config.remove_member_at or config.kem or config.join_member_at):
        raise click.BadParameter("only in mode B", param_hint="--remove-member-at / --join-member-at / --kem")
    if config.mode != "C" and config.drop_member_at:
        raise click.BadParameter("only in mode C", param_hint="--drop-member-at")
    for flag, at in (
        ("--remove-member-at", config.remove_member_at),
        ("--join-member-at", config.join_member_at),
        ("--drop-member-at", config.drop_member_at),
    ):
        if at is not None and at > config.rounds:
            raise click.BadParameter("after the last round", param_hint=flag)
    if config.mode == "C":
        from tclearn.he.simulation import ATTACKS as MODE_C_ATTACKS

        if config.attack is not None and config.attack not in MODE_C_ATTACKS:
            raise click.BadParameter(f"mode C simulates {', '.join(MODE_C_ATTACKS)}", param_hint="--attack")
        if config.learning != "fedavg" or config.aggregator != "mean" or not config.fba:
            raise click.BadParameter("mode C sums masked updates", param_hint="--learning / --aggregator / --no-fba")
    if config.rogue_generals >= config.validators:
        raise click.BadParameter("at least one validator must be honest", param_hint="--rogue-generals")
    if opts["keep"] is not None and (opts["chain_url"] == "anvil" or opts["store_url"] == "ipfs"):
        raise click.BadParameter(
            "a temporary devnet or IPFS node does not outlive the run: keep the in-process defaults or give URLs",
            param_hint="--keep",
        )
    if config.attackers > config.members:
        raise click.BadParameter("cannot have more attackers than members", param_hint="--attackers")
    err = Console(stderr=True)
    with (
        temporary_services(opts["chain_url"], opts["store_url"]) as (chain_url, store_url),
        Progress(console=err, transient=True) as progress,
    ):
        task = progress.add_task("rounds", total=config.rounds)
        result = run_simulation(
            config, chain_url, store_url, on_round=lambda _: progress.advance(task), keep=opts["keep"]
        )
    accuracies = [r.global_accuracy for r in result.history]
    title = f"{config.dataset}, {config.learning}, {config.attack or 'no attack'}"
    plot = accuracy_plot(
        opts["plot"], accuracies, [r.outcome for r in result.history], result.centralized_accuracy, title
    )
    if opts["as_json"]:
        click.echo(json.dumps({**result.summary(), "plot": str(plot)}))
    else:
        # A log or a pipe has no width of its own: give the table room rather than rich's 80 columns.
        Console(width=None if sys.stdout.isatty() else 160).print(_table(result.history))
        summary = result.summary()
        click.echo(
            f"accepted {summary['accepted']}, rejected {summary['rejected']}, head block {summary['head']}; "
            f"final accuracy {summary['final_accuracy']:.3f} (centralized {summary['centralized_accuracy']:.3f}); "
            f"attacks proposed {summary['attacks_proposed']}, accepted {summary['attacks_accepted']}; "
            f"honest updates proposed {summary['honest_proposed']}, accepted {summary['honest_accepted']}; plot {plot}"
        )
        if result.plaintext_accuracy is not None:
            click.echo(f"mode C: the same head trained in clear reaches {result.plaintext_accuracy:.3f}")
        for what, r in (("voted out", result.removal), ("voted in", result.joining)):
            if r is not None:
                click.echo(
                    f"member {r.account} {what} at round {r.round}: its key opens {r.read_before} of the "
                    f"{r.models_before} final models sealed before, {r.read_after} of the {r.models_after} after"
                )
    return result


def _table(history: list[RoundRecord]) -> Table:
    table = Table()
    for name in ("round", "block", "general", "contributors", "left out", "votes", "outcome", "G accuracy"):
        table.add_column(name, no_wrap=name not in ("contributors", "left out"))
    for r in history:
        contributors = ", ".join(f"m{i}" for i in r.contributors) or "-"
        if r.attackers_in:
            contributors += f" ({r.attackers_in} attacker)"
        table.add_row(
            str(r.round),
            str(r.block or "-"),
            r.general[:10],
            contributors,
            _left_out(r.excluded),
            f"{r.accepts}✓ {r.rejects}✗",
            r.outcome if r.step == 1.0 else f"{r.outcome} ({r.step:g} step)",
            f"{r.global_accuracy:.3f}",
        )
    return table


def _left_out(excluded: dict[int, str]) -> str:
    """Members left out of the round's candidate, grouped by reason: `m0 m1 outlier; m3 harmful-loss`."""
    by_reason: dict[str, list[int]] = {}
    for member, why in sorted(excluded.items()):
        by_reason.setdefault(why, []).append(member)
    return "; ".join(" ".join(f"m{i}" for i in members) + f" {why}" for why, members in by_reason.items()) or "-"
