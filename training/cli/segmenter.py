"""The segmenter (training/segmentation/): `segmenter-data`, `segmenter`, `keep-segmenter-run`, `ship-segmenter`,
`evaluate-segmenter`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(sub) -> None:
    s = sub.add_parser("segmenter-data", help="convert a dataset to YOLO-seg (groups.yaml) and report on it")
    s.add_argument("--source", choices=["ccp", "cihp", "coco"], default="ccp")
    s.add_argument("--root", type=Path, default=Path("../shared/data/street_photos"))
    s.add_argument("--coco-json", type=Path, help="--source coco: the annotation file (default ROOT/sample.json)")
    s.add_argument("--out", type=Path, default=Path("build/segmenter/data"))
    s.add_argument("--split", type=Path, default=Path("reports/segmenter_split.csv"),
                   help="the fixed train/val split (written on first use, then read)")
    s.add_argument("--min-area", type=int, default=64, help="regions under this many pixels are dropped")
    s.add_argument("--report-dir", type=Path, help="write segmenter_data.md/.json and the heat maps here")
    s.set_defaults(handler=_segmenter_data)
    g = sub.add_parser("segmenter", help="train the YOLO-seg segmenter from one config (ultralytics)")
    g.add_argument("--config", type=Path, default=Path("configs/segmenter.yaml"))
    g.add_argument("--resume", action="store_true", help="continue build/train/segmenter/run/weights/last.pt")
    g.add_argument("--resume-from", type=Path, help="a committed resume file (weights/resume/segmenter.pt: "
                                                    "another machine's run), when this checkout has no run yet")
    g.add_argument("--run-dir", type=Path, default=Path("build/train/segmenter"),
                   help="where the run lives (its data, weights/last.pt, best.pt, results.csv)")
    g.set_defaults(handler=_segmenter)
    k = sub.add_parser("keep-segmenter-run", help="the segmenter run in progress as a committable resume file")
    k.add_argument("--config", type=Path, default=Path("configs/segmenter.yaml"))
    k.add_argument("--out", type=Path, default=Path("weights/resume/segmenter.pt"))
    k.set_defaults(handler=_keep_segmenter_run)
    _add_ship_and_evaluate(sub)


def _add_ship_and_evaluate(sub) -> None:
    h = sub.add_parser("ship-segmenter", help="the trained segmenter into weights/ (plain fp16 file), its report")
    h.add_argument("--best", type=Path, default=Path("build/train/segmenter/run/weights/best.pt"))
    h.add_argument("--out", type=Path, default=Path("weights/segmenter.pt"))
    h.add_argument("--config", type=Path, default=Path("configs/segmenter.yaml"))
    h.add_argument("--data-dir", type=Path, default=Path("build/train/segmenter/eval-data"))
    h.add_argument("--report", type=Path, default=Path("reports/segmenter"))
    h.add_argument("--title", default="Segmenter: weights/segmenter.pt (make train-segmenter, make ship-segmenter)")
    h.set_defaults(handler=_ship_segmenter)
    q = sub.add_parser("evaluate-segmenter", help="box and mask mAP per class on the fixed validation split")
    q.add_argument("--weights", type=Path, required=True)
    q.add_argument("--config", type=Path, default=Path("configs/segmenter.yaml"))
    q.add_argument("--imgsz", type=int, help="default: the config's")
    q.add_argument("--data-dir", type=Path, default=Path("build/train/segmenter/eval-data"))
    q.add_argument("--out", type=Path, help="write the figures here (.json, and .md beside it)")
    q.add_argument("--title", default="Segmenter evaluation")
    q.set_defaults(handler=_evaluate_segmenter)


def _segmenter_data(args: argparse.Namespace) -> int:
    """Convert a dataset to YOLO-seg through groups.yaml and write the data report."""
    from training.segmentation import data_report
    from training.segmentation.dataset import build
    from fashion.garments.garment_groups import load

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
                 run_dir=args.run_dir, resume_from=args.resume_from)
    print(f"best checkpoint: {best}; evaluate it with python -m training evaluate-segmenter --weights {best}")
    return 0


def _keep_segmenter_run(args: argparse.Namespace) -> int:
    """A run in progress as a committable resume file (fashion.nets.segmenter_checkpoint.to_resume) with its figures."""
    import csv as csv_module

    from fashion.nets import provenance, segmenter_checkpoint
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
    digest = provenance.write_sha256_file(args.out)
    print(f"resume file: {args.out} ({args.out.stat().st_size / 2**20:.1f} MB, sha256 {digest}); continue with "
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
    from fashion.nets import provenance, segmenter_checkpoint
    from training.segmentation.train import SegmenterConfig, evaluate, markdown, prepare

    cfg = SegmenterConfig.read(args.config)
    data = prepare(cfg, args.data_dir)
    figures = evaluate(args.best, data, cfg.imgsz)
    summary = {k: figures[k] for k in ("box_map50", "box_map50_95", "mask_map50", "mask_map50_95")}
    segmenter_checkpoint.from_ultralytics(args.best, args.out, {
        "validation": summary, "config": str(args.config), "split": cfg.data["split"],
        "command": "make train-segmenter && make ship-segmenter"})
    digest = provenance.write_sha256_file(args.out)
    same = segmenter_checkpoint.same_weights(args.out, args.best)  # the figures are the shipped file's
    if not same:
        raise SystemExit(f"{args.out} does not hold {args.best}'s weights")
    shipped = {**figures, "weights": str(args.out), "checkpoint": str(args.best)}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.with_suffix(".json").write_text(json.dumps(shipped, indent=1) + "\n")
    args.report.with_suffix(".md").write_text(markdown(shipped, args.title))
    print(f"{args.out}: {args.out.stat().st_size} bytes, sha256 {digest}; mask mAP50 {shipped['mask_map50']}")
    return 0
