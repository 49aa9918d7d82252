"""The grouping table (garment_groups.yaml): fine dataset classes -> served garment groups -> coarse body groups.

Training converts datasets through it (training/segmentation); export stamps each served class's coarse group on
the segmenter archive, and `"groups": "coarse"` answers merged masks per coarse group (fashion/stages/segment.py).
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import yaml

TABLE = Path(__file__).with_name("garment_groups.yaml")


@dataclasses.dataclass(frozen=True)
class Grouping:
    groups: tuple[str, ...]  # served classes, in class-index order
    coarse: dict[str, tuple[str, ...]]  # coarse group -> its served groups
    sources: dict[str, dict[str, str]]  # source -> fine class name -> served group
    cihp_labels: tuple[str, ...]
    words: dict[str, str] = dataclasses.field(default_factory=dict)  # group -> the catalogue's word for it

    def word_of(self, label: str) -> str:
        """A garment label in the catalogue's words (garment by words reads it); unknown labels as they are."""
        return self.words.get(label, label)

    def group_of(self, source: str, fine: str) -> str | None:
        """The served group of a fine class, or None (background for the segmenter)."""
        if source not in self.sources:
            raise KeyError(f"no source {source!r} in {TABLE.name}; known: {sorted(self.sources)}")
        return self.sources[source].get(fine)

    def index_table(self, source: str, fine_names: list[str]) -> list[int]:
        """Per fine label index: its served class index, or -1 for background."""
        out = []
        for name in fine_names:
            group = self.group_of(source, name)
            out.append(self.groups.index(group) if group else -1)
        return out

    def coarse_of(self, group: str) -> str:
        for name, members in self.coarse.items():
            if group in members:
                return name
        raise KeyError(f"served group {group!r} is in no coarse group of {TABLE.name}")

    def coarse_of_class(self, name: str) -> str | None:
        """A segmenter class's coarse group: our served groups directly, a dataset's own class names (a hub
        model trained on DeepFashion2, say) through their group; None when the table does not know it."""
        if name in self.groups:
            return self.coarse_of(name)
        for table in self.sources.values():
            if name in table:
                return self.coarse_of(table[name])
        return None


@functools.lru_cache(maxsize=4)
def load(path: Path = TABLE) -> Grouping:
    raw = yaml.safe_load(path.read_text())
    groups = tuple(raw["groups"])
    sources: dict[str, dict[str, str]] = {}
    for source, table in raw["sources"].items():
        fine: dict[str, str] = {}
        for group, names in table.items():
            if group not in groups:
                raise ValueError(f"{path.name}: {source} maps to {group!r}, not a served group {groups}")
            for name in names:
                if name in fine:
                    raise ValueError(f"{path.name}: {source} class {name!r} is in two groups")
                fine[name] = group
        sources[source] = fine
    coarse = {name: tuple(members) for name, members in raw["coarse"].items()}
    covered = [g for members in coarse.values() for g in members]
    if sorted(covered) != sorted(groups):
        raise ValueError(f"{path.name}: every served group must be in exactly one coarse group")
    words = {str(k): str(v) for k, v in (raw.get("words") or {}).items()}
    if set(words) - set(groups):
        raise ValueError(f"{path.name}: words for unknown groups {sorted(set(words) - set(groups))}")
    return Grouping(groups, coarse, sources, tuple(raw["cihp_labels"]), words)
