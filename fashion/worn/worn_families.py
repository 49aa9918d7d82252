"""The articleType family of a worn garment (worn_families.yaml): per street-photo parsing class, and per served
segmenter group (the union over the group's classes in garment_groups.yaml). Training reads the classes' families
(a loss over the family's members); evaluation and serving read the groups'."""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import yaml

from fashion.garments import garment_groups

TABLE = Path(__file__).with_name("worn_families.yaml")
SOURCE = "ccp"  # the street photos' parsing classes (Clothing Co-Parsing)


@dataclasses.dataclass(frozen=True)
class Families:
    fine: dict[str, tuple[str, ...]]  # parsing class -> articleTypes
    groups: dict[str, tuple[str, ...]]  # served group -> articleTypes

    def check(self, vocabulary: list[str]) -> None:
        """Every family member must be an articleType of the model's vocabulary."""
        unknown = sorted({a for family in self.fine.values() for a in family} - set(vocabulary))
        if unknown:
            raise ValueError(f"{TABLE.name}: {unknown} are not articleTypes of the model ({len(vocabulary)} classes)")


@functools.lru_cache(maxsize=2)
def load(path: Path = TABLE) -> Families:
    fine = {str(k): tuple(v) for k, v in yaml.safe_load(path.read_text())["fine"].items()}
    grouping = garment_groups.load()
    groups: dict[str, tuple[str, ...]] = {}
    for name, family in fine.items():
        group = grouping.sources[SOURCE].get(name)
        if group is not None:
            groups[group] = tuple(dict.fromkeys((*groups.get(group, ()), *family)))
    return Families(fine, groups)


def group_families(vocabulary: list[str], path: Path = TABLE) -> dict[str, tuple[int, ...]]:
    """Per served segmenter group: its family's articleTypes as indices of `vocabulary` (those it has); a model
    without an articleType head gets none."""
    column = {a: i for i, a in enumerate(vocabulary)}
    indices = {g: tuple(column[a] for a in family if a in column) for g, family in load(path).groups.items()}
    return {g: ids for g, ids in indices.items() if ids}
