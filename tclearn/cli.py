"""`tclearn`: the command line of members, validators, auditors and operators.

A thin layer over the library: each command loads the coalition directory, calls one library
function and prints the result (a table for people, `--json` for scripts). Expected failures
print one line on stderr and exit 1, without a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tclearn.attacks import ATTACKS
from tclearn.chain.accounts import (
    DEFAULT_SCRYPT_N,
    PASSWORD_ENV,
    create_keystore,
    new_password_file,
    resolve_password,
)
from tclearn.chain.deploy import Genesis, deploy_ledger
from tclearn.chain.ephemeral import DEV_FUNDS_WEI
from tclearn.chain.ledger import MODES, Ledger
from tclearn.config import CONFIG_NAME, IPFS_REPO, CoalitionConfig, Deployed, GenesisModel, Participant, store_url
from tclearn.data.datasets import DATASETS
from tclearn.errors import ConfigError, NotReady, TCLearnError
from tclearn.fba.strategy import AGGREGATORS, LEARNING_MODES
from tclearn.privacy.keys import DEFAULT_KEM, KEMS, ParticipantKey, save_key
from tclearn.rules import GATHER_S
from tclearn.services import anvil_down, anvil_status, anvil_up, ipfs_down, ipfs_status, ipfs_up
from tclearn.status import coalition_status, render_status
from tclearn.store import open_store
from tclearn.store.cid import cid_digest

if TYPE_CHECKING:
    from tclearn.nodes.site import Node

F = TypeVar("F", bound=Callable[..., Any])


def readable_errors(command: F) -> F:
    """Turns expected failures into one line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TCLearnError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def emit(data: dict[str, Any], as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


@click.group()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("TCLEARN_DIR", "coalition"),
    show_default="$TCLEARN_DIR or ./coalition",
    help="The coalition directory.",
)
@click.pass_context
def main(ctx: click.Context, directory: Path) -> None:
    """TCLearn: train one model across a coalition, every step on chain, every block voted."""
    ctx.obj = directory.resolve()


# ---------------------------------------------------------------------------- init


