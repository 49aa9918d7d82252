"""The catalogue job without a server: sources, the journal, the job's retries and refusals, the engine's
splitting, the index, garment picking and Vertex files."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from catalogue import index as index_mod
from catalogue.engines import RemoteEngine, Unavailable
from catalogue.enrich import Job, JobStopped
from catalogue.index import CatalogueIndex, IndexRefused
from catalogue.query import embedder_url, pick_garment
from catalogue.sources import SourceError, read_source
from catalogue.store import Journal, read_rows
from catalogue.filters import FIELDS
from catalogue.vertex import import_results, vector_search_lines, write_instances
from fashion.errors import InvalidInput

DIM = 8


def _vec(seed: int) -> list[float]:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


def _result(seed: int, garments: int = 1) -> dict:
    return {"image": {"width": 10, "height": 20}, "embedding": _vec(seed),
            "metadata": {"articleType": {"label": "Tshirts", "score": 0.9}, "source": "classifier"},
            "garments": [{"label": "top", "score": 0.8, "box": [0, 0, 5, 5], "area": 25, "colour": None,
                          "mask": {"size": [20, 10], "counts": "abc"}, "embedding": _vec(seed * 100 + n),
                          "metadata": {"gender": {"label": "Women", "score": 0.8}}}
                         for n in range(garments)],
            "models": [{"name": "embedder", "architecture": "arch", "weights": "local:e.pt",
                        "random_weights": False}]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("a.jpg", "b.png", "sub/c.jpg"):
        (src / name).write_bytes(b"image " + name.encode())
    (src / "notes.txt").write_text("not an image")
    return src


class FakeEngine:
    """Answers every image; refuses bytes starting with b"bad"; is unavailable for the first `down` calls."""

    def __init__(self, down: int = 0) -> None:
        self.down, self.calls, self.images = down, 0, 0

    def answer(self, images: list[bytes], parameters: dict) -> list[dict]:
        self.calls += 1
        if self.calls <= self.down:
            raise Unavailable("503", retry_after=0)
        self.images += len(images)
        return [{"error": {"code": 415, "type": "UnsupportedMediaType", "message": "not an image"}}
                if im.startswith(b"bad") else _result(len(im)) for im in images]

    def close(self) -> None:
        pass


def test_sources_folder_csv_jsonl_and_their_errors(folder: Path, tmp_path: Path) -> None:
    assert [r.id for r in read_source(folder)] == ["a", "b", "sub/c"]
    table = tmp_path / "cat.csv"
    table.write_text("id,image_url\n7,src/a.jpg\n8,https://shop.example/8.jpg\n")
    recs = read_source(table)
    assert [(r.id, r.is_url) for r in recs] == [("7", False), ("8", True)]
    assert recs[0].source == str(tmp_path / "src" / "a.jpg")
    lines = tmp_path / "inst.jsonl"
    lines.write_text(json.dumps({"id": "x", "b64": base64.b64encode(b"pix").decode()}) + "\n"
                     + json.dumps({"path": "src/b.png"}) + "\n")
    recs = read_source(lines)
    assert recs[0].data == b"pix" and recs[1].id == "2" and recs[1].source.endswith("src/b.png")
    table.write_text("id,image\n1,a.jpg\n1,b.jpg\n")
    with pytest.raises(SourceError, match="more than once"):
        read_source(table)
    table.write_text("sku,image\n1,a.jpg\n")
    with pytest.raises(SourceError, match="--id-column"):
        read_source(table)


def test_journal_survives_a_torn_line_and_finishes_atomically(tmp_path: Path) -> None:
    dest = tmp_path / "out.parquet"
    j = Journal(dest)
    j.append([{"id": "a", "status": "refused", "error_code": 415}])
    j.close()
    with j.path.open("a") as f:
        f.write('{"id": "b", "sta')  # the process died mid-line
    j = Journal(dest)
    assert j.done == {"a"} and j.path.read_text().count("\n") == 1
    j.append([{"id": "a", "status": "ok"}, {"id": "b", "status": "refused", "error_code": 400}])
    assert [r["id"] for r in j.rows] == ["a", "b"]  # the duplicate "a" is not written twice
    j.finish()
    assert not j.path.exists() and [r["id"] for r in read_rows(dest)] == ["a", "b"]
    again = Journal(dest)  # a later run on a grown catalogue keeps the earlier rows
    assert again.done == {"a", "b"}
    again.append([{"id": "c", "status": "refused", "error_code": 400}])
    again.finish()
    assert [r["id"] for r in read_rows(dest)] == ["a", "b", "c"]


def test_job_retries_records_refusals_and_resumes_without_duplicates(folder: Path, tmp_path: Path) -> None:
    (folder / "bad.jpg").write_bytes(b"bad bytes")
    (folder / "gone.jpg").write_bytes(b"soon gone")
    records = read_source(folder)
    (folder / "gone.jpg").unlink()  # deleted between listing and reading: a refused row, not a crash
    dest = tmp_path / "out.jsonl"
    engine = FakeEngine(down=2)
    job = Job(engine, Journal(dest), {}, batch=2, concurrency=2, sleep=lambda s: None)
    summary = job.run(records)
    assert summary.retries == 2 and summary.done == 3
    assert dict(summary.refused) == {415: 1, 400: 1}
    job.journal.finish()
    rows = {r["id"]: r for r in read_rows(dest)}
    assert set(rows) == {"a", "b", "sub/c", "bad", "gone"}
    assert rows["bad"]["error_code"] == 415 and rows["gone"]["status"] == "refused"
    assert rows["a"]["articleType"] == "Tshirts" and rows["a"]["embedder"] == "arch local:e.pt"
    (folder / "gone.jpg").write_bytes(b"back again")
    (folder / "new.jpg").write_bytes(b"new image")
    engine2 = FakeEngine()
    summary = Job(engine2, Journal(dest), {}, sleep=lambda s: None).run(read_source(folder))
    assert summary.skipped == 5 and engine2.images == 1  # refused rows are not retried


def test_job_stops_when_the_server_stays_down_and_keeps_what_it_has(folder: Path, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "out.parquet")
    with pytest.raises(JobStopped, match="stopped after 3 retries"):
        Job(FakeEngine(down=100), journal, {}, batch=1, concurrency=1, retries=3, sleep=lambda s: None).run(
            read_source(folder))
    assert journal.rows == []


def test_remote_engine_splits_a_refused_batch_and_reports_unavailable() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(len(body["instances"]))
        if any(base64.b64decode(i["b64"]) == b"bad" for i in body["instances"]):
            return httpx.Response(415, json={"error": {"code": 415, "type": "UnsupportedMediaType", "message": "no"}})
        if body["parameters"].get("down"):
            return httpx.Response(503, headers={"Retry-After": "3"})
        return httpx.Response(200, json={"predictions": [_result(1) for _ in body["instances"]]})

    engine = RemoteEngine("http://test/predictions/fashion")
    engine.http = httpx.Client(transport=httpx.MockTransport(handler))
    out = engine.answer([b"good", b"bad", b"good"], {})
    assert seen == [3, 1, 1, 1] and out[1]["error"]["code"] == 415 and "embedding" in out[2]
    with pytest.raises(Unavailable) as exc:
        engine.answer([b"good"], {"down": True})
    assert exc.value.retry_after == 3


def _rows(n: int, embedder: str = "arch local:e.pt") -> list[dict]:
    return [{"id": f"p{i}", "status": "ok", "embedding": _vec(i), "articleType": "Tshirts", "embedder": embedder,
             "garments": [{"label": "top", "box": [0, 0, 1, 1], "embedding": _vec(1000 + i)}]} for i in range(n)]


def test_index_search_incremental_add_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = CatalogueIndex.open_or_create(tmp_path / "ix", DIM, None)
    assert idx.add_rows(_rows(30)) == {"images": 30, "garments": 30}
    idx.save()
    idx = CatalogueIndex.open(tmp_path / "ix")
    hits = idx.search(np.asarray(_vec(7)), k=3)
    assert hits[0]["id"] == "p7" and hits[0]["score"] == pytest.approx(1.0, abs=1e-4) and len(hits) == 3
    garment = idx.search(np.asarray(_vec(1007)), k=2, scope="garments")[0]
    assert garment["id"] == "p7" and garment["garment"] == 0 and garment["label"] == "top"
    assert idx.search(np.asarray(_vec(7)), k=3, exclude="p7")[0]["id"] != "p7"
    assert idx.add_rows(_rows(32)) == {"images": 2, "garments": 2}  # only the new ids
    with pytest.raises(IndexRefused, match="different embedders"):
        idx.add_rows([{**_rows(40)[35], "embedder": "other"}])
    with pytest.raises(IndexRefused, match="dimension"):
        idx.search(np.zeros(3), k=1)
    monkeypatch.setattr(index_mod, "EXACT_MAX", 40)  # growing past the exact bound rebuilds as HNSW
    idx.add_rows(_rows(50))
    assert idx.info()["images"] == {"count": 50, "kind": "hnsw"}
    assert idx.search(np.asarray(_vec(45)), k=1)[0]["id"] == "p45"


def test_pick_garment_by_number_or_box() -> None:
    garments = [{"label": "top", "box": [0, 0, 10, 10]}, {"label": "pants", "box": [0, 10, 10, 30]}]
    assert pick_garment(garments, 1)["label"] == "pants"
    assert pick_garment(garments, box=[1, 12, 9, 28])["label"] == "pants"
    for bad in ({"number": 5}, {"box": [50, 50, 60, 60]}, {}):
        with pytest.raises(InvalidInput):
            pick_garment(garments, **bad)
    with pytest.raises(InvalidInput, match="no garment"):
        pick_garment([], 0)
    assert embedder_url("http://h:8080/predictions/fashion") == "http://h:8080/predictions/embedder"


def test_vertex_instances_import_and_vector_search(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "instances.jsonl"
    written, refused = write_instances(read_source(folder), out)
    first = json.loads(out.read_text().splitlines()[0])
    assert written == 3 and not refused and base64.b64decode(first["b64"]) == b"image a.jpg"
    results = tmp_path / "results"
    results.mkdir()
    (results / "prediction.results-00000-of-00001").write_text(
        json.dumps({"instance": {"id": "a"}, "prediction": _result(3, garments=2)}) + "\n"
        + json.dumps({"instance": {"id": "b"}, "prediction": {"error": {"code": 415, "message": "no"}}}) + "\n")
    rows = import_results(results)
    assert [(r["id"], r["status"]) for r in rows] == [("a", "ok"), ("b", "refused")]
    vectors = list(vector_search_lines(rows))
    assert [v["id"] for v in vectors] == ["a", "a#0", "a#1"] and len(vectors[0]["embedding"]) == DIM
    assert {"namespace": "articleType", "allow": ["Tshirts"]} in vectors[0]["restricts"]
    # the namespaces are the search filter's fields (catalogue.filters): a garment's label and own metadata too
    assert {"namespace": "label", "allow": ["top"]} in vectors[1]["restricts"]
    assert {"namespace": "garment.gender", "allow": ["Women"]} in vectors[1]["restricts"]
    assert {r["namespace"] for v in vectors for r in v["restricts"]} <= {*FIELDS, "kind"}


def test_the_index_keeps_each_products_image_for_thumbnails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from catalogue.thumbnails import Unreadable, thumbnail

    photo = tmp_path / "photos" / "p1.jpg"
    photo.parent.mkdir()
    Image.new("RGB", (600, 300), (200, 30, 30)).save(photo)
    rows = _rows(4)
    rows[0]["source"] = "https://shop.example/p0.jpg"
    monkeypatch.chdir(tmp_path)
    rows[1]["source"] = "photos/p1.jpg"  # relative: kept absolute, so a server started elsewhere finds it
    rows[2]["source"] = "jsonl:3"  # inline bytes: no image to read again
    idx = CatalogueIndex.open_or_create(tmp_path / "ix", DIM, None)
    idx.add_rows(rows)
    idx.save()
    sources = CatalogueIndex.open(tmp_path / "ix").sources
    assert sources == {"p0": "https://shop.example/p0.jpg", "p1": str(photo.resolve())}
    small = Image.open(io.BytesIO(thumbnail("p1", sources["p1"])))
    assert small.format == "JPEG" and small.size == (192, 96)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    for source in (str(tmp_path / "gone.jpg"), str(tmp_path / "broken.jpg")):
        with pytest.raises(Unreadable):
            thumbnail("x", source)


def test_a_ray_job_with_nothing_exported_fails_before_it_starts(tmp_path: Path, monkeypatch) -> None:
    """The driver checks the export before Ray starts (no cluster, no restart loop), naming the make target."""
    import subprocess
    import sys
    import time

    from catalogue import ray_engine

    photo = tmp_path / "photos" / "1.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"\xff\xd8 not really a photo")
    (tmp_path / "empty").mkdir()
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "catalogue", "enrich", str(photo.parent), "--engine", "ray",
                          "--models", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "make archives" in out.stderr, out.stderr[-500:]
    assert time.monotonic() - started < 60
    # an actor that cannot start raises an ordinary error, which Ray Data fails the job on (a SystemExit ends the
    # worker process, and Ray restarts it); a lost actor is restarted a bounded number of times
    with pytest.raises(ray_engine.ActorFailed, match="make archives"):
        ray_engine.Enricher(str(tmp_path / "empty"), str(tmp_path / "out"), {}, 1, 1)
    assert 0 < ray_engine.MAX_RESTARTS < 10
    monkeypatch.setattr("ray.is_initialized", lambda: pytest.fail("Ray must not start"), raising=False)
    with pytest.raises(SystemExit, match="does not exist"):
        ray_engine.preflight(tmp_path / "nowhere")
