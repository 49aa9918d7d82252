"""What several commands share: the catalogue flags, the training commands' output and resume flags and the figure
comparison of the `evaluate*` commands."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("training")
DATA = Path("../shared/data/fashion_products")
TOLERANCE = 1e-3  # figures are rounded to 4 decimals; `evaluate` must agree within this


def data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", type=Path, default=DATA / "styles.csv", help="styles.csv (Fashion Product Images layout)")
    p.add_argument("--images", type=Path, default=DATA / "images", help="folder of <id>.jpg product photos")


def training_parser(sub, name: str, help: str, *, out: Path, best: str, report: str, report_dir: Path | None = None,
                    split: bool = False, init: Path | None = None) -> argparse.ArgumentParser:
    """A training command's subparser with the flags they all have: the catalogue's; with `init`, --init (the model a
    fine-tune starts from; `init`: its default); --out (the checkpoints: `best` = best epoch, last.pt = resumable;
    with `split`, split.csv too); --report-dir (`report` says what goes there)."""
    p = sub.add_parser(name, help=help)
    data_args(p)
    if init is not None:
        p.add_argument("--init", type=Path, default=init, help="the model to start from")
    p.add_argument("--out", type=Path, default=out,
                   help=f"checkpoints ({best} = best epoch, last.pt = resumable)" + (" and split.csv" if split else ""))
    p.add_argument("--report-dir", type=Path, default=report_dir, help=report)
    return p


def resume_args(p: argparse.ArgumentParser,
                stop_after: str = "run at most N epochs now (time-boxed runs; then --resume)") -> None:
    """A training command's --resume (from --out/last.pt, training.fit) and --stop-after (`stop_after`: its help)."""
    p.add_argument("--resume", action="store_true", help="continue from --out/last.pt")
    p.add_argument("--stop-after", type=int, help=stop_after)


def checkpoints_args(p: argparse.ArgumentParser, out: str) -> None:
    """An evaluation of embedder checkpoints on the catalogue: the catalogue flags, the checkpoints and --out (`out`:
    its help)."""
    data_args(p)
    p.add_argument("checkpoints", type=Path, nargs="+", help="embedder.pt files, e.g. weights/embedder.pt")
    p.add_argument("--out", type=Path, help=out)


def compare(a, b, path: str = ""):
    """(path, stored, recomputed) for every number that differs by more than TOLERANCE."""
    if isinstance(a, dict):
        for k in a:
            yield from compare(a[k], b.get(k) if isinstance(b, dict) else None, f"{path}/{k}")
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        if not isinstance(b, (int, float)) or abs(a - b) > TOLERANCE:
            yield path, a, b
