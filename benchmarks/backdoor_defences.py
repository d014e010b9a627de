"""Candidate backdoor defences, measured before choosing one for the FBA (issue 16).

    python -m benchmarks.backdoor_defences                 # α = 0.1, 8 rounds, seed 0 (≈ 25 min)
    python -m benchmarks.backdoor_defences --alpha 0.5 --rounds 4

The hardest cell of the Fashion-MNIST grid: 10 members on a 12,000-image stratified subset, the
first 3 members planting the backdoor (`tclearn.attacks`, a 3×3 bright corner patch → the last
class) from the first round, the simulation's CNN and local training. Each rule below replaces
the FBA's aggregation of a round's steps; nothing here runs the chain, because the question is
whether any statistic of the updates, or a search of the candidate, tells the backdoor steps
apart at a cost the screening can bear. Adds each rule's run to
benchmarks/results/backdoor-defences.json (replacing an earlier run of the same rule and setting).

Rules (weights by samples, like FedAvg):
- `fedavg`: every step; `honest-only`: the attackers' steps left out (the oracle's answer);
- `outsized`: steps longer than twice the round's median step left out;
- `clip-outsized`: the same, the others clipped to the median length (FLAME's bound);
- `warm-outsized`: `outsized`, from a genesis trained on 600 images taken out of G;
- `median`: the coordinate median of the steps;
- `fltrust`: each step weighted by its positive cosine with a step trained on 600 images taken
  out of G and scaled to that step's length (Cao et al., NDSS 2021);
- `trigger-search`: the FedAvg candidate is searched for a patch trigger (`tclearn.fba.trigger`);
  the steps that push the patches it finds toward their class far more than the others are left
  out.
Probes of the round-1 steps and candidates: each step's length and cosine with the root step,
the cosines between steps, and an exhaustive search of 3×3 bright and dark patches on the
candidate (the largest share of G's inputs one patch moves into one class, and its cost).
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import click
import numpy as np
import torch

from tclearn.attacks import AttackInputs, backdoor_target, poisoned_update, with_trigger
from tclearn.data.datasets import Dataset, load_dataset
from tclearn.data.splits import split_coalition, stratified_subset
from tclearn.fba.trigger import PROBES, Outputs, TriggerSearch, patches
from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.family import ModelFamily, State
from tclearn.model.train import evaluate, outputs, train_local
from tclearn.rules import TrainingRecipe

RESULTS = Path(__file__).parent / "results"
MEMBERS, VALIDATORS, SUBSET, ROOT = 10, 5, 12_000, 600
RECIPE = TrainingRecipe().config()  # the coalition's default, as members train
RULES = ("fedavg", "honest-only", "outsized", "clip-outsized", "warm-outsized", "median", "fltrust", "trigger-search")


@dataclass
class Track:
    """The coalition's data, G split into a root set (for the rules that train on one) and the
    test set every rule is scored on."""

    data: Dataset
    members: list[np.ndarray]
    root: np.ndarray
    test: np.ndarray
    family: ModelFamily
    attackers: int  # the first members plant the backdoor

    @classmethod
    def of(cls, alpha: float, seed: int, attackers: int = 3) -> Track:
        data = stratified_subset(load_dataset("fashion-mnist"), SUBSET, seed)
        split = split_coalition(data, MEMBERS, VALIDATORS, seed, alpha=alpha)
        order = np.random.default_rng(seed + 1).permutation(split.global_test)
        family = ModelFamily(ArchitectureSpec("cnn", data.input_shape, data.num_classes, 32))
        return cls(data, list(split.members), order[:ROOT], order[ROOT:], family, attackers)

    def trained(self, state: State, x: np.ndarray, y: np.ndarray, seed: int) -> State:
        model = self.family.module(state)
        train_local(model, x, y, RECIPE, RECIPE.batch_size, seed)
        return model.state_dict()

    def flat(self, state: State) -> np.ndarray:
        return np.concatenate([a.ravel() for a in self.family.to_arrays(state)])

    def unflat(self, vector: np.ndarray) -> State:
        arrays, offset = [], 0
        for name in self.family.names:
            size = int(np.prod(self.family.layout[name].shape))
            arrays.append(vector[offset : offset + size].reshape(self.family.layout[name].shape))
            offset += size
        return self.family.from_arrays(arrays)

    def scores(self, state: State) -> tuple[float, float]:
        """Clean accuracy on the test part of G, and the backdoor's success on it."""
        model = self.family.module(state)
        x, y = self.data.x[self.test], self.data.y[self.test]
        target = backdoor_target(self.data.num_classes)
        others = y != target
        triggered = with_trigger(x[others])
        success = evaluate(model, triggered, np.full(len(triggered), target), self.data.num_classes).accuracy
        return evaluate(model, x, y, self.data.num_classes).accuracy, success

    def steps(self, state: State, round_number: int) -> np.ndarray:
        """Every member's step from `state` this round, as rows; the attackers' first."""
        parent = self.flat(state)
        rows = []
        for i, member in enumerate(self.members):
            x, y = self.data.x[member], self.data.y[member]
            seed = round_number * 50 + i

            def train(features: np.ndarray, labels: np.ndarray, seed: int = seed) -> State:
                return self.trained(state, features, labels, seed)

            inputs = AttackInputs(state, train, x, y, self.data.num_classes, state, seed)
            stepped = poisoned_update("backdoor", inputs) if i < self.attackers else train(x, y)
            rows.append(self.flat(stepped) - parent)
        return np.stack(rows)

    def root_step(self, state: State, round_number: int) -> np.ndarray:
        root = self.trained(state, self.data.x[self.root], self.data.y[self.root], 7000 + round_number)
        return self.flat(root) - self.flat(state)


