"""The README is a front page and docs/ holds the rest: every page is linked from it, every relative link and
anchor resolves, and what the pages show exists: make targets, `python -m` commands (their --help runs), JSON
examples (they parse; a response's fields are the contract's), FASHION_* variables, the limits and options tables."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 250
HELP_TIMEOUT_S = 120
# Where a FASHION_* variable a page names must be read or set.
CODE_DIRS = ("fashion", "handlers", "export", "launcher", "training", "catalogue", "bench", "client", "tests",
             "deploy", "configs", ".ci")
CODE_FILES = ("Makefile", "Dockerfile", "config.properties")
CODE_SUFFIXES = {".py", ".yaml", ".yml", ".sh", ".json", ".properties", ""}

FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
MAKE = re.compile(r"\bmake[ \t]+(?:[A-Z_]+=\S*[ \t]+)*([a-z][a-z0-9-]*)")
PYTHON_M = re.compile(r"\bpython3?[ \t]+-m[ \t]+([A-Za-z_][\w.]*)(?:[ \t]+([a-z][a-z0-9-]*)(?=\s|$))?")
ENV = re.compile(r"\bFASHION_[A-Z0-9_]+")


class Page(NamedTuple):
    path: Path
    text: str

    @property
    def name(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def fences(self) -> list[tuple[str, str]]:
        """(language, body) of every fenced code block."""
        return FENCE.findall(self.text)

    @property
    def prose(self) -> str:
        """The text outside fenced code blocks."""
        return FENCE.sub("", self.text)

    @property
    def code(self) -> list[str]:
        """Fenced blocks and inline code spans: what a reader would type."""
        return [body for _, body in self.fences] + INLINE_CODE.findall(self.prose)


@cache
def pages() -> tuple[Page, ...]:
    return tuple(Page(p, p.read_text()) for p in [README, *sorted(DOCS.glob("*.md"))])


def docs_pages() -> list[Page]:
    return [p for p in pages() if p.path != README]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a markdown file; repeated headings get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def relative_links(page: Page) -> list[str]:
    """Link targets in a page's prose (not in code), without external URLs."""
    prose = INLINE_CODE.sub("", page.prose)
    return [t for t in LINK.findall(prose) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def resolve(page: Page, target: str) -> tuple[Path, str]:
    path, _, anchor = target.partition("#")
    return ((page.path.parent / path).resolve() if path else page.path), anchor


def test_readme_is_a_front_page_that_links_every_docs_page():
    """Under 250 lines, the two commands, and a link to every docs/*.md."""
    readme = README.read_text()
    n = len(readme.splitlines())
    assert n < MAX_README_LINES, f"README.md has {n} lines; move detail into docs/"
    for command in ("make serve", "make test"):
        assert command in readme, command
    linked = {resolve(pages()[0], t)[0] for t in relative_links(pages()[0])}
    assert docs_pages(), "no docs/*.md"
    unlinked = [p.name for p in docs_pages() if p.path not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(page: Page):
    broken = []
    for target in relative_links(page):
        path, anchor = resolve(page, target)
        if not path.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert not broken, f"{page.name}: {broken}"


@cache
def make_targets() -> frozenset[str]:
    makefile = (ROOT / "Makefile").read_text()
    rules = re.findall(r"^([^\s:#=][^:#=]*?)[ \t]*:(?!=)", makefile, re.M)
    return frozenset(name for rule in rules for name in rule.split())


def test_make_targets_named_in_code_exist():
    missing = sorted({(page.name, target) for page in pages() for block in page.code
                      for target in MAKE.findall(block) if target not in make_targets()})
    assert not missing, f"make targets the Makefile does not have: {missing}"


def test_json_examples_parse():
    bad = []
    for page in pages():
        for lang, body in page.fences:
            if lang == "json":
                try:
                    json.loads(body)
                except json.JSONDecodeError as e:
                    bad.append(f"{page.name}: {e}")
    assert not bad, bad


@cache
def code_corpus() -> str:
    """Every source, config and script file that may read or set an environment variable (not the docs)."""
    files = [ROOT / f for f in CODE_FILES]
    for folder in CODE_DIRS:
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in CODE_SUFFIXES
                  and "__pycache__" not in p.parts and p != Path(__file__).resolve()]
    return "\n".join(p.read_text(errors="replace") for p in files if p.is_file())


def test_fashion_variables_exist_in_the_code():
    named = {name for page in pages() for name in ENV.findall(page.text)}
    assert named, "no FASHION_* variable in the docs: is the pattern still right?"
    # a name ending in "_" is a prefix (`FASHION_URL_*`): some variable must start with it
    missing = sorted(n for n in named
                     if not re.search(rf"\b{n}" if n.endswith("_") else rf"\b{n}\b", code_corpus()))
    assert not missing, f"FASHION_* variables the docs name but no code reads or sets: {missing}"


# python -m commands of the repository's own packages, found once at collection.
OWN_PACKAGES = frozenset(p.parent.name for p in ROOT.glob("*/__init__.py"))


def python_m_commands() -> list[tuple[str, str]]:
    """(module, subcommand or "") of every `python -m` in the pages' code that runs one of our modules."""
    found = {(module.rstrip("."), sub) for page in pages() for block in page.code
             for module, sub in PYTHON_M.findall(block) if module.split(".")[0] in OWN_PACKAGES}
    return sorted(found)


def entry_file(module: str) -> Path | None:
    """The file `python -m module` runs, or None when the module (or a package's __main__) does not exist."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        return None
    if spec.submodule_search_locations is not None:
        spec = importlib.util.find_spec(f"{module}.__main__")
    return Path(spec.origin) if spec and spec.origin else None


def has_argparse_cli(module: str) -> bool:
    path = entry_file(module)
    return path is not None and "argparse" in path.read_text()


def help_argv(module: str, sub: str) -> list[str]:
    return [module, *([sub] if sub else []), "--help"]


# Runs `python -m MODULE [SUB] --help` for each (module, sub) in argv[1] inside one interpreter (so a package's
# heavy imports are paid once) and writes [returncode, stdout, stderr] per command to the file argv[2].
HELP_RUNNER = """
import contextlib, io, json, runpy, sys, traceback
commands, dest, results = json.loads(sys.argv[1]), sys.argv[2], []
for module, sub in commands:
    sys.argv = [module, *([sub] if sub else []), "--help"]
    out, err, code = io.StringIO(), io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    except BaseException:
        code = 1
        err.write(traceback.format_exc())
    results.append([code, out.getvalue(), err.getvalue()])
with open(dest, "w") as f:
    json.dump(results, f)
"""


class HelpRun(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


@cache
def help_runs(tmp: Path) -> dict[tuple[str, str], HelpRun]:
    """Every `--help` the pages imply, one interpreter per top-level package, the packages side by side."""
    keys = [k for k in python_m_commands() if has_argparse_cli(k[0])]
    groups: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        groups.setdefault(key[0].split(".")[0], []).append(key)

    def run(package: str, group: list[tuple[str, str]]) -> dict[tuple[str, str], HelpRun]:
        out = tmp / f"{package}.json"
        try:
            proc = subprocess.run([sys.executable, "-c", HELP_RUNNER, json.dumps(group), str(out)], cwd=ROOT,
                                  capture_output=True, text=True, timeout=HELP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {k: HelpRun(-1, "", f"no answer within {HELP_TIMEOUT_S} s") for k in group}
        if not out.is_file():  # the interpreter itself died
            return {k: HelpRun(proc.returncode, proc.stdout, proc.stderr) for k in group}
        return {k: HelpRun(*r) for k, r in zip(group, json.loads(out.read_text()))}

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = pool.map(lambda item: run(*item), groups.items())
    return {k: v for d in done for k, v in d.items()}


def test_the_pages_name_python_m_commands():
    assert python_m_commands(), "no `python -m` command found in the pages: is the pattern still right?"


@pytest.mark.parametrize("module,sub", python_m_commands(), ids=lambda x: x or "-")
def test_python_m_commands_exist_and_their_help_runs(module: str, sub: str, tmp_path_factory: pytest.TempPathFactory):
    """The module is importable; where it has an argparse CLI, `python -m module [sub] --help` exits 0."""
    assert entry_file(module) is not None, f"python -m {module}: no such module (or package without __main__)"
    if not has_argparse_cli(module):
        return  # nothing to ask for --help (e.g. fashion.schema prints the contract); importable is the check
    result = help_runs(tmp_path_factory.getbasetemp())[(module, sub)]
    command = "python -m " + " ".join(help_argv(module, sub))
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stderr[-2000:]}"
    assert "usage" in result.stdout.lower(), f"{command} printed no usage:\n{result.stdout[-2000:]}"


def table_first_column(page: Path, heading: str) -> set[str]:
    """The backticked names in the first column of the table under a page's `## heading`."""
    section = page.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in INLINE_CODE.findall(cell)}


