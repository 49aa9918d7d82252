"""A product shot is one product. Its garments are that product: the detections of the product's kind (a pair
of shoes, a shirt the segmenter calls a top here and outerwear there) become one garment, which answers the
photo's metadata; what a model wears with the product (the jeans under a shirt, a bag in a watch shot) is not a
garment of the shot. A set (an articleType named "... Set") is several products: each group's detections become
one garment with metadata of its own.

The product's kind: the segmenter groups whose articleType family (fashion/worn/worn_families.yaml) holds the photo's
articleType, widened to their coarse body group (garment_groups.yaml: upper body, lower body, full body,
footwear), since the segmenter, trained on street photos, tells a shirt on a hanger from a jacket badly. An
accessory is its own product: a bag is never merged with a hat. A product shot whose articleType is no group's
(a watch, a perfume) has no garments."""
from __future__ import annotations

import functools

from fashion.garments import garment_groups
from fashion.results import Garment
from fashion.worn.worn_families import load as load_families

SEPARATE = ("accessories",)  # coarse groups whose members are different products


def is_set(article: str | None) -> bool:
    return bool(article) and article.rstrip("s").endswith(" Set")


@functools.lru_cache(maxsize=64)
def product_groups(article: str) -> frozenset[str]:
    """The segmenter groups a product of `article` may be detected as."""
    grouping = garment_groups.load()
    groups = {g for g, family in load_families().groups.items() if article in family}
    wide = set(groups)
    for g in groups:
        coarse = grouping.coarse_of(g)
        if coarse not in SEPARATE:
            wide.update(grouping.coarse[coarse])
    return frozenset(wide)


def united(garments: list[Garment], members: list[int]) -> tuple[Garment, int]:
    """The members as one garment (Garment.united, named after the surest) and the index of the surest, whose
    crop speaks for it."""
    best = max(members, key=lambda n: garments[n].score)
    if len(members) == 1:
        return garments[best], best
    return Garment.united([garments[n] for n in members], garments[best].label, garments[best].class_id), best


def merge_groups(garments: list[Garment]) -> tuple[list[Garment], list[int]]:
    """One garment per group (a set's products), the surest first, and the index of each one's surest member."""
    members: dict[str, list[int]] = {}
    for n, g in enumerate(garments):
        members.setdefault(g.label, []).append(n)
    merged = sorted((united(garments, ns) for ns in members.values()), key=lambda m: -m[0].score)
    return [g for g, _ in merged], [n for _, n in merged]


def the_product(garments: list[Garment], article: str | None) -> tuple[list[Garment], list[int]]:
    """The product shot's garments and, for each, the index of the detection whose crop speaks for it: the
    product as one garment, none when no detection is of its kind, or one per group for a set."""
    if is_set(article):
        return merge_groups(garments)
    kind = product_groups(article) if article else frozenset()
    members = [n for n, g in enumerate(garments) if g.label in kind]
    if not members:
        return [], []
    garment, best = united(garments, members)
    return [garment], [best]
