"""`python -m training worn-heads`: refit the worn attribute model's gender and articleType heads on its frozen
trunk's features, so the trunk stays the embedder's (fashion.nets.trunk: one forward feeds both).

The fine-tuned model (`make train-worn`) learnt worn clothes, but its gender head collapsed onto the street
photos' majority (82 % of the people are women: argmax never says Men). Here the heads are linear models on
fixed features (the backbone in eval mode, no augmentation), trained full-batch from their current weights:
- gender: product rows (the catalogue's class weights) + worn rows (whole photos and garment crops) with each
  gender weighted by the inverse of its frequency, times `worn_weight`;
- articleType: product rows + the worn garments' family loss, times `family_weight`.
The two weights are chosen from a small grid on the product validation split and the worn `calib` part (never
`val`), the initial head among them: of those whose product validation accuracy stays within `max_product_drop`
of the initial head's, the best mean of that accuracy and the worn `calib` figure (balanced gender accuracy /
garment family accuracy): both domains weigh the same (the worn figure alone kept a gender head 6.9 points worse
on products for 5 points on 136 calib people, once the face and the outfit also answer for them). Minutes on 2
cores (the features are computed once and cached).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fashion.nets.attribute_model import checkpoint_spec
from fashion.manifest import InputSpec
from fashion.nets.provenance import sha256
from training.labels import IGNORE, balanced_weights, class_weights
from training.worn_train import Rows, WornSource, _model, checkpoint, family_loss, load_rows

log = logging.getLogger("training")
GRID = (0.0, 0.5, 1.0, 2.0, 4.0)


@dataclasses.dataclass(kw_only=True)
class HeadsConfig(WornSource):
    out: Path = Path("build/train/worn-heads")
    steps: int = 300
    lr: float = 0.01
    max_product_drop: float = 0.003


@torch.inference_mode()
def trunk_features(backbone: torch.nn.Module, pixels: torch.Tensor, spec: InputSpec,
                   batch_size: int = 256) -> torch.Tensor:
    from training.dataset import model_input

    backbone.eval()
    return torch.cat([backbone(model_input(pixels[i:i + batch_size], spec)) for i in range(0, len(pixels), batch_size)])


def cached_features(cfg: HeadsConfig) -> tuple[torch.Tensor, Rows, Any, dict[str, list[str]], dict[str, Any]]:
    model, heads, init = _model(cfg)
    model.load_state_dict(init["state_dict"])
    spec = checkpoint_spec(init)
    rows, _, _ = load_rows(cfg, heads, spec)
    cache, trunk = cfg.out / "features.pt", sha256(cfg.init)
    saved = torch.load(cache, weights_only=True) if cache.is_file() else None
    if isinstance(saved, dict) and saved.get("init_sha256") == trunk and len(saved["features"]) == len(rows.pixels):
        features = saved["features"]  # the same trunk's features of the same rows
    else:
        features = trunk_features(model.backbone, rows.pixels, spec)
        cfg.out.mkdir(parents=True, exist_ok=True)
        torch.save({"init_sha256": trunk, "features": features}, cache)
    return features, rows, model, heads, init


def fit(head: torch.nn.Linear, x: torch.Tensor, loss_of, steps: int, lr: float) -> torch.nn.Linear:
    fitted = torch.nn.Linear(head.in_features, head.out_features)
    fitted.load_state_dict(head.state_dict())
    opt = torch.optim.Adam(fitted.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_of(fitted(x))
        loss.backward()
        opt.step()
    return fitted.eval()


def _gender_loss(rows: Rows, pick: torch.Tensor, k: int, classes: int, worn_weight: float):
    street = rows.worn[pick]
    product, worn = pick[~street], pick[street]
    tp, tw = rows.targets[product, k], rows.targets[worn, k]
    wp, ww = class_weights(tp, classes), balanced_weights(tw, classes)

    def loss(logits: torch.Tensor) -> torch.Tensor:
        lp, lw = logits[:len(product)], logits[len(product):]
        total = F.cross_entropy(lp, tp, weight=wp, ignore_index=IGNORE)
        if worn_weight and (tw != IGNORE).any():
            total = total + worn_weight * F.cross_entropy(lw, tw, weight=ww, ignore_index=IGNORE)
        return total
    return torch.cat([product, worn]), loss


def _article_loss(rows: Rows, pick: torch.Tensor, k: int, classes: int, family_weight: float):
    t = rows.targets[pick, k]
    w = class_weights(t, classes)
    fam = rows.families[pick]

    def loss(logits: torch.Tensor) -> torch.Tensor:
        total = F.cross_entropy(logits, t, weight=w, ignore_index=IGNORE) if (t != IGNORE).any() else 0.0
        return total + family_weight * family_loss(logits, fam)
    return pick, loss


def _accuracy(logits: torch.Tensor, t: torch.Tensor) -> float:
    keep = t != IGNORE
    return float((logits.argmax(1)[keep] == t[keep]).float().mean()) if keep.any() else float("nan")


def _balanced_accuracy(logits: torch.Tensor, t: torch.Tensor, classes: tuple[int, ...]) -> float:
    said = logits.argmax(1)
    return float(np.mean([float((said[t == c] == c).float().mean()) for c in classes if (t == c).any()]))


def _family_accuracy(logits: torch.Tensor, fam: torch.Tensor) -> float:
    has = fam.any(1)
    return float(fam[has].gather(1, logits[has].argmax(1, keepdim=True)).float().mean()) if has.any() else float("nan")


def refit(cfg: HeadsConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the refitted checkpoint, what was chosen and measured on the selection rows)."""
    x, rows, model, heads, init = cached_features(cfg)
    names = list(heads)
    g, a = names.index("gender"), names.index("articleType")
    train = torch.from_numpy(np.flatnonzero(np.isin(rows.parts, ["train", "worn_train"])))
    pval = torch.from_numpy(np.flatnonzero(rows.parts == "val"))
    calib = torch.from_numpy(np.flatnonzero(rows.parts == "worn_calib"))
    sexes = (heads["gender"].index("Men"), heads["gender"].index("Women"))
    chosen: dict[str, Any] = {}
    for k, head_name, make, score in (
            (g, "gender", _gender_loss, lambda lg: _balanced_accuracy(lg, rows.targets[calib, g], sexes)),
            (a, "articleType", _article_loss, lambda lg: _family_accuracy(lg, rows.families[calib]))):
        base = model.heads[k]
        floor = _accuracy(base(x[pval]), rows.targets[pval, k]) - cfg.max_product_drop
        tried = []
        for weight in GRID:
            order, loss = make(rows, train, k, len(heads[head_name]), weight)
            head = fit(base, x[order], loss, cfg.steps, cfg.lr)
            with torch.no_grad():
                product = _accuracy(head(x[pval]), rows.targets[pval, k])
                tried.append({"weight": weight, "product_val": round(product, 4),
                              "worn_calib": round(score(head(x[calib])), 4), "head": head})
        with torch.no_grad():
            tried.insert(0, {"weight": "initial", "product_val": round(floor + cfg.max_product_drop, 4),
                             "worn_calib": round(score(base(x[calib])), 4), "head": base})
        ok = [t for t in tried if t["product_val"] >= floor] or tried[:1]
        best = max(ok, key=lambda t: t["product_val"] + t["worn_calib"])  # both domains weigh the same
        model.heads[k] = best["head"]
        chosen[head_name] = {"chosen": best["weight"], "grid": [{k2: v for k2, v in t.items() if k2 != "head"}
                                                                 for t in tried]}
        log.info("%s head: chose %s %s", head_name, best["weight"], chosen[head_name]["grid"])
    return checkpoint(model, heads, init, {"report": {**init.get("report", {}), "worn_heads": chosen}}), chosen


def figures(ckpt: dict[str, Any], cfg: HeadsConfig) -> dict[str, Any]:
    """Product test and worn val figures of a checkpoint's heads on the cached features."""
    from training.worn_eval import product_figures

    x, rows, model, heads, _ = cached_features(cfg)
    model.load_state_dict(ckpt["state_dict"])
    with torch.no_grad():
        logits = [h(x) for h in model.heads]
    test = torch.from_numpy(np.flatnonzero(rows.parts == "test"))
    val = torch.from_numpy(np.flatnonzero(rows.parts == "worn_val"))
    g = list(heads).index("gender")
    sexes = (heads["gender"].index("Men"), heads["gender"].index("Women"))
    return {"products_test": product_figures([lg[test] for lg in logits], heads, rows.targets[test]),
            "worn_val_gender_balanced": round(_balanced_accuracy(logits[g][val], rows.targets[val, g], sexes), 4),
            "worn_val_family": round(_family_accuracy(logits[list(heads).index("articleType")][val],
                                                      rows.families[val]), 4)}
