"""Options parsing; the README's two commands exist and CI runs the test one."""
from __future__ import annotations

import re

import pytest

from fashion.errors import InvalidInput
from fashion.request.options import Options, parse_options
from tests.conftest import ROOT


def test_defaults_and_conversions():
    assert parse_options(None) == Options()
    o = parse_options({"embedding_only": "yes", "min_score": "0.5", "max_garments": "3",
                       "mask_format": "NONE", "include": "metadata,garments"})
    assert o == Options(True, 0.5, 3, "none", ("garments", "metadata"))


@pytest.mark.parametrize("raw", [{"embedding_only": "maybe"}, {"max_garments": 1000}, {"max_garments": "x"},
                                 {"include": ["colour"]}, {"mask": "rle"}])
def test_bad_options(raw):
    with pytest.raises(InvalidInput):
        parse_options(raw)


def test_readme_commands_are_make_targets_and_ci_runs_the_tests():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("serve", "test", "stop"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_export_and_training_do_not_import_each_other():
    """Both build on fashion/ (the shared model modules: attribute_model, embedder_model, provenance)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for package, other in (("export", "training"), ("training", "export")):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not any(n == other or n.startswith(other + ".") for n in names), (path, names)
