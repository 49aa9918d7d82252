"""Contrastive training of an open_clip embedder on catalogue (image, caption) pairs.

Two ways to start, measured against each other in reports/embedder.md:
- `init="attributes"` (default): the image trunk is the trained attribute classifier's backbone
  (weights/attributes.pt) and stays LOCKED (locked-image tuning): its features are computed once (each image and
  its mirror image) and the image projection, the text tower and the temperature are trained against them;
- `init="scratch"`: both towers from random weights, the image side with flip + mild crop augmentation;
- `init="checkpoint"`: both towers from an embedder checkpoint (`init_checkpoint`, e.g. a locked-image run); with
  `attributes_checkpoint` too, its image trunk replaced by that model's backbone (a warm start after the trunk
  was retrained: projection and text tower continue).
`unlock_image` trains a pretrained trunk too (at `image_lr`, its BatchNorm statistics kept).

Loss: CLIP's symmetric InfoNCE with several positives: captions that are the same text (many products are
"men black tshirts") count as matches of each other's images, not as negatives. Early stopping on the
validation split's retrieval score (see `retrieval_score`), best epoch saved as `embedder.pt` (weights in fp16:
under 50 MB, loaded by open_clip like any checkpoint), `last.pt` to resume (the loop: training.fit).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from fashion.nets import embedder_model
from fashion.nets.provenance import sha256
from fashion.nets.embedder_model import SHIPPED_WEIGHTS, input_spec
from fashion.manifest import InputSpec
from fashion.stages.preprocess import normalize
from training.captions import captions, worn_captions
from training.catalogue import Problems, Record, read_catalogue
from training.dataset import Augment, batches, cache_pixels
from training.embedder_eval import embed_texts, image_embeddings, retrieval
from training.fit import Run, fit
from training.split import read_split, stratified_split, write_split

log = logging.getLogger("training")
BEST, SPLIT, FEATURES = "embedder.pt", "split.csv", "trunk_features.pt"
DEFAULT_SPLIT = Path("reports/attributes_split.csv")  # the attribute model's: its held-out images stay held out


@dataclasses.dataclass
class EmbedderConfig:
    csv: Path
    images: Path
    out: Path = Path("build/train/embedder")
    split: Path | None = DEFAULT_SPLIT  # None or missing: a fresh 70/10/20 split by articleType
    architecture: str = embedder_model.ARCHITECTURE
    init: str = "attributes"  # "attributes" | "scratch" | "checkpoint"
    attributes_checkpoint: Path | None = None  # default: ATTRIBUTES_CHECKPOINT, else weights/attributes.pt
    init_checkpoint: Path | None = None  # init="checkpoint": an embedder.pt to start from
    unlock_image: bool = False
    epochs: int = 40
    patience: int = 6
    batch_size: int = 256
    lr: float = 1e-3
    image_lr: float = 1e-4
    text_layers: int = 2  # a packaged (pretrained) text tower: its top layers trained; the rest stays as packaged
    text_lr: float = 1e-4  # their learning rate (the projections and the temperature train at lr)
    weight_decay: float = 0.1
    name_share: float = 0.5  # how often an epoch's caption is the productDisplayName (else a templated phrase)
    worn: bool = False  # add the street photos' labelled garment crops (worn split `train` only) with their family

    seed: int = 0
    limit: int | None = None
    resume: bool = False
    stop_after: int | None = None

    @property
    def locked(self) -> bool:
        return self.init in ("attributes", "checkpoint") and not self.unlock_image

    @property
    def pretrained_trunk(self) -> bool:
        return self.init in ("attributes", "checkpoint")


@dataclasses.dataclass
class Data:
    records: list[Record]
    pixels: torch.Tensor  # uint8 (N, 3, S, S), the serving transform
    parts: np.ndarray
    captions: list[list[str]]  # per record
    texts: list[str]  # every distinct caption
    text_index: dict[str, int]
    problems: Problems
    split_sha256: str
    split_source: str

    def rows(self, part: str) -> np.ndarray:
        return np.flatnonzero(self.parts == part)


def attributes_checkpoint(cfg: EmbedderConfig) -> Path:

    path = cfg.attributes_checkpoint or Path(os.environ.get("ATTRIBUTES_CHECKPOINT")
                                             or SHIPPED_WEIGHTS / "attributes.pt")
    if not Path(path).is_file():
        raise FileNotFoundError(f"--init attributes needs a trained attribute model; {path} does not exist "
                                "(make train-attributes, or --init scratch)")
    return Path(path)


def prepare_data(cfg: EmbedderConfig, spec: InputSpec) -> Data:
    records, problems = read_catalogue(cfg.csv, cfg.images, cfg.limit)
    if cfg.split is not None and Path(cfg.split).is_file():
        split, source = read_split(Path(cfg.split)), str(cfg.split)
        outside = [r for r in records if r.id not in split]
        for r in outside:
            problems.add("not in the split file", r.id)
        records = [r for r in records if r.id in split]
    else:
        split, source = None, "new: 70/10/20 stratified by articleType"
    records, pixels = cache_pixels(records, spec, problems, workers=max(1, os.cpu_count() or 1))
    if len(records) < 10:
        raise ValueError(f"only {len(records)} usable rows in {cfg.csv}: too few to train")
    if split is not None:
        parts = np.array([split[r.id] for r in records], dtype=object)
    else:
        articles = [r.labels["articleType"] or "" for r in records]
        codes = {a: i for i, a in enumerate(sorted(set(articles)))}
        parts = stratified_split([codes[a] for a in articles], cfg.seed)
    per_record = [captions(r) for r in records]
    if cfg.worn:
        worn_records, worn_pixels, worn_captions_ = worn_rows(spec, cfg.limit)
        records, per_record = records + worn_records, per_record + worn_captions_
        pixels = torch.cat([pixels, worn_pixels])
        parts = np.concatenate([parts, np.array(["train"] * len(worn_records), dtype=object)])
    sha = write_split(cfg.out / SPLIT, [r.id for r in records], parts)
    texts = sorted({c for cs in per_record for c in cs})
    log.info("catalogue: %d images (%s), %d distinct captions; split %s",
             len(records), {p: int((parts == p).sum()) for p in ("train", "val", "test")}, len(texts), source)
    return Data(records, pixels, parts, per_record, texts, {t: i for i, t in enumerate(texts)}, problems, sha,
                source)


def worn_rows(spec: InputSpec, limit: int | None = None) -> tuple[list[Record], torch.Tensor, list[list[str]]]:
    """The worn split's training garments (training/worn.py): a Record each (id street-<photo>-<class>, the
    person's gender), their crops as served, their captions (training.captions.worn_captions)."""
    from fashion.worn.worn_families import load as load_families
    from training.worn import STREET, build_worn

    families = load_families()
    vocabulary = sorted({a for f in families.fine.values() for a in f})
    worn = build_worn(spec, families, vocabulary, ["Men", "Women"], limit=limit)
    keep = [i for i, (k, p) in enumerate(zip(worn.kinds, worn.parts)) if k != "photo" and p == "train"]
    records = [Record(f"street-{worn.stems[i]}-{worn.kinds[i]}", STREET / "photos" / f"{worn.stems[i]}.jpg",
                      {"gender": None if worn.uncertain[i] else worn.person_gender[i]}, None, None) for i in keep]
    texts = [worn_captions(families.fine[worn.kinds[i]], None if worn.uncertain[i] else worn.person_gender[i],
                           worn.kinds[i]) for i in keep]
    log.info("worn: %d garment crops of %d training street photos", len(keep), len({worn.stems[i] for i in keep}))
    return records, worn.pixels[torch.tensor(keep, dtype=torch.long)], texts