def test_limits_table_lists_every_limit():
    """fashion/request/limits.py: each field's variable is its name in capitals, and the Limits table lists them all."""
    from fashion.request.limits import Limits

    fields = {f.name.upper() for f in dataclasses.fields(Limits)}
    assert table_first_column(DOCS / "configuration.md", "Limits") == fields


def test_options_table_lists_every_option():
    """fashion/request/options.py refuses any other key, so the Options table must name exactly its fields."""
    from fashion.request.options import Options

    assert table_first_column(DOCS / "calling.md", "Options") == {f.name for f in dataclasses.fields(Options)}


def unknown_keys(example: object, schema: dict, defs: dict, where: str = "") -> list[str]:
    """Keys of an (abridged) example the schema does not have, following $ref, objects and arrays."""
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(example, dict) and "properties" in schema:
        known = schema["properties"]
        return [f"{where}.{k}" for k in example if k not in known] + [
            bad for k, v in example.items() if k in known for bad in unknown_keys(v, known[k], defs, f"{where}.{k}")]
    if isinstance(example, list) and isinstance(schema.get("items"), dict):
        return [bad for i, v in enumerate(example) for bad in unknown_keys(v, schema["items"], defs, f"{where}[{i}]")]
    return []


def test_response_examples_use_the_contracts_names():
    """Every JSON example of a response (it has `image` and `models`) names only fields of the contract."""
    from fashion.schema import response_schema

    schema = response_schema()
    examples = [(page.name, json.loads(body)) for page in pages() for lang, body in page.fences if lang == "json"]
    responses = [(name, e) for name, e in examples if isinstance(e, dict) and {"image", "models"} <= e.keys()]
    assert responses, "no response example in the pages"
    for name, example in responses:
        unknown = unknown_keys(example, schema, schema.get("$defs", {}))
        assert not unknown, f"{name}: fields the contract does not have: {unknown}"