def combine(
    rule: str,
    steps: np.ndarray,
    samples: np.ndarray,
    root: Callable[[], np.ndarray] | None = None,
    attackers: int = 0,
) -> np.ndarray:
    """The round's aggregate step under `rule`."""
    norms = np.linalg.norm(steps, axis=1)
    keep = np.ones(len(steps), dtype=bool)
    weights = samples.astype(np.float64)
    if rule == "median":
        return np.median(steps, axis=0)
    if rule == "honest-only":
        keep[:attackers] = False
    if rule in ("outsized", "clip-outsized", "warm-outsized"):
        keep = norms <= 2 * np.median(norms)
    if rule == "clip-outsized":
        steps = steps * np.minimum(1.0, np.median(norms) / norms)[:, None]
    if rule == "fltrust" and root is not None:
        reference = root()
        cosines = steps @ reference / (norms * np.linalg.norm(reference) + 1e-12)
        weights = np.maximum(cosines, 0.0)
        steps = steps * (np.linalg.norm(reference) / (norms + 1e-12))[:, None]
        keep = weights > 0
    return (steps[keep] * weights[keep, None]).sum(0) / weights[keep].sum()


def patch_search(track: Track, state: State, probes: int = 64) -> dict[str, object]:
    """Every 3×3 bright or dark patch on `probes` inputs of G: the largest share of them a single
    patch moves into one class (a clean model's natural sensitivity is the baseline)."""
    model = track.family.module(state)
    x = torch.from_numpy(track.data.x[track.test[:probes]])
    low, high = float(track.data.x.min()), float(track.data.x.max())
    side = x.shape[-1] - 2
    best, where = 0.0, (0, 0, "", 0)
    started = time.perf_counter()
    with torch.no_grad():
        before = model(x).argmax(1)
        for i in range(side):
            for j in range(side):
                for value, name in ((high, "bright"), (low, "dark")):
                    stamped = x.clone()
                    stamped[..., i : i + 3, j : j + 3] = value
                    after = model(stamped).argmax(1)
                    moved = after[after != before]
                    if len(moved):
                        counts = np.bincount(moved.numpy(), minlength=track.data.num_classes) / probes
                        if counts.max() > best:
                            best, where = float(counts.max()), (i, j, name, int(counts.argmax()))
    return {"moved_share": round(best, 3), "at": where, "seconds": round(time.perf_counter() - started, 1)}


def trigger_round(
    track: Track, search: TriggerSearch, state: State, steps: np.ndarray, samples: np.ndarray, known: np.ndarray
) -> tuple[list[int], State, np.ndarray]:
    """One round under `trigger-search`: the steps left out, the new model, its patch pulls."""
    parent = track.flat(state)
    candidate = track.unflat(parent + combine("fedavg", steps, samples))
    suspects = search.suspects(patch_pulls(track, search, candidate), known)
    runs = [outputs_of(track, track.unflat(parent + step)) for step in steps]
    out = sorted(search.carriers(suspects, [(run(search.probes), run) for run in runs])) if suspects else []
    keep = np.array([i not in out for i in range(len(steps))])
    new = track.unflat(parent + combine("fedavg", steps[keep], samples[keep]))
    return out, new, patch_pulls(track, search, new)


