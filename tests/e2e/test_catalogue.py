"""The catalogue job against the running front door: an enrichment killed with SIGKILL halfway resumes with
no duplicate or missing row and records a corrupted file as refused; /search answers text, image, garment and
vector queries (and refuses bad ones in the error contract); the search CLI reads the same index."""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from catalogue.store import read_rows
from tests.conftest import PRODUCTS, ROOT, STREET

PHOTOS = 30


def _enrich(src: Path, dest: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "catalogue", "enrich", str(src), "--out", str(dest), "--url", url,
                             "--concurrency", "2", "--batch", "1", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_enrichment_survives_kill_9_and_records_a_corrupted_file(server, tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    for p in sorted(PRODUCTS.glob("*.jpg"))[7::97][:PHOTOS]:
        shutil.copy(p, src / p.name)
    data = (src / sorted(os.listdir(src))[3]).read_bytes()
    (src / "corrupted.jpg").write_bytes(data[:20] + bytes(len(data) - 20))  # a JPEG header, then zeros
    dest = tmp_path / "enriched.parquet"
    journal = dest.with_name(dest.name + ".journal.jsonl")
    first = _enrich(src, dest, server.inference + "/predictions/fashion")
    deadline = time.monotonic() + 120
    while (not journal.exists() or journal.read_text().count("\n") < PHOTOS // 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    done_before = journal.read_text().count("\n")
    assert 0 < done_before < PHOTOS + 1 and not dest.exists()
    second = _enrich(src, dest, server.inference + "/predictions/fashion")
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    assert f"images: {PHOTOS + 1} ({done_before} already done)" in out and "refused: 1 (" in out
    rows = read_rows(dest)
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(p.stem for p in src.iterdir()) and len(ids) == len(set(ids))
    bad = next(r for r in rows if r["id"] == "corrupted")
    assert bad["status"] == "refused" and 400 <= bad["error_code"] < 500 and bad["error_message"]
    good = [r for r in rows if r["status"] == "ok"]
    assert len(good) == PHOTOS and all(len(r["embedding"]) == 256 and r["articleType"] for r in good)
    assert not journal.exists()


def _search(server, **body) -> tuple[int, dict]:
    r = server.post("/search", json=body)
    return r.status_code, r.json()


def test_search_by_text_image_garment_and_vector(server, catalogue_index: Path) -> None:
    entries = json.loads((catalogue_index / "index.json").read_text())
    status, text = _search(server, text="a pair of shoes", k=5)
    assert status == 200 and len(text["hits"]) == 5 and text["query"]["text"] == "a pair of shoes"
    assert text["index"]["products"] == entries["products"]
    product = sorted(PRODUCTS.glob("*.jpg"))[::100][2]  # an indexed product: it finds itself first
    r = server.post("/search?k=3", content=product.read_bytes())
    assert r.status_code == 200 and r.json()["hits"][0]["id"] == product.stem
    assert r.json()["hits"][0]["score"] > 0.99
    street = base64.b64encode((STREET / "0005.jpg").read_bytes()).decode()
    status, garment = _search(server, b64=street, garment=0, scope="all", k=4)
    assert status == 200 and garment["query"]["garment"]["label"] and len(garment["hits"]) == 4
    status, vector = _search(server, vector=[0.1] * 256, k=2)
    assert status == 200 and len(vector["hits"]) == 2


def test_filtered_search_obeys_the_filter(server, catalogue_index: Path) -> None:
    where = 'gender = "Women" AND articleType NOT IN ("Watches", "Tshirts")'
    status, found = _search(server, text="a summer top", k=5, where=where)
    assert status == 200 and found["query"]["where"] == where and found["hits"]
    assert all(h["gender"] == "Women" and h["articleType"] not in ("Watches", "Tshirts") for h in found["hits"])
    status, none = _search(server, text="a summer top", where='baseColour = "No such colour"')
    assert status == 200 and none["hits"] == []
    status, bad = _search(server, text="x", where='colour = "Red"')
    assert status == 400 and "unknown field" in bad["error"]["message"]
    out = subprocess.run([sys.executable, "-m", "catalogue", "search", str(catalogue_index), "--text", "jeans",
                          "--where", 'gender = "Men"', "--url", server.inference + "/predictions/fashion"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert all(h["gender"] == "Men" for h in json.loads(out.stdout)["hits"])


def test_hits_carry_thumbnails_read_only_from_the_indexed_images(server, catalogue_index: Path) -> None:
    from PIL import Image

    status, found = _search(server, text="a pair of shoes", k=3)
    assert status == 200 and all(h["thumbnail"] == f"/thumbnail?id={h['id']}" for h in found["hits"])
    r = server.get(found["hits"][0]["thumbnail"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(r.content))
    assert picture.format == "JPEG" and max(picture.size) <= 192
    again = server.get(found["hits"][0]["thumbnail"])  # from the cache: the same bytes
    assert again.status_code == 200 and again.content == r.content
    for query, code in (("id=no-such-product", 404), ("id=../../../../etc/passwd", 404),
                        ("id=/etc/passwd", 404), ("id=", 400), ("path=/etc/passwd", 400), ("", 400)):
        bad = server.get(f"/thumbnail?{query}")
        assert bad.status_code == code and bad.json()["error"]["code"] == code, query
    assert server.post("/thumbnail?id=x").status_code == 405


def test_search_refusals_keep_the_error_contract(server) -> None:
    for body, code in (({}, 400), ({"text": "x", "k": 0}, 400), ({"vector": [1, 2, 3]}, 400),
                       ({"text": "x", "scope": "nowhere"}, 400), ({"b64": "@@@"}, 400)):
        status, payload = _search(server, **body)
        assert status == code and payload["error"]["code"] == code and payload["error"]["message"], body
    r = server.post("/search", content=b"not an image")
    assert r.status_code == 415 and "refused" in r.json()["error"]["message"]
    for where in ("/search", "/predictions/embedder", "/predictions/fashion"):  # text that is not Unicode: 400
        body = b'{"text": "\\ud800"}' if where == "/search" else b'{"text": ["red \\udfff dress"]}'
        r = server.post(where, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "surrogate" in r.json()["error"]["message"], (where, r.text)


def test_search_cli_reads_the_index_through_the_server(server, catalogue_index: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "catalogue", "search", str(catalogue_index), "--text", "blue jeans",
                          "--k", "3", "--url", server.inference + "/predictions/fashion"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert len(answer["hits"]) == 3 and all("id" in h and "score" in h for h in answer["hits"])
