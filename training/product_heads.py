"""`python -m training product-heads`: the product-only heads refitted on the frozen trunk for accuracy, and a
subCategory head for the products whose articleType is 'Other'.

- baseColour, season, usage: the heads trained with the trunk weigh each class by its inverse square-root
  frequency (training.labels.class_weights), which trades accuracy for the rare classes. Here each is a
  multinomial logistic regression (scikit-learn) on the frozen trunk's features (eval mode, the checkpoint's own
  transform, no augmentation) of the attribute split's train rows, unweighted, over a grid of C; the initial head
  is a candidate too; the best accuracy on the split's val rows is kept (never test).
- subCategory: about 3 % of products have an articleType rarer than the vocabulary keeps ('Other': perfumes,
  cufflinks, umbrellas...), and their masterCategory and subCategory, derived from the articleType, were null. The
  new head is fitted the same way; fashion.garments.metadata.derive reads it only where the articleType is 'Other'
  (elsewhere the categories still come from the articleType, so the answers agree), and its labels' masterCategory
  is added to the checkpoint's mapping.
The trunk and the gender, articleType and scene heads are untouched: the embedder's trunk and the worn
calibration stay valid. Minutes once the features are cached (OUT/features.pt, keyed by the init's sha256).
"""
from __future__ import annotations

import collections
import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fashion.garments.metadata import SUB_CATEGORY
from fashion.nets.attribute_model import build, checkpoint_spec
from fashion.nets.provenance import sha256
from training.catalogue import Record, read_catalogue
from training.dataset import cache_pixels
from training.labels import encode, vocabulary
from training.metrics import head_metrics, majority
from training.split import read_split
from training.worn_heads import trunk_features

log = logging.getLogger("training")
REFITTED = ("baseColour", "season", "usage")
GRID = (0.05, 0.1, 0.2, 0.5, 1.0)  # inverse L2 strength of the logistic regression
ABSENT_BIAS = -30.0  # a vocabulary class without train rows: never the answer


@dataclasses.dataclass(kw_only=True)
class ProductHeadsConfig:
    csv: Path
    images: Path
    init: Path = Path("weights/attributes.pt")
    split: Path = Path("reports/attributes_split.csv")
    out: Path = Path("build/train/product-heads")
    heads: tuple[str, ...] = REFITTED
    grid: tuple[float, ...] = GRID
    limit: int | None = None  # the first N products (smoke runs)


@dataclasses.dataclass
class Features:
    records: list[Record]
    x: np.ndarray  # (N, features) float32, the frozen trunk's pooled features
    parts: np.ndarray  # train | val | test per row


def features(cfg: ProductHeadsConfig, init: dict[str, Any], model: torch.nn.Module) -> Features:
    """The trunk's features of the split's products, cached in OUT/features.pt for the same init and rows."""
    split = read_split(cfg.split)
    records, problems = read_catalogue(cfg.csv, cfg.images, None)
    records = [r for r in records if r.id in split][:cfg.limit]
    cache, trunk = cfg.out / "features.pt", sha256(cfg.init)
    saved = torch.load(cache, weights_only=True) if cache.is_file() else None
    wanted = [r.id for r in records]
    if isinstance(saved, dict) and saved.get("init_sha256") == trunk and saved.get("wanted", saved["ids"]) == wanted:
        kept = set(saved["ids"])  # the rows whose image decoded
        records, x = [r for r in records if r.id in kept], saved["features"]
    else:
        spec = checkpoint_spec(init)
        records, pixels = cache_pixels(records, spec, problems)
        x = trunk_features(model.backbone, pixels, spec)
        cfg.out.mkdir(parents=True, exist_ok=True)
        torch.save({"init_sha256": trunk, "wanted": wanted, "ids": [r.id for r in records], "features": x}, cache)
    return Features(records, x.float().numpy(), np.array([split[r.id] for r in records]))


def sub_categories(records: list[Record]) -> dict[str, str]:
    """subCategory -> its most frequent masterCategory in the catalogue."""
    seen: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        if r.sub and r.master:
            seen[r.sub][r.master] += 1
    return {s: c.most_common(1)[0][0] for s, c in sorted(seen.items())}


