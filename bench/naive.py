"""The alternative a user would otherwise write, in one process: ultralytics `predict`, then one CLIP call for
the photo and one per garment, then the attribute classifier; eager PyTorch, the library's own preprocessing.

Same weights as the archives (the local YOLO-seg checkpoint, the same CLIP architecture, the trained attribute
checkpoint when there is one), same photos. It answers what our pipeline answers, minus colour and zero-shot:
masks (as ultralytics' polygons), embeddings and the five attribute labels, as JSON.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from PIL import Image


class NaivePipeline:
    def __init__(self, weights_dir: str | None, attributes_checkpoint: str | None, clip_model: str | None = None,
                 imgsz: int = 320) -> None:
        os.environ.setdefault("YOLO_AUTOINSTALL", "false")
        os.environ.setdefault("YOLO_OFFLINE", "true")
        import timm.data
        from ultralytics import YOLO

        from export import attributes, embedder, segmenter
        from export._weights import find_local
        from fashion.nets import embedder_model, segmenter_checkpoint

        source = segmenter.resolve(None, weights_dir)
        if source.path is None:
            raise SystemExit("the naive baseline needs local YOLO-seg weights (WEIGHTS_DIR)")
        path = source.path
        if segmenter_checkpoint.is_plain(path):  # the shipped file (weights/segmenter.pt): wrapped for ultralytics
            path = segmenter_checkpoint.to_ultralytics(path, Path(tempfile.mkdtemp()) / "segmenter-ultralytics.pt")
        self.yolo, self.imgsz = YOLO(str(path)), imgsz
        clip_model = clip_model or embedder.DEFAULT_MODEL
        clip = embedder.resolve(clip_model, embedder.HUB_DEFAULT_TAGS.get(clip_model), None, weights_dir)
        torch.manual_seed(0)  # the same weights as the archive: its file, or the same seeded random init
        self.clip, self.clip_preprocess = embedder_model.create(clip_model, str(clip.path) if clip.path else None)
        local = find_local(attributes_checkpoint, weights_dir, ("attributes*.pt",))
        self.classifier, labels, _ = attributes.load_model(local, attributes.DEFAULT_ARCH)
        self.classifier.eval()
        self.heads = labels["heads"]
        size = int(labels.get("input_size", 224))
        config = timm.data.resolve_data_config({"input_size": (3, size, size), "crop_pct": 1.0},
                                               model=self.classifier.backbone)
        self.classifier_preprocess = timm.data.create_transform(**config)

    @torch.inference_mode()
    def __call__(self, path: Path) -> bytes:
        result = self.yolo.predict(str(path), imgsz=self.imgsz, verbose=False)[0]
        image = Image.open(path).convert("RGB")
        whole = self.clip.encode_image(self.clip_preprocess(image)[None])[0]
        garments: list[dict[str, Any]] = []
        polygons = result.masks.xy if result.masks is not None else []
        for box, cls, conf, polygon in zip(result.boxes.xyxy.tolist(), result.boxes.cls.tolist(),
                                           result.boxes.conf.tolist(), polygons):
            crop = image.crop(tuple(int(v) for v in box))
            vector = self.clip.encode_image(self.clip_preprocess(crop)[None])[0]  # one call per garment
            garments.append({"label": result.names[int(cls)], "score": conf, "box": box,
                             "polygon": polygon.tolist(), "embedding": vector.tolist()})
        logits = self.classifier(self.classifier_preprocess(image)[None])
        metadata = {head: vocab[int(t[0].argmax())] for (head, vocab), t in zip(self.heads.items(), logits)}
        return json.dumps({"garments": garments, "embedding": whole.tolist(), "metadata": metadata}).encode()
