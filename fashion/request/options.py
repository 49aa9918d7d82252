"""Request options, parsed once per request into a frozen dataclass."""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Mapping

from fashion import models as registry
from fashion.errors import InvalidInput
from fashion.request.limits import limits
from fashion.request.plan import Plan

INCLUDABLE = registry.INCLUDABLE  # what `include` may name, in a response's order (the registry)
MASK_FORMATS = ("rle", "polygon", "none")
GROUPINGS = ("fine", "coarse")  # garments as the segmenter's classes, or merged per body group
MAX_GARMENTS = 20  # garments a response lists unless the request asks for another number (at most the limit's)


@dataclasses.dataclass(frozen=True)
class Options:
    embedding_only: bool = False
    min_score: float | None = None  # None: the segmenter archive's own default
    max_garments: int = MAX_GARMENTS
    mask_format: str = "rle"
    include: tuple[str, ...] = INCLUDABLE
    labels: tuple[str, ...] = ()  # a user vocabulary: scores per garment and for the whole image ("tags")
    groups: str = "fine"  # "coarse": upper body / lower body / full body / footwear / accessories, masks merged
    prompt: str | None = None  # garment by words: garments scored against it, the best match "selected"

    def wants(self, section: str) -> bool:
        return section in self.include

    @functools.cached_property
    def plan(self) -> Plan:
        """The stages and response sections these options call for (fashion.request.plan), computed once."""
        if self.embedding_only:
            return Plan.of(("embedding",))
        return Plan.of([s.name for s in registry.SECTIONS
                        if (self.wants(s.name) if s.asked_by is None else bool(getattr(self, s.asked_by)))])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise InvalidInput(f"option {name!r} must be true or false, got {value!r}")


def as_number(name: str, value: Any, kind: type, low: float, high: float) -> Any:
    """`value` as a finite `kind` within [low, high]; anything else (infinities, NaN, 1e999, 2.5 for an integer,
    booleans) is a 400 that says what was sent."""
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    wanted = "an integer" if kind is int else "a number"
    try:
        if isinstance(value, bool):
            raise TypeError
        as_float = float(value)
        if not math.isfinite(as_float) or (kind is int and not as_float.is_integer()):
            raise ValueError
        number = kind(as_float) if isinstance(value, float) else kind(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"option {name!r} must be {wanted} between {low} and {high}, got {shown}") from None
    if not low <= number <= high:
        raise InvalidInput(f"option {name!r} must be between {low} and {high}, got {number}")
    return number


def parse_options(raw: Mapping[str, Any] | None) -> Options:
    """Validate user options; unknown keys are refused so a typo never silently does nothing."""
    raw = dict(raw or {})
    known = {f.name for f in dataclasses.fields(Options)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidInput(f"unknown option(s) {unknown}; known options are {sorted(known)}")
    kwargs: dict[str, Any] = {}
    if "embedding_only" in raw:
        kwargs["embedding_only"] = _as_bool("embedding_only", raw["embedding_only"])
    if raw.get("min_score") is not None:
        kwargs["min_score"] = as_number("min_score", raw["min_score"], float, 0.0, 1.0)
    if "max_garments" in raw:
        kwargs["max_garments"] = as_number("max_garments", raw["max_garments"], int, 0, limits().max_garments)
    if "mask_format" in raw:
        fmt = str(raw["mask_format"]).lower()
        if fmt not in MASK_FORMATS:
            raise InvalidInput(f"option 'mask_format' must be one of {list(MASK_FORMATS)}, got {fmt!r}")
        kwargs["mask_format"] = fmt
    if "include" in raw:
        include = raw["include"]
        if isinstance(include, (bytes, str)):
            include = [s.strip() for s in (include.decode() if isinstance(include, bytes) else include).split(",")]
        if not isinstance(include, (list, tuple)) or any(s not in INCLUDABLE for s in include):
            raise InvalidInput(f"option 'include' must list sections from {list(INCLUDABLE)}, got {include!r}")
        kwargs["include"] = tuple(s for s in INCLUDABLE if s in include)
    if "groups" in raw:
        groups = str(raw["groups"]).lower()
        if groups not in GROUPINGS:
            raise InvalidInput(f"option 'groups' must be one of {list(GROUPINGS)}, got {raw['groups']!r}")
        kwargs["groups"] = groups
    if raw.get("prompt") not in (None, ""):
        prompt = raw["prompt"].decode("utf-8", "replace") if isinstance(raw["prompt"], bytes) else raw["prompt"]
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > limits().max_label_chars:
            raise InvalidInput(f"option 'prompt' must be a non-empty string of at most {limits().max_label_chars} "
                               'characters (MAX_LABEL_CHARS), e.g. "red dress"')
        kwargs["prompt"] = prompt.strip()
    if raw.get("labels") not in (None, "", []):
        kwargs["labels"] = _labels(raw["labels"])
    return Options(**kwargs)


def _labels(value: Any) -> tuple[str, ...]:
    """A list of strings (or one comma-separated string): 1 to max_labels distinct, non-empty, short."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("option 'labels' must be a list of strings, e.g. [\"floral\", \"striped\"]")
    labels = tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
    most, chars = limits().max_labels, limits().max_label_chars
    if not labels or len(labels) > most or any(len(v) > chars for v in labels):
        raise InvalidInput(f"option 'labels' must hold 1 to {most} labels (MAX_LABELS) of at most {chars} "
                           f"characters each (MAX_LABEL_CHARS), got {len(labels)} labels, the longest "
                           f"{max((len(v) for v in labels), default=0)} characters")
    return labels
