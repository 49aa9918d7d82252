"""Filtered search: the where grammar (catalogue.filters) and the index's filtered answers (catalogue.index)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from catalogue import index as catalogue_index
from catalogue.filters import Column, FilterError, parse


def test_the_grammar_reads_equal_not_equal_in_and_not_in():
    w = parse('gender = "Women" and articleType IN ("Dresses", "Skirts") AND label NOT IN ("bag") '
              'AND garment.gender != "Men"')
    assert [(c.field, c.values, c.negated) for c in w.conditions] == [
        ("gender", ("Women",), False), ("articleType", ("Dresses", "Skirts"), False), ("label", ("bag",), True),
        ("garment.gender", ("Men",), True)]
    assert parse(r'usage = "say \"hi\""').conditions[0].values == ('say "hi"',)


@pytest.mark.parametrize("text, says", [
    ('gender == "Women"', "expected string"), ('colour = "Red"', "unknown field"), ("gender = Women", "string"),
    ('gender IN ("a"', "expected )"), ('gender = "a" OR usage = "b"', "expected AND"), ("", "non-empty"),
    ('gender = "a" AND', "at the end"), ("x" * 3000, "at most 2000"), ('gender = "a"; drop', "cannot read")])
def test_a_bad_filter_says_what_is_wrong(text, says):
    with pytest.raises(FilterError, match=re.escape(says)):
        parse(text)


def test_a_garment_condition_never_matches_a_whole_image_entry():
    columns = {"label": Column.of([None, "bag", "dress"]), "gender": Column.of(["Women", "Women", "Men"])}
    assert parse('label != "bag"').mask(columns, 3).tolist() == [False, False, True]
    assert parse('gender = "Women"').mask(columns, 3).tolist() == [True, True, False]
    assert parse('season = "Summer"').mask(columns, 3).tolist() == [False] * 3  # a column nobody has


def _index(n: int, exact: bool) -> catalogue_index.Part:
    rng = np.random.default_rng(0)
    vectors = catalogue_index.normalised(rng.normal(size=(n, 16)).astype(np.float32))
    index = catalogue_index.faiss.IndexFlatIP(16) if exact else catalogue_index.new_index(16, 10 ** 6)
    part = catalogue_index.Part(index, [])
    part.add(vectors, [{"id": str(i), "gender": "Women" if i % 2 else "Men",
                        "articleType": "Dresses" if i % 10 == 0 else "Tops"} for i in range(n)])
    return part


@pytest.mark.parametrize("exact, path", [(True, "gather"), (True, "bitmap scan"), (False, "gather"),
                                         (False, "bitmap scan"), (False, "restricted hnsw")])
def test_filtered_search_returns_the_best_entries_that_match(exact, path, monkeypatch):
    if path != "gather":
        monkeypatch.setattr(catalogue_index, "FILTER_GATHER_MAX", 100)  # 300 kept: scanned with an ID bitmap
    if path == "restricted hnsw":
        monkeypatch.setattr(catalogue_index, "FILTER_EXACT_MAX", 100)  # the HNSW path on a small index
    part = _index(3000, exact)
    where = parse('gender = "Men" AND articleType = "Dresses"')  # every 10th entry: 300
    query = part.vectors()[7:8].copy()
    scores, found = part.search(query, 10, where)
    kept = np.flatnonzero(where.mask(part.columns(), 3000))
    truth = kept[np.argsort(-(part.vectors()[kept] @ query[0]))[:10]]
    assert all(int(i) % 10 == 0 for i in found)
    assert len(set(found.tolist()) & set(truth.tolist())) >= (9 if path == "restricted hnsw" else 10)
    assert list(scores) == sorted(scores, reverse=True)


def test_the_catalogue_index_search_carries_the_fields_it_filters_on(tmp_path):
    rows = [{"id": f"p{i}", "status": "ok", "embedding": list(np.eye(4)[i % 4] + 0.01 * i), "gender": g,
             "articleType": a, "embedder": "e",
             "garments": [{"label": "dress", "box": [0, 0, 1, 1], "embedding": list(np.eye(4)[(i + 1) % 4]),
                           "metadata_gender": g, "metadata_articleType": a}]}
            for i, (g, a) in enumerate([("Women", "Dresses"), ("Men", "Shirts"), ("Women", "Skirts")])]
    index = catalogue_index.CatalogueIndex.open_or_create(tmp_path, 4, None)
    index.add_rows(rows)
    index.save()
    again = catalogue_index.CatalogueIndex.open(tmp_path)
    hits = again.search(np.eye(4)[1], 3, "all", where=parse('gender = "Women"'))
    assert {h["id"] for h in hits} == {"p0", "p2"} and all(h["gender"] == "Women" for h in hits)
    garment = again.search(np.eye(4)[1], 3, "garments", where=parse('garment.articleType = "Dresses"'))
    assert [h["id"] for h in garment] == ["p0"] and garment[0]["garment.articleType"] == "Dresses"
