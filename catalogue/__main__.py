"""python -m catalogue: enrich a catalogue, index it, search it.

  enrich SRC --out DEST        every image of SRC through a running endpoint (--url), in-process (--local), or
                               on Ray Data (--engine ray [--address ...]: an actor pool, DEST a folder of
                               Parquet parts) into Parquet (default) or JSONL; resumable; refused images as rows
  index DEST --out INDEX       a faiss index of the whole-image and garment embeddings (adds new ids only)
  search INDEX --text T | --image PHOTO [--garment N | --box X0,Y0,X1,Y1] [--where FILTER]
                               the top products, with the garment that matched
  vertex-instances SRC --out instances.jsonl     input for a Vertex AI batch prediction job
  vertex-import RESULTS --out DEST               that job's output as an enrichment
  vector-search DEST --out vectors.json          Vertex AI Vector Search input from an enrichment
  evaluate INDEX               P@10 by articleType for image and text queries (reports/catalogue_search.md)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fashion import models as registry
from fashion.request.limits import VERTEX_REQUEST_BYTES

DEFAULT_URL = "http://127.0.0.1:8080" + registry.ENSEMBLE_PATH
DEFAULT_MODELS = Path("build/export")


def _engine(args: argparse.Namespace):
    from catalogue.engines import LocalEngine, RemoteEngine

    if args.local:
        return LocalEngine(args.models, args.threads)
    return RemoteEngine(args.url, args.timeout, args.max_bytes, args.token)


def _enrich(args: argparse.Namespace) -> int:
    from catalogue.sources import read_source

    args.local = args.local or args.engine == "local"
    records = read_source(args.src, args.id_column, args.path_column)
    if args.limit is not None:
        if args.limit < 1:
            raise SystemExit("--limit must be at least 1")
        records = records[:args.limit]
    parameters = json.loads(args.options)
    if args.embedding_only:
        parameters["embedding_only"] = True
    if args.engine == "ray":
        return _enrich_on_ray(args, records, parameters)
    return _enrich_here(args, records, parameters)


def _enrich_on_ray(args: argparse.Namespace, records: list, parameters: dict) -> int:
    from tqdm import tqdm

    from catalogue import ray_engine

    if args.format == "jsonl":
        raise SystemExit("--engine ray writes a folder of Parquet parts; --format jsonl is for the other engines")
    with tqdm(total=len(records), unit="img", desc="enrich (ray)", disable=args.quiet, smoothing=0.1) as bar:
        summary = ray_engine.run(records, args.out, args.models, parameters, address=args.address,
                                 actors=args.actors, threads=args.threads_per_actor, gpus=args.gpus_per_actor,
                                 part_size=args.part_size, batch=args.batch or ray_engine.BATCH, progress=bar)
    for line in summary.lines():
        print(line)
    print(f"written: {args.out} (a folder of Parquet parts; `catalogue index` reads it)")
    return 0


def _enrich_here(args: argparse.Namespace, records: list, parameters: dict) -> int:
    from tqdm import tqdm

    from catalogue.enrich import Job, JobStopped
    from catalogue.store import Journal

    args.out, args.batch = Path(args.out), args.batch or 1
    journal = Journal(args.out, args.format)
    job = Job(_engine(args), journal, parameters, args.batch, 1 if args.local else args.concurrency, args.retries)
    todo = sum(1 for r in records if r.id not in journal.done)
    with tqdm(total=todo, unit="img", desc="enrich", disable=args.quiet, smoothing=0.1) as bar:
        try:
            job.run(records, bar)
        except JobStopped as exc:
            print(f"stopped: {exc}. {len(journal.rows)} rows are saved in {journal.path}; run the same command "
                  "again to resume", file=sys.stderr)
            return 75
        except KeyboardInterrupt:
            journal.close()
            print(f"\ninterrupted: {len(journal.rows)} rows are saved in {journal.path}; run the same command "
                  "again to resume", file=sys.stderr)
            return 130
    out = journal.finish()
    for line in job.summary.lines():
        print(line)
    print(f"written: {out}")
    return 0


def _index(args: argparse.Namespace) -> int:
    from catalogue.index import CatalogueIndex
    from catalogue.rows import embedding_dim
    from catalogue.store import read_rows

    rows = [r for src in args.enriched for r in read_rows(src)]
    if not rows:
        raise SystemExit(f"no rows in {[str(s) for s in args.enriched]}")
    index = CatalogueIndex.open_or_create(args.out, embedding_dim(rows), None, expected=len(rows))
    added = index.add_rows(rows)
    index.save()
    print(json.dumps({"added": added, **index.info()}, indent=1))
    return 0


def _box(text: str) -> list[float]:
    parts = [float(v) for v in text.split(",")]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError("a box is X0,Y0,X1,Y1")
    return parts


def _search(args: argparse.Namespace) -> int:
    from catalogue.index import CatalogueIndex
    from catalogue.query import LocalQueries, RemoteQueries, pick_garment

    index = CatalogueIndex.open(args.index)
    queries = LocalQueries(args.models) if args.local else RemoteQueries(args.url, args.embedder_url)
    query: dict = {}
    if args.text:
        vector, query = queries.text(args.text), {"text": args.text}
    else:
        answer = queries.image(args.image.read_bytes())
        if args.garment is not None or args.box is not None:
            g = pick_garment(answer.get("garments") or [], args.garment, args.box)
            query = {"image": str(args.image), "garment": {"label": g["label"], "box": g["box"]}}
            vector = g["embedding"]
        else:
            vector, query = answer["embedding"], {"image": str(args.image)}
    where = None
    if args.where:
        from catalogue.filters import FilterError, parse

        try:
            where = parse(args.where)
        except FilterError as exc:
            raise SystemExit(f"--where: {exc}") from None
        query["where"] = where.text
    hits = index.search(vector, args.k, args.scope, where=where)
    print(json.dumps({"query": query, "hits": hits}, indent=1))
    return 0


def _vertex_instances(args: argparse.Namespace) -> int:
    from catalogue.sources import read_source
    from catalogue.vertex import write_instances

    written, refused = write_instances(read_source(args.src, args.id_column, args.path_column), args.out)
    print(f"{written} instances written to {args.out}; {len(refused)} unreadable")
    for row in refused:
        print(f"  {row['id']}: {row['error_message']}")
    return 0


def _vertex_import(args: argparse.Namespace) -> int:
    from catalogue.store import Journal
    from catalogue.vertex import import_results

    journal = Journal(args.out, args.format)
    journal.append(import_results(args.results))
    print(f"{len(journal.rows)} rows -> {journal.finish()}")
    return 0


def _vector_search(args: argparse.Namespace) -> int:
    from catalogue.store import read_rows
    from catalogue.vertex import vector_search_lines

    n = 0
    with args.out.open("w") as f:
        for rec in vector_search_lines(read_rows(args.enriched), not args.images_only):
            f.write(json.dumps(rec) + "\n")
            n += 1
    print(f"{n} vectors written to {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import csv

    from catalogue.evaluate import image_queries, markdown, text_queries, truth
    from catalogue.index import CatalogueIndex
    from catalogue.query import LocalQueries
    from catalogue.store import read_rows

    index = CatalogueIndex.open(args.index)
    labels = truth(args.styles)
    held_out = {r["id"] for r in csv.DictReader(args.split.open()) if r["split"] == "test"}
    rows = read_rows(args.enriched)
    queries = LocalQueries(args.models)
    report = {"index": str(args.index), "embedder": index.embedder,
              "image": image_queries(index, rows, labels, held_out),
              "text": text_queries(index, queries.text, labels, index.ids)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=Path, help="a folder of images, a .csv/.parquet (id + path/URL), or a .jsonl")
    p.add_argument("--id-column", default="id")
    p.add_argument("--path-column", help="default: the first of path, image, file, url, image_url, ...")


def _endpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=DEFAULT_URL, help="the endpoint (front door, TorchServe, or a Vertex AI "
                   "endpoint's :predict URL)")
    p.add_argument("--local", action="store_true", help="run the models in this process instead")
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="the exported models (with --local), or "
                   "the ensemble archive (model_store/fashion.mar)")
    p.add_argument("--threads", type=int, help="torch/OpenVINO threads with --local (default: every core)")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--token", help="a bearer token (default $GOOGLE_ACCESS_TOKEN or gcloud for googleapis.com)")
    p.add_argument("--max-bytes", type=int, default=VERTEX_REQUEST_BYTES,
                   help="request size limit (default: Vertex AI's shared endpoints', 1.5 MiB)")


def _enrich_parser(sub: argparse._SubParsersAction) -> None:
    """The enrich command's arguments."""
    from catalogue import ray_engine  # its defaults (Ray itself is imported only by a Ray job)

    e = sub.add_parser("enrich", help="enrich every image of a source (resumable)")
    _source_args(e)
    e.add_argument("--out", required=True, help="DEST: .parquet (default) or .jsonl; with --engine ray a folder "
                   "of Parquet parts (a path, gs:// or s3://)")
    e.add_argument("--format", choices=("parquet", "jsonl"), help="default: from DEST's suffix")
    e.add_argument("--engine", choices=("http", "local", "ray"), default="http",
                   help="http: a running endpoint (--url); local: the models in this process (same as --local); "
                   "ray: an actor pool on Ray Data (a local cluster, or --address)")
    _endpoint_args(e)
    e.add_argument("--concurrency", type=int, default=8, help="requests in flight (http)")
    e.add_argument("--batch", type=int, help="images per request (http/local, default 1: fastest here, "
                   "bench.enrich_throughput) or per forward in an actor (ray, default 8)")
    r = e.add_argument_group("--engine ray")
    r.add_argument("--address", help="a running Ray cluster (host:port or ray://...); default: start a local one")
    r.add_argument("--actors", type=int, help="actors in the pool (default: the cluster's CPUs / threads per "
                   "actor, or one per GPU)")
    r.add_argument("--threads-per-actor", type=int, help="torch/OpenVINO threads of each actor (default: the "
                   "smallest node's CPUs, at most 8)")
    r.add_argument("--gpus-per-actor", type=float, help="default: 1 when the cluster has GPUs, else 0")
    r.add_argument("--part-size", type=int, default=ray_engine.PART_SIZE,
                   help="records per actor call and per Parquet part")
    e.add_argument("--retries", type=int, default=8, help="tries while the server is unavailable, per request")
    e.add_argument("--limit", type=int, help="only the source's first N images, in its order (a sample: "
                   "make demo-index)")
    e.add_argument("--embedding-only", action="store_true", help="only the whole-image embedding (for indexing)")
    e.add_argument("--options", default="{}", help='more request options as JSON, e.g. \'{"groups": "coarse"}\'')
    e.add_argument("--quiet", action="store_true", help="no progress bar")


