"""Which backend and precision each model is exported with: a flag, else export/backends.json.

export/backends.json is written by `python -m bench backends`: for the CPU, the fastest backend per model
that passed its parity check against the eager model in that run. Its "cuda" entries are set by hand:
TorchScript in fp16 ("torchscript fp16") where fp16 passes parity, fp32 for the segmenter (fp16 mask IoU
0.979 < 0.99 on a real photo, computed in fp16 on the CPU; the segmenter is ~5 % of the work).
"""
from __future__ import annotations

import json
from pathlib import Path

from fashion.backends import BACKENDS
from fashion.models import NAMES

CHOICE_FILE = Path(__file__).with_name("backends.json")


DEFAULT_BACKEND = "torchscript"  # a model export/backends.json does not name yet (a new one)


class BadBackendFlag(ValueError):
    pass


def load_choice(path: Path = CHOICE_FILE) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def update_choice(entries: dict, path: Path = CHOICE_FILE) -> None:
    """Set some top-level entries of the choice file, keeping the others."""
    choice = load_choice(path)
    choice.update(entries)
    path.write_text(json.dumps(choice, indent=1) + "\n")


def parse_flags(flags: list[str]) -> dict[str, str]:
    """["onnxruntime", "embedder=openvino"] -> {"*": "onnxruntime", "embedder": "openvino"}."""
    out = {}
    for flag in flags:
        model, _, backend = flag.rpartition("=")
        model = model or "*"
        if model != "*" and model not in NAMES:
            raise BadBackendFlag(f"--backend {flag}: unknown model {model!r}; expected one of {', '.join(NAMES)}")
        if backend != "auto" and backend not in BACKENDS:
            raise BadBackendFlag(f"--backend {flag}: unknown backend {backend!r}; "
                                 f"expected auto or one of {', '.join(BACKENDS)}")
        out[model] = backend
    return out


def choose(model: str, target: str, flags: list[str], precision: str | None = None,
           choice: dict | None = None) -> tuple[str, str]:
    """(backend, precision) for one model: its flag, else the flag for all, else the recorded choice
    ("<backend>" or "<backend> <precision>"). --precision applies to every model; an explicit backend is fp32."""
    given = parse_flags(flags)
    backend = given.get(model, given.get("*", "auto"))
    chosen_precision = "fp32"
    if backend == "auto":
        choice = load_choice() if choice is None else choice
        backend, _, chosen_precision = choice.get(target, {}).get(model, DEFAULT_BACKEND).partition(" ")
    precision = precision or chosen_precision or "fp32"
    if precision == "fp16" and backend != "torchscript":
        raise BadBackendFlag(f"{model}: fp16 needs the torchscript backend, not {backend}")
    if precision in ("bf16", "int8") and backend != "openvino":
        raise BadBackendFlag(f"{model}: {precision} needs the openvino backend, not {backend}")
    return backend, precision


def fallback(model: str, target: str, choice: dict | None = None) -> str:
    """The precision to export `model` in when its int8 cannot be calibrated: the best that needs no
    calibration photos (bench.precision records it under "<target>_fallback"), else fp32."""
    choice = load_choice() if choice is None else choice
    return choice.get(f"{target}_fallback", {}).get(model, "fp32")
