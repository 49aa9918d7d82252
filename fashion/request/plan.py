"""A request's plan: which models run and which sections its response has, decided once from its options.

Every layer reads the plan instead of re-deriving it: the stages (fashion.stages.stage), the response (fashion.response)
and, through them, the handlers. `Options.plan` computes it once per request from the sections the request asks
for (`include`, or the option that asks for a section) and the registry (fashion.models): a model runs when a
section it serves is emitted.
"""
from __future__ import annotations

import dataclasses
from typing import Collection

from fashion import models as registry


@dataclasses.dataclass(frozen=True)
class Plan:
    runs_models: frozenset[str]  # the models that run for this request
    sections: tuple[str, ...]  # what the response carries, where a model computed it, in a response's order

    @classmethod
    def of(cls, asked: Collection[str]) -> "Plan":
        """The plan for the sections a request asks for."""
        sections = tuple(s.name for s in registry.SECTIONS if s.name in asked)
        runs = frozenset(m.name for m in registry.MODELS if set(m.serves) & set(sections))
        return cls(runs, sections)

    def runs(self, model: str) -> bool:
        return model in self.runs_models

    def emits(self, section: str) -> bool:
        return section in self.sections
