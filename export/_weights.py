"""Where weights come from: a local file, the hub when online, or random init (said loudly)."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from fashion.nets.embedder_model import SHIPPED_WEIGHTS  # one place: the committed weights/ folder
from fashion.nets.provenance import sha256

log = logging.getLogger("export")


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    kind: str  # "local" | "hub" | "random"
    ref: str  # path, hub id or architecture
    path: Path | None = None

    @property
    def random(self) -> bool:
        return self.kind == "random"

    def describe(self, pretrained: list[str] | None = None) -> dict:
        """The manifest's `weights`; `pretrained`: the packaged files a trained model started from (their
        describe(), fashion.nets.pretrained), kept only for weights trained here."""
        d = {"source": f"{self.kind}:{self.ref}", "random": self.random}
        if self.path is not None and self.path.is_file():
            d["sha256"] = sha256(self.path)
        if pretrained and self.kind == "local":
            d["pretrained"] = list(pretrained)
        return d


def find_local(explicit: str | None, weights_dir: str | None, patterns: tuple[str, ...]) -> Path | None:
    """An explicit path wins; else the first file matching one of the patterns in WEIGHTS_DIR, then in the
    repository's weights/ (the models this project trained and ships, see weights/README.md)."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist")
        return path
    for folder in ([Path(weights_dir)] if weights_dir else []) + [SHIPPED_WEIGHTS]:
        if not folder.is_dir():
            continue
        for pattern in patterns:
            found = sorted(folder.glob(pattern))
            if found:
                return found[0]
    return None


def warn_random(name: str, architecture: str) -> None:
    log.warning("=" * 72)
    log.warning("%s: NO TRAINED WEIGHTS (no local file, hub unreachable) - using RANDOM %s weights.",
                name, architecture)
    log.warning("Its outputs are meaningless; the archive and every response say random_weights=true.")
    log.warning("=" * 72)
