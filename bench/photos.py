"""The real photos every benchmark runs on, and the one line that names the machine."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch
from PIL import Image

from fashion.request.decode import decode_image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "street_photos" / "photos"


def pick_photos(folder: Path, n: int) -> list[Path]:
    """n photos spread over the folder (sorted names, fixed stride)."""
    paths = sorted(folder.glob("*.jpg"))
    if not paths:
        raise SystemExit(f"no photos in {folder}; pass --photos")
    return paths[:: max(1, len(paths) // n)][:n]


def load_photos(paths: list[Path]) -> list[tuple[bytes, Image.Image]]:
    """(file bytes, decoded image) of each photo."""
    return [(data, decode_image(data)) for data in (p.read_bytes() for p in paths)]


def machine_line() -> str:
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{platform.machine()} {cpu}, {os.cpu_count()} cores{gpu}; torch {torch.__version__}, "
            f"Python {platform.python_version()}")
