"""The model card renderers: pure functions from a ModelCard message to Markdown and HTML."""

from __future__ import annotations

import re

from google.protobuf import timestamp_pb2

from controlplane.rendering.model_card import NOT_PROVIDED, to_html, to_markdown
from controlplane.v1 import model_card_service_pb2 as mc
from controlplane.v1 import registry_service_pb2 as rg

VERSION = "tenants/acme/models/churn/versions/3"


def card(**written: str) -> mc.ModelCard:
    facts = mc.ModelCardFacts(
        model_version=rg.ModelVersion(
            name=VERSION,
            version=3,
            state=rg.ModelVersion.STATE_APPROVED,
            author="tenants/acme/principals/ana",
            code_version="git:abc123",
            framework="sklearn",
            features=["tenure", "spend"],
            files=[
                rg.ModelFile(role="model", artifact="tenants/acme/artifacts/m", sha256="ab" * 32)
            ],
            runtime=rg.RuntimeRequirements(python_version="3.12", packages=["numpy==2.0"]),
            signature=rg.ModelSignature(
                inputs=[rg.TensorSpec(name="x", dtype="float32", shape=[-1, 4])],
                outputs=[rg.TensorSpec(name="p", dtype="float32", shape=[-1])],
            ),
            create_time=timestamp_pb2.Timestamp(seconds=1_700_000_000),
        ),
        source_run="tenants/acme/experiments/e/runs/r",
        run_params={"lr": "0.1", "depth": "6"},
        run_metrics={"loss": 0.25},
        training_dataset="tenants/acme/artifacts/train",
        training_dataset_uri="sha256:feed",
        evaluation=[
            rg.EvaluationMetric(key="auc", value=0.91, split="test"),
            rg.EvaluationMetric(key="auc", value=0.83, split="test", slice="age<25"),
            rg.EvaluationMetric(key="auc", value=0.95, split="valid", slice="age>=25"),
        ],
        fairness=[rg.EvaluationMetric(key="fairness.eo_gap", value=0.04, split="test")],
        online_evaluation=[
            rg.EvaluationMetric(key="ctr", value=0.031, split="online"),
            rg.EvaluationMetric(key="auc", value=0.88, split="online", slice="country=fr"),
        ],
        upstream_artifacts=["tenants/acme/artifacts/train"],
        upstream_executions=["tenants/acme/executions/fit"],
        reviews=[
            mc.ModelCardReview(
                principal="tenants/acme/principals/bo",
                decision="approve",
                reason="meets bar | ok",
                time=timestamp_pb2.Timestamp(seconds=1_700_003_600),
            )
        ],
    )
    facts.training_dataset_properties.update({"rows": 1200, "stats": {"mean": 2.5}})
    message = mc.ModelCard(name=f"{VERSION}/card", facts=facts)
    for field, text in written.items():
        setattr(message, field, text)
    return message


def section(markdown: str, heading: str) -> str:
    """The text under a level-2 heading, up to the next one."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, heading
    return match.group(1)


def test_markdown_title_names_model_version_and_state() -> None:
    first = to_markdown(card()).splitlines()[0]
    assert first == "# Model card: churn, version 3"
    assert "- **State:** approved" in to_markdown(card())


def test_markdown_shows_each_empty_written_field_as_not_provided() -> None:
    text = to_markdown(card(limitations="Only EU customers."))
    assert "Only EU customers." in section(text, "Limitations")
    for heading in (
        "Intended use",
        "Out-of-scope use",
        "Ethical considerations",
        "Caveats and recommendations",
        "Training data",
    ):
        assert NOT_PROVIDED in section(text, heading), heading
    assert NOT_PROVIDED not in section(text, "Limitations")


def test_markdown_tables_hold_evaluation_by_split_and_slice() -> None:
    evaluation = section(to_markdown(card()), "Evaluation")
    assert "| test | auc | 0.91 |" in evaluation
    assert "### Per slice, split test" in evaluation
    assert "| age<25 | auc | 0.83 |" in evaluation
    assert "### Per slice, split valid" in evaluation
    assert "| age>=25 | auc | 0.95 |" in evaluation
    assert "| fairness.eo_gap | test | overall | 0.04 |" in section(to_markdown(card()), "Fairness")


def test_markdown_shows_the_newest_online_results() -> None:
    online = section(to_markdown(card()), "Online results")
    assert "| ctr | online | overall | 0.031 |" in online
    assert "| auc | online | country=fr | 0.88 |" in online


def test_markdown_lineage_training_data_approvals_and_runtime() -> None:
    text = to_markdown(card())
    lineage = section(text, "Lineage")
    assert "tenants/acme/experiments/e/runs/r" in lineage
    assert "| depth | 6 |" in lineage and "| lr | 0.1 |" in lineage
    assert "| loss | 0.25 |" in lineage
    assert "git:abc123" in lineage and "tenure, spend" in lineage
    assert "- tenants/acme/executions/fit" in lineage
    data = section(text, "Training data")
    assert "sha256:feed" in data and "| rows | 1200 |" in data
    assert '| stats | {"mean": 2.5} |' in data
    approvals = section(text, "Approvals")
    # A "|" in a reason is escaped so it cannot split the table.
    assert (
        "| tenants/acme/principals/bo | approve | meets bar \\| ok | 2023-11-14 23:13:20 UTC |"
        in approvals
    )
    runtime = section(text, "Runtime and signature")
    assert "| x | float32 | [-1, 4] |" in runtime and "numpy==2.0" in runtime


def test_markdown_of_a_bare_version_says_what_is_not_recorded() -> None:
    bare = mc.ModelCard(
        name=f"{VERSION}/card", facts=mc.ModelCardFacts(model_version=rg.ModelVersion(name=VERSION))
    )
    text = to_markdown(bare)
    assert "No overall results recorded." in text
    assert "No fairness metrics recorded." in text
    assert "No online results recorded." in text
    assert "No reviews yet." in text
    assert "- **Source run:** Not recorded." in text


def test_html_is_one_self_contained_page() -> None:
    page = to_html(card(intended_use="Scoring"))
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "http://" not in page and "https://" not in page and "url(" not in page
    assert "<title>Model card: churn, version 3</title>" in page


def test_html_escapes_every_user_string() -> None:
    hostile = '<script>alert(1)</script>"&'
    page = to_html(card(limitations=hostile, intended_use="<img src=x onerror=alert(1)>"))
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    review = card()
    review.facts.reviews[0].reason = "</td><script>x</script>"
    assert "&lt;/td&gt;&lt;script&gt;x&lt;/script&gt;" in to_html(review)


def test_html_shows_not_provided_facts_and_tables() -> None:
    page = to_html(card())
    assert page.count(f'<p class="missing">{NOT_PROVIDED}</p>') == 6
    assert "<td>age&lt;25</td><td>auc</td><td>0.83</td>" in page
    assert "<td>tenants/acme/principals/bo</td><td>approve</td>" in page
    assert "<li>tenants/acme/executions/fit</li>" in page
    assert "<dt>Source run</dt><dd>tenants/acme/experiments/e/runs/r</dd>" in page
