"""CLI: python -m training COMMAND: the attribute model (train, evaluate), the embedder (embedder,
evaluate-embedder, compare-embedders) and the segmenter (segmenter-data, segmenter, evaluate-segmenter).

`make train-attributes`, `make train-embedder`, `make train-segmenter`; see the README's training sections."""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("training")
DATA = Path("../shared/data/fashion_products")
TOLERANCE = 1e-3  # figures are rounded to 4 decimals; `evaluate` must agree within this


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", type=Path, default=DATA / "styles.csv", help="styles.csv (Fashion Product Images layout)")
    p.add_argument("--images", type=Path, default=DATA / "images", help="folder of <id>.jpg product photos")


def _train(args: argparse.Namespace) -> int:
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
    torch.save(checkpoint(model, data, cfg, {"report": report}), cfg.out / BEST)
    js, md = write_report(report, args.report_dir or cfg.out)
    if args.report_dir:  # the split beside the report, so the figures can be reproduced from the repository
        shutil.copy2(cfg.out / SPLIT, args.report_dir / "attributes_split.csv")
    print(f"checkpoint: {cfg.out / BEST}\nreport: {md} and {js}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    """Rebuild the test split from the checkpoint's split.csv and recompute the report's figures."""
    from fashion.attribute_model import build, checkpoint_spec
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
                      "matches_report": bool(stored) and not differences,
                      "differences": differences}, indent=1))
    return 0 if stored and not differences else 1


def _tower_name(visual: torch.nn.Module) -> str:
    trunk = getattr(visual, "trunk", visual)
    return f"{type(trunk).__name__} ({getattr(trunk, 'pretrained_cfg', {}).get('architecture', '?')})"


def _embedder_report(model, tokenizer, data, spec, summary: dict, cfg_csv, cfg_images, checkpoint: Path,
                     attributes_ckpt: Path, seed: int) -> dict:
    """Test figures of `model` and of random weights of its architecture, and the classifier beside zero-shot."""
    from fashion import embedder_model
    from training.embedder_eval import MIN_CATEGORY_ITEMS, classifier_accuracy, evaluate, strip_rows

    heads = torch.load(attributes_ckpt, map_location="cpu", weights_only=True)["heads"]
    test = data.rows("test")
    records, pixels = [data.records[i] for i in test], data.pixels[torch.from_numpy(test)]
    trained = evaluate(model, tokenizer, pixels, records, spec, heads)
    torch.manual_seed(seed)
    random_model, _ = embedder_model.create(summary["architecture"])
    random = evaluate(random_model, tokenizer, pixels, records, spec, heads)
    rows = {h: m["_rows"] for h, m in trained["zero_shot"].items()}
    text = model.transformer
    return {
        "model": {"image_tower": _tower_name(model.visual),
                  "text_tower": f"{len(text.resblocks)}-layer, {text.width}-wide transformer",
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
    from fashion import embedder_model
    from fashion.embedder_model import input_spec
    from training.contrastive import BEST, EmbedderConfig, attributes_checkpoint, train

    trunk = None if args.init == "scratch" else (
        args.attributes_checkpoint or attributes_checkpoint(EmbedderConfig(csv=args.csv, images=args.images)))
    architecture = args.architecture or (embedder_model.architecture_for(trunk) if trunk
                                         else embedder_model.ARCHITECTURE)
    cfg = EmbedderConfig(csv=args.csv, images=args.images, out=args.out, split=args.split, init=args.init,
                         architecture=architecture, init_checkpoint=args.init_checkpoint,
                         attributes_checkpoint=args.attributes_checkpoint, unlock_image=args.unlock_image,
                         epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, lr=args.lr,
                         image_lr=args.image_lr, name_share=args.name_share, seed=args.seed, limit=args.limit,
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
    torch.save(ckpt | {"report": report}, cfg.out / BEST)
    js, md = embedder_report.write(report, args.report_dir or cfg.out, args.report_stem)
    print(f"checkpoint: {cfg.out / BEST}\nreport: {md} and {js}")
    return 0


def _evaluate_embedder(args: argparse.Namespace) -> int:
    """Recompute a shipped embedder's test figures from its checkpoint and the split, and compare."""
    from fashion import embedder_model
    from fashion.embedder_model import input_spec
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
    differences = list(_compare(stored["test"], report["test"]))
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


def _segmenter_data(args: argparse.Namespace) -> int:
    """Convert a dataset to YOLO-seg through groups.yaml and write the data report."""
    from training.segmentation import data_report
    from training.segmentation.dataset import build
    from fashion.garment_groups import load

    grouping = load()
    data, stats, dropped = build(args.source, args.root, args.out, args.split, grouping, args.min_area,
                                 args.coco_json)
    print(f"dataset: {data} ({dict(stats.split)}; {sum(stats.instances.values())} instances)")
    if args.report_dir:
        report = data_report.figures(stats, dropped, grouping, args.source, args.min_area)
        png = data_report.heat_maps(stats, grouping, args.report_dir / "segmenter_heatmaps.png")
        js, md = data_report.write(report, args.report_dir, png.name)
        print(f"report: {md}, {js}, {png}")
    return 0


def _segmenter(args: argparse.Namespace) -> int:
    from training.segmentation.train import SegmenterConfig, train

    best = train(SegmenterConfig.read(args.config), resume=args.resume or args.resume_from is not None,
                 resume_from=args.resume_from)
    print(f"best checkpoint: {best}; evaluate it with python -m training evaluate-segmenter --weights {best}")
    return 0


def _keep_segmenter_run(args: argparse.Namespace) -> int:
    """A run in progress as a committable resume file (fashion.segmenter_checkpoint.to_resume) with its figures."""
    import csv as csv_module

    from fashion import segmenter_checkpoint
    from training.segmentation.train import RUN_DIR

    run = RUN_DIR / "run"
    results = list(csv_module.DictReader(open(run / "results.csv"))) if (run / "results.csv").is_file() else []
    history = [{k.strip(): round(float(v), 4) for k, v in row.items() if k.strip() in (
        "epoch", "metrics/mAP50(M)", "metrics/mAP50-95(M)", "metrics/mAP50(B)", "time")} for row in results]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    segmenter_checkpoint.to_resume(run / "weights" / "last.pt", args.out, {
        "config": str(args.config), "history": history,
        "command": f"python -m training segmenter --config {args.config} --resume-from {args.out}"})
    print(json.dumps(history[-3:], indent=1))
    print(f"resume file: {args.out} ({args.out.stat().st_size / 2**20:.1f} MB); continue with "
          f"python -m training segmenter --config {args.config} --resume-from {args.out}")
    return 0


def _evaluate_segmenter(args: argparse.Namespace) -> int:
    from training.segmentation.train import SegmenterConfig, evaluate, prepare

    cfg = SegmenterConfig.read(args.config)
    data = prepare(cfg, args.data_dir)
    figures = evaluate(args.weights, data, args.imgsz or cfg.imgsz)
    print(json.dumps(figures, indent=1))
    if args.out:
        from training.segmentation.train import markdown

        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(markdown(figures, args.title))
    return 0


def _ship_segmenter(args: argparse.Namespace) -> int:
    import hashlib

    from fashion import segmenter_checkpoint
    from training.segmentation.train import SegmenterConfig, evaluate, markdown, prepare

    cfg = SegmenterConfig.read(args.config)
    data = prepare(cfg, args.data_dir)
    figures = evaluate(args.best, data, cfg.imgsz)
    summary = {k: figures[k] for k in ("box_map50", "box_map50_95", "mask_map50", "mask_map50_95")}
    segmenter_checkpoint.from_ultralytics(args.best, args.out, {
        "validation": summary, "config": str(args.config), "split": cfg.data["split"],
        "command": "make train-segmenter && make ship-segmenter"})
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    args.out.with_name(args.out.name + ".sha256").write_text(f"{digest}  {args.out.name}\n")
    same = segmenter_checkpoint.same_weights(args.out, args.best)  # the figures are the shipped file's
    if not same:
        raise SystemExit(f"{args.out} does not hold {args.best}'s weights")
    shipped = {**figures, "weights": str(args.out), "checkpoint": str(args.best)}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.with_suffix(".json").write_text(json.dumps(shipped, indent=1) + "\n")
    args.report.with_suffix(".md").write_text(markdown(shipped, args.title))
    print(f"{args.out}: {args.out.stat().st_size} bytes, sha256 {digest}; mask mAP50 {shipped['mask_map50']}")
    return 0


def _calibrate_prompt(args: argparse.Namespace) -> int:
    from fashion import garment_prompt
    from fashion.manifest import Manifest
    from training.garment_prompt import KINDS, figures, markdown, trials, youden

    ts = trials(args.models, args.root, args.split, args.calibration_photos)
    calib = [t for t in ts if t.split == "train"]
    val = [t for t in ts if t.split == "val"]
    cut = youden(calib)
    models = {n: Manifest.load(args.models / f"{n}.json").provenance() for n in ("segmenter", "embedder")}
    per_photo = len(KINDS) * len({t.label for t in ts})
    report = {"threshold": cut, "label_weight": garment_prompt.LABEL_WEIGHT,
              "models": {n: f"{m['architecture']} {m['weights']}" for n, m in models.items()},
              "calibration_photos": len(calib) // per_photo, "validation_photos": len(val) // per_photo,
              "calibration": figures(calib, cut),
              "validation": {k: figures([t for t in val if t.kind == k], cut) for k in KINDS}}
    args.report_dir.mkdir(parents=True, exist_ok=True)
    (args.report_dir / "garment_prompt.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.report_dir / "garment_prompt.md").write_text(markdown(report))
    garment_prompt.CALIBRATION.write_text(json.dumps(
        {"threshold": cut, "embedder": report["models"]["embedder"], "segmenter": report["models"]["segmenter"],
         "report": "reports/garment_prompt.md", "command": "make calibrate-prompt"}, indent=1) + "\n")
    print(markdown(report))
    return 0


def _compare(a, b, path: str = ""):
    """(path, stored, recomputed) for every number that differs by more than TOLERANCE."""
    if isinstance(a, dict):
        for k in a:
            yield from _compare(a[k], b.get(k) if isinstance(b, dict) else None, f"{path}/{k}")
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        if not isinstance(b, (int, float)) or abs(a - b) > TOLERANCE:
            yield path, a, b


def _worn(args: argparse.Namespace) -> int:
    """Fine-tune for worn clothes, then figures before (the init model) and after, side by side."""
    from fashion.attribute_model import build, checkpoint_spec
    from training.worn_eval import product_figures, worn_figures
    from training.worn_train import BEST, WornConfig, predict, train

    cfg = WornConfig(csv=args.csv, images=args.images, init=args.init, out=args.out, epochs=args.epochs,
                     lr=args.lr, batch_size=args.batch_size, limit=args.limit, resume=args.resume,
                     stop_after=args.stop_after, balance_worn_gender=not args.no_balance_worn_gender,
                     patience=args.patience)
    model, summary, rows, worn, heads = train(cfg)
    if not summary["finished"]:
        print(f"stopped after epoch {summary['epochs_run']}; continue with the same arguments and --resume")
        return 0
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
    report = {"training": summary, "figures": figures, "checkpoint": str(cfg.out / BEST)}
    out = args.report_dir / "worn_training.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    ckpt = torch.load(cfg.out / BEST, map_location="cpu", weights_only=True)  # the figures travel with the weights
    torch.save(ckpt | {"report": {"training": summary, "figures": figures}}, cfg.out / BEST)
    print(json.dumps(figures, indent=1))
    print(f"checkpoint: {cfg.out / BEST}; report: {out}")
    return 0


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
    from fashion import embedder_model
    from fashion.worn_families import load as load_families
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


def main(argv: list[str] | None = None) -> int:
    from fashion import embedder_model
    from fashion.attribute_model import ARCHITECTURE, INPUT_SIZE, PRETRAINED

    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the multi-head attribute classifier and write its report")
    _data_args(t)
    t.add_argument("--out", type=Path, default=Path("build/train/attributes"),
                   help="checkpoints (attributes.pt = best epoch, last.pt = resumable) and split.csv")
    t.add_argument("--report-dir", type=Path, help="where attributes.md/.json go (default: --out)")
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
                   help="ImageNet backbone weights: from their registry package (default; fashion/pretrained.py), "
                        "from the hub (when online), or none (random)")
    t.add_argument("--freeze-backbone", action="store_true", help="train the heads only")
    t.add_argument("--resume", action="store_true", help="continue from --out/last.pt")
    t.add_argument("--stop-after", type=int, help="run at most N epochs now (time-boxed runs; then --resume)")
    e = sub.add_parser("evaluate", help="recompute a checkpoint's test figures and compare them with its report")
    _data_args(e)
    e.add_argument("--checkpoint", type=Path, default=Path("build/train/attributes/attributes.pt"))
    e.add_argument("--split", type=Path, help="split.csv (default: beside the checkpoint)")
    m = sub.add_parser("embedder", help="train the open_clip embedder contrastively on (image, caption) pairs")
    _data_args(m)
    m.add_argument("--out", type=Path, default=Path("build/train/embedder"),
                   help="checkpoints (embedder.pt = best epoch, last.pt = resumable) and split.csv")
    m.add_argument("--report-dir", type=Path, help="where embedder.md/.json go (default: --out)")
    m.add_argument("--report-stem", default="embedder", help="report file names (embedder.md, .json)")
    m.add_argument("--split", type=Path, default=Path("reports/attributes_split.csv"),
                   help="id,split CSV to train/validate/test on (default: the attribute model's, so its held-out "
                        "images stay held out); a missing file means a fresh 70/10/20 split by articleType")
    m.add_argument("--architecture", default=None,
                   help="open_clip architecture (default: the one whose image tower is the attribute checkpoint's "
                        f"trunk, fashion/clip_models/; else {embedder_model.ARCHITECTURE})")
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
    m.add_argument("--name-share", type=float, default=0.5, help="share of caption draws that are the product name")
    m.add_argument("--worn", action="store_true",
                   help="also learn the street photos' garment crops against their articleType family's phrases")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--limit", type=int, help="use only the first N usable rows (smoke tests)")
    m.add_argument("--resume", action="store_true", help="continue from --out/last.pt")
    m.add_argument("--stop-after", type=int, help="run at most N epochs now (time-boxed runs; then --resume)")
    v = sub.add_parser("evaluate-embedder", help="recompute an embedder checkpoint's test figures and compare")
    _data_args(v)
    v.add_argument("--checkpoint", type=Path, default=Path("weights/embedder.pt"))
    v.add_argument("--split", type=Path, default=Path("reports/attributes_split.csv"))
    v.add_argument("--attributes-checkpoint", type=Path, help="default: the one named in the checkpoint's report")
    c = sub.add_parser("compare-embedders", help="add other runs' held-out figures to an embedder report")
    c.add_argument("--report", type=Path, default=Path("reports/embedder.json"))
    c.add_argument("runs", nargs="+", metavar="NAME=REPORT.json", help="each run's own embedder.json")
    c.add_argument("--note", help="a sentence under the table")
    s = sub.add_parser("segmenter-data", help="convert a dataset to YOLO-seg (groups.yaml) and report on it")
    s.add_argument("--source", choices=["ccp", "cihp", "coco"], default="ccp")
    s.add_argument("--root", type=Path, default=Path("../shared/data/street_photos"))
    s.add_argument("--coco-json", type=Path, help="--source coco: the annotation file (default ROOT/sample.json)")
    s.add_argument("--out", type=Path, default=Path("build/segmenter/data"))
    s.add_argument("--split", type=Path, default=Path("reports/segmenter_split.csv"),
                   help="the fixed train/val split (written on first use, then read)")
    s.add_argument("--min-area", type=int, default=64, help="regions under this many pixels are dropped")
    s.add_argument("--report-dir", type=Path, help="write segmenter_data.md/.json and the heat maps here")
    g = sub.add_parser("segmenter", help="train the YOLO-seg segmenter from one config (ultralytics)")
    g.add_argument("--config", type=Path, default=Path("configs/segmenter.yaml"))
    g.add_argument("--resume", action="store_true", help="continue build/train/segmenter/run/weights/last.pt")
    g.add_argument("--resume-from", type=Path, help="a committed resume file (weights/resume/segmenter.pt: "
                                                    "another machine's run), when this checkout has no run yet")
    k = sub.add_parser("keep-segmenter-run", help="the segmenter run in progress as a committable resume file")
    k.add_argument("--config", type=Path, default=Path("configs/segmenter.yaml"))
    k.add_argument("--out", type=Path, default=Path("weights/resume/segmenter.pt"))
    c = sub.add_parser("calibrate-prompt", help="garment by words: threshold on street photos, report on validation")
    c.add_argument("--models", type=Path, default=Path("build/export"))
    c.add_argument("--root", type=Path, default=Path("../shared/data/street_photos"))
    c.add_argument("--split", type=Path, default=Path("reports/segmenter_split.csv"))
    c.add_argument("--calibration-photos", type=int, default=300, help="training-split photos to calibrate on")
    c.add_argument("--report-dir", type=Path, default=Path("reports"))
    h = sub.add_parser("ship-segmenter", help="the trained segmenter into weights/ (plain fp16 file), its report")
    h.add_argument("--best", type=Path, default=Path("build/train/segmenter/run/weights/best.pt"))
    h.add_argument("--out", type=Path, default=Path("weights/segmenter.pt"))
    h.add_argument("--config", type=Path, default=Path("configs/segmenter.yaml"))
    h.add_argument("--data-dir", type=Path, default=Path("build/train/segmenter/eval-data"))
    h.add_argument("--report", type=Path, default=Path("reports/segmenter"))
    h.add_argument("--title", default="Segmenter: weights/segmenter.pt (make train-segmenter, make ship-segmenter)")
    q = sub.add_parser("evaluate-segmenter", help="box and mask mAP per class on the fixed validation split")
    q.add_argument("--weights", type=Path, required=True)
    q.add_argument("--config", type=Path, default=Path("configs/segmenter.yaml"))
    q.add_argument("--imgsz", type=int, help="default: the config's")
    q.add_argument("--data-dir", type=Path, default=Path("build/train/segmenter/eval-data"))
    q.add_argument("--out", type=Path, help="write the figures here (.json, and .md beside it)")
    q.add_argument("--title", default="Segmenter evaluation")
    w = sub.add_parser("worn", help="fine-tune the attribute model for worn clothes (street photos + products)")
    _data_args(w)
    w.add_argument("--init", type=Path, default=Path("weights/attributes.pt"), help="the model to start from")
    w.add_argument("--out", type=Path, default=Path("build/train/worn"),
                   help="checkpoints (attributes.pt = best epoch, last.pt = resumable)")
    w.add_argument("--report-dir", type=Path, default=Path("reports"), help="where worn_training.json goes")
    w.add_argument("--epochs", type=int, default=4)
    w.add_argument("--lr", type=float, default=5e-4)
    w.add_argument("--batch-size", type=int, default=64)
    w.add_argument("--limit", type=int, help="the first N products and N street photos only (smoke runs)")
    w.add_argument("--resume", action="store_true", help="continue from --out/last.pt")
    w.add_argument("--stop-after", type=int, help="run at most N epochs now (then --resume)")
    w.add_argument("--patience", type=int, default=2,
                   help="early stopping: epochs without a better selection loss (a --resume may raise it)")
    w.add_argument("--no-balance-worn-gender", action="store_true",
                   help="weigh the street rows' gender like the products' (default: each gender the same in total)")
    wh = sub.add_parser("worn-heads", help="refit the worn model's gender and articleType heads on its frozen trunk")
    wh.add_argument("--csv", type=Path, required=True)
    wh.add_argument("--images", type=Path, required=True)
    wh.add_argument("--init", type=Path, default=Path("weights/attributes.pt"))
    wh.add_argument("--out", type=Path, default=Path("build/train/worn-heads"))
    wh.add_argument("--report-dir", type=Path, default=Path("reports"))
    wh.add_argument("--limit", type=int, default=None, help="products and street photos each (smoke runs)")
    wg = sub.add_parser("worn-gender", help="fit the outfit gender model on the worn train photos as served")
    wg.add_argument("--export", type=Path, default=Path("build/export"),
                    help="the export folder whose pipeline answers")
    wg.add_argument("--out", type=Path, default=Path("fashion/worn_gender.json"))
    wg.add_argument("--limit", type=int, default=None, help="the first N train photos (smoke runs)")
    r = sub.add_parser("worn-retrieval", help="worn garment -> products P@10 of embedder checkpoints (worn val split)")
    _data_args(r)
    r.add_argument("checkpoints", type=Path, nargs="+", help="embedder.pt files, e.g. weights/embedder.pt")
    r.add_argument("--out", type=Path, help="write the figures here (JSON)")
    pp = sub.add_parser("evaluate-paraphrases",
                        help="text search in words no caption uses (reports/paraphrase_queries.csv), per embedder")
    _data_args(pp)
    pp.add_argument("checkpoints", type=Path, nargs="+", help="embedder.pt files, e.g. weights/embedder.pt")
    pp.add_argument("--out", type=Path, help="write the figures here (JSON, and .md beside it)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)  # ours; open_clip logs every step of model creation on the root logger
    torch.set_num_threads(int(os.environ.get("FASHION_TORCH_THREADS", os.cpu_count() or 1)))
    commands = {"train": _train, "evaluate": _evaluate, "embedder": _embedder, "evaluate-embedder": _evaluate_embedder,
                "compare-embedders": _embedder_compare, "segmenter-data": _segmenter_data,
                "segmenter": _segmenter, "evaluate-segmenter": _evaluate_segmenter,
                "calibrate-prompt": _calibrate_prompt, "ship-segmenter": _ship_segmenter, "worn": _worn,
                "worn-retrieval": _worn_retrieval, "worn-heads": _worn_heads,
                "worn-gender": _worn_gender, "evaluate-paraphrases": _evaluate_paraphrases,
                "keep-segmenter-run": _keep_segmenter_run}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
