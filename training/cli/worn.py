"""Worn clothes: `worn` (training/worn_train.py, then figures before and after), `worn-heads`, `worn-gender`,
`worn-retrieval`."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from training.cli.common import checkpoints_args, resume_args, training_parser


def add_parsers(sub) -> None:
    _add_worn(sub)
    wh = sub.add_parser("worn-heads", help="refit the worn model's gender and articleType heads on its frozen trunk")
    wh.add_argument("--csv", type=Path, required=True)
    wh.add_argument("--images", type=Path, required=True)
    wh.add_argument("--init", type=Path, default=Path("weights/attributes.pt"))
    wh.add_argument("--out", type=Path, default=Path("build/train/worn-heads"))
    wh.add_argument("--report-dir", type=Path, default=Path("reports"))
    wh.add_argument("--limit", type=int, default=None, help="products and street photos each (smoke runs)")
    wh.set_defaults(handler=_worn_heads)
    wg = sub.add_parser("worn-gender", help="fit the outfit gender model on the worn train photos as served")
    wg.add_argument("--export", type=Path, default=Path("build/export"),
                    help="the export folder whose pipeline answers")
    wg.add_argument("--out", type=Path, default=Path("fashion/worn/worn_gender.json"))
    wg.add_argument("--limit", type=int, default=None, help="the first N train photos (smoke runs)")
    wg.set_defaults(handler=_worn_gender)
    r = sub.add_parser("worn-retrieval", help="worn garment -> products P@10 of embedder checkpoints (worn val split)")
    checkpoints_args(r, "write the figures here (JSON)")
    r.set_defaults(handler=_worn_retrieval)


def _add_worn(sub) -> None:
    w = training_parser(sub, "worn", "fine-tune the attribute model for worn clothes (street photos + products)",
                        init=Path("weights/attributes.pt"), out=Path("build/train/worn"), best="attributes.pt",
                        report="where worn_training.json goes", report_dir=Path("reports"))
    w.add_argument("--epochs", type=int, default=4)
    w.add_argument("--lr", type=float, default=5e-4)
    w.add_argument("--batch-size", type=int, default=64)
    w.add_argument("--limit", type=int, help="the first N products and N street photos only (smoke runs)")
    resume_args(w, "run at most N epochs now (then --resume)")
    w.add_argument("--patience", type=int, default=2,
                   help="early stopping: epochs without a better selection loss (a --resume may raise it)")
    w.add_argument("--no-balance-worn-gender", action="store_true",
                   help="weigh the street rows' gender like the products' (default: each gender the same in total)")
    w.set_defaults(handler=_worn)


def _worn(args: argparse.Namespace) -> int:
    """Fine-tune for worn clothes, then figures before (the init model) and after, side by side."""
    from training.fit import save
    from training.worn_train import BEST, WornConfig, train

    cfg = WornConfig(csv=args.csv, images=args.images, init=args.init, out=args.out, epochs=args.epochs,
                     lr=args.lr, batch_size=args.batch_size, limit=args.limit, resume=args.resume,
                     stop_after=args.stop_after, balance_worn_gender=not args.no_balance_worn_gender,
                     patience=args.patience)
    model, summary, rows, worn, heads = train(cfg)
    if not summary["finished"]:
        print(f"stopped after epoch {summary['epochs_run']}; continue with the same arguments and --resume")
        return 0
    figures = _before_after(cfg, model, summary, rows, worn, heads)
    report = {"training": summary, "figures": figures, "checkpoint": str(cfg.out / BEST)}
    out = args.report_dir / "worn_training.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    ckpt = torch.load(cfg.out / BEST, map_location="cpu", weights_only=True)  # the figures travel with the weights
    save(ckpt | {"report": {"training": summary, "figures": figures}}, cfg.out / BEST)
    print(json.dumps(figures, indent=1))
    print(f"checkpoint: {cfg.out / BEST}; report: {out}")
    return 0


def _before_after(cfg, model, summary: dict, rows, worn, heads: dict) -> dict:
    """Product test and worn val figures of the init model ("before") and the fine-tuned one ("after")."""
    from fashion.nets.attribute_model import build, checkpoint_spec
    from training.worn_eval import product_figures, worn_figures
    from training.worn_train import predict

    init = torch.load(cfg.init, map_location="cpu", weights_only=True)
    before = build(init["architecture"], init["heads"])
    before.load_state_dict(init["state_dict"])
    spec = checkpoint_spec(init)
    test = torch.from_numpy(np.flatnonzero(rows.parts == "test"))
    val = np.flatnonzero(worn.parts == "val")
    offset = summary["products"]  # rows: the products first, then the worn rows
    figures = {}
    for name, m, h in (("before", before, init["heads"]), ("after", model, heads)):
        figures[name] = {
            "products_test": product_figures(predict(m, rows.pixels[test], spec), h, rows.targets[test]),
            "worn_val": worn_figures(predict(m, rows.pixels[torch.from_numpy(offset + val)], spec), h,
                                     [worn.kinds[i] for i in val], [worn.person_gender[i] for i in val],
                                     [worn.uncertain[i] for i in val], worn.families[torch.from_numpy(val)])}
    return figures


def _worn_heads(args: argparse.Namespace) -> int:
    """Refit the gender and articleType heads on the frozen trunk; figures before and after; the checkpoint."""
    from training.worn_heads import HeadsConfig, figures, refit

    cfg = HeadsConfig(csv=args.csv, images=args.images, init=args.init, out=args.out, limit=args.limit)
    before = torch.load(cfg.init, map_location="cpu", weights_only=True)
    ckpt, chosen = refit(cfg)
    torch.save(ckpt, cfg.out / "attributes.pt")
    report = {"init": str(cfg.init), "chosen": chosen,
              "figures": {"before": figures(before, cfg), "after": figures(ckpt, cfg)},
              "checkpoint": str(cfg.out / "attributes.pt")}
    out = args.report_dir / "worn_heads.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["figures"], indent=1))
    print(f"checkpoint: {cfg.out / 'attributes.pt'}; report: {out}")
    return 0


def _worn_gender(args: argparse.Namespace) -> int:
    """Fit the outfit gender model on the worn train photos as the export serves them."""
    from training.worn_gender import run

    result = run(args.export, args.out, args.limit)
    print(json.dumps({k: v for k, v in result.items() if k != "model"}, indent=1))
    print(f"outfit gender model: {args.out}")
    return 0


def _worn_retrieval(args: argparse.Namespace) -> int:
    """Worn garment -> products P@10 of embedder checkpoints, on the worn val split's labelled garments."""
    from fashion.nets import embedder_model
    from fashion.worn.worn_families import load as load_families
    from training.catalogue import read_catalogue
    from training.dataset import cache_pixels
    from training.embedder_eval import image_embeddings
    from training.worn import build_worn
    from training.worn_eval import garment_to_products

    families = load_families()
    vocabulary = sorted({a for f in families.fine.values() for a in f})
    figures, cached = {}, None
    for checkpoint in args.checkpoints:
        model, _ = embedder_model.from_checkpoint(checkpoint)
        spec = embedder_model.input_spec(model)
        if spec != cached:  # the pixels as this tower sees them (two architectures may differ)
            cached = spec
            records, problems = read_catalogue(args.csv, args.images)
            records, pixels = cache_pixels(records, spec, problems, workers=max(1, os.cpu_count() or 1))
            worn = build_worn(spec, families, vocabulary, ["Men", "Women"])
            val = [i for i, (kind, part) in enumerate(zip(worn.kinds, worn.parts)) if kind != "photo" and part == "val"]
        products = image_embeddings(model, pixels, spec)
        garments = image_embeddings(model, worn.pixels[torch.tensor(val)], spec)
        figures[str(checkpoint)] = garment_to_products(garments, worn.families[torch.tensor(val)].numpy(), products,
                                                       [r.labels["articleType"] for r in records], vocabulary)
        print(checkpoint, figures[str(checkpoint)], flush=True)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0
