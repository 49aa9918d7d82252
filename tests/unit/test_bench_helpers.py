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


def _gender_rows(men: list[float], women: list[float]) -> tuple[list[float], list[str]]:
    return [*men, *women], ["Men"] * len(men) + ["Women"] * len(women)


def test_gender_threshold_is_the_most_accurate_one_that_keeps_each_recall_at_the_floor():
    from bench.worn import RECALL_FLOOR, _best_threshold

    # 0.4 says Men for all 20 men but only 80 of the 100 women Women (balanced 0.900, accuracy 0.833);
    # 0.9 loses 5 men and gains 10 women (balanced 0.825, accuracy 0.875): the target's form takes 0.9
    shares, truth = _gender_rows([0.9] * 15 + [0.4] * 5, [0.1] * 80 + [0.5] * 10 + [0.95] * 10)
    threshold, figures = _best_threshold(shares, truth)
    assert threshold == 0.9 and RECALL_FLOOR <= 0.75
    assert figures == {"accuracy": 105 / 120, "recall_Women": 0.9, "recall_Men": 0.75}


def test_gender_threshold_falls_back_to_the_most_balanced_one_below_the_floor():
    from bench.worn import _best_threshold

    # no threshold keeps both recalls at 0.75: 0.15 is the most balanced (Men 4/4, Women 7/10)
    shares, truth = _gender_rows([0.8, 0.3, 0.2, 0.15], [0.9, 0.7, 0.25] + [0.1] * 7)
    threshold, figures = _best_threshold(shares, truth)
    assert threshold == 0.15 and figures["recall_Men"] == 1.0 and figures["recall_Women"] == 0.7


def test_photo_and_garment_sources_rank_by_both_floors_first_then_their_mean_accuracy():
    from bench.worn import _joint_key

    both = {"accuracy": 0.78, "recall_Women": 0.78, "recall_Men": 0.80}
    sharp = {"accuracy": 0.79, "recall_Women": 0.79, "recall_Men": 0.75}
    short = {"accuracy": 0.61, "recall_Women": 0.55, "recall_Men": 1.0}  # below the floor
    assert _joint_key(both, both) > _joint_key(sharp, short)
    assert _joint_key(sharp, both) > _joint_key(both, both)


def test_fixed_work_times_a_callable_in_place_and_puts_it_back():
    from bench.fixed_work import table, timed

    class Model:
        def module(self, x: int) -> int:
            return x + 1

    model, times = Model(), []
    with timed(model, "module", times):
        assert model.module(1) == 2 and model.module(2) == 3
    assert len(times) == 2 and all(t >= 0 for t in times)
    assert "wrapper" not in repr(model.module)  # restored
    rows = [{"photo": f"{n}.jpg", "garments": n, "fixed_ms": {"decode": 1.0, "segmenter": 2.0 + n},
             "face_step_ms": 5.0, "pipeline_ms": 20.0 + n, "limit_ms": 10.0, "fixed_total_ms": 10.0 + n,
             "fixed_share_of_limit": (10.0 + n) / 10} for n in (2, 6)]
    out = table(rows)
    assert "| 6.jpg | 6 | 1.0 | 8.0 | 5.0 | 26.0 | 10.0 | 16.0 (1.60) |" in out
    assert "fixed work per added garment: 1.00 ms" in out


def _worn_row(stem: str, gender: str, share: float, garments: list[tuple[str | None, float]]) -> dict:
    """A calib row as bench.worn.worn_rows makes it: the photo's P(Men) as its answer, and garments (gender, score)."""
    return {"stem": stem, "gender": gender, "uncertain": False, "face": None, "families": ["Tshirts"],
            "photo_gender": "Men" if share >= 0.5 else "Women", "photo_gender_score": max(share, 1 - share),
            "photo_article": "Tshirts", "photo_article_score": 0.9, "scene": "worn",
            "garments": [{"label": "top", "score": 0.9, "area": 0.2, "truth": 0, "family": ["Tshirts"],
                          "article": "Tshirts", "article_score": 0.9, "gender": g, "gender_score": s,
                          "embedding": None} for g, s in garments]}


def test_calibration_leaves_out_a_garment_whose_gender_the_agreement_rule_nulled(monkeypatch):
    from bench import worn

    monkeypatch.setattr("fashion.worn.worn_gender.load", lambda *a, **k: None)  # no outfit model: photo and mean
    rows = [_worn_row(f"m{i}", "Men", 0.9, [("Men", 0.8)]) for i in range(4)]
    rows += [_worn_row(f"w{i}", "Women", 0.2, [("Women", 0.7)]) for i in range(12)]
    rows.append(_worn_row("x", "Men", 0.85, [(None, 0.8)]))  # a skirt on a wearer read as a man: gender null
    result = worn.calibrate(rows)
    fits = result["on_calib"][f"garment_gender (photo from {result['photo_gender_from']})"]
    assert result["garment_men_share"] > result["garment_women_share"]
    assert fits["crop"]["recall_Men"] == 1.0 and fits["crop"]["recall_Women"] == 1.0  # 16 garments, the null left out
