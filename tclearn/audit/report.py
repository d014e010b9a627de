"""`tclearn audit report --out DIR`: the history for people who would rather look than read.

One self-contained `index.html` (inline SVG and CSS: it opens offline, nothing is fetched): the
lineage graph (the accepted chain, and the refused candidates under the parent they were
proposed on), G accuracy per round as the validators reported it with each validator's L
accuracy, the vote matrix (validators × blocks), each member's contributions (submitted, in the
lineage, in refused candidates, left out by the general with its reasons), the verify result,
and in modes B and C the access grants and the issued copies. The same run writes the lineage
as W3C PROV-JSON (`lineage.prov.json`, the `prov` package) and a model card per accepted model
(`cards/block-N.md`: intended data, contributors, metrics, lineage digest).
"""

from __future__ import annotations

import hashlib
import html
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tclearn.audit.history import Block, History, Update
from tclearn.audit.trace import MEASURED, excluded_of
from tclearn.audit.verify import Verification
from tclearn.store.base import ContentStore
from tclearn.store.cid import digest_to_cid

FINAL, REFUSED, GENESIS, PENDING = "#2e7d32", "#c62828", "#1565c0", "#9e9e9e"
COLOURS = {"final": FINAL, "rejected": REFUSED, "expired": "#ef6c00", "genesis": GENESIS, "pending": PENDING}
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ddd; padding: 3px 7px; }
th { background: #f4f4f4; } td.accept { background: #c8e6c9; } td.reject { background: #ffcdd2; }
td.num { text-align: right; } .ok { color: #2e7d32; font-weight: 600; } .bad { color: #c62828; font-weight: 600; }
svg text { font: 11px system-ui, sans-serif; } .muted { color: #777; }
"""


@dataclass(frozen=True)
class Report:
    """What a report is drawn from."""

    title: str
    history: History
    names: dict[str, str]
    verification: Verification
    excluded: dict[int, dict[str, str]]  # block -> update id -> the general's reason
    grants: list[dict[str, Any]]  # mode B (`audit access`)
    intended_data: str

    def name(self, address: str) -> str:
        return self.names.get(address) or address[:10] + "…"


def excluded_by_block(blocks: dict[int, Block], store: ContentStore) -> dict[int, dict[str, str]]:
    """The general's reasons for leaving updates out, from each block's metadata document."""
    found = {block.id: excluded_of(block, store) for block in blocks.values()}
    return {block_id: reasons for block_id, reasons in found.items() if reasons is not None}


def write_report(report: Report, out: Path) -> list[Path]:
    """Writes index.html, lineage.prov.json and the model cards; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    blocks, updates = report.history.blocks(), report.history.updates()
    lineage = _lineage(blocks)
    written = [out / "index.html", out / "lineage.prov.json"]
    written[0].write_text(_page(report, blocks, updates, lineage))
    written[1].write_text(prov_json(report, blocks, updates) + "\n")
    cards = out / "cards"
    cards.mkdir(exist_ok=True)
    for block_id in lineage:
        if blocks[block_id].state == "final":
            path = cards / f"block-{block_id}.md"
            path.write_text(model_card(report, blocks, updates, block_id))
            written.append(path)
    return written


def _lineage(blocks: dict[int, Block]) -> list[int]:
    """The accepted chain, genesis first: the final blocks and the genesis, by parent links from
    the newest final block."""
    finals = [b.id for b in blocks.values() if b.state in ("final", "genesis")]
    chain, current = [], max(finals) if finals else 0
    while current:
        chain.append(current)
        current = blocks[current].parent
    return chain[::-1]


def lineage_digest(blocks: dict[int, Block], lineage: list[int], upto: int) -> str:
    """SHA-256 over the model hashes from the genesis to `upto`, in order: two cards with the
    same digest describe models with the same history."""
    digest = hashlib.sha256()
    for block_id in lineage[: lineage.index(upto) + 1]:
        digest.update(blocks[block_id].model_hash)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- the page


def _page(report: Report, blocks: dict[int, Block], updates: dict[int, Update], lineage: list[int]) -> str:
    mode = report.history.params.mode
    parts = [
        f"<h1>{html.escape(report.title)}</h1>",
        f"<p class='muted'>Mode {mode} · ledger {report.history.ledger} on chain {report.history.chain_id} · "
        f"{len(blocks)} blocks · generated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}</p>",
        "<h2>Verification</h2>",
        _verification(report.verification),
        "<h2>Lineage</h2>",
        _lineage_svg(blocks, lineage),
        "<h2>Accuracy per round</h2>",
        _accuracy_svg(report, blocks, lineage),
        "<h2>Votes</h2>",
        _vote_matrix(report, blocks),
        "<h2>Members' contributions</h2>",
        _contributions(report, blocks, updates, lineage),
    ]
    if mode == "B":
        parts += ["<h2>Access (mode B)</h2>", _grants(report)]
    if mode == "C":
        parts += ["<h2>Issued copies (mode C)</h2>", _copies(report)]
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(report.title)}</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def _verification(result: Verification) -> str:
    verdict = (
        f"<p class='ok' id='verdict'>ok: {result.blocks} blocks, {result.objects_checked} objects checked</p>"
        if result.ok
        else f"<p class='bad' id='verdict'>{len(result.problems)} problems in {result.blocks} blocks</p>"
    )
    rows = [(p.block or "-", p.kind, p.detail) for p in result.problems]
    return verdict + (_table("problems", ("block", "kind", "detail"), rows) if rows else "")


def _lineage_svg(blocks: dict[int, Block], lineage: list[int]) -> str:
    """The accepted chain on one line, left to right; each refused candidate below the parent it
    was proposed on."""
    on_chain = set(lineage)
    column = {block_id: i for i, block_id in enumerate(lineage)}
    below: Counter[int] = Counter()
    place: dict[int, tuple[int, int]] = {b: (column[b], 0) for b in lineage}
    for block in sorted(blocks.values(), key=lambda b: b.id):
        if block.id not in on_chain and block.parent in column:
            below[block.parent] += 1
            place[block.id] = (column[block.parent], below[block.parent])
    step, x0, y0 = 56, 30, 30
    width = x0 * 2 + step * max(1, len(lineage))
    height = y0 * 2 + 44 * (1 + max(below.values(), default=0))

    def xy(block_id: int) -> tuple[float, float]:
        col, row = place[block_id]
        return x0 + step * col + (step / 2 if row else 0), y0 + 44 * row

    shapes = []
    for block_id in place:
        parent = blocks[block_id].parent
        if parent in place:
            (x1, y1), (x2, y2) = xy(parent), xy(block_id)
            dash = "" if block_id in on_chain else " stroke-dasharray='4 3'"
            shapes.append(f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='#888'{dash}/>")
    for block_id in place:
        x, y = xy(block_id)
        state = blocks[block_id].state
        shapes.append(
            f"<circle class='block {state}' data-block='{block_id}' cx='{x}' cy='{y}' r='11' "
            f"fill='{COLOURS[state]}'><title>block {block_id}: {state}</title></circle>"
            f"<text x='{x}' y='{y + 4}' text-anchor='middle' fill='white'>{block_id}</text>"
        )
    legend = " ".join(
        f"<span style='color:{colour}'>●</span> {state}" for state, colour in COLOURS.items() if state != "pending"
    )
    return (
        f"<svg id='lineage' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"xmlns='http://www.w3.org/2000/svg'>{''.join(shapes)}</svg><p class='muted'>{legend}; "
        "refused candidates hang below the block they were proposed on.</p>"
    )


def _accuracy_svg(report: Report, blocks: dict[int, Block], lineage: list[int]) -> str:
    """The median G accuracy the accepting validators reported for each accepted block, and each
    validator's L accuracy as a dot."""
    finals = [blocks[b] for b in lineage if blocks[b].state == "final"]
    points: list[tuple[int, float, list[float]]] = []
    for block in finals:
        measured = [v.metrics for v in block.votes if v.accept and v.metrics and v.metrics.reason in MEASURED]
        if measured:
            g = statistics.median(m.global_accuracy for m in measured)
            points.append((block.round, g, [m.local_accuracy for m in measured]))
    width, height, pad = 640, 260, 40
    if not points:
        return "<svg id='accuracy' width='10' height='10'></svg><p class='muted'>No accepted block yet.</p>"
    rounds = [p[0] for p in points]
    low = min(min(p[1] for p in points), min(min(p[2]) for p in points))
    low = max(0.0, min(low, 0.9) - 0.05)
    span_r = max(1, max(rounds) - min(rounds))

    def x(r: float) -> float:
        return pad + (width - 2 * pad) * (r - min(rounds)) / span_r

    def y(a: float) -> float:
        return height - pad - (height - 2 * pad) * (a - low) / (1.0 - low)

    line = " ".join(f"{x(r):.1f},{y(g):.1f}" for r, g, _ in points)
    dots = "".join(
        f"<circle class='local' cx='{x(r):.1f}' cy='{y(a):.1f}' r='3' fill='#ef6c00' opacity='0.7'/>"
        for r, _, locals_ in points
        for a in locals_
    )
    axes = (
        f"<line x1='{pad}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' stroke='#444'/>"
        f"<line x1='{pad}' y1='{pad}' x2='{pad}' y2='{height - pad}' stroke='#444'/>"
        f"<text x='{width / 2}' y='{height - 8}' text-anchor='middle'>round</text>"
        f"<text x='{pad - 4}' y='{y(1.0) + 4:.1f}' text-anchor='end'>1.0</text>"
        f"<text x='{pad - 4}' y='{y(low) + 4:.1f}' text-anchor='end'>{low:.2f}</text>"
        + "".join(
            f"<text x='{x(r):.1f}' y='{height - pad + 14}' text-anchor='middle'>{r}</text>" for r in sorted(set(rounds))
        )
    )
    return (
        f"<svg id='accuracy' width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg'>{axes}"
        f"<polyline points='{line}' fill='none' stroke='{GENESIS}' stroke-width='2.5'/>{dots}</svg>"
        "<p class='muted'><span style='color:#1565c0'>━</span> G accuracy (median of the accepting validators) · "
        "<span style='color:#ef6c00'>●</span> each accepting validator's L accuracy</p>"
    )


def _vote_matrix(report: Report, blocks: dict[int, Block]) -> str:
    voted = [b for b in sorted(blocks.values(), key=lambda b: b.id) if b.round]
    validators: list[str] = []
    for _event, seated in report.history.seats():
        validators += [v for v in seated if v not in validators]
    head = "".join(f"<th>{b.id}<br><span class='muted'>{b.state}</span></th>" for b in voted)
    rows = []
    for validator in validators:
        cells = []
        for block in voted:
            vote = next((v for v in block.votes if v.validator == validator), None)
            if vote is None:
                cells.append("<td></td>")
            else:
                why = vote.metrics.reason if vote.metrics else ""
                mark, cls = ("✓", "accept") if vote.accept else ("✗", "reject")
                cells.append(f"<td class='{cls}' title='{html.escape(why)}'>{mark}</td>")
        rows.append(f"<tr><th>{html.escape(report.name(validator))}</th>{''.join(cells)}</tr>")
    return f"<table id='votes'><tr><th>validator \\ block</th>{head}</tr>{''.join(rows)}</table>"


def contributions(
    report: Report, blocks: dict[int, Block], updates: dict[int, Update], lineage: list[int]
) -> dict[str, dict[str, Any]]:
    """Per member: updates submitted, in the accepted lineage, in refused candidates, and left
    out by a general (with its reasons, counted)."""
    in_lineage = {u for b in lineage for u in blocks[b].update_ids}
    in_refused = {u for b in blocks.values() if b.state in ("rejected", "expired") for u in b.update_ids}
    reasons: dict[int, str] = {}
    for block_id in lineage:
        reasons |= {int(k): v for k, v in report.excluded.get(block_id, {}).items()}
    table: dict[str, dict[str, Any]] = {}
    for update in updates.values():
        row = table.setdefault(update.member, {"submitted": 0, "accepted": 0, "refused": 0, "left_out": Counter()})
        row["submitted"] += 1
        row["accepted"] += update.id in in_lineage
        row["refused"] += update.id in in_refused and update.id not in in_lineage
        if update.id in reasons and update.id not in in_lineage:
            row["left_out"][reasons[update.id]] += 1
    return table


def _table(ident: str, header: Sequence[str], rows: Iterable[Sequence[object]], numeric: int = 0) -> str:
    """An HTML table of plain-text cells (escaped here); the first `numeric` columns after the
    first are right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='num'>{html.escape(str(c))}</td>" if 0 < i <= numeric else f"<td>{html.escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table id='{ident}'><tr>{head}</tr>{body}</table>"


def _contributions(report: Report, blocks: dict[int, Block], updates: dict[int, Update], lineage: list[int]) -> str:
    table = sorted(contributions(report, blocks, updates, lineage).items(), key=lambda i: report.name(i[0]))
    rows = [
        (
            report.name(member),
            row["submitted"],
            row["accepted"],
            row["refused"],
            ", ".join(f"{reason} ×{n}" for reason, n in row["left_out"].most_common()) or "—",
        )
        for member, row in table
    ]
    header = ("member", "submitted", "in the lineage", "in refused candidates", "left out by a general")
    return _table("contributions", header, rows, numeric=3)


def _grants(report: Report) -> str:
    rows = [
        (
            g["name"] or g["account"],
            g["role"] or "(none)",
            g["object"],
            ", ".join(map(str, g["blocks"])) or g.get("update", ""),
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(g["time"])),
        )
        for g in report.grants
    ]
    return _table("grants", ("account", "role", "object", "block / update", "time"), rows)


def _copies(report: Report) -> str:
    rows = [
        (
            e.args["blockId"],
            report.name(e.args["participant"]),
            bytes(e.args["copyHash"]).hex()[:16] + "…",
            bytes(e.args["fingerprint"]).hex()[:16] + "…",
        )
        for e in report.history.of("CopyIssued")
    ]
    return _table("copies", ("block", "holder", "copy SHA-256", "key fingerprint"), rows)


# ---------------------------------------------------------------------------- PROV and model cards


def prov_json(report: Report, blocks: dict[int, Block], updates: dict[int, Update]) -> str:
    """The lineage as W3C PROV: each model and update an entity, each block's aggregation an
    activity associated with its general and informed by its voters, each member an agent."""
    from prov.model import ProvDocument

    doc = ProvDocument()
    doc.add_namespace("tcl", "urn:tclearn:")

    def model(block: Block) -> str:
        return f"tcl:model-{block.model_hash.hex()}"

    agents: set[str] = set()
    listed: set[int] = set()  # updates already written as entities (a refused block's may recur)

    def agent(address: str, role: str) -> str:
        ident = f"tcl:{address}"
        if ident not in agents:
            agents.add(ident)
            doc.agent(ident, {"tcl:name": report.names.get(address, ""), "tcl:role": role})
        return ident

    for block in sorted(blocks.values(), key=lambda b: b.id):
        doc.entity(
            model(block),
            {"tcl:block": block.id, "tcl:state": block.state, "tcl:cid": digest_to_cid(block.cid_digest)},
        )
        if not block.round:
            continue
        activity = f"tcl:aggregation-block-{block.id}"
        doc.activity(activity, other_attributes={"tcl:round": block.round, "tcl:state": block.state})
        doc.wasGeneratedBy(model(block), activity)
        doc.wasAssociatedWith(activity, agent(block.general, "general"))
        doc.wasDerivedFrom(model(block), model(blocks[block.parent]))
        for uid in block.update_ids:
            update = updates[uid]
            entity = f"tcl:update-{uid}"
            if uid not in listed:
                listed.add(uid)
                doc.entity(entity, {"tcl:sha256": update.weights_hash.hex(), "tcl:samples": update.samples})
                doc.wasAttributedTo(entity, agent(update.member, "member"))
            doc.used(activity, entity)
        for vote in block.votes:
            judged = f"tcl:vote-{block.id}-{vote.validator}"
            doc.activity(judged, other_attributes={"tcl:accept": vote.accept, "tcl:tx": vote.tx})
            doc.wasAssociatedWith(judged, agent(vote.validator, "validator"))
            doc.wasInformedBy(activity, judged)
    return str(doc.serialize(format="json"))


def model_card(report: Report, blocks: dict[int, Block], updates: dict[int, Update], block_id: int) -> str:
    lineage = _lineage(blocks)
    block = blocks[block_id]
    path = lineage[: lineage.index(block_id) + 1]
    samples: Counter[str] = Counter()
    for b in path:
        for uid in blocks[b].update_ids:
            samples[updates[uid].member] += updates[uid].samples
    measured = [v.metrics for v in block.votes if v.accept and v.metrics and v.metrics.reason in MEASURED]
    metrics = "\n".join(
        f"| {report.name(v.validator)} | {v.metrics.global_accuracy:.4f} | {v.metrics.global_loss:.4f} | "
        f"{v.metrics.local_accuracy:.4f} | {v.metrics.local_loss:.4f} |"
        for v in block.votes
        if v.accept and v.metrics and v.metrics.reason in MEASURED
    )
    contributors = "\n".join(
        f"- {report.name(member)}: {n} samples over the lineage" for member, n in samples.most_common()
    )
    median = f"{statistics.median(m.global_accuracy for m in measured):.4f}" if measured else "—"
    return f"""# Model card: block {block_id}

- **Model**: SHA-256 `0x{block.model_hash.hex()}`, stored as `{digest_to_cid(block.cid_digest)}`
- **Accepted** in round {block.round}, proposed by {report.name(block.general)}, \
{block.accepts} of {block.electorate} validators accepting
- **Lineage digest**: `{lineage_digest(blocks, lineage, block_id)}` (SHA-256 over the model hashes of \
blocks {", ".join(map(str, path))})
- **Intended data**: {report.intended_data}

## Contributors

{contributors or "- none: the genesis model"}

## Metrics reported by the accepting validators (G accuracy, median: {median})

| validator | G accuracy | G loss | L accuracy | L loss |
|---|---:|---:|---:|---:|
{metrics}
"""


def intended_data(rules_document: dict[str, Any] | None, task: dict[str, Any] | None) -> str:
    """What the model was trained for, from the settings document and the demonstration task."""
    if rules_document is None:
        return "not recorded (the settings document is not in the store)"
    architecture = rules_document.get("architecture", {})
    text = (
        f"inputs of shape {tuple(architecture.get('input_shape', ()))}, "
        f"{architecture.get('num_classes', '?')} classes, a {architecture.get('name', '?')} "
        f"trained by {rules_document.get('learning', '?')} ({rules_document.get('aggregator', '?')})"
    )
    if task:
        text += f"; the demonstration task {json.dumps(task, sort_keys=True)}"
    return text
