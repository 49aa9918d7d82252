"""Captions for contrastive training, from a catalogue row: its productDisplayName and templated attribute phrases.

Several per image; an epoch draws one of them per image. The phrases include the zero-shot prompts of
`fashion.stages.zeroshot` (so the text tower learns the sentences zero-shot metadata asks it about) and the bare
attribute names (the category queries of the retrieval report: "Tshirts", "Navy Blue", "Casual").
"""
from __future__ import annotations

from fashion.garments.metadata import singular
from fashion.stages.zeroshot import prompts
from training.catalogue import Record

_GENDER = {"Men": "men", "Women": "women", "Boys": "boys", "Girls": "girls", "Unisex": "unisex"}


def worn_captions(family: tuple[str, ...], gender: str | None, parsing_class: str) -> list[str]:
    """Captions for a worn garment's crop (a street photo's labelled garment): each articleType of its family in
    the catalogue's words (bare, with the person's gender, and as the zero-shot prompts), and its parsing class."""
    who = _GENDER.get(gender or "", "")
    out = []
    for article in family:
        out += [article, f"{who} {article.lower()}".strip(), f"a {singular(article).lower()}"
                + (f" for {who}" if who else "")]
        out.extend(prompts("articleType", article))
    out.append(parsing_class)
    return list(dict.fromkeys(out))


def captions(record: Record) -> list[str]:
    """Distinct captions for one catalogue row (never empty for a row with at least one label)."""
    lab = record.labels
    gender, colour, article = lab.get("gender"), lab.get("baseColour"), lab.get("articleType")
    season, usage = lab.get("season"), lab.get("usage")
    thing = singular(article).lower() if article else None
    out = [record.name] if record.name else []
    words = " ".join(w for w in (gender and _GENDER.get(gender, gender.lower()), colour and colour.lower(),
                                 article and article.lower()) if w)
    if words:
        out.append(words)
    if thing and colour:
        out.append(f"a {colour.lower()} {thing}" + (f" for {_GENDER.get(gender, gender.lower())}" if gender else ""))
    if thing and (usage or season):
        out.append(" ".join(w for w in (usage and usage.lower(), thing, season and f"for {season.lower()}") if w))
    for head in ("gender", "articleType", "baseColour", "season", "usage"):
        if lab.get(head):
            out.append(lab[head])
            out.extend(prompts(head, lab[head]))
    return list(dict.fromkeys(c for c in out if c))
