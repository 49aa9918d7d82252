"""The default attribute vocabularies (export/vocabulary.json), for exports without a trained attribute
checkpoint (the zero-shot vocabularies of a fresh install). Regenerate it with
`python -m training.vocabulary styles.csv > export/vocabulary.json`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("vocabulary.json")


def load_default() -> dict[str, Any]:
    return json.loads(DEFAULT_PATH.read_text())
