"""The training report as JSON (machine-checked by `evaluate`) and markdown (for people)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable


def write_report(report: dict[str, Any], directory: Path, stem: str = "attributes",
                 render: Callable[[dict[str, Any]], str] | None = None) -> tuple[Path, Path]:
    """`stem`.json and `stem`.md in `directory`; `render` makes the markdown (default: the attribute report's)."""
    directory.mkdir(parents=True, exist_ok=True)
    js, md = directory / f"{stem}.json", directory / f"{stem}.md"
    js.write_text(json.dumps(report, indent=1) + "\n")
    md.write_text((render or markdown)(report))
    return js, md


def markdown(r: dict[str, Any]) -> str:
    t, d = r["training"], r["data"]
    lines = [
        "# Attribute classifier: training report", "",
        f"One `{t['architecture']}` backbone with one linear head per attribute, trained "
        f"{'from a pretrained backbone' if t['pretrained'] else 'from scratch (no pretrained weights reachable)'}"
        f"{', backbone frozen' if t['freeze_backbone'] else ''}; input {t['input_size']} px; "
        f"{t['epochs_run']} epochs run of {t['max_epochs']} (early stopping, patience {t['patience']}); "
        f"best epoch {t['best_epoch']} (validation loss {t['best_val_loss']}); {t['minutes']} minutes on "
        f"{t['device']} ({t['threads']} threads).", "",
        f"Data: `{d['csv']}` + `{d['images']}`: {d['usable_rows']} usable rows "
        f"(train {d['split_rows']['train']}, val {d['split_rows']['val']}, test {d['split_rows']['test']}; "
        f"split 70/10/20 stratified by articleType, seed {d['seed']}, `split.csv` sha256 `{d['split_sha256'][:16]}`). "
        f"Classes with fewer than {d['min_count']} labelled rows are merged into `Other`; empty and `NA` labels "
        "are missing (masked out of that head's loss and of these figures). Loss: cross-entropy per head with "
        "inverse-square-root class weights, label smoothing "
        f"{t['label_smoothing']}; AdamW with a one-cycle schedule (peak lr {t['lr']}).", "",
    ]
    if d.get("skipped"):
        lines += ["Skipped rows: " + "; ".join(f"{k}: {v['rows']}" for k, v in d["skipped"].items()) + ".", ""]
    lines += ["## Held-out test split", "",
              "| attribute | classes | test rows | accuracy | macro-F1 | majority class | majority accuracy | "
              "majority macro-F1 |", "|---|---:|---:|---:|---:|---|---:|---:|"]
    for head, m in r["test"].items():
        if m.get("rows"):
            lines.append(f"| {head} | {m['classes']} | {m['rows']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | "
                         f"{m['majority_label']} | {m['majority_accuracy']:.4f} | {m['majority_macro_f1']:.4f} |")
    lines += ["", "Macro-F1 averages over the classes present in the test split. Reproduce these figures with "
              f"`{r['reproduce']}`.", ""]
    for head, m in r["test"].items():
        if not m.get("rows"):
            continue
        c = m["confusion"]
        lines += [f"### {head}: confusion of the {len(c['labels'])} largest test classes (rows: true, "
                  "columns: predicted)", "",
                  "| true \\ predicted | " + " | ".join(c["labels"]) + " | other |",
                  "|---|" + "---:|" * (len(c["labels"]) + 1)]
        lines += [f"| {label} | " + " | ".join(str(v) for v in row) + " |"
                  for label, row in zip(c["labels"], c["rows"])]
        lines.append("")
    return "\n".join(lines)
