"""The benchmark's bookkeeping (not its figures): choosing backends, and the batching-off store."""
from __future__ import annotations

import zipfile

import yaml

from bench.backends import Timing, choose_fastest, table
from bench.served import batching_store
from export.archive import build_war, workflow_spec


def test_fastest_backend_that_passed_is_chosen():
    rows = [Timing("embedder", "torchscript", True, 60.0, 40.0, {"cosine": 1.0}, 1, 300),
            Timing("embedder", "openvino", True, 25.0, 20.0, {"cosine": 1.0}, 1, 300),
            Timing("embedder", "aoti", False, error="failed"),
            Timing("segmenter", "torchscript", True, 13.0, 12.0, {"iou": 1.0}, 1, 13)]
    assert choose_fastest(rows) == {"embedder": "openvino", "segmenter": "torchscript"}
    lines = table(rows, choose_fastest(rows))
    assert any("openvino **(default)**" in line and "2.40x" in line for line in lines)
    assert any("failed: failed" in line for line in lines)


def test_batching_store_links_archives_and_rewrites_only_the_batch_size(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "segmenter.mar").write_bytes(b"mar")
    build_war(store, tmp_path, ("embedder",))  # the shipped spec: the embedder node projects (a quick node)
    linked = batching_store(store, tmp_path / "off", 1)
    assert (linked / "segmenter.mar").resolve() == (store / "segmenter.mar").resolve()
    with zipfile.ZipFile(linked / "fashion.war") as z:
        spec = yaml.safe_load(z.read("fashion_workflow.yaml"))
    shipped = workflow_spec(("embedder",))
    assert spec["models"]["batch-size"] == 1 and "timeout-ms" in spec["models"]["embedder"]
    assert spec["dag"] == shipped["dag"]
    assert {k: v for k, v in spec["models"].items() if k != "batch-size"} == \
        {k: v for k, v in shipped["models"].items() if k != "batch-size"}


def _garment(score: float, right: bool) -> dict:
    return {"article_score": score, "article": "Skirts" if right else "Jeans", "family": ["Skirts"]}


def test_garment_threshold_nulls_only_answers_likelier_wrong_than_right():
    from bench.worn import _article_threshold

    unsure = [_garment(0.05, n % 4 == 0) for n in range(8)]  # a quarter right: null them
    sure = [_garment(0.6, n % 5 != 0) for n in range(20)]  # four in five right: answer
    threshold, right, right_or_null = _article_threshold(unsure + sure)
    assert 0.05 < threshold <= 0.6
    assert right == 16 / 28 and right_or_null == 24 / 28


def test_garment_threshold_keeps_mostly_right_answers_however_low_their_score():
    from bench.worn import _article_threshold

    low = [_garment(0.02, n % 3 != 0) for n in range(9)]  # two in three right, with a low score
    high = [_garment(0.9, True) for _ in range(9)]
    assert _article_threshold(low + high)[0] == 0.0  # right-or-null would have nulled them (up to the cap)
