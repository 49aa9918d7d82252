"""A request's plan: which stages run and which sections its response has, decided once from its options.

Every layer reads the plan instead of re-deriving it: the pipeline's stages (fashion.pipeline), the response
(fashion.response) and, through them, the handlers. `Options.plan` computes it once per request.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fashion.options import Options

SECTIONS = ("garments", "embedding", "metadata", "tags", "prompt")  # in a response's order


@dataclasses.dataclass(frozen=True)
class Plan:
    segment: bool  # the segmenter runs: garments were asked for
    classify: bool  # the attribute classifier runs: metadata was asked for
    embed: bool  # the embedder runs for this request (embeddings, garment embeddings, tags or prompt)
    zero_shot: bool  # metadata from untrained attribute heads is replaced by the embedder's zero-shot metadata
    sections: tuple[str, ...]  # what the response carries, where a model computed it

    @classmethod
    def of(cls, options: Options) -> "Plan":
        o = options
        full = not o.embedding_only
        segment = full and o.wants("garments")
        classify = full and o.wants("metadata")
        embedding = o.embedding_only or o.wants("embedding")
        wanted = {"garments": segment, "embedding": embedding, "metadata": classify,
                  "tags": full and bool(o.labels), "prompt": full and bool(o.prompt)}
        return cls(segment=segment, classify=classify,
                   embed=embedding or segment or wanted["tags"] or wanted["prompt"], zero_shot=classify,
                   sections=tuple(s for s in SECTIONS if wanted[s]))

    def emits(self, section: str) -> bool:
        return section in self.sections
