"""The Ray engine's output folder (catalogue.parts): parts keyed by their ids, written whole or not at all, read
with each id once; a model folder from the ensemble archive (catalogue.engines.model_folder)."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from catalogue import rows
from catalogue.engines import model_folder
from catalogue.parts import Parts, part_name
from catalogue.sources import Record
from catalogue.store import read_rows

DIM = 4


def _rows(ids: list[str]) -> list[dict]:
    answer = {"image": {"width": 8, "height": 8}, "embedding": [0.5] * DIM, "metadata": {"gender": {"label": "Men"}},
              "garments": [], "models": []}
    return [rows.answered(Record(i, f"/photos/{i}.jpg"), answer) if i != "bad" else
            rows.refused(Record(i, "/photos/bad.jpg"), {"code": 415, "type": "UnsupportedMediaType", "message": "x"})
            for i in ids]


def test_a_part_is_named_after_its_ids_in_any_order() -> None:
    assert part_name(["b", "a"]) == part_name(["a", "b"]) != part_name(["a", "c"])
    assert part_name(["a"]).startswith("part-") and part_name(["a"]).endswith(".parquet")


def test_parts_hold_each_id_once_and_a_rewritten_part_replaces_itself(tmp_path: Path) -> None:
    parts = Parts(str(tmp_path / "dest"))
    parts.write(_rows(["a", "b"]), DIM)
    parts.write(_rows(["c", "bad"]), DIM)  # a part of only refusals still has the embeddings' width
    parts.write(_rows(["b", "a"]), DIM)  # a call Ray retried: the same file again
    assert len(parts.files()) == 2 and parts.done() == {"a", "b", "c", "bad"}
    got = read_rows(tmp_path / "dest")  # catalogue index reads the folder as it reads a file
    assert sorted(r["id"] for r in got) == ["a", "b", "bad", "c"]
    assert next(r for r in got if r["id"] == "bad")["error_code"] == 415
    assert next(r for r in got if r["id"] == "a")["gender"] == "Men"


def test_a_torn_write_leaves_no_part(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    parts = Parts(str(dest))
    (dest / ".tmp-0123.parquet").write_bytes(b"PAR1 half a file")  # a write killed before its rename
    assert parts.files() == [] and parts.done() == set() and read_rows(dest) == []


def test_dest_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "enriched.parquet").write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file"):
        Parts(str(tmp_path / "enriched.parquet"))


def test_the_ensemble_archive_is_unpacked_once_as_a_model_folder(tmp_path: Path) -> None:
    mar = tmp_path / "fashion.mar"
    with zipfile.ZipFile(mar, "w") as z:
        z.writestr("segmenter.json", "{}")
        z.writestr("embedder.json", "{}")
    folder = model_folder(mar)
    assert (folder / "segmenter.json").is_file() and model_folder(mar) == folder
    assert model_folder(tmp_path) == tmp_path  # a folder is used as it is
    shutil.rmtree(folder)


def test_an_actor_takes_the_smallest_nodes_cores_up_to_eight() -> None:
    from catalogue.ray_engine import default_threads

    node = lambda cpus, alive=True: {"Alive": alive, "Resources": {"CPU": cpus} if cpus else {}}  # noqa: E731
    assert default_threads([node(0), node(2), node(4)]) == 2  # a 0-CPU head runs no actor
    assert default_threads([node(32), node(1, alive=False)]) == 8
    assert default_threads([]) == 1
