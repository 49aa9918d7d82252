"""The wearer's face as gender evidence: where it is looked for, what it says on real street photos, the setting
that turns it off, and that only its P(male) leaves the step."""
from __future__ import annotations

import numpy as np
import pytest

from fashion.worn import face_gender, worn_gender
from fashion.request.decode import decode_image
from fashion.worn.worn_metadata import Calibration
from tests.conftest import SHARED

STREET = SHARED / "data" / "street_photos" / "photos"
# worn `train` photos (never val) with their labelled garments' boxes, as the segmenter would give them
MAN = ("0028", [("top", (144, 141, 353, 369)), ("pants", (140, 375, 332, 730)), ("footwear", (149, 725, 302, 786))])
WOMAN = ("0007", [("top", (135, 163, 352, 412)), ("bag", (88, 174, 188, 378)), ("skirt", (121, 383, 352, 735))])


def test_the_face_is_looked_for_above_the_shoulders_only():
    region = face_gender.face_region([("top", (100, 300, 300, 500)), ("pants", (100, 500, 300, 900))], (600, 1000))
    assert region is not None
    left, top, right, bottom = region
    assert (left, top, right, bottom) == pytest.approx((50, 80, 350, 350))  # a quarter wider, 1.1 widths above
    assert face_gender.face_region([("pants", (100, 500, 300, 900))], (600, 1000)) is None  # no upper body
    assert face_gender.face_region([("top", (0, 5, 224, 224))], (224, 224)) is None  # a product shot of a top
    assert face_gender.face_region([], (224, 224)) is None


@pytest.mark.parametrize("stem, garments, man", [(*MAN, True), (*WOMAN, False)], ids=["man", "woman"])
def test_a_face_on_a_street_photo_says_its_gender(stem, garments, man):
    faces = face_gender.FaceGender()
    image = decode_image((STREET / f"{stem}.jpg").read_bytes())
    share = faces.men_share(np.asarray(image.convert("RGB")), face_gender.face_region(garments, image.size))
    assert share is not None and (share > 0.8 if man else share < 0.2)
    assert faces.men_share(np.zeros((600, 400, 3), np.uint8), (0, 0, 400, 300)) is None  # no face: no answer


def test_the_setting_turns_the_face_step_off(monkeypatch):
    face_gender.load.cache_clear()
    try:
        monkeypatch.setenv(face_gender.SETTING, "off")
        assert face_gender.load() is None
        face_gender.load.cache_clear()
        monkeypatch.setenv(face_gender.SETTING, "on")
        assert isinstance(face_gender.load(), face_gender.FaceGender)
    finally:
        face_gender.load.cache_clear()


def test_the_face_enters_the_wearers_gender_at_its_calibrated_weight():
    outfit = worn_gender.OutfitGender(("top", "skirt"), (0.0, -2.0), 0.0)
    photo = {"gender": np.array([0.5, 0.5])}
    heads = {"gender": ["Men", "Women"], "scene": ["product", "worn"]}
    photo["scene"] = np.array([0.0, 1.0])
    cal = Calibration(photo_gender_from="outfit", outfit_photo_weight=1.0, face_weight=2.0)
    no_face = worn_gender.wearer(outfit, cal, photo, heads, ["top"])
    assert no_face == pytest.approx(0.5)
    assert worn_gender.wearer(outfit, cal, photo, heads, ["top"], face=0.9) == pytest.approx(
        worn_gender.sigmoid(2.0 * worn_gender.logit(0.9)))
    off = Calibration(photo_gender_from="outfit", outfit_photo_weight=1.0, face_weight=0.0)
    assert worn_gender.wearer(outfit, off, photo, heads, ["top"], face=0.9) == pytest.approx(0.5)


class _Faces:
    """A stand-in face step that answers with the region it was given."""

    def __init__(self) -> None:
        self.asked: list = []

    def men_share(self, pixels, region):
        self.asked.append(region)
        return region


def _stage(faces):
    from fashion.stages.segment import SegmenterStage

    stage = SegmenterStage.__new__(SegmenterStage)  # the face bookkeeping only: no model loaded
    stage.faces = faces
    return stage


def test_the_early_face_step_answers_only_for_the_garments_kept(monkeypatch):
    from concurrent.futures import Future

    from fashion.results import Garment

    monkeypatch.setattr("torch.get_num_threads", lambda: 2)
    faces, pixels, size = _Faces(), np.zeros((1000, 600, 3), np.uint8), (600, 1000)
    kept = [
        Garment("top", 0, 0.9, (100.0, 300.0, 300.0, 500.0)),
        Garment("pants", 2, 0.8, (100.0, 500.0, 300.0, 900.0)),
    ]
    region = face_gender.face_region([(g.label, g.box) for g in kept], size)
    same: Future = Future()
    same.set_result("early answer")
    assert _stage(faces)._face(kept, pixels, size, (region, same)) is same and faces.asked == []
    other: Future = Future()  # started from a detection the masks then dropped: its region was wider
    got = _stage(faces)._face(kept, pixels, size, ((0.0, 0.0, 600.0, 350.0), other))
    assert got.result() == region and faces.asked == [region] and other.cancelled()


def test_the_face_step_is_never_run_twice_at_once():
    """dlib's detector crashes the process when two threads use it at once (seen when an early face step was
    still running beside the one for the garments kept): FaceGender serialises it."""
    import threading

    faces = face_gender.FaceGender()
    image = np.asarray(decode_image((STREET / f"{MAN[0]}.jpg").read_bytes()).convert("RGB"))
    region = face_gender.face_region(MAN[1], (image.shape[1], image.shape[0]))
    inside, most = 0, 0
    count = threading.Lock()
    detector = faces.detector

    def watched(*args):
        nonlocal inside, most
        with count:
            inside += 1
            most = max(most, inside)
        try:
            return detector(*args)
        finally:
            with count:
                inside -= 1

    faces.detector = watched
    threads = [threading.Thread(target=faces.men_share, args=(image, region)) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert most == 1
