"""Garment by words: `calibrate-prompt` (training/garment_prompt.py) on the exported segmenter and embedder."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(sub) -> None:
    c = sub.add_parser("calibrate-prompt", help="garment by words: threshold on street photos, report on validation")
    c.add_argument("--models", type=Path, default=Path("build/export"))
    c.add_argument("--root", type=Path, default=Path("../shared/data/street_photos"))
    c.add_argument("--split", type=Path, default=Path("reports/segmenter_split.csv"))
    c.add_argument("--calibration-photos", type=int, default=300, help="training-split photos to calibrate on")
    c.add_argument("--report-dir", type=Path, default=Path("reports"))
    c.set_defaults(handler=_calibrate_prompt)


def _calibrate_prompt(args: argparse.Namespace) -> int:
    from fashion.stages import garment_prompt
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
