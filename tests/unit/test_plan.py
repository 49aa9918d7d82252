"""A request's plan (fashion.request.plan): the models and sections its options call for, decided once."""
from __future__ import annotations

from fashion.request.options import parse_options


def test_default_runs_everything_and_emits_the_three_sections():
    plan = parse_options({}).plan
    assert plan.runs_models == {"segmenter", "attributes", "embedder"}
    assert plan.sections == ("garments", "embedding", "metadata")


def test_embedding_only_runs_the_embedder_alone():
    plan = parse_options({"embedding_only": True, "labels": ["red"], "prompt": "shoes"}).plan
    assert plan.runs_models == {"embedder"} and plan.sections == ("embedding",)


def test_metadata_alone_runs_the_garments_it_reads_but_no_embedding_of_its_own():
    plan = parse_options({"include": "metadata"}).plan
    # the embedder still runs where the heads turn out untrained (zero-shot): fashion.stages.embed.EmbedderStage.wanted
    # a photo of a person's metadata comes from its garments (fashion.worn.worn_metadata): the segmenter runs, unsent
    assert plan.runs_models == {"segmenter", "attributes"} and plan.sections == ("metadata",)


def test_labels_and_prompt_add_their_sections():
    plan = parse_options({"include": ["garments"], "labels": ["floral"], "prompt": "red dress"}).plan
    assert plan.runs("embedder") and plan.sections == ("garments", "tags", "prompt")


def test_computed_once_per_options():
    options = parse_options({"include": "garments"})
    assert options.plan is options.plan
