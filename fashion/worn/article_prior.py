"""Which gender wears which articleType, from the catalogue's own joint frequencies (gender_articles.json).

A pair the catalogue has under MIN_SHARE of (among that articleType's products) is not answered: a garment a
"Men" wearer has on is never called Heels, Dresses, Skirts or Handbags because its crop looks like one. The table
counts the catalogue's rows that are in neither the attribute model's val nor its test split
(`python -m training gender-articles` writes it), so no evaluation photo's label is in it.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

TABLE = Path(__file__).with_name("gender_articles.json")
MIN_SHARE = 0.01  # a gender x articleType pair under this share of the articleType's products is not answered


@functools.lru_cache(maxsize=2)
def counts(path: Path = TABLE) -> dict[str, dict[str, int]]:
    """articleType -> gender -> catalogue rows; empty when the table is absent (then every pair is allowed)."""
    if not path.is_file():
        return {}
    return json.loads(path.read_text())["counts"]


def share(gender: str, article: str, path: Path = TABLE) -> float | None:
    """The share of `article`'s catalogue products that are `gender`'s; None when the catalogue has no such
    articleType (then nothing is known against the pair)."""
    per = counts(path).get(article)
    if not per:
        return None
    return per.get(gender, 0) / sum(per.values())


def allowed(gender: str | None, article: str, path: Path = TABLE) -> bool:
    """Whether the catalogue has the pair at MIN_SHARE or more (an unknown gender or articleType: yes)."""
    if gender is None:
        return True
    s = share(gender, article, path)
    return s is None or s >= MIN_SHARE


@functools.lru_cache(maxsize=8)
def allowed_pairs(genders: tuple[str, ...], articles: tuple[str, ...], path: Path = TABLE) -> np.ndarray:
    """`allowed` for every gender x articleType of two vocabularies: bool (genders, articles), made once per pair
    of vocabularies."""
    return np.array([[allowed(g, a, path) for a in articles] for g in genders], dtype=bool)


def table(styles: list[dict[str, str]], held_out: set[str]) -> dict[str, dict[str, int]]:
    """articleType -> gender -> rows of the catalogue's styles.csv rows, less the held-out ids."""
    out: dict[str, dict[str, int]] = {}
    for row in styles:
        if row["id"] in held_out or not row.get("articleType") or not row.get("gender"):
            continue
        per = out.setdefault(row["articleType"], {})
        per[row["gender"]] = per.get(row["gender"], 0) + 1
    return {a: dict(sorted(g.items())) for a, g in sorted(out.items())}
