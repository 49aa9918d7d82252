"""The segmenter's data report: instances and pixels per class, instances per image, where each class lies
(a heat map per class, PNG) and what the grouping does to the rare fine classes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from training.segmentation.dataset import Stats
from fashion.garments.garment_groups import Grouping
from training.segmentation.instances import Dropped

RARE = 20  # a fine class in fewer images than this is "rare"


def figures(stats: Stats, dropped: Dropped, grouping: Grouping, source: str, min_area: int) -> dict[str, Any]:
    garment_pixels = max(1, sum(stats.pixels.values()))
    classes = []
    for c, name in enumerate(grouping.groups):
        classes.append({"class": name, "coarse": grouping.coarse_of(name), "instances": stats.instances[c],
                        "images": stats.images_with[c],
                        "pixel_share_of_image": round(stats.pixels[c] / max(1, stats.total_pixels), 5),
                        "pixel_share_of_garments": round(stats.pixels[c] / garment_pixels, 4),
                        "dropped_fragments": dropped.counts.get(c, 0), "dropped_pixels": dropped.pixels.get(c, 0)})
    fine = []
    for name, images in sorted(stats.fine_images.items(), key=lambda kv: kv[1]):
        group = grouping.group_of(source if source != "coco" else "fashionpedia", name)
        fine.append({"fine_class": name, "images": images, "pixels": stats.fine_pixels[name],
                     "group": group or "background"})
    per_image = np.array(stats.per_image)
    return {"source": source, "images": len(per_image), "split": dict(stats.split), "min_area_px": min_area,
            "images_without_garments": stats.empty_images,
            "instances_per_image": {"mean": round(float(per_image.mean()), 2), "median": float(np.median(per_image)),
                                    "max": int(per_image.max()),
                                    "histogram": np.bincount(per_image).tolist()},
            "classes": classes, "fine_classes": fine}


def heat_maps(stats: Stats, grouping: Grouping, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 6
    rows = int(np.ceil(len(grouping.groups) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 2.4))
    for ax, (c, name) in zip(axes.ravel(), enumerate(grouping.groups)):
        heat = stats.heat[c] / max(1, stats.instances[c])
        ax.imshow(heat, cmap="magma", vmin=0, vmax=max(1e-6, float(heat.max())))
        ax.set_title(f"{name} ({stats.instances[c]})", fontsize=8)
        ax.axis("off")
    for ax in axes.ravel()[len(grouping.groups):]:
        ax.axis("off")
    fig.suptitle("where each class lies (mean instance mask, image frame resized)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write(report: dict[str, Any], directory: Path, heat_png: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    js, md = directory / "segmenter_data.json", directory / "segmenter_data.md"
    js.write_text(json.dumps(report, indent=1) + "\n")
    lines = ["# Segmenter data", "",
             f"Source `{report['source']}`: {report['images']} images (train {report['split'].get('train', 0)}, "
             f"val {report['split'].get('val', 0)}; the split is fixed in `segmenter_split.csv`). Instances are "
             f"connected regions of one served class (8-connectivity); regions under {report['min_area_px']} px "
             "are dropped and counted below; holes are filled (YOLO-seg polygons have none). "
             f"{report['images_without_garments']} images have no garment at all. Instances per image: mean "
             f"{report['instances_per_image']['mean']}, median {report['instances_per_image']['median']}, max "
             f"{report['instances_per_image']['max']}.", "",
             "| class | coarse group | instances | images | share of image pixels | share of garment pixels | "
             "dropped fragments |", "|---|---|---:|---:|---:|---:|---:|"]
    for c in report["classes"]:
        lines.append(f"| {c['class']} | {c['coarse']} | {c['instances']} | {c['images']} | "
                     f"{c['pixel_share_of_image']:.4f} | {c['pixel_share_of_garments']:.4f} | "
                     f"{c['dropped_fragments']} |")
    lines += ["", f"![heat maps]({heat_png})", "",
              f"## What the grouping does to rare fine classes (in fewer than {RARE} images)", "",
              "| fine class | images | pixels | served as |", "|---|---:|---:|---|"]
    for f in report["fine_classes"]:
        if f["images"] < RARE:
            lines.append(f"| {f['fine_class']} | {f['images']} | {f['pixels']} | {f['group']} |")
    lines += ["", "All fine classes and their group: `segmenter_data.json` (fine_classes); the table itself is "
              "`fashion/garments/garment_groups.yaml`.", ""]
    md.write_text("\n".join(lines))
    return js, md
