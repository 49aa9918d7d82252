"""python -m client overlay: masks tinted, boxes and labels drawn, the rest of the photo untouched."""
from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from client.__main__ import main
from client.overlay import draw


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (120, 120, 120)).save(buf, format="PNG")
    return buf.getvalue()


def _answer() -> dict:
    mask = np.zeros((60, 80), dtype=np.uint8)
    mask[20:40, 30:50] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"garments": [{"label": "pants", "score": 0.9, "box": [30, 20, 50, 40],
                          "colour": {"name": "Navy Blue", "hex": "#1C2234", "share": 1.0},
                          "mask": {"size": [60, 80], "counts": rle["counts"].decode()}}]}


def test_the_mask_is_tinted_and_the_rest_is_untouched():
    out = np.asarray(draw(_photo(), _answer()))
    assert out.shape == (60, 80, 3)
    assert not np.array_equal(out[35, 45], [120, 120, 120])  # inside the mask, away from the label
    assert np.array_equal(out[55, 5], [120, 120, 120]) and np.array_equal(out[5, 75], [120, 120, 120])


def test_cli_writes_a_png_from_a_saved_answer(tmp_path):
    photo, answer = tmp_path / "p.png", tmp_path / "a.json"
    photo.write_bytes(_photo())
    answer.write_text(json.dumps({"predictions": [_answer()]}))  # the Vertex shape works too
    assert main(["overlay", str(photo), "--response", str(answer)]) == 0
    assert Image.open(tmp_path / "p.overlay.png").size == (80, 60)