def _search_parsers(sub: argparse._SubParsersAction) -> None:
    """The index and search commands' arguments."""
    i = sub.add_parser("index", help="build or extend a faiss index from enrichment outputs")
    i.add_argument("enriched", type=Path, nargs="+")
    i.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("search", help="query an index by text, image or garment")
    s.add_argument("index", type=Path)
    q = s.add_mutually_exclusive_group(required=True)
    q.add_argument("--text")
    q.add_argument("--image", type=Path)
    s.add_argument("--garment", type=int, help="the query image's garment number (as the endpoint numbers them)")
    s.add_argument("--box", type=_box, help="X0,Y0,X1,Y1: the query image's garment that overlaps it most")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--scope", choices=("images", "garments", "all"), default="images",
                   help="match whole product images, catalogue garments, or both")
    s.add_argument("--where", help='only entries that match, e.g. \'gender = "Women" AND articleType IN ("Dresses", '
                                   '"Skirts")\' (fields: catalogue/filters.py; garment.<field>: a garment\'s own)')
    _endpoint_args(s)
    s.add_argument("--embedder-url", help="the text tower's endpoint (default: /predictions/embedder beside --url)")


def _vertex_parsers(sub: argparse._SubParsersAction) -> None:
    """The Vertex AI commands' arguments (batch prediction in and out, Vector Search)."""
    v = sub.add_parser("vertex-instances", help="a JSONL of instances for Vertex AI batch prediction")
    _source_args(v)
    v.add_argument("--out", type=Path, required=True)
    vi = sub.add_parser("vertex-import", help="a Vertex AI batch prediction output as an enrichment")
    vi.add_argument("results", type=Path, help="the job's output folder (prediction.results-* files) or one file")
    vi.add_argument("--out", type=Path, required=True)
    vi.add_argument("--format", choices=("parquet", "jsonl"))
    vs = sub.add_parser("vector-search", help="Vertex AI Vector Search input from an enrichment")
    vs.add_argument("enriched", type=Path)
    vs.add_argument("--out", type=Path, required=True)
    vs.add_argument("--images-only", action="store_true", help="whole images only, no garment vectors")


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    """The evaluate command's arguments."""
    ev = sub.add_parser("evaluate", help="P@10 by articleType for image and text queries on the real catalogue")
    ev.add_argument("index", type=Path)
    ev.add_argument("--enriched", type=Path, default=Path("build/catalogue/enriched.parquet"))
    ev.add_argument("--styles", type=Path, default=Path("../shared/data/fashion_products/styles.csv"))
    ev.add_argument("--split", type=Path, default=Path("reports/attributes_split.csv"), help="test rows = queries")
    ev.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="the exported models (the text tower)")
    ev.add_argument("--out", type=Path, default=Path("reports/catalogue_search"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m catalogue", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_enrich_parser, _search_parsers, _vertex_parsers, _evaluate_parser):
        add(sub)
    args = p.parse_args(argv)
    commands = {"enrich": _enrich, "index": _index, "search": _search, "vertex-instances": _vertex_instances,
                "vertex-import": _vertex_import, "vector-search": _vector_search, "evaluate": _evaluate}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