def pairwise(steps: np.ndarray, attackers: int) -> dict[str, float]:
    """Mean and largest cosine between two attackers' steps, two honest ones' and across: what
    a clustering of directions (FLAME) would have to separate."""
    units = steps / np.linalg.norm(steps, axis=1, keepdims=True)
    cosines = units @ units.T
    bad = np.arange(len(steps)) < attackers
    groups = {"attackers": np.outer(bad, bad), "honest": np.outer(~bad, ~bad), "across": np.outer(bad, ~bad)}
    off_diagonal = ~np.eye(len(steps), dtype=bool)
    return {
        f"{name}_{stat.__name__}": round(float(stat(cosines[mask & off_diagonal])), 2)
        for name, mask in groups.items()
        for stat in (np.mean, np.max)
        if (mask & off_diagonal).any()
    }


def trigger_search(track: Track) -> TriggerSearch:
    """The FBA's search (`tclearn.fba.trigger`) on the first inputs of this study's G."""
    x = track.data.x
    probes = x[track.test[:PROBES]]
    return TriggerSearch(probes, patches(x.shape[1:], float(x.min()), float(x.max())), track.data.num_classes)


def patch_pulls(track: Track, search: TriggerSearch, state: State) -> np.ndarray:
    run = outputs_of(track, state)
    return search.pulls(run(search.probes), run(search.stamped))


def outputs_of(track: Track, state: State) -> Outputs:
    """The model's logits (`tclearn.model.train.outputs`, which runs large inputs in chunks)."""
    return partial(outputs, track.family.module(state))


def run_rule(track: Track, rule: str, rounds: int) -> dict[str, object]:
    state = build(track.family.spec, 0).state_dict()
    if rule == "warm-outsized":
        state = track.trained(state, track.data.x[track.root], track.data.y[track.root], 999)
    samples = np.array([len(m) for m in track.members])
    history, probes = [], {}
    search = trigger_search(track) if rule == "trigger-search" else None
    known = patch_pulls(track, search, state) if search else None
    for number in range(1, rounds + 1):
        steps = track.steps(state, number)
        parent = state
        started = time.perf_counter()
        if search is not None and known is not None:
            out, state, known = trigger_round(track, search, state, steps, samples, known)
        else:
            out = []
            state = track.unflat(
                track.flat(state)
                + combine(rule, steps, samples, partial(track.root_step, parent, number), track.attackers)
            )
        seconds = round(time.perf_counter() - started, 2)
        accuracy, backdoor = track.scores(state)
        history.append({"round": number, "accuracy": round(accuracy, 3), "backdoor_success": round(backdoor, 3)})
        if search is not None:
            history[-1] |= {"left_out": out, "judging_s": seconds}
        click.echo(json.dumps({"rule": rule, **history[-1]}))
        if number == 1 and rule in ("fedavg", "honest-only"):
            norms = np.linalg.norm(steps, axis=1)
            root = track.root_step(parent, number)
            probes = {
                "step_length_over_median": np.round(norms / np.median(norms), 2).tolist(),
                "cosine_with_root_step": np.round(steps @ root / (norms * np.linalg.norm(root)), 2).tolist(),
                "pairwise_cosine": pairwise(steps, track.attackers),
                "patch_search": patch_search(track, state),
            }
    return {"rule": rule, "rounds": history, "round_1_probes": probes}


@click.command()
@click.option("--alpha", type=float, default=0.1, show_default=True)
@click.option("--rounds", type=int, default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--attackers", type=int, default=3, show_default=True, help="0: how often a rule leaves honest steps out."
)
@click.option("--rules", default=",".join(RULES), show_default=True)
def main(alpha: float, rounds: int, seed: int, attackers: int, rules: str) -> None:
    torch.set_num_threads(1)
    track = Track.of(alpha, seed, attackers)
    setting = {"alpha": alpha, "seed": seed, "rounds": rounds, "members": MEMBERS, "attackers": attackers}
    for rule in rules.split(","):
        row = run_rule(track, rule, rounds)
        record(setting, row)  # rule by rule: runs of other rules, in parallel or later, are kept


def record(setting: dict[str, object], row: dict[str, object]) -> None:
    out = RESULTS / "backdoor-defences.json"
    RESULTS.mkdir(exist_ok=True)
    with out.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()
        known = json.loads(text) if text.strip() else {"runs": []}
        runs = [r for r in known["runs"] if (r["setting"], r["rule"]) != (setting, row["rule"])]
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"runs": [*runs, {"setting": setting, **row}]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
