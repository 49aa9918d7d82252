"""TorchServe handler: CLIP embeddings of images (whole + garment crops) and of texts ({"text": [...]}).

In the workflow it is the leaf: it embeds the image and its garments (from the segmenter, passed on by
the attributes node) in one batch, and encodes the final response.
"""
from __future__ import annotations

from typing import Any

from fashion import pipeline
from fashion.embed import Embedder
from fashion.envelope import Envelope
from fashion.errors import RequestError
from fashion.response import vector_json
from handlers._adapter import StageHandler, encode_json, run_isolated


class EmbedderHandler(StageHandler):
    name = "embedder"
    workflow_leaf = True

    def load(self, directory, device) -> None:
        self.model = Embedder.load(directory, device)
        self.stage = lambda envs: pipeline.embed(self.model, envs)

    def text_reply(self, env: Envelope) -> tuple[dict[str, Any], int]:
        try:
            vectors = self.model.embed_texts(env.texts)
        except RequestError as exc:
            return exc.to_dict(), exc.code
        return {"embeddings": vector_json(vectors), "models": [self.model.manifest.provenance()]}, 200

    def predict(self, envs: list[Envelope]) -> None:
        run_isolated(self.stage, [e for e in envs if e.texts is None], self.name)

    def encode(self, envs: list[Envelope], context: Any) -> list[bytes]:
        out = super().encode(envs, context)
        for idx, env in enumerate(envs):
            if env.texts is not None and env.error is None:
                payload, status = self.text_reply(env)
                out[idx] = encode_json(payload, 200 if self.in_workflow else status, idx, context)
        return out
