"""Held-out figures per attribute: accuracy, macro-F1, the majority-class baseline and a confusion matrix."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from training.labels import IGNORE

CONFUSION_CLASSES = 10


def head_metrics(true: np.ndarray, pred: np.ndarray, vocab: list[str], train_majority: int) -> dict[str, Any]:
    """Figures over the rows that have this label. Macro-F1 averages over the classes present in `true`."""
    keep = true != IGNORE
    true, pred = true[keep], pred[keep]
    if true.size == 0:
        return {"rows": 0}
    present = np.unique(true)
    majority = np.full_like(true, train_majority)
    support = np.bincount(true, minlength=len(vocab))
    largest = [int(i) for i in np.argsort(-support, kind="stable")[:CONFUSION_CLASSES] if support[i] > 0]
    matrix = confusion_matrix(true, pred, labels=list(range(len(vocab))))
    rows = [[int(matrix[t, p]) for p in largest] + [int(matrix[t].sum() - matrix[t, largest].sum())] for t in largest]
    return {
        "rows": int(true.size),
        "classes": len(vocab),
        "classes_in_test": int(present.size),
        "accuracy": round(float(accuracy_score(true, pred)), 4),
        "macro_f1": round(float(f1_score(true, pred, labels=present, average="macro", zero_division=0)), 4),
        "majority_label": vocab[train_majority],
        "majority_accuracy": round(float(accuracy_score(true, majority)), 4),
        "majority_macro_f1": round(float(f1_score(true, majority, labels=present, average="macro",
                                                  zero_division=0)), 4),
        "confusion": {"labels": [vocab[i] for i in largest], "other_column": "any other class", "rows": rows},
    }


def majority(targets: np.ndarray, classes: int) -> int:
    labelled = targets[targets != IGNORE]
    return int(np.bincount(labelled, minlength=classes).argmax()) if labelled.size else 0
