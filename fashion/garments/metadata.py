"""Catalogue fields derived from predicted attributes: master/sub category and a display name."""
from __future__ import annotations

from typing import Any

SUB_CATEGORY = "subCategory"  # the head that names the category where the articleType is 'Other'
OTHER = "Other"  # the articleType of the types rarer than the vocabulary keeps
_SINGULAR_EXCEPTIONS = {"Jeans", "Shorts", "Trousers", "Track Pants", "Leggings", "Capris", "Briefs", "Boxers",
                        "Jeggings", "Tights", "Stockings", "Sunglasses", "Flip Flops", "Sandals", "Shoes",
                        "Eyes", "Lips", "Nails", "Heels", "Flats", "Lounge Pants", "Lounge Shorts", "Trunk",
                        "Innerwear Vests"}
_IRREGULAR = {"Scarves": "Scarf", "Innerwear Vests": "Innerwear Vest"}


def singular(article_type: str) -> str:
    """'Shirts' -> 'Shirt', 'Dresses' -> 'Dress', 'Accessories' -> 'Accessory'; pair nouns ('Jeans', 'Sandals')
    and singular words ending in s ('Dress', 'Lips' as a subCategory) stay as they are."""
    if article_type in _IRREGULAR:
        return _IRREGULAR[article_type]
    if article_type.endswith("Accessories"):  # 'Shoe Accessories' -> 'Shoe Accessory'
        return article_type.removesuffix("ies") + "y"
    if article_type in _SINGULAR_EXCEPTIONS or not article_type.endswith("s") or article_type.endswith("ss"):
        return article_type
    if article_type.endswith("sses") or article_type.endswith("ches") or article_type.endswith("shes"):
        return article_type[:-2]
    return article_type[:-1]


def display_name(fields: dict[str, Any], noun: str | None = None) -> str:
    """Catalogue style: '{gender} {baseColour} {articleType}', e.g. 'Men Navy Blue Shirt'; `noun` in place of an
    articleType 'Other' (its subCategory: 'Unisex Black Fragrance')."""
    parts = [fields.get("gender"), fields.get("baseColour"), fields.get("articleType")]
    labels = [p["label"] if isinstance(p, dict) else p for p in parts]
    if labels[2] == OTHER and noun:
        labels[2] = noun
    if labels[2]:
        labels[2] = singular(labels[2])
    return " ".join(str(x) for x in labels if x and x not in (OTHER, "NA"))


def derive(fields: dict[str, Any], mapping: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Add masterCategory, subCategory and productDisplayName to predicted fields. The categories come from the
    articleType (`mapping`: articleType -> its masterCategory and subCategory); null when it is null. Where the
    articleType is 'Other' and the model has a subCategory head (training/product_heads.py), that head names the
    subCategory and `mapping` its masterCategory (its labels are keys there too); 'Other' there is null."""
    article = (fields.get("articleType") or {}).get("label")
    derived = mapping.get(article, {}) if article else {}
    head = fields.get(SUB_CATEGORY)  # the head's {label, score}; a plain string once derived
    sub = head.get("label") if isinstance(head, dict) else None
    if article == OTHER and sub not in (None, OTHER):
        derived = {"masterCategory": mapping.get(sub, {}).get("masterCategory"), "subCategory": sub}
    return {**fields, "masterCategory": derived.get("masterCategory"), "subCategory": derived.get("subCategory"),
            "productDisplayName": display_name(fields, derived.get("subCategory"))}
