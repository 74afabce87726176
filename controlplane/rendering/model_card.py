"""A model card as Markdown or as one self-contained HTML page. Pure functions: no I/O.

Both formats come from one outline of the card (headings, written text, facts, tables), so
they always show the same things. The HTML page has its styles inline, no scripts and no
external references, and every string from a user or from stored data is HTML-escaped; a
written field left empty shows "Not provided." so a reviewer sees what is missing."""

from __future__ import annotations

import datetime
import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf import json_format, timestamp_pb2

from controlplane.v1 import model_card_service_pb2 as pb
from controlplane.v1 import registry_service_pb2 as rg

NOT_PROVIDED = "Not provided."
NOT_RECORDED = "Not recorded."

# (field, heading) of the written fields, in the order the card shows them (training data
# description is shown in the training data section).
WRITTEN_SECTIONS = (
    ("intended_use", "Intended use"),
    ("out_of_scope_use", "Out-of-scope use"),
    ("limitations", "Limitations"),
    ("ethical_considerations", "Ethical considerations"),
    ("caveats_and_recommendations", "Caveats and recommendations"),
)


# -- the outline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Written:
    """A field people write: free text, or NOT_PROVIDED when empty."""

    text: str


@dataclass(frozen=True)
class Facts:
    """Labelled values, one per line."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str  # shown instead of a table without rows


@dataclass(frozen=True)
class Items:
    values: tuple[str, ...]
    empty: str


Block = Heading | Written | Facts | Table | Items


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _plain(value: object) -> str:
    """A property value (from a Struct) as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _time(stamp: timestamp_pb2.Timestamp) -> str:
    if not stamp.seconds and not stamp.nanos:
        return ""
    moment = stamp.ToDatetime(tzinfo=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _state(state: int) -> str:
    name = rg.ModelVersion.State.Name(state)
    return name.removeprefix("STATE_").replace("_", " ").lower()


def _model_and_number(version: rg.ModelVersion) -> tuple[str, str]:
    """The model's name and the version's number, from the version's resource name."""
    model, _, number = version.name.rpartition("/versions/")
    return model, number or str(version.version)


def _metric_rows(metrics: Iterable[rg.EvaluationMetric]) -> tuple[tuple[str, ...], ...]:
    return tuple((m.split or "-", m.key, _number(m.value)) for m in metrics)


def _title(card: pb.ModelCard) -> list[Block]:
    version = card.facts.model_version
    model, number = _model_and_number(version)
    title = f"Model card: {model.rpartition('/')[2] or model}, version {number}"
    blocks: list[Block] = [
        Heading(1, title),
        Facts(
            (
                ("Model version", version.name),
                ("State", _state(version.state)),
                ("Author", version.author or NOT_RECORDED),
                ("Registered", _time(version.create_time) or NOT_RECORDED),
                ("Card updated", _time(card.update_time) or "never"),
                ("Aliases", ", ".join(version.aliases) or "none"),
            )
        ),
    ]
    if version.description:
        blocks.append(Written(version.description))
    return blocks


def _training_data(card: pb.ModelCard) -> list[Block]:
    facts = card.facts
    properties = json_format.MessageToDict(facts.training_dataset_properties)
    return [
        Heading(2, "Training data"),
        Written(card.training_data_description),
        Facts(
            (
                ("Dataset artifact", facts.training_dataset or NOT_RECORDED),
                ("URI", facts.training_dataset_uri or NOT_RECORDED),
            )
        ),
        Heading(3, "Dataset properties"),
        Table(
            ("Property", "Value"),
            tuple((key, _plain(properties[key])) for key in sorted(properties)),
            "No properties recorded.",
        ),
    ]


def _evaluation(card: pb.ModelCard) -> list[Block]:
    overall = [m for m in card.facts.evaluation if not m.slice]
    sliced = [m for m in card.facts.evaluation if m.slice]
    blocks: list[Block] = [
        Heading(2, "Evaluation"),
        Heading(3, "Overall"),
        Table(("Split", "Metric", "Value"), _metric_rows(overall), "No overall results recorded."),
    ]
    splits = list(dict.fromkeys(m.split for m in sliced))
    if not splits:
        blocks += [
            Heading(3, "Per slice"),
            Table(("Slice", "Metric", "Value"), (), "No per-slice results recorded."),
        ]
    for split in splits:
        blocks += [
            Heading(3, f"Per slice, split {split}" if split else "Per slice"),
            Table(
                ("Slice", "Metric", "Value"),
                tuple((m.slice, m.key, _number(m.value)) for m in sliced if m.split == split),
                "",
            ),
        ]
    return blocks


def _online(card: pb.ModelCard) -> list[Block]:
    return [
        Heading(2, "Online results"),
        Table(
            ("Metric", "Split", "Slice", "Value"),
            tuple(
                (m.key, m.split or "-", m.slice or "overall", _number(m.value))
                for m in card.facts.online_evaluation
            ),
            "No online results recorded.",
        ),
    ]


def _fairness(card: pb.ModelCard) -> list[Block]:
    return [
        Heading(2, "Fairness"),
        Table(
            ("Metric", "Split", "Slice", "Value"),
            tuple(
                (m.key, m.split or "-", m.slice or "overall", _number(m.value))
                for m in card.facts.fairness
            ),
            "No fairness metrics recorded.",
        ),
    ]


def _lineage(card: pb.ModelCard) -> list[Block]:
    facts = card.facts
    version = facts.model_version
    return [
        Heading(2, "Lineage"),
        Facts(
            (
                ("Source run", facts.source_run or NOT_RECORDED),
                ("Code version", version.code_version or NOT_RECORDED),
                ("Framework", version.framework or NOT_RECORDED),
                ("Features", ", ".join(version.features) or NOT_RECORDED),
            )
        ),
        Heading(3, "Parameters"),
        Table(
            ("Parameter", "Value"),
            tuple((key, facts.run_params[key]) for key in sorted(facts.run_params)),
            "No parameters recorded.",
        ),
        Heading(3, "Run metrics (latest)"),
        Table(
            ("Metric", "Value"),
            tuple((key, _number(facts.run_metrics[key])) for key in sorted(facts.run_metrics)),
            "No run metrics recorded.",
        ),
        Heading(3, "Upstream artifacts"),
        Items(tuple(facts.upstream_artifacts), "None recorded."),
        Heading(3, "Upstream executions"),
        Items(tuple(facts.upstream_executions), "None recorded."),
    ]


def _approvals(card: pb.ModelCard) -> list[Block]:
    return [
        Heading(2, "Approvals"),
        Table(
            ("Reviewer", "Decision", "Reason", "When"),
            tuple((r.principal, r.decision, r.reason, _time(r.time)) for r in card.facts.reviews),
            "No reviews yet.",
        ),
    ]


def _tensors(specs: Sequence[rg.TensorSpec]) -> tuple[tuple[str, ...], ...]:
    return tuple((s.name, s.dtype, "[" + ", ".join(str(d) for d in s.shape) + "]") for s in specs)


def _runtime(card: pb.ModelCard) -> list[Block]:
    version = card.facts.model_version
    runtime = version.runtime
    return [
        Heading(2, "Runtime and signature"),
        Facts(
            (
                ("Python", runtime.python_version or NOT_RECORDED),
                ("Packages", ", ".join(runtime.packages) or NOT_RECORDED),
                ("Accelerator", runtime.accelerator or "none"),
            )
        ),
        Heading(3, "Files"),
        Table(
            ("Role", "Artifact", "SHA-256"),
            tuple((f.role, f.artifact, f.sha256) for f in version.files),
            "No files.",
        ),
        Heading(3, "Inputs"),
        Table(("Name", "Type", "Shape"), _tensors(version.signature.inputs), NOT_RECORDED),
        Heading(3, "Outputs"),
        Table(("Name", "Type", "Shape"), _tensors(version.signature.outputs), NOT_RECORDED),
    ]


def outline(card: pb.ModelCard) -> list[Block]:
    """The card's content, in order, independent of the output format."""
    blocks = _title(card)
    for field, heading in WRITTEN_SECTIONS[:4]:
        blocks += [Heading(2, heading), Written(getattr(card, field))]
    blocks += _training_data(card)
    blocks += _evaluation(card)
    blocks += _fairness(card)
    blocks += _online(card)
    blocks += _lineage(card)
    blocks += _approvals(card)
    blocks += _runtime(card)
    field, heading = WRITTEN_SECTIONS[4]
    blocks += [Heading(2, heading), Written(getattr(card, field))]
    return blocks


# -- Markdown ---------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text.replace(chr(10), ' ')}"
    if isinstance(block, Written):
        return block.text.strip() or f"_{NOT_PROVIDED}_"
    if isinstance(block, Facts):
        return "\n".join(f"- **{label}:** {_md_cell(value)}" for label, value in block.items)
    if isinstance(block, Items):
        if not block.values:
            return block.empty
        return "\n".join(f"- {_md_cell(value)}" for value in block.values)
    if not block.rows:
        return block.empty
    lines = [
        "| " + " | ".join(block.headers) + " |",
        "|" + "|".join("---" for _ in block.headers) + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in block.rows]
    return "\n".join(lines)


def to_markdown(card: pb.ModelCard) -> str:
    parts = [_md_block(block) for block in outline(card)]
    return "\n\n".join(part for part in parts if part) + "\n"


# -- HTML -------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
  max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
h3 { margin-top: 1.2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left;
  vertical-align: top; }
th { background: #f6f8fa; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
.written { white-space: pre-wrap; }
.missing { color: #9a6700; font-style: italic; }
.empty { color: #656d76; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{_e(block.text)}</h{block.level}>"
    if isinstance(block, Written):
        if not block.text.strip():
            return f'<p class="missing">{_e(NOT_PROVIDED)}</p>'
        return f'<div class="written">{_e(block.text)}</div>'
    if isinstance(block, Facts):
        rows = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in block.items)
        return f"<dl>{rows}</dl>"
    if isinstance(block, Items):
        if not block.values:
            return f'<p class="empty">{_e(block.empty)}</p>'
        return "<ul>" + "".join(f"<li>{_e(value)}</li>" for value in block.values) + "</ul>"
    if not block.rows:
        return f'<p class="empty">{_e(block.empty)}</p>' if block.empty else ""
    head = "".join(f"<th>{_e(header)}</th>" for header in block.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in block.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(card: pb.ModelCard) -> str:
    blocks = outline(card)
    title = blocks[0].text if isinstance(blocks[0], Heading) else "Model card"
    body = "\n".join(part for part in (_html_block(block) for block in blocks) if part)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
