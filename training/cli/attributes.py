"""The attribute model: `train` (training/loop.py, then the test figures and the report) and `evaluate`."""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from training.cli.common import TOLERANCE, data_args, log, resume_args, training_parser


def add_parsers(sub) -> None:
    _add_train(sub)
    e = sub.add_parser("evaluate", help="recompute a checkpoint's test figures and compare them with its report")
    data_args(e)
    e.add_argument("--checkpoint", type=Path, default=Path("build/train/attributes/attributes.pt"))
    e.add_argument("--split", type=Path, help="split.csv (default: beside the checkpoint)")
    e.set_defaults(handler=_evaluate)
    h = sub.add_parser("product-heads", help="refit baseColour, season and usage on the frozen trunk for accuracy; "
                                             "add a subCategory head for articleType 'Other'")
    data_args(h)
    h.add_argument("--init", type=Path, default=Path("weights/attributes.pt"))
    h.add_argument("--split", type=Path, default=Path("reports/attributes_split.csv"))
    h.add_argument("--out", type=Path, default=Path("build/train/product-heads"))
    h.add_argument("--report-dir", type=Path, default=Path("reports"))
    h.add_argument("--limit", type=int, default=None, help="the first N products (smoke runs)")
    h.set_defaults(handler=_product_heads)
    g = sub.add_parser("gender-articles", help="the catalogue's gender x articleType counts "
                                               "(fashion/worn/article_prior.py), less the attribute split's val and "
                                               "test")
    g.add_argument("--styles", type=Path, default=Path("../shared/data/fashion_products/styles.csv"))
    g.add_argument("--split", type=Path, default=Path("reports/attributes_split.csv"))
    g.add_argument("--out", type=Path, default=Path("fashion/worn/gender_articles.json"))
    g.set_defaults(handler=_gender_articles)


def _product_heads(args: argparse.Namespace) -> int:
    """Refit the product-only heads, add the subCategory head; test figures before and after; the checkpoint."""
    from training.fit import save
    from training.product_heads import ProductHeadsConfig, refit, test_figures

    cfg = ProductHeadsConfig(csv=args.csv, images=args.images, init=args.init, split=args.split, out=args.out,
                             limit=args.limit)
    before = torch.load(cfg.init, map_location="cpu", weights_only=True)
    ckpt, chosen = refit(cfg)
    report = {"init": str(cfg.init), "chosen": chosen, "checkpoint": str(cfg.out / "attributes.pt"),
              "test": {"before": test_figures(before, cfg), "after": test_figures(ckpt, cfg)}}
    save(ckpt, cfg.out / "attributes.pt")
    out = args.report_dir / "product_heads.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    summary = {when: {h: f.get("accuracy", f) if isinstance(f, dict) else f for h, f in figs.items()}
               for when, figs in report["test"].items()}
    print(json.dumps({"chosen": chosen, "test_accuracy": summary}, indent=1))
    print(f"checkpoint: {cfg.out / 'attributes.pt'}; report: {out}")
    return 0


def _gender_articles(args: argparse.Namespace) -> int:
    import csv

    from fashion.worn.article_prior import table

    with open(args.split, newline="") as f:
        held_out = {r["id"] for r in csv.DictReader(f) if r["split"] != "train"}
    with open(args.styles, newline="", encoding="utf-8") as f:
        styles = list(csv.DictReader(f))
    counts = table(styles, held_out)
    args.out.write_text(json.dumps({
        "about": "catalogue rows per articleType and gender (styles.csv less the attribute split's val and test "
                 "rows): python -m training gender-articles", "rows": sum(sum(g.values()) for g in counts.values()),
        "counts": counts}, indent=0) + "\n")
    print(f"{args.out}: {len(counts)} articleTypes, {sum(sum(g.values()) for g in counts.values())} rows")
    return 0