def draw_captions(data: Data, rows: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """One caption index per row: the product name with probability `share` (where it has one), else a phrase."""
    out = np.empty(len(rows), dtype=np.int64)
    for n, i in enumerate(rows):
        options, name = data.captions[i], data.records[i].name
        if name and rng.random() < share:
            out[n] = data.text_index[name]
        else:
            rest = [c for c in options if c != name] or options
            out[n] = data.text_index[rest[int(rng.integers(len(rest)))]]
    return out


def multi_positive_loss(image: torch.Tensor, text: torch.Tensor, caption_ids: torch.Tensor,
                        logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE where every pair whose captions are the same text is a positive."""
    logits = logit_scale.exp().clamp(max=100) * image @ text.T
    same = (caption_ids[:, None] == caption_ids[None, :]).float()
    target = same / same.sum(dim=1, keepdim=True)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class Towers:
    """The model plus, when the image trunk is locked, its cached features (plain and mirrored)."""

    def __init__(self, model: torch.nn.Module, data: Data, spec: InputSpec, locked: bool,
                 cache: Path | None = None, cache_key: str = "") -> None:
        self.model, self.spec, self.locked, self.data = model, spec, locked, data
        self.features: tuple[torch.Tensor, torch.Tensor] | None = None
        if not locked:
            return
        key = f"{cache_key}:{data.split_sha256}:{spec}"
        if cache is not None and cache.is_file():
            saved = torch.load(cache, map_location="cpu", weights_only=True)
            if saved["key"] == key:
                self.features = (saved["plain"], saved["mirrored"])
                log.info("trunk features from %s", cache)
                return
        self.features = (self._trunk(data.pixels), self._trunk(data.pixels.flip(-1)))
        if cache is not None:
            torch.save({"key": key, "plain": self.features[0], "mirrored": self.features[1]}, cache)

    @torch.no_grad()
    def _trunk(self, pixels: torch.Tensor, batch: int = 128) -> torch.Tensor:
        trunk = self.model.visual.trunk.eval()
        return torch.cat([trunk(normalize(pixels[i:i + batch], self.spec)) for i in range(0, len(pixels), batch)])

    def train_images(self, rows: np.ndarray, augment: Augment, flips: np.ndarray) -> torch.Tensor:
        if self.locked:
            plain, mirrored = self.features
            idx = torch.from_numpy(rows)
            feats = torch.where(torch.from_numpy(flips)[:, None], mirrored[idx], plain[idx])
            return F.normalize(self.model.visual.head(feats), dim=-1)
        pixels = augment(self.data.pixels[torch.from_numpy(rows)])
        return F.normalize(self.model.encode_image(normalize(pixels, self.spec)), dim=-1)

    @torch.no_grad()
    def images(self, rows: np.ndarray) -> np.ndarray:
        """Eval-mode image embeddings (no augmentation) for rows: from the cached features when locked."""
        self.model.eval()
        if not self.locked:
            return image_embeddings(self.model, self.data.pixels[torch.from_numpy(rows)], self.spec)
        return F.normalize(self.model.visual.head(self.features[0][torch.from_numpy(rows)]), dim=-1).numpy()


def retrieval_score(figures: dict[str, Any]) -> float:
    """Early stopping: mean of name text->image R@10, articleType category P@10 and image->image P@10 (P@10, not
    P@1, for the categories: with ~25 category queries in the validation split, P@1 moves 0.04 per query)."""
    return float(np.mean([figures["text_to_image"].get("R@10") or 0.0, figures["category_articleType"]["P@10"] or 0.0,
                          figures["image_to_image_P@10"]["articleType"] or 0.0]))


def half_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Floating weights in fp16 (the shipped file stays under 50 MB); integer buffers as they are."""
    return {k: (v.detach().half() if v.is_floating_point() else v.detach()).clone()
            for k, v in model.state_dict().items()}


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the working directory when inside it, with its sha256."""
    shown = os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    return f"{shown} (sha256 {sha256(Path(path))[:16]})"


def new_model(cfg: EmbedderConfig) -> tuple[torch.nn.Module, str | None]:
    torch.manual_seed(cfg.seed)
    model, _ = embedder_model.create(cfg.architecture)
    source = None
    if cfg.init == "attributes":
        ckpt = attributes_checkpoint(cfg)
        embedder_model.image_trunk_from_attributes(model, ckpt)
        source = _shown(ckpt)
    elif cfg.init == "checkpoint":
        if cfg.init_checkpoint is None or not Path(cfg.init_checkpoint).is_file():
            raise FileNotFoundError(f"--init checkpoint needs --init-checkpoint, an embedder.pt; got "
                                    f"{cfg.init_checkpoint}")
        embedder_model.load_weights(model, cfg.init_checkpoint)
        source = _shown(Path(cfg.init_checkpoint))
        if cfg.attributes_checkpoint is not None:  # a warm start on a retrained trunk: projection and text kept
            embedder_model.image_trunk_from_attributes(model, cfg.attributes_checkpoint)
            source += f", image trunk from {_shown(cfg.attributes_checkpoint)}"
    elif cfg.init != "scratch":
        raise ValueError(f"init must be 'attributes', 'scratch' or 'checkpoint', not {cfg.init!r}")
    if cfg.locked:
        for p in model.visual.trunk.parameters():
            p.requires_grad_(False)
    if embedder_model.packaged_text(cfg.architecture):
        lock_text(model.text, cfg.text_layers)
    return model, source


def lock_text(text: torch.nn.Module, unlocked: int) -> None:
    """A pretrained Hugging Face text tower (BERT layout) frozen but for its top `unlocked` layers (its pooling and
    projection always train). open_clip's own `lock` knows no layer list for BERT."""
    layers = list(text.transformer.encoder.layer)
    if not 0 <= unlocked <= len(layers):
        raise ValueError(f"text_layers must be 0 to {len(layers)}, not {unlocked}")
    for module in [text.transformer.embeddings, *layers[:len(layers) - unlocked]]:
        for p in module.parameters():
            p.requires_grad_(False)


def _param_groups(model: torch.nn.Module, cfg: EmbedderConfig) -> list[dict[str, Any]]:
    """Decay on matrices only; the image trunk at image_lr when it trains from the attribute backbone, a packaged
    text tower's unlocked layers at text_lr."""
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {}
    packaged = embedder_model.packaged_text(cfg.architecture)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        tower = ("image" if cfg.pretrained_trunk and name.startswith("visual.trunk.") else
                 "text" if packaged and name.startswith(embedder_model.PACKAGED_TEXT_PREFIX) else "new")
        groups.setdefault((tower, p.ndim >= 2 and "logit_scale" not in name), []).append(p)
    lrs = {"image": cfg.image_lr, "text": cfg.text_lr, "new": cfg.lr}
    return [{"params": ps, "lr": lrs[tower], "weight_decay": cfg.weight_decay if decay else 0.0}
            for (tower, decay), ps in groups.items()]


class EmbedderTrainer:
    """The embedder's epoch (multi-positive InfoNCE) and validation (retrieval_score) for training.fit."""

    def __init__(self, cfg: EmbedderConfig) -> None:
        self.cfg = cfg
        cfg.out.mkdir(parents=True, exist_ok=True)
        self.model, self.init_source = new_model(cfg)
        self.spec = input_spec(self.model)
        self.data = data = prepare_data(cfg, self.spec)
        self.tokenizer = embedder_model.tokenizer(cfg.architecture)
        self.tokens = torch.cat([self.tokenizer(data.texts[i:i + 2048]) for i in range(0, len(data.texts), 2048)])
        t0 = time.time()
        self.towers = Towers(self.model, data, self.spec, cfg.locked, cfg.out / FEATURES, self.init_source or "")
        self.feature_seconds = round(time.time() - t0, 1)
        self.train_rows, self.val_rows = data.rows("train"), data.rows("val")
        self.optimizer = torch.optim.AdamW(_param_groups(self.model, cfg), lr=cfg.lr)
        steps = math.ceil(len(self.train_rows) / cfg.batch_size)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=[g["lr"] for g in self.optimizer.param_groups],
            total_steps=cfg.epochs * steps + 1, pct_start=0.1)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.augment = Augment(self.spec.size)

    def _train_mode(self) -> None:
        self.model.train()
        if self.cfg.pretrained_trunk:  # locked, or fine-tuned with its BatchNorm statistics kept (BN layers only:
            for m in self.model.visual.trunk.modules():  # in eval mode TinyViT caches its attention biases, graph
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):  # and all)
                    m.eval()

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, model = self.cfg, self.model
        rng = np.random.default_rng([cfg.seed, epoch])  # the epoch's captions and mirrors, the same on resume
        self._train_mode()
        bar = tqdm(list(batches(len(self.train_rows), cfg.batch_size, True, self.generator)),
                   desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", leave=True, mininterval=5)
        running = 0.0
        for n, idx in enumerate(bar, start=1):
            rows = self.train_rows[idx.numpy()]
            ids = draw_captions(self.data, rows, cfg.name_share, rng)
            image = self.towers.train_images(rows, self.augment, rng.random(len(rows)) < 0.5)
            text = F.normalize(model.encode_text(self.tokens[torch.from_numpy(ids)]), dim=-1)
            loss = multi_positive_loss(image, text, torch.from_numpy(ids), model.logit_scale)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            running += loss.item()
            bar.set_postfix(loss=f"{running / n:.3f}", scale=f"{model.logit_scale.exp().item():.1f}")
        return {"train_loss": round(running / max(1, len(bar)), 4)}

    def validate(self) -> tuple[float, dict[str, Any]]:
        figures = retrieval(self.towers.images(self.val_rows), [self.data.records[i] for i in self.val_rows],
                            lambda texts: embed_texts(self.model, self.tokenizer, texts))
        score = retrieval_score(figures)
        return score, {"val_score": round(score, 4),
                       "val_R@10": round(figures["text_to_image"].get("R@10", 0.0), 4),
                       "val_category_P@10": figures["category_articleType"]["P@10"],
                       "val_image_P@10": round(figures["image_to_image_P@10"]["articleType"], 4)}

    def best_checkpoint(self) -> dict[str, Any]:
        return checkpoint(self.model, self.cfg, self.data, self.init_source, {})


def train(cfg: EmbedderConfig) -> tuple[torch.nn.Module, Data, dict[str, Any]]:
    """Train with early stopping on validation retrieval (training.fit); returns the best epoch's model, the data,
    the summary ({"finished": False, "epochs_run": N} when stopped by cfg.stop_after)."""
    trainer = EmbedderTrainer(cfg)
    progress = fit(trainer, Run(cfg.out, BEST, cfg.epochs, cfg.patience, cfg.resume, cfg.stop_after,
                                split={"split_sha256": trainer.data.split_sha256, "init": cfg.init}, maximize=True))
    if not progress.finished:
        return trainer.model, trainer.data, {"finished": False, "epochs_run": progress.epoch}
    best = embedder_model.create(cfg.architecture, pretrained=str(cfg.out / BEST))[0]  # as export will load it
    feature_seconds = trainer.feature_seconds
    summary = {"finished": True, "architecture": cfg.architecture, "init": cfg.init, "init_from": trainer.init_source,
               "image_trunk": "locked" if cfg.locked else "trained", "max_epochs": cfg.epochs,
               "epochs_run": progress.epoch, "patience": cfg.patience, "best_epoch": progress.best_epoch,
               "best_val_score": round(progress.best, 4), "batch_size": cfg.batch_size, "lr": cfg.lr,
               "image_lr": cfg.image_lr if cfg.unlock_image else None,
               **({"text_layers": cfg.text_layers, "text_lr": cfg.text_lr}
                  if embedder_model.packaged_text(cfg.architecture) else {}),
               "weight_decay": cfg.weight_decay,
               "name_share": cfg.name_share, "feature_cache_seconds": feature_seconds,
               "minutes": round((progress.seconds + feature_seconds) / 60, 1), "device": "cpu",
               "threads": torch.get_num_threads(), "history": progress.history}
    return best, trainer.data, summary


def checkpoint(model: torch.nn.Module, cfg: EmbedderConfig, data: Data, init_source: str | None,
               extra: dict[str, Any]) -> dict[str, Any]:
    """What embedder_model.create loads (`state_dict`, and `text_base` where the packaged text tower's frozen
    tensors are left out) plus plain provenance; weights_only-safe."""
    return {**embedder_model.trained_state(model, half_state(model), cfg.architecture),
            "architecture": cfg.architecture, "init": cfg.init,
            "init_from": init_source, "split_sha256": data.split_sha256, **extra}
