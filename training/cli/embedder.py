"""The embedder: `embedder` (training/contrastive.py, then the report), `evaluate-embedder`, `compare-embedders`
and `evaluate-paraphrases`."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from training.cli.common import checkpoints_args, compare, data_args, resume_args, training_parser


def add_parsers(sub) -> None:
    _add_embedder(sub)
    v = sub.add_parser("evaluate-embedder", help="recompute an embedder checkpoint's test figures and compare")
    data_args(v)
    v.add_argument("--checkpoint", type=Path, default=Path("weights/embedder.pt"))
    v.add_argument("--split", type=Path, default=Path("reports/attributes_split.csv"))
    v.add_argument("--attributes-checkpoint", type=Path, help="default: the one named in the checkpoint's report")
    v.set_defaults(handler=_evaluate_embedder)
    c = sub.add_parser("compare-embedders", help="add other runs' held-out figures to an embedder report")
    c.add_argument("--report", type=Path, default=Path("reports/embedder.json"))
    c.add_argument("runs", nargs="+", metavar="NAME=REPORT.json", help="each run's own embedder.json")
    c.add_argument("--note", help="a sentence under the table")
    c.set_defaults(handler=_embedder_compare)
    pp = sub.add_parser("evaluate-paraphrases",
                        help="text search in words no caption uses (reports/paraphrase_queries.csv), per embedder")
    checkpoints_args(pp, "write the figures here (JSON, and .md beside it)")
    pp.set_defaults(handler=_evaluate_paraphrases)


def _add_embedder(sub) -> None:
    from fashion.nets import embedder_model

    m = training_parser(sub, "embedder", "train the open_clip embedder contrastively on (image, caption) pairs",
                        out=Path("build/train/embedder"), best="embedder.pt", split=True,
                        report="where embedder.md/.json go (default: --out)")
    m.add_argument("--report-stem", default="embedder", help="report file names (embedder.md, .json)")
    m.add_argument("--split", type=Path, default=Path("reports/attributes_split.csv"),
                   help="id,split CSV to train/validate/test on (default: the attribute model's, so its held-out "
                        "images stay held out); a missing file means a fresh 70/10/20 split by articleType")
    m.add_argument("--architecture", default=None,
                   help="open_clip architecture (default: the one whose image tower is the attribute checkpoint's "
                        f"trunk, fashion/nets/clip_models/; else {embedder_model.ARCHITECTURE})")
    m.add_argument("--init", choices=["attributes", "scratch", "checkpoint"], default="attributes",
                   help="image trunk from the trained attribute model (locked unless --unlock-image), both "
                        "towers from random weights, or both from --init-checkpoint")
    m.add_argument("--init-checkpoint", type=Path, help="an embedder.pt to start from (--init checkpoint)")
    m.add_argument("--attributes-checkpoint", type=Path,
                   help="attribute model for --init attributes and the zero-shot comparison "
                        "(default: ATTRIBUTES_CHECKPOINT, else weights/attributes.pt); with --init checkpoint, "
                        "the image trunk is replaced by its backbone (a warm start on a retrained trunk)")
    m.add_argument("--unlock-image", action="store_true", help="also train the attribute-initialised trunk")
    m.add_argument("--epochs", type=int, default=40)
    m.add_argument("--patience", type=int, default=6, help="early stopping: epochs without a better val score")
    m.add_argument("--batch-size", type=int, default=256)
    m.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (one-cycle)")
    m.add_argument("--image-lr", type=float, default=1e-4, help="peak learning rate of an unlocked trunk")
    m.add_argument("--text-layers", type=int, default=2,
                   help="a pretrained (packaged) text tower: how many of its top layers train (0: only the projection)")
    m.add_argument("--text-lr", type=float, default=1e-4, help="peak learning rate of those layers")
    m.add_argument("--name-share", type=float, default=0.5, help="share of caption draws that are the product name")
    m.add_argument("--worn", action="store_true",
                   help="also learn the street photos' garment crops against their articleType family's phrases")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--limit", type=int, help="use only the first N usable rows (smoke tests)")
    resume_args(m)
    m.set_defaults(handler=_embedder)


def _tower_name(visual: torch.nn.Module) -> str:
    trunk = getattr(visual, "trunk", visual)
    return f"{type(trunk).__name__} ({getattr(trunk, 'pretrained_cfg', {}).get('architecture', '?')})"


def _text_tower_name(model: torch.nn.Module, architecture: str) -> str:
    from fashion.nets import embedder_model

    packaged = embedder_model.packaged_text(architecture)
    if packaged:  # open_clip's Hugging Face tower
        c = model.text.config
        return f"pretrained {packaged} ({c.num_hidden_layers}-layer, {c.hidden_size}-wide {c.model_type})"
    text = model.transformer
    return f"{len(text.resblocks)}-layer, {text.width}-wide transformer"


def _embedder_report(model, tokenizer, data, spec, summary: dict, cfg_csv, cfg_images, checkpoint: Path,
                     attributes_ckpt: Path, seed: int) -> dict:
    """Test figures of `model` and of random weights of its architecture, and the classifier beside zero-shot."""
    from fashion.nets import embedder_model
    from training.embedder_eval import MIN_CATEGORY_ITEMS, classifier_accuracy, evaluate, strip_rows

    heads = torch.load(attributes_ckpt, map_location="cpu", weights_only=True)["heads"]
    test = data.rows("test")
    records, pixels = [data.records[i] for i in test], data.pixels[torch.from_numpy(test)]
    trained = evaluate(model, tokenizer, pixels, records, spec, heads)
    torch.manual_seed(seed)
    random_model, _ = embedder_model.create(summary["architecture"])
    random = evaluate(random_model, tokenizer, pixels, records, spec, heads)
    rows = {h: m["_rows"] for h, m in trained["zero_shot"].items()}
    return {
        "model": {"image_tower": _tower_name(model.visual),
                  "text_tower": _text_tower_name(model, summary["architecture"]),
                  "input_size": int(spec.size[0]), "embed_dim": embedder_model.embedding_dim(model),
                  "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2)},
        "data": {"csv": str(cfg_csv), "images": str(cfg_images), "usable_rows": len(data.records),
                 "split_rows": {p: int((data.parts == p).sum()) for p in ("train", "val", "test")},
                 "split_source": data.split_source, "split_sha256": data.split_sha256,
                 "skipped": data.problems.to_dict()},
        "training": summary,
        "protocol": {"min_category_items": MIN_CATEGORY_ITEMS,
                     "attributes_checkpoint": os.path.relpath(attributes_ckpt)
                     if Path(attributes_ckpt).resolve().is_relative_to(Path.cwd()) else str(attributes_ckpt)},
        "test": {"trained": strip_rows(trained), "random": strip_rows(random),
                 "classifier": classifier_accuracy(str(attributes_ckpt), pixels, records, rows)},
        "reproduce": f"python -m training evaluate-embedder --checkpoint {checkpoint} --csv {cfg_csv} "
                     f"--images {cfg_images}",
    }


def _embedder(args: argparse.Namespace) -> int:
    from training import embedder_report
    from fashion.nets import embedder_model
    from fashion.nets.embedder_model import input_spec
    from training.contrastive import BEST, EmbedderConfig, attributes_checkpoint, train
    from training.fit import save

    trunk = None if args.init == "scratch" else (
        args.attributes_checkpoint or attributes_checkpoint(EmbedderConfig(csv=args.csv, images=args.images)))
    architecture = args.architecture or (embedder_model.architecture_for(trunk) if trunk
                                         else embedder_model.ARCHITECTURE)
    cfg = EmbedderConfig(csv=args.csv, images=args.images, out=args.out, split=args.split, init=args.init,
                         architecture=architecture, init_checkpoint=args.init_checkpoint,
                         attributes_checkpoint=args.attributes_checkpoint, unlock_image=args.unlock_image,
                         epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, lr=args.lr,
                         image_lr=args.image_lr, text_layers=args.text_layers, text_lr=args.text_lr,
                         name_share=args.name_share, seed=args.seed, limit=args.limit,
                         resume=args.resume, stop_after=args.stop_after, worn=args.worn)
    model, data, summary = train(cfg)
    if not summary.pop("finished"):
        print(f"stopped after epoch {summary['epochs_run']} (--stop-after); continue with the same arguments "
              f"and --resume. Best checkpoint so far: {cfg.out / BEST}")
        return 0
    spec = input_spec(model)
    attributes = cfg.attributes_checkpoint or attributes_checkpoint(cfg)
    report = _embedder_report(model, embedder_model.tokenizer(cfg.architecture), data, spec, summary, cfg.csv,
                              cfg.images, cfg.out / BEST, attributes, cfg.seed)
    ckpt = torch.load(cfg.out / BEST, map_location="cpu", weights_only=True)
    save(ckpt | {"report": report}, cfg.out / BEST)
    js, md = embedder_report.write(report, args.report_dir or cfg.out, args.report_stem)
    print(f"checkpoint: {cfg.out / BEST}\nreport: {md} and {js}")
    return 0


def _evaluate_embedder(args: argparse.Namespace) -> int:
    """Recompute a shipped embedder's test figures from its checkpoint and the split, and compare."""
    from fashion.nets import embedder_model
    from fashion.nets.embedder_model import input_spec
    from training.contrastive import EmbedderConfig, attributes_checkpoint, prepare_data

    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    stored = ckpt.get("report")
    if not stored:
        print(f"{args.checkpoint} carries no report (train it with `python -m training embedder`)")
        return 1
    model, _ = embedder_model.create(ckpt["architecture"], pretrained=str(args.checkpoint))
    spec = input_spec(model)
    cfg = EmbedderConfig(csv=args.csv, images=args.images, out=Path("build/train/embedder-evaluate"),
                         split=args.split, architecture=ckpt["architecture"])
    data = prepare_data(cfg, spec)
    attributes = args.attributes_checkpoint or Path(stored["protocol"]["attributes_checkpoint"])
    if not attributes.is_file():  # a report written on another machine: the shipped attribute model
        attributes = attributes_checkpoint(cfg)
    report = _embedder_report(model, embedder_model.tokenizer(ckpt["architecture"]), data, spec,
                              stored["training"], args.csv, args.images, args.checkpoint, attributes, 0)
    # every test figure: the trained model's, the random baseline's and the classifier's it was compared with
    differences = list(compare(stored["test"], report["test"]))
    print(json.dumps({"test": report["test"]["trained"], "matches_report": not differences,
                      "differences": differences}, indent=1))
    return 0 if not differences else 1


def _evaluate_paraphrases(args: argparse.Namespace) -> int:
    """P@10 and name@1 of each embedder on queries in words no caption uses."""
    from training import paraphrase

    result = paraphrase.evaluate(args.checkpoints, args.csv, args.images)
    summary = {path: {k: m[k] for k in ("unseen_words", "issue_examples")} for path, m in result["models"].items()}
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(paraphrase.markdown(result))
    return 0


def _embedder_compare(args: argparse.Namespace) -> int:
    """Add a table of other runs' held-out figures to a report (how the shipped run compares with the others)."""
    from training import embedder_report

    target = json.loads(args.report.read_text())
    runs = {}
    for spec in args.runs:
        name, _, path = spec.partition("=")
        runs[name] = json.loads(Path(path).read_text())
    target["comparison"] = embedder_report.comparison(runs, args.note or "")
    js, md = embedder_report.write(target, args.report.parent, args.report.stem)
    print(f"report: {md} and {js}")
    return 0