@main.command()
@click.option("--name", default=None, help="Coalition name (default: the directory's name).")
@click.option("--mode", type=click.Choice(MODES), default="A", show_default=True)
@click.option(
    "--kem",
    type=click.Choice(list(KEMS)),
    default=DEFAULT_KEM,
    show_default=True,
    help="Mode B: the KEM that wraps every model key.",
)
@click.option(
    "--joiners-read-history",
    is_flag=True,
    help="Mode B: a participant that joins is granted the models finalised before it joined too.",
)
@click.option("--members", type=click.IntRange(0, 1000), default=3, show_default=True)
@click.option("--validators", type=click.IntRange(1, 128), default=4, show_default=True)
@click.option("--supervisors", type=click.IntRange(0, 16), default=None, help="Default: 1 in mode C, else 0.")
@click.option("--auditors", type=click.IntRange(0, 16), default=1, show_default=True)
@click.option(
    "--chain", default="inprocess", show_default=True, help="inprocess, anvil (managed devnet) or an RPC URL."
)
@click.option(
    "--store",
    default="local",
    show_default=True,
    help="local (embedded), ipfs (the coalition's own node: tclearn ipfs up) or an IPFS RPC URL.",
)
@click.option("--min-batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option("--proposal-timeout", type=click.IntRange(1), default=300, show_default=True, help="Seconds.")
@click.option("--vote-timeout", type=click.IntRange(1), default=600, show_default=True, help="Seconds.")
@click.option("--membership-timeout", type=click.IntRange(1), default=86_400, show_default=True, help="Seconds.")
@click.option(
    "--gather",
    type=click.IntRange(0),
    default=GATHER_S,
    show_default=True,
    help="Seconds the general waits after the first update before proposing.",
)
@click.option(
    "--dataset",
    type=click.Choice([*DATASETS, "none"]),
    default="breast-cancer",
    show_default=True,
    help="Demonstration task: nodes without data files train and test on their shard of it. "
    "'none' for a real coalition (then give --input-shape and --classes).",
)
@click.option("--alpha", type=click.FloatRange(min=0, min_open=True), default=None, help="Task split: Dirichlet α.")
@click.option("--architecture", type=click.Choice(["cnn", "mlp"]), default=None, help="Default: by dataset.")
@click.option("--learning", type=click.Choice(LEARNING_MODES), default="fedavg", show_default=True)
@click.option("--aggregator", type=click.Choice(AGGREGATORS), default="mean", show_default=True)
@click.option("--input-shape", default="30", show_default=True, help="With --dataset none; e.g. 1,28,28.")
@click.option(
    "--scale-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --dataset none: a reference CSV of raw features; its per-feature mean and std become the rule.",
)
@click.option("--log1p", is_flag=True, help="With --scale-from: take log(1 + x) of the features first.")
@click.option("--classes", type=click.IntRange(2), default=2, show_default=True, help="With --dataset none.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the genesis model's weights.")
@click.option("--scrypt-n", type=click.IntRange(2**10), default=DEFAULT_SCRYPT_N, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def init(directory: Path, **opts: Any) -> None:
    """Create a coalition directory: config, encrypted keystores and the genesis model.

    All or nothing: the coalition is built in a scratch directory beside `directory` and moved
    in at the end, its config last, so a failed init (an unreachable store, a bad option, an
    interrupt) leaves nothing behind and can simply be run again."""
    if (directory / "coalition.json").exists():
        raise ConfigError(f"{directory} already holds a coalition")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.init-", dir=directory.parent))
    try:
        data, text = _build_coalition(staging, directory, opts)
        _move_into(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    emit(data, opts["as_json"], text)


def _move_into(staging: Path, directory: Path) -> None:
    """Moves what `init` built into `directory`, `coalition.json` last: the coalition exists
    only once everything it names is in place."""
    directory.mkdir(exist_ok=True)
    entries = sorted(staging.iterdir(), key=lambda entry: entry.name == CONFIG_NAME)
    clashes = [entry.name for entry in entries if (directory / entry.name).exists()]
    if clashes:
        raise ConfigError(f"{directory} already holds {', '.join(clashes)}: move them away, or choose another --dir")
    for entry in entries:
        entry.rename(directory / entry.name)


def _build_coalition(directory: Path, target: Path, opts: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Builds the coalition that will live in `target` inside `directory`; returns what init reports."""
    mode = opts["mode"]
    supervisors = opts["supervisors"] if opts["supervisors"] is not None else int(mode == "C")
    if mode == "C" and supervisors == 0:
        raise ConfigError("mode C needs at least one supervisor")
    try:
        input_shape = tuple(int(x) for x in opts["input_shape"].split(","))
    except ValueError as exc:
        raise ConfigError(f"--input-shape {opts['input_shape']!r} is not comma-separated integers") from exc
    classes, task = opts["classes"], None
    from tclearn.data.preprocessing import Preprocessing

    preprocessing = Preprocessing()
    if opts["dataset"] != "none":
        from tclearn.data.datasets import load_dataset, preprocessing_for

        dataset = load_dataset(opts["dataset"])
        input_shape, classes = dataset.input_shape, dataset.num_classes
        task = {"dataset": opts["dataset"], "seed": opts["seed"], "alpha": opts["alpha"]}
        preprocessing = preprocessing_for(opts["dataset"])
    elif opts["scale_from"] is not None:
        from tclearn.data.loaders import load_csv

        reference = load_csv(opts["scale_from"], input_shape).x
        if opts["log1p"] and (reference < 0).any():
            raise ConfigError(f"--log1p: {opts['scale_from']} holds negative features")
        preprocessing = Preprocessing.standardizing(reference.reshape(len(reference), -1), log1p=opts["log1p"])
    architecture = opts["architecture"] or ("mlp" if len(input_shape) == 1 else "cnn")
    if mode == "C":  # an encrypted linear head on public frozen features (`tclearn.he`)
        if opts["architecture"] not in (None, "frozen-linear"):
            raise ConfigError("mode C trains a linear head on frozen features: --architecture frozen-linear")
        architecture = "frozen-linear"
    from tclearn.model.architectures import ArchitectureSpec  # torch: imported only where needed
    from tclearn.model.genesis import make_genesis
    from tclearn.rules import CoalitionRules, TrainingRecipe

    spec = ArchitectureSpec(architecture, input_shape, classes)
    rules = CoalitionRules(
        architecture=spec.as_dict(),
        mode=mode,
        learning=opts["learning"],
        aggregator=opts["aggregator"],
        min_batch_size=opts["min_batch_size"],
        training=TrainingRecipe(batch_size=max(opts["min_batch_size"], TrainingRecipe().batch_size)),
        gather_s=opts["gather"],
        preprocessing=preprocessing.as_dict(),
        kem=opts["kem"] if mode == "B" else ("x25519" if mode == "C" else None),
        joiners_read_history=mode == "B" and opts["joiners_read_history"],
    )
    config = CoalitionConfig(
        name=opts["name"] or target.name,
        rules=rules,
        chain=opts["chain"],
        store=opts["store"],
        proposal_timeout=opts["proposal_timeout"],
        vote_timeout=opts["vote_timeout"],
        membership_timeout=opts["membership_timeout"],
        task=task,
        directory=directory,
    )
    if not os.environ.get(PASSWORD_ENV):
        config.password_file = "secrets/keystore.password"
        new_password_file(directory / config.password_file)
    password = resolve_password(directory / config.password_file if config.password_file else None)

    plan = [("operator", [])]
    for role, count in (
        ("member", opts["members"]),
        ("validator", opts["validators"]),
        ("supervisor", supervisors),
        ("auditor", opts["auditors"]),
    ):
        plan += [(f"{role}-{i}", [role]) for i in range(1, count + 1)]
    for name, roles in plan:
        keystore = f"keystores/{name}.json"
        address = create_keystore(directory / keystore, password, opts["scrypt_n"])
        config.participants[name] = Participant(address=address, keystore=keystore, roles=roles)
        if mode in ("B", "C") and roles:  # registered on chain at deploy, or when its node first starts
            key = ParticipantKey.generate(rules.kem or DEFAULT_KEM)
            save_key(config.hpke_keystore(name), key, password, opts["scrypt_n"])
        if mode == "C" and "supervisor" in roles:
            from tclearn.he.node import create_supervisor_keystore

            create_supervisor_keystore(config, name, password, opts["scrypt_n"])

    store = open_store(store_url(config.store, target), directory)
    if mode == "C":
        from tclearn.he.node import make_genesis as make_head_genesis

        genesis = make_head_genesis(input_shape, classes, store)
    else:
        genesis = make_genesis(spec, opts["seed"], store)
    config.genesis = GenesisModel(
        sha256=genesis.weights_sha256.hex(), cid=genesis.weights_cid, metadata_cid=genesis.metadata_cid
    )
    store.put(rules.document())  # the rules' CID digest goes on chain at deploy
    config.save()
    data = {
        "directory": str(target),
        "mode": mode,
        "chain": config.chain,
        "participants": {name: p.address for name, p in config.participants.items()},
        "genesis": {"sha256": config.genesis.sha256, "cid": config.genesis.cid},
    }
    text = (
        f"coalition {config.name} (mode {mode}) created in {target} with "
        f"{len(config.participants)} accounts; genesis model {genesis.weights_cid}"
    )
    return data, text


# ---------------------------------------------------------------------------- deploy


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def deploy(directory: Path, as_json: bool) -> None:
    """Deploy the coalition's ledger and record its address in the config."""
    config = CoalitionConfig.load(directory)
    if config.ledger is not None:
        raise ConfigError(f"coalition {config.name} is deployed already at {config.ledger.address}")
    if config.genesis is None:
        raise ConfigError("the config has no genesis model")
    chain = config.connect()
    try:
        if chain.is_dev:
            for participant in config.participants.values():
                chain.fund(participant.address, DEV_FUNDS_WEI)
        genesis = Genesis(
            bytes.fromhex(config.genesis.sha256),
            cid_digest(config.genesis.cid),
            cid_digest(config.genesis.metadata_cid),
        )
        deployment = deploy_ledger(chain, config.unlock(config.deployer), config.params, genesis, config.roles())
        config.ledger = Deployed(deployment.ledger.address, chain.chain_id, deployment.block_number)
        config.save()
        if config.mode == "B":
            _register_keys(config, deployment.ledger)
        if config.mode == "C":
            from tclearn.he.node import register_keys

            register_keys(config, deployment.ledger, open_store(config.store_url(), config.directory))
    finally:
        chain.close()
    data = {**vars(config.ledger), "gas_used": deployment.gas_used}
    emit(
        data, as_json, f"ledger deployed at {config.ledger.address} (chain {chain.chain_id}, gas {deployment.gas_used})"
    )


def _register_keys(config: CoalitionConfig, ledger: Ledger) -> None:
    """Mode B: every participant's HPKE public key stored and registered, so that the first
    update is sealed for every validator (a node also registers its own when it starts)."""
    from tclearn.privacy.vault import Vault

    store = open_store(config.store_url(), config.directory)
    for name, participant in config.participants.items():
        key = config.unlock_hpke(name)
        if key is not None and participant.roles:
            Vault(ledger, store, participant.address, key).register(config.unlock(name))


# ---------------------------------------------------------------------------- devnet


@main.group(name="devnet")
def devnet_group() -> None:
    """Start, stop or inspect the coalition's local anvil devnet."""


@devnet_group.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Default: its last port, else a free one.")
@click.option(
    "--block-time",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Seconds between blocks mined without traffic (0: only on transactions).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def up(directory: Path, port: int | None, block_time: int, as_json: bool) -> None:
    """Start anvil on 127.0.0.1 (its state persists in <dir>/devnet; its port stays)."""
    info = anvil_up(directory / "devnet", port, block_time or None)
    emit(asdict(info), as_json, f"devnet running at {info.url} (pid {info.pid}, chain {info.chain_id})")


def _down_and_status(group: click.Group, label: str, subdir: str, down: Callable[[Path], bool], status: Any) -> None:
    """The `down` and `status` commands of a service kept in `<dir>/<subdir>` (devnet, ipfs)."""

    @group.command(name="down", help=f"Stop the {label} (its state is kept for the next `up`).")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @readable_errors
    def stop(directory: Path, as_json: bool) -> None:
        stopped = down(directory / subdir)
        emit({"stopped": stopped}, as_json, f"{label} stopped" if stopped else f"no {label} was running")

    @group.command(name="status", help=f"Whether the {label} runs, and where.")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    @readable_errors
    def show(directory: Path, as_json: bool) -> None:
        info = status(directory / subdir)
        if info is None:
            emit({"running": False}, as_json, f"no {label} here")
            return
        where = f"running at {info.url}" if info.running else f"not running (its URL stays {info.url})"
        emit(asdict(info), as_json, f"{label} {where} (pid {info.pid})")


_down_and_status(devnet_group, "devnet", "devnet", anvil_down, anvil_status)


# ---------------------------------------------------------------------------- ipfs


@main.group(name="ipfs")
def ipfs_group() -> None:
    """Start, stop or inspect the coalition's own IPFS node (store "ipfs" in coalition.json)."""


@ipfs_group.command(name="up")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def ipfs_up_command(directory: Path, as_json: bool) -> None:
    """Start js-ipfs on 127.0.0.1, offline, with its repository in <dir>/ipfs (its ports stay)."""
    info = ipfs_up(directory / IPFS_REPO)
    emit(asdict(info), as_json, f"IPFS node running at {info.url} (pid {info.pid})")


_down_and_status(ipfs_group, "IPFS node", IPFS_REPO, ipfs_down, ipfs_status)


# ---------------------------------------------------------------------------- simulate


@main.command()
@click.option("--members", type=click.IntRange(1, 100), default=6, show_default=True)
@click.option("--validators", type=click.IntRange(1, 128), default=4, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option(
    "--mode",
    type=click.Choice(["A", "B", "C"]),
    default="A",
    show_default=True,
    help="B: a private model; C: members who do not trust each other (an encrypted head, a supervisor).",
)
@click.option(
    "--remove-member-at",
    type=click.IntRange(1),
    default=None,
    help="Mode B: at this round the validators vote the last honest member out.",
)
@click.option(
    "--kem",
    type=click.Choice(list(KEMS)),
    default=None,
    help=f"Mode B: the KEM that wraps every model key [default: {DEFAULT_KEM}].",
)
@click.option(
    "--join-member-at",
    type=click.IntRange(1),
    default=None,
    help="Mode B: at this round the validators vote a new member in (it only reads).",
)
@click.option("--joiners-read-history", is_flag=True, help="Mode B: the joiner is granted the earlier models too.")
@click.option(
    "--drop-member-at",
    type=click.IntRange(1),
    default=None,
    help="Mode C: from this round on the last member's node is dead (it never submits again).",
)
@click.option("--learning", type=click.Choice(LEARNING_MODES), default="fedavg", show_default=True)
@click.option("--dataset", type=click.Choice(list(DATASETS)), default="breast-cancer", show_default=True)
@click.option("--alpha", type=click.FloatRange(min=0, min_open=True), default=None, help="Dirichlet α; omitted: IID.")
@click.option(
    "--subset",
    type=click.IntRange(1),
    default=None,
    help="Train and test on a stratified subset of this many samples (fixed by --seed); omitted: all.",
)
@click.option("--attack", type=click.Choice(list(ATTACKS)), default=None)
@click.option("--attackers", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--rogue-generals",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Validators that, when drawn, propose every update unscreened (Byzantine generals).",
)
@click.option("--aggregator", type=click.Choice(AGGREGATORS), default="mean", show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=2, show_default=True, help="Local epochs per round.")
@click.option("--no-fba", is_flag=True, help="Accept every candidate: the plain federated-learning baseline.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--chain", "chain_url", default="inprocess", show_default=True, help="inprocess, anvil (temporary) or URL."
)
@click.option("--store", "store_url", default="local", show_default=True, help="local, ipfs (temporary node) or URL.")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), default=Path("simulation.png"), show_default=True
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the run's chain and store in this directory, for `tclearn --dir DIR audit ...`.",
)
@click.option("--json", "as_json", is_flag=True)
@readable_errors
def simulate(**opts: Any) -> None:
    """Run a whole coalition on this machine and report what the FBA let through."""
    from tclearn.simulation_cli import run_from_cli

    run_from_cli(opts)


# ---------------------------------------------------------------------------- nodes


def _node(directory: Path, name: str) -> Node:
    from tclearn.nodes.site import open_node  # torch: imported only by the commands that need it

    return open_node(directory, name)


as_member = click.option("--as", "name", required=True, help="The member's participant name in the config.")


@main.group()
def member() -> None:
    """A member's commands: submit a training step, follow its fate."""


@member.command(name="submit")
@as_member
@click.option(
    "--data",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="CSV file or image folder (class sub-folders).",
)
@click.option("--epochs", type=click.IntRange(1), default=None, help="Default: the coalition's training recipe.")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="Default: the recipe's (≥ the minimum).")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Default: recipe's.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def member_submit(directory: Path, name: str, data: Path | None, **opts: Any) -> None:
    """Train the head model on local data, store the result and register it on chain."""
    from tclearn.nodes.member import submit
    from tclearn.nodes.site import member_data

    node = _node(directory, name)
    try:
        x, y = member_data(node, data)
        if node.config.mode == "C":  # full-batch, on the encrypted copy: no epochs, batch or rate to set
            done = _submit_encrypted(node, x, y)
        else:
            config = node.config.rules.training.config(opts["epochs"], opts["batch_size"], opts["learning_rate"])
            done = submit(node, x, y, config, opts["seed"])
    finally:
        node.close()
    result = {"update": done.update_id, "parent": done.parent, "cid": done.cid, "samples": done.samples}
    emit(result, opts["as_json"], f"update {done.update_id} registered on block {done.parent} ({done.cid})")


@member.command(name="correct")
@as_member
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def member_correct(directory: Path, name: str, as_json: bool) -> None:
    """Mode C: once the general has closed the round's roster without some members, file this
    member's correction (its masks with the absent ones, encrypted for the supervisor), so
    the sum of the present members' updates can be unmasked. Safe to run at any time: it files
    only when due, and once."""
    from tclearn.he.node import correct

    node = _node(directory, name)
    try:
        if node.config.mode != "C":
            raise click.UsageError("corrections are mode C's: its updates are masked")
        outcome = correct(node)
    finally:
        node.close()
    action = outcome.action if outcome else "nothing-due"
    request, _, absent = (outcome.detail if outcome else "").partition(":")
    filed = action == "correction-filed"
    result = {
        "action": action,
        "block": outcome.block if outcome else None,
        "request": int(request) if filed else None,
        "absent": absent.split(",") if filed else [],
        "detail": "" if filed or outcome is None else outcome.detail,
    }
    text = {
        "correction-filed": f"correction filed (request {request}) for the absent members {absent}",
        "too-few-present": f"not filed: too few members present ({result['detail']})",
        "nothing-due": "nothing due: the roster is open, nobody is absent, or this member filed already",
    }[action]
    emit(result, as_json, text)


def _submit_encrypted(node: Node, x: Any, y: Any) -> Any:
    """Mode C: the step on the head's encrypted copy (`tclearn.he.member`)."""
    from tclearn.engine.steps import Pending
    from tclearn.he.node import submit as submit_encrypted

    try:
        return submit_encrypted(node, x, y)
    except Pending as pending:
        raise NotReady(f"waiting for {pending.detail} from the supervisor; submit again once it is issued") from None


@member.command(name="status")
@click.option("--as", "name", required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def member_status(directory: Path, name: str, as_json: bool) -> None:
    """What became of each update this member registered."""
    from tclearn.nodes.member import fates, record, record_line

    node = _node(directory, name)
    try:
        found = fates(node)
    finally:
        node.close()
    summary = record(found)
    text = "\n".join([*(f.line() for f in found), record_line(summary)]) if found else "no updates yet"
    emit({"updates": [f.as_dict() for f in found], "record": summary}, as_json, text)


def _daemon_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--as", "name", required=True, help="The validator's participant name."),
            click.option("--global-test", type=click.Path(exists=True, path_type=Path), help="CSV or image folder."),
            click.option("--local-test", type=click.Path(exists=True, path_type=Path), help="CSV or image folder."),
            click.option("--poll", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds."),
            click.option("--once", is_flag=True, help="One pass, then exit."),
        ]
    ):
        command = option(command)
    return command


@main.group()
def validator() -> None:
    """The validator's vote daemon."""


@validator.command(name="run")
@_daemon_options
@click.option("--no-general", is_flag=True, help="Never propose, even when drawn (run `general run` instead).")
@click.pass_obj
@readable_errors
def validator_run(directory: Path, name: str, **opts: Any) -> None:
    """Watch the chain, vote on every candidate (and propose when drawn). Ctrl-C stops it safely."""
    _run_daemon(directory, name, opts, general=not opts["no_general"], votes=True)


def _run_daemon(directory: Path, name: str, opts: dict[str, Any], general: bool, votes: bool) -> None:
    """A validator's daemon (see `_serve`)."""
    from tclearn.nodes.site import validator_role

    _serve(
        directory,
        name,
        opts,
        lambda node: validator_role(node, opts["global_test"], opts["local_test"], general, votes),
    )


def _serve(directory: Path, name: str, opts: dict[str, Any], make: Callable[[Node], Any]) -> None:
    """Logging to stderr, then the daemon: opened (waiting out an outage), its passes run until
    Ctrl-C or SIGTERM, everything closed."""
    import logging

    from tclearn.nodes import daemon

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    opened: list[Node] = []

    def open_role() -> daemon.Passes:
        node = _node(directory, name)
        try:
            role = make(node)
        except BaseException:
            node.close()
            raise
        opened.append(node)
        return role  # type: ignore[no-any-return]

    def close() -> None:
        for node in opened:
            node.close()

    try:
        if opts["once"]:
            try:
                daemon.run(open_role(), opts["poll"], once=True)
            finally:
                close()
        else:
            daemon.serve(open_role, close, opts["poll"])
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@main.group()
def supervisor() -> None:
    """Mode C: the supervisor's daemon, which alone holds the CKKS secret keys."""


@supervisor.command(name="run")
@click.option("--as", "name", required=True, help="The supervisor's participant name.")
@click.option("--poll", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds.")
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.pass_obj
@readable_errors
def supervisor_run(directory: Path, name: str, **opts: Any) -> None:
    """Provision contexts, issue every participant its encrypted copy of each model, and answer
    decryption requests (the general's aggregate, the validators' labels), every one on chain."""
    config = CoalitionConfig.load(directory)
    if config.mode != "C":
        raise ConfigError(f"coalition {config.name} is in mode {config.mode}: a supervisor runs only in mode C")

    def make(node: Node) -> Any:
        from tclearn.he.node import supervisor as supervisor_of

        return supervisor_of(node)

    _serve(directory, name, opts, make)


@main.group()
def general() -> None:
    """The general's duty, as a process of its own."""


@general.command(name="run")
@_daemon_options
@click.pass_obj
@readable_errors
def general_run(directory: Path, name: str, **opts: Any) -> None:
    """Propose the round's candidate whenever this validator is drawn. Ctrl-C stops it."""
    _run_daemon(directory, name, opts, general=True, votes=False)


@main.group()
def model() -> None:
    """Models of the ledger."""


@model.command(name="pull")
@click.option("--block", "block_id", type=click.IntRange(1), default=None, help="Default: the head.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--as", "name", default="operator", show_default=True, help="Whose key opens the coalition.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def model_pull(directory: Path, block_id: int | None, out: Path, name: str, as_json: bool) -> None:
    """Fetch a block's model, verified against the chain and validated, into a safetensors file."""
    node = _node(directory, name)
    try:
        block_id = block_id or node.ctx.ledger.cursor().head
        state = node.ctx.ledger.block(block_id).state
        data, _ = node.ctx.block_weights(block_id)
    finally:
        node.close()
    out.write_bytes(data)
    info = {"block": block_id, "state": state.name.lower(), "bytes": len(data), "out": str(out)}
    emit(info, as_json, f"block {block_id} ({info['state']}) written to {out}, {len(data)} bytes")


@model.command(name="predict")
@as_member
@click.option(
    "--data",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="CSV file (features, with or without a label column) or image folder.",
)
@click.option("--block", "block_id", type=click.IntRange(1), default=None, help="Default: the head.")
@click.option(
    "--wait", type=click.FloatRange(0), default=120, show_default=True, help="Seconds to wait for the supervisor."
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def model_predict(directory: Path, name: str, data: Path, block_id: int | None, wait: float, as_json: bool) -> None:
    """Mode C: a block's predicted labels for the member's samples, by encrypted inference: its
    copy of the model runs on them, the supervisor decrypts the outputs and returns the labels
    alone, sealed for it. One batch a block: put every sample in one call."""
    from tclearn.data.loaders import load_local_data
    from tclearn.engine.steps import Pending
    from tclearn.he.node import predict

    node = _node(directory, name)
    try:
        if node.config.mode != "C":
            raise click.UsageError("in modes A and B the model itself can be had: tclearn model pull")
        spec, preprocessing = node.ctx.family.spec, node.config.rules.preprocess()
        local = load_local_data(data, spec.input_shape, spec.num_classes, preprocessing, unlabelled=True)
        block_id = block_id or node.ctx.ledger.cursor().head
        deadline = time.monotonic() + wait
        while True:
            try:
                labels = predict(node, local.x, block_id)
                break
            except Pending as pending:
                if time.monotonic() >= deadline:
                    raise NotReady(f"waiting for {pending.detail}; run again to read the answer") from None
                time.sleep(1.0)
    finally:
        node.close()
    known = local.y >= 0
    accuracy = float((labels[known] == local.y[known]).mean()) if known.any() else None
    result = {"block": block_id, "samples": len(labels), "labels": labels.tolist(), "accuracy": accuracy}
    scored = f", accuracy {accuracy:.3f} on the labels given" if accuracy is not None else ""
    emit(result, as_json, f"{len(labels)} labels under block {block_id}{scored}\n" + "\n".join(map(str, labels)))


@model.command(name="check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def model_check(directory: Path, file: Path, as_json: bool) -> None:
    """Check a weights file as validators will: safetensors of the coalition's architecture.

    Never unpickles anything. Exit 1 with the refusal's reason (oversized, malformed,
    architecture, dtype, shape, non-finite) when validators would refuse it."""
    from tclearn.model.family import ModelFamily
    from tclearn.model.weights import ModelRejected

    family = ModelFamily.of(CoalitionConfig.load(directory).rules.architecture)
    try:
        size = file.stat().st_size
        if size > family.max_bytes:  # refused before it is read
            raise ModelRejected("oversized", f"{size} bytes, the limit is {family.max_bytes}")
        family.load(file.read_bytes())
    except IsADirectoryError:
        raise ConfigError(f"{file} is a directory, not a weights file") from None
    except FileNotFoundError:
        raise ConfigError(f"{file} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None
    emit(
        {"file": str(file), "ok": True, "bytes": size},
        as_json,
        f"{file}: a valid model of the coalition ({size} bytes)",
    )


# ---------------------------------------------------------------------------- audit


@main.group()
def audit() -> None:
    """An auditor's questions, answered from the chain and the store alone."""


@audit.command(name="access")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def audit_access(directory: Path, as_json: bool) -> None:
    """Mode B: every grant of a model or update key (who, which key, which block, when, which
    transaction) and every revocation, with no key needed."""
    from tclearn.privacy.access import access_log, render_access

    config = CoalitionConfig.load(directory)
    chain = config.connect()
    try:
        names = {p.address: name for name, p in config.participants.items()}
        log = access_log(config.ledger_on(chain), open_store(config.store_url(), directory), names)
    finally:
        chain.close()
    emit(log, as_json, render_access(log))


@audit.command(name="trace")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def audit_trace(directory: Path, target: str, as_json: bool) -> None:
    """The path from the genesis to a model (TARGET: a block number, the model's SHA-256 or its
    CID): each block's round, general and draw, updates, votes, and the siblings refused. DIR is
    a coalition or a simulation kept with `simulate --keep`."""
    from tclearn.audit.coalition import Audited
    from tclearn.audit.history import History
    from tclearn.audit.trace import render_trace, trace

    audited = Audited.at(directory)
    with audited.opened() as (ledger, store):
        data = trace(History.read(ledger), target, store, audited.names)
    emit(data, as_json, render_trace(data))


@audit.command(name="verify")
@click.option("--from", "from_block", type=click.IntRange(1), default=1, show_default=True, help="First block checked.")
@click.option("--recompute", is_flag=True, help="Evaluate each accepted model on G and compare with the votes.")
@click.option(
    "--global-test",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="With --recompute: G (CSV or image folder); default: the demonstration task's.",
)
@click.option("--as", "name", default=None, help="With --recompute: whose key opens the models [the first auditor].")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def audit_verify(
    directory: Path, from_block: int, recompute: bool, global_test: Path | None, name: str | None, as_json: bool
) -> None:
    """Re-derive everything that can be: stored objects against their CIDs and hashes, votes,
    quorums, general draws, parent links, the settings document, mode B's grants and mode C's
    copies and decryptions. Exit 1 when anything disagrees, each problem named with its block."""
    from tclearn.audit.coalition import Audited

    result = Audited.at(directory).verify(from_block, recompute, name, global_test)
    data = result.as_dict()
    verdict = f"{'ok' if result.ok else 'FAILED'}: {data['blocks']} blocks, {data['objects_checked']} objects checked"
    if result.recomputed is not None:
        verdict += f"; {result.recomputed[0]} models evaluated on G, {result.recomputed[1]} votes compared"
    lines = [verdict] + [f"  block {p.block or '-'}: {p.kind}: {p.detail}" for p in result.problems]
    emit(data, as_json, "\n".join(lines))
    if not result.ok:
        raise SystemExit(1)


@audit.command(name="report")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def audit_report(directory: Path, out: Path, as_json: bool) -> None:
    """A self-contained HTML report (lineage graph, accuracy per round, vote matrix, members'
    contributions, the verify result; access and copies in modes B and C), the lineage as W3C
    PROV-JSON, and a model card per accepted model, in OUT."""
    from tclearn.audit.coalition import Audited

    written = Audited.at(directory).report(out)
    data = {"out": str(out), "files": [str(p) for p in written]}
    emit(data, as_json, f"report written to {out / 'index.html'} ({len(written)} files)")


@audit.command(name="whose")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--as",
    "name",
    default=None,
    help="A supervisor's name: also find re-randomised copies, by trial decryption of their mark.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def audit_whose(directory: Path, file: Path, name: str | None, as_json: bool) -> None:
    """Mode C: the participant an encrypted copy was issued to, and its block. An exact copy is
    found from the chain alone; with `--as SUPERVISOR`, any copy of it."""
    from tclearn.he.keystore import SupervisorKeystore
    from tclearn.he.node import layout, supervisor_keystore_path
    from tclearn.he.trace import whose

    config = CoalitionConfig.load(directory)
    keystore = None
    if name is not None:
        if name not in config.participants or "supervisor" not in config.participants[name].roles:
            raise ConfigError(f"{name} is not a supervisor of {config.name}")
        keystore = SupervisorKeystore.open(supervisor_keystore_path(config, name), config.password())
    chain = config.connect()
    try:
        holder = whose(config.ledger_on(chain), file.read_bytes(), keystore, layout(config))
    finally:
        chain.close()
    if holder is None:
        emit({"found": False}, as_json, f"no copy on record matches {file}")
        raise SystemExit(1)
    names = {p.address: n for n, p in config.participants.items()}
    data = {"found": True, "name": names.get(holder.participant), **holder.as_dict()}
    how = "its hash on chain" if holder.how == "hash" else f"its mark ({holder.match:.0%} of it)"
    emit(data, as_json, f"issued to {data['name'] or holder.participant} for block {holder.block}, found by {how}")


# ---------------------------------------------------------------------------- status


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@readable_errors
def status(directory: Path, as_json: bool) -> None:
    """The head block, the round and its general, the open candidate and its votes."""
    config = CoalitionConfig.load(directory)
    chain = config.connect()
    try:
        data = coalition_status(config, config.ledger_on(chain))
    finally:
        chain.close()
    emit(data, as_json, render_status(data))


if __name__ == "__main__":
    main()