def _add_train(sub) -> None:
    from fashion.nets.attribute_model import ARCHITECTURE, INPUT_SIZE, PRETRAINED

    t = training_parser(sub, "train", "train the multi-head attribute classifier and write its report",
                        out=Path("build/train/attributes"), best="attributes.pt", split=True,
                        report="where attributes.md/.json go (default: --out)")
    t.add_argument("--architecture", default=ARCHITECTURE,
                   help=f"timm backbone (default {ARCHITECTURE}; tiny_vit_5m_224 was the earlier one)")
    t.add_argument("--input-size", type=int, default=INPUT_SIZE, help="square input in pixels")
    t.add_argument("--epochs", type=int, default=12)
    t.add_argument("--patience", type=int, default=4, help="early stopping: epochs without a better val loss")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the one-cycle schedule")
    t.add_argument("--min-count", type=int, default=20, help="classes with fewer labelled rows merge into Other")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, help="use only the first N usable rows (smoke tests)")
    t.add_argument("--pretrained", choices=[*PRETRAINED, "none"], default="package",
                   help="ImageNet backbone weights: from their registry package (default; fashion/nets/pretrained.py), "
                        "from the hub (when online), or none (random)")
    t.add_argument("--freeze-backbone", action="store_true", help="train the heads only")
    resume_args(t)
    t.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from training.fit import save
    from training.loop import BEST, SPLIT, TrainConfig, checkpoint, evaluate, prepare_data, train
    from training.report import write_report

    cfg = TrainConfig(csv=args.csv, images=args.images, out=args.out, architecture=args.architecture,
                      input_size=args.input_size,
                      epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, lr=args.lr,
                      min_count=args.min_count, seed=args.seed, limit=args.limit,
                      pretrained=None if args.pretrained == "none" else args.pretrained,
                      freeze_backbone=args.freeze_backbone, resume=args.resume, stop_after=args.stop_after)
    data = prepare_data(cfg)
    model, summary = train(cfg, data)
    if not summary.pop("finished"):
        print(f"stopped after epoch {summary['epochs_run']} (--stop-after); continue with the same arguments "
              f"and --resume. Checkpoint so far: {cfg.out / BEST}")
        return 0
    counts = {part: int((data.parts == part).sum()) for part in ("train", "val", "test")}
    report = {
        "data": {"csv": str(cfg.csv), "images": str(cfg.images), "usable_rows": len(data.records),
                 "limit": cfg.limit, "split_rows": counts, "seed": cfg.seed, "split_sha256": data.split_sha256,
                 "min_count": cfg.min_count, "skipped": data.problems.to_dict()},
        "training": summary,
        "test": evaluate(model, data, cfg.spec()),
        "reproduce": f"python -m training evaluate --checkpoint {cfg.out / BEST} --csv {cfg.csv} --images {cfg.images}",
    }
    save(checkpoint(model, data, cfg, {"report": report}), cfg.out / BEST)
    js, md = write_report(report, args.report_dir or cfg.out)
    if args.report_dir:  # the split beside the report, so the figures can be reproduced from the repository
        shutil.copy2(cfg.out / SPLIT, args.report_dir / "attributes_split.csv")
    print(f"checkpoint: {cfg.out / BEST}\nreport: {md} and {js}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    """Rebuild the test split from the checkpoint's split.csv and recompute the report's figures."""
    from fashion.nets.attribute_model import build, checkpoint_spec
    from training.catalogue import read_catalogue
    from training.dataset import cache_pixels
    from training.labels import encode
    from training.loop import SPLIT, Data, evaluate
    from training.split import read_split

    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    split_path = args.split or args.checkpoint.parent / SPLIT
    split = read_split(split_path)
    records, problems = read_catalogue(args.csv, args.images)
    records = [r for r in records if r.id in split]
    spec = checkpoint_spec(ckpt)
    records, pixels = cache_pixels(records, spec, problems, workers=max(1, os.cpu_count() or 1))
    if len(records) != len(split):
        log.warning("%d of the split's %d rows are usable here", len(records), len(split))
    data = Data(records, pixels, encode(records, ckpt["heads"]), np.array([split[r.id] for r in records]),
                ckpt["heads"], ckpt["mapping"], problems, "")
    model = build(ckpt["architecture"], ckpt["heads"])
    model.load_state_dict(ckpt["state_dict"])
    figures = evaluate(model, data, spec)
    stored = ckpt.get("report", {}).get("test", {})
    differences = [(head, key, stored[head].get(key), m.get(key)) for head, m in figures.items() if head in stored
                   for key in ("rows", "accuracy", "macro_f1", "majority_accuracy", "majority_macro_f1")
                   if abs((stored[head].get(key) or 0) - (m.get(key) or 0)) > TOLERANCE]
    print(json.dumps({"test": {h: {k: m.get(k) for k in ("rows", "accuracy", "macro_f1", "majority_accuracy",
                                                          "majority_macro_f1")} for h, m in figures.items()},
                      # None: the checkpoint carries no report of its own (one fine-tuned on worn photos)
                      "matches_report": not differences if stored else None,
                      "differences": differences}, indent=1))
    return 1 if differences else 0
