"""Segmenter data: the grouping table, label maps and COCO annotations to YOLO-seg instances."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from fashion.garments.garment_groups import load
from training.segmentation.instances import Dropped, from_coco, from_label_map, polygon, yolo_line


def test_the_table_covers_every_group_once_and_maps_the_datasets():
    g = load()
    assert g.groups[:3] == ("top", "outerwear", "pants") and len(g.groups) == 12
    assert {g.coarse_of(x) for x in g.groups} == {"upper body", "lower body", "full body", "footwear", "accessories"}
    assert g.group_of("ccp", "t-shirt") == "top" and g.group_of("ccp", "skin") is None
    assert g.group_of("cihp", "left-shoe") == g.group_of("cihp", "right-shoe") == "footwear"
    assert g.group_of("fashionpedia", "top, t-shirt, sweatshirt") == "top"
    assert g.index_table("ccp", ["null", "jeans", "boots"]) == [-1, 2, 6]
    with pytest.raises(KeyError):
        g.group_of("deepfashion3", "shirt")


def test_label_map_regions_become_instances_small_fragments_are_dropped_and_counted():
    fine = np.zeros((40, 60), dtype=np.uint8)
    fine[30:36, 5:15] = 2  # left shoe (fine label 2)
    fine[30:36, 40:50] = 3  # right shoe (fine label 3): the same served class, a separate region
    fine[5:25, 10:50] = 1  # a top with a hole in it (skin showing through)
    fine[10:14, 20:24] = 9  # the hole: a fine class that is background for the segmenter
    fine[0:2, 0:2] = 1  # a 4-pixel fragment of top
    table = [-1, 0, 6, 6] + [-1] * 6  # fine -> served (0 top, 6 footwear)
    dropped = Dropped()
    got = from_label_map(fine, table, n_classes=12, min_area=10, dropped=dropped)
    assert sorted((i.class_id, i.area) for i in got) == [(0, 20 * 40 - 16), (6, 60), (6, 60)]
    assert dropped.counts == {0: 1} and dropped.pixels == {0: 4}
    top = next(i for i in got if i.class_id == 0)
    line = yolo_line(top).split()
    assert line[0] == "0" and len(line[1:]) % 2 == 0
    xy = np.array(line[1:], dtype=float).reshape(-1, 2)
    assert xy[:, 0].min() == pytest.approx(10 / 60, abs=0.01) and xy[:, 0].max() == pytest.approx(49 / 60, abs=0.01)
    assert xy[:, 1].min() == pytest.approx(5 / 40, abs=0.01)


def test_coco_polygons_and_rle_decode_to_the_same_mask():
    square = [[10, 10, 30, 10, 30, 20, 10, 20]]
    poly = from_coco({"segmentation": square}, 40, 50)
    rle = mask_utils.encode(np.asfortranarray(poly.astype(np.uint8)))
    assert np.array_equal(from_coco({"segmentation": rle}, 40, 50), poly)
    counts = _uncompressed(poly)
    assert np.array_equal(from_coco({"segmentation": {"size": [40, 50], "counts": counts}}, 40, 50), poly)
    assert 200 <= poly.sum() <= 231


def test_an_instance_in_two_parts_stays_one_polygon():
    mask = np.zeros((30, 30), dtype=bool)
    mask[2:10, 2:10] = True
    mask[20:28, 20:28] = True
    points = polygon(mask)
    assert points is not None and points[:, 0].min() <= 2 and points[:, 0].max() >= 27


def _uncompressed(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE: run lengths in column-major order, starting with zeros."""
    flat = mask.astype(np.uint8).ravel(order="F")
    runs, value, n = [], 0, 0
    for v in flat:
        if v == value:
            n += 1
        else:
            runs.append(n)
            value, n = v, 1
    runs.append(n)
    return runs


def test_merge_coarse_unites_masks_per_body_group():
    from fashion.manifest import InputSpec, Manifest
    from fashion.request.options import parse_options
    from fashion.results import Garment
    from fashion.stages.segment import Segmenter
    from export.segmenter import coarse_labels

    names = ["top", "outerwear", "pants", "footwear", "mystery"]
    manifest = Manifest("segmenter", "x", "s.pt", InputSpec((64, 64), "letterbox", "bilinear"), {},
                        {"classes": names, **coarse_labels(names)}, {}, {})
    seg = Segmenter(None, manifest, None)

    def garment(label: str, score: float, rows: slice, cols: slice) -> Garment:
        mask = np.zeros((20, 20), dtype=bool)
        mask[rows, cols] = True
        return Garment(label, names.index(label), score, (0, 0, 1, 1), _mask=mask)

    got = seg.merge_coarse([garment("top", 0.5, slice(2, 8), slice(2, 8)),
                            garment("outerwear", 0.7, slice(2, 10), slice(10, 14)),
                            garment("footwear", 0.6, slice(18, 20), slice(0, 3)),
                            garment("mystery", 0.4, slice(0, 1), slice(0, 1))])
    assert [(g.label, g.score) for g in got] == [("upper body", 0.7), ("footwear", 0.6), ("mystery", 0.4)]
    upper = got[0]
    assert upper.mask.sum() == 36 + 32 and upper.box == (2.0, 2.0, 14.0, 10.0)
    assert parse_options({"groups": "COARSE"}).groups == "coarse" and parse_options({}).groups == "fine"
    with pytest.raises(Exception, match="groups"):
        parse_options({"groups": "medium"})
