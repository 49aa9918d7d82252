"""The embedder's report: JSON (checked by `evaluate-embedder`) and markdown, trained beside random weights."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from training.report import write_report

STEM = "embedder"


def write(report: dict[str, Any], directory: Path, stem: str = STEM) -> tuple[Path, Path]:
    return write_report(report, directory, stem, markdown)


COMPARED = (("text -> image R@10", ("text_to_image", "R@10")),
            ("articleType -> product P@1", ("category_articleType", "P@1")),
            ("image -> image P@10", ("image_to_image_P@10", "articleType")),
            ("zero-shot articleType", ("zero_shot", "articleType", "accuracy")),
            ("zero-shot gender", ("zero_shot", "gender", "accuracy")))


def _get(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for k in path:
        d = d.get(k, {}) if isinstance(d, dict) else {}
    return d if isinstance(d, (int, float)) else None


def comparison(runs: dict[str, dict[str, Any]], note: str = "") -> dict[str, Any]:
    """A table of several runs' held-out figures (name -> its report), for the shipped report."""
    rows = []
    for name, rep in runs.items():
        t = rep["training"]
        rows.append({"name": name, "init": t["init"], "image_trunk": t["image_trunk"], "epochs": t["epochs_run"],
                     "minutes": t["minutes"], "values": [_get(rep["test"]["trained"], p) for _, p in COMPARED]})
    return {"columns": [c for c, _ in COMPARED], "runs": rows, "note": note}


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("-" if v is None else str(v))


def _row(name: str, trained: Any, random: Any, extra: str = "") -> str:
    return f"| {name} | {_fmt(trained)} | {_fmt(random)} |{extra}"


def comparison_rows(t: dict[str, Any], r: dict[str, Any]) -> list[str]:
    """Retrieval figures, trained vs random, one table row each."""
    lines = ["| figure | trained | random weights |", "|---|---:|---:|"]
    for k in ("R@1", "R@10", "MRR"):
        lines.append(_row(f"text -> image {k} (productDisplayName, {t['text_to_image']['queries']} queries)",
                          t["text_to_image"][k], r["text_to_image"][k]))
    for head in ("articleType", "baseColour", "usage"):
        c, cr = t[f"category_{head}"], r[f"category_{head}"]
        for k in ("P@1", "P@10"):
            lines.append(_row(f"{head} -> product {k} ({c['queries']} queries)", c[k], cr[k]))
    for key in ("articleType", "articleType+baseColour"):
        lines.append(_row(f"image -> image P@10, same {key}", t["image_to_image_P@10"][key],
                          r["image_to_image_P@10"][key]))
    return lines


def markdown(rep: dict[str, Any]) -> str:
    tr, d, test = rep["training"], rep["data"], rep["test"]
    t, r = test["trained"], test["random"]
    lines = [
        "# Embedder: training report", "",
        f"`{tr['architecture']}` (fashion/nets/clip_models/{tr['architecture']}.json), an open_clip model: "
        f"{rep['model']['image_tower']} image tower at {rep['model']['input_size']} px and a "
        f"{rep['model']['text_tower']} text tower, {rep['model']['embed_dim']}-d embeddings, "
        f"{rep['model']['parameters_m']} M parameters. "
        + {"attributes": f"Image trunk initialised from the trained attribute classifier (`{tr['init_from']}`) "
                         f"and {tr['image_trunk']}; ",
           "checkpoint": f"Both towers initialised from `{tr['init_from']}`, image trunk {tr['image_trunk']}; ",
           "scratch": "Both towers trained from random weights; "}[tr["init"]]
        + f"{tr['epochs_run']} epochs run of {tr['max_epochs']} (early stopping on validation retrieval, patience "
          f"{tr['patience']}), best epoch {tr['best_epoch']} (validation score {tr['best_val_score']}); "
          f"{tr['minutes']} minutes on {tr['device']} ({tr['threads']} threads).", "",
        f"Data: `{d['csv']}` + `{d['images']}`: {d['usable_rows']} images (train {d['split_rows']['train']}, val "
        f"{d['split_rows']['val']}, test {d['split_rows']['test']}); split `{d['split_source']}` "
        f"(sha256 `{d['split_sha256'][:16]}`), the attribute model's own 70/10/20 split by articleType, seed 0, so "
        "neither model has seen the test images. Captions: the productDisplayName (half of the draws) or one of "
        "the templated attribute phrases (\"men navy blue shirts\", \"a navy blue shirt for men\", "
        "\"casual shirt for fall\", the bare attribute names and the zero-shot prompts of `fashion.stages.zeroshot`), "
        "one drawn per image per epoch. Loss: symmetric InfoNCE where identical captions are positives of each other.",
        "",
        f"## Held-out test split ({t['gallery']} images), trained vs random weights of the same architecture", "",
    ]
    lines += comparison_rows(t, r)
    lines += ["", "Category queries are the bare label (\"Tshirts\", \"Navy Blue\", \"Casual\") over categories with "
              f"at least {rep['protocol']['min_category_items']} test images; a hit is a product of that category. "
              "Text -> image: each product's own name is the query and only that product is a hit (names repeat in "
              "the catalogue, so R@1 has a ceiling below 1). Marqo-FashionSigLIP reports text -> image R@1 0.179 and "
              "category -> product P@1 0.758 averaged over its benchmarks on KAGL, the larger Kaggle set these "
              "photos come from: a different, larger gallery, so read those as a reference, not a comparison.", "",
              "## Zero-shot attributes vs the trained classifier (same test rows)", "",
              "| attribute | classes | rows | zero-shot (trained) | zero-shot (random) | attribute classifier |",
              "|---|---:|---:|---:|---:|---:|"]
    for head, m in t["zero_shot"].items():
        lines.append(_row(f"{head} | {m['classes']} | {m['rows']}", m["accuracy"], r["zero_shot"][head]["accuracy"],
                          f" {_fmt(test['classifier'].get(head))} |"))
    lines += ["", "Zero-shot: the image embedding against the text embeddings of each label's prompts "
              "(`fashion.stages.zeroshot`, as served); rows labelled `Other` (merged rare classes) have no prompt and "
              "are left out for both. The training captions include these prompts for the training images, so this "
              "measures the served mechanism on unseen images, not zero-shot transfer to unseen labels.", ""]
    if rep.get("comparison"):
        lines += ["## Initialisations compared (held-out test split)", "",
                  "| run | epochs | minutes | " + " | ".join(rep["comparison"]["columns"]) + " |",
                  "|---|---:|---:|" + "---:|" * len(rep["comparison"]["columns"])]
        for run in rep["comparison"]["runs"]:
            lines.append(f"| {run['name']} | {run['epochs']} | {run['minutes']} | "
                         + " | ".join(_fmt(v) for v in run["values"]) + " |")
        lines += ["", rep["comparison"].get("note", ""), ""]
    lines += ["Per-epoch validation history: `embedder.json` (training.history). Reproduce the test figures with "
              f"`{rep['reproduce']}`.", ""]
    return "\n".join(lines)
