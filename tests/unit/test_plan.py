"""A request's plan (fashion.plan): the stages and sections its options call for, decided once."""
from __future__ import annotations

from fashion.options import parse_options


def test_default_runs_everything_and_emits_the_three_sections():
    plan = parse_options({}).plan
    assert (plan.segment, plan.classify, plan.embed, plan.zero_shot) == (True, True, True, True)
    assert plan.sections == ("garments", "embedding", "metadata")


def test_embedding_only_runs_the_embedder_alone():
    plan = parse_options({"embedding_only": True, "labels": ["red"], "prompt": "shoes"}).plan
    assert (plan.segment, plan.classify, plan.embed, plan.zero_shot) == (False, False, True, False)
    assert plan.sections == ("embedding",)


def test_metadata_alone_needs_no_garments_and_no_embedding_of_its_own():
    plan = parse_options({"include": "metadata"}).plan
    assert (plan.segment, plan.classify, plan.embed) == (False, True, False)
    assert plan.zero_shot and plan.sections == ("metadata",)  # untrained heads still get zero-shot metadata


def test_labels_and_prompt_add_their_sections():
    plan = parse_options({"include": ["garments"], "labels": ["floral"], "prompt": "red dress"}).plan
    assert plan.embed and plan.sections == ("garments", "tags", "prompt")


def test_computed_once_per_options():
    options = parse_options({"include": "garments"})
    assert options.plan is options.plan