def logistic_head(x: np.ndarray, y: np.ndarray, classes: int, c: float) -> torch.nn.Linear:
    """A linear head (every vocabulary class) from a multinomial logistic regression on the rows of x."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=c, max_iter=3000).fit(x, y)
    head = torch.nn.Linear(x.shape[1], classes)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(ABSENT_BIAS)
        index = torch.from_numpy(fitted.classes_.astype(np.int64))
        coef, intercept = torch.from_numpy(fitted.coef_).float(), torch.from_numpy(fitted.intercept_).float()
        if len(index) == 2:  # scikit-learn's binary model is one row: the second class's log-odds
            coef, intercept = torch.cat([-coef / 2, coef / 2]), torch.cat([-intercept / 2, intercept / 2])
        head.weight[index] = coef
        head.bias[index] = intercept
    return head.eval()


def _said(head: torch.nn.Linear, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return head(torch.from_numpy(x)).argmax(1).numpy()


def choose(x: np.ndarray, y: np.ndarray, parts: np.ndarray, classes: int, grid: tuple[float, ...],
           initial: torch.nn.Linear | None) -> tuple[torch.nn.Linear, dict[str, Any]]:
    """The head with the best val accuracy among the initial one (when there is one) and a fit per C."""
    train, val = (parts == "train") & (y >= 0), (parts == "val") & (y >= 0)
    candidates = [("initial", initial)] if initial is not None else []
    candidates += [(c, logistic_head(x[train], y[train], classes, c)) for c in grid]
    tried = [(name, head, float(np.mean(_said(head, x[val]) == y[val]))) for name, head in candidates]
    name, head, _ = max(tried, key=lambda t: t[2])  # the first of equals: the initial head stays on a tie
    return head, {"chosen": name, "val_accuracy": {str(n): round(a, 4) for n, _, a in tried}}


def without_head(state: dict[str, torch.Tensor], names: list[str], head: str) -> dict[str, torch.Tensor]:
    """A MultiHeadClassifier state dict without one head's tensors, the later heads renumbered."""
    if head not in names:
        return state
    k = names.index(head)
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "heads":
            j = int(parts[1])
            if j == k:
                continue
            parts[1] = str(j - 1 if j > k else j)
        out[".".join(parts)] = value
    return out


def refit(cfg: ProductHeadsConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the checkpoint with the refitted heads and the subCategory head, what was chosen and measured)."""
    init = torch.load(cfg.init, map_location="cpu", weights_only=True)
    heads = {h: v for h, v in init["heads"].items() if h != SUB_CATEGORY}
    model = build(init["architecture"], heads)
    model.load_state_dict(without_head(init["state_dict"], list(init["heads"]), SUB_CATEGORY))  # refitted anew
    data = features(cfg, init, model)
    heads[SUB_CATEGORY] = vocabulary(collections.Counter(r.sub for r in data.records if r.sub),
                                     int(init.get("min_count", 20)))
    targets = encode(data.records, heads).numpy()
    model.heads.append(torch.nn.Linear(model.backbone.num_features, len(heads[SUB_CATEGORY])))
    model.head_names = list(heads)
    chosen: dict[str, Any] = {}
    for name in (*cfg.heads, SUB_CATEGORY):
        k = list(heads).index(name)
        initial = model.heads[k] if name != SUB_CATEGORY else None
        model.heads[k], chosen[name] = choose(data.x, targets[:, k], data.parts, len(heads[name]), cfg.grid, initial)
        log.info("%s head: %s", name, chosen[name])
    mapping = dict(init["mapping"])
    for sub, master in sub_categories(data.records).items():  # the subCategory head's labels' masterCategory
        if sub in heads[SUB_CATEGORY]:
            mapping.setdefault(sub, {"masterCategory": master, "subCategory": sub})
    ckpt = {**init, "heads": heads, "mapping": mapping,
            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "report": {**init.get("report", {}), "product_heads": chosen}}
    return ckpt, chosen


def test_figures(ckpt: dict[str, Any], cfg: ProductHeadsConfig) -> dict[str, Any]:
    """A checkpoint's heads on the split's test products (head_metrics: accuracy, macro-F1, majority), from the
    cached features; masterCategory and subCategory derived from the heads' top-1 (fashion.garments.metadata.derive;
    the pipeline decides the articleType jointly with the gender first: bench.worn has the served figures)."""
    from fashion.garments.metadata import derive

    heads = ckpt["heads"]
    model = build(ckpt["architecture"], heads)
    model.load_state_dict(ckpt["state_dict"])
    data = features(cfg, torch.load(cfg.init, map_location="cpu", weights_only=True), model)
    targets = encode(data.records, heads).numpy()
    test, train = data.parts == "test", data.parts == "train"
    with torch.no_grad():
        logits = [h(torch.from_numpy(data.x[test])) for h in model.heads]
    out: dict[str, Any] = {}
    for k, (name, vocab) in enumerate(heads.items()):
        if name in ("scene", "gender", "articleType"):
            continue  # not refitted here (worn-heads' and worn's)
        pred = logits[k].argmax(1).numpy()
        out[name] = head_metrics(targets[test, k], pred, vocab, majority(targets[train, k], len(vocab)))
    said = {name: logits[k].argmax(1).numpy() for k, name in enumerate(heads)}
    rows = [r for r, t in zip(data.records, test) if t]
    served = [derive({h: {"label": heads[h][said[h][n]]} for h in ("articleType", SUB_CATEGORY) if h in heads},
                     ckpt["mapping"]) for n in range(len(rows))]
    for field, truth in (("masterCategory", [r.master for r in rows]), ("subCategory", [r.sub for r in rows])):
        out[f"derived_{field}"] = round(float(np.mean([s[field] == t for s, t in zip(served, truth)])), 4)
    return out
