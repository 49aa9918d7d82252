"""A request's plan: which models run and which sections its response has, decided once from its options.

Every layer reads the plan instead of re-deriving it: the stages (fashion.stage), the response (fashion.response)
and, through them, the handlers. `Options.plan` computes it once per request, from the registry (fashion.models):
a section is emitted when `include` names it (or its option asks for it), a model runs when a section it serves is.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from fashion import models as registry

if TYPE_CHECKING:
    from fashion.options import Options


@dataclasses.dataclass(frozen=True)
class Plan:
    runs_models: frozenset[str]  # the models that run for this request
    sections: tuple[str, ...]  # what the response carries, where a model computed it, in a response's order

    @classmethod
    def of(cls, options: Options) -> "Plan":
        if options.embedding_only:
            sections: tuple[str, ...] = ("embedding",)
        else:
            sections = tuple(s.name for s in registry.SECTIONS
                             if (options.wants(s.name) if s.asked_by is None else bool(getattr(options, s.asked_by))))
        runs = frozenset(m.name for m in registry.MODELS if set(m.serves) & set(sections))
        return cls(runs, sections)

    def runs(self, model: str) -> bool:
        return model in self.runs_models

    def emits(self, section: str) -> bool:
        return section in self.sections
