"""Search filters: `gender = "Women" AND articleType IN ("Dresses", "Skirts")` -> which index entries qualify.

The grammar (one place, used by `catalogue search --where`, POST /search's "where" and the page):
    where  := cond (AND cond)*
    cond   := FIELD ("=" | "!=") STRING | FIELD [NOT] IN "(" STRING ("," STRING)* ")"
FIELD is one of FIELDS: the product's metadata (the whole photo's), `label` (a garment's class) and
`garment.<field>` (a garment's own metadata). Keywords are case-insensitive; strings are double-quoted
(\\" and \\\\ escape). A condition on a garment field matches no whole-image entry. Anything else is a
FilterError naming the position.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

PRODUCT_FIELDS = ("gender", "articleType", "baseColour", "season", "usage")
GARMENT_FIELDS = tuple(f"garment.{f}" for f in PRODUCT_FIELDS)
FIELDS = (*PRODUCT_FIELDS, "label", *GARMENT_FIELDS)
GARMENT_ONLY = ("label", *GARMENT_FIELDS)  # whole-image entries have none: a condition on one never matches them
MAX_WHERE_CHARS = 2000
MAX_VALUES = 100
_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>!=|=|\(|\)|,)|(?P<word>[A-Za-z_][A-Za-z_.]*))')


class FilterError(ValueError):
    """A `where` that does not parse or names an unknown field."""


@dataclasses.dataclass(frozen=True)
class Condition:
    field: str
    values: tuple[str, ...]
    negated: bool  # != or NOT IN


@dataclasses.dataclass(frozen=True)
class Where:
    conditions: tuple[Condition, ...]
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.text}

    def mask(self, columns: dict[str, "Column"], size: int) -> np.ndarray:
        """Which of `size` entries qualify, from their columns (a missing column: every value None)."""
        keep = np.ones(size, dtype=bool)
        for c in self.conditions:
            column = columns.get(c.field) or Column.of([None] * size)
            hit = np.zeros(size, dtype=bool)
            for code in {column.lookup[v] for v in c.values if v in column.lookup}:
                hit |= column.codes == code  # a compare per value: far cheaper than np.isin at a million
            keep &= ~hit if c.negated else hit
            if c.field in GARMENT_ONLY:
                keep &= column.codes >= 0
        return keep


@dataclasses.dataclass(frozen=True)
class Column:
    """One field of every entry as integer codes (-1: None), so a filter over a million entries costs
    milliseconds."""
    codes: np.ndarray
    lookup: dict[str, int]

    @classmethod
    def of(cls, values: list[Any]) -> "Column":
        lookup: dict[str, int] = {}
        codes = np.fromiter((-1 if v is None else lookup.setdefault(str(v), len(lookup)) for v in values),
                            dtype=np.int32, count=len(values))
        return cls(codes, lookup)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterError(f"where: cannot read {text[pos:pos + 20]!r} at character {pos}")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value, m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.i = _tokens(text), 0

    def peek(self, kind: str, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        k, v, _ = self.tokens[self.i]
        return k == kind and (value is None or v.upper() == value)

    def take(self, kind: str, value: str | None = None) -> str:
        if not self.peek(kind, value):
            where = f"at character {self.tokens[self.i][2]}" if self.i < len(self.tokens) else "at the end"
            raise FilterError(f"where: expected {value or kind} {where}")
        self.i += 1
        return self.tokens[self.i - 1][1]

    def condition(self) -> Condition:
        field = self.take("word")
        if field not in FIELDS:
            raise FilterError(f"where: unknown field {field[:40]!r}; the fields are {list(FIELDS)}")
        if self.peek("op", "=") or self.peek("op", "!="):
            negated = self.take("op") == "!="
            return Condition(field, (self.take("string"),), negated)
        negated = self.peek("word", "NOT")
        if negated:
            self.take("word", "NOT")
        self.take("word", "IN")
        self.take("op", "(")
        values = [self.take("string")]
        while self.peek("op", ","):
            self.take("op", ",")
            values.append(self.take("string"))
        self.take("op", ")")
        if len(values) > MAX_VALUES:
            raise FilterError(f"where: at most {MAX_VALUES} values in a list")
        return Condition(field, tuple(values), negated)


def parse(text: str) -> Where:
    """The `where` string -> Where (FilterError on anything else)."""
    if not isinstance(text, str) or not text.strip():
        raise FilterError('where must be a non-empty string such as: gender = "Women"')
    if len(text) > MAX_WHERE_CHARS:
        raise FilterError(f"where has {len(text)} characters; at most {MAX_WHERE_CHARS}")
    parser = _Parser(text)
    conditions = [parser.condition()]
    while parser.i < len(parser.tokens):
        parser.take("word", "AND")
        conditions.append(parser.condition())
    return Where(tuple(conditions), text.strip())
