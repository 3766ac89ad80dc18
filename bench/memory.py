"""A BEIR corpus as an in-memory ``qa.snapshot.Snapshot`` built with the product's own pipeline.

What ``bench/scifact.py`` and ``bench/ablations.py`` measure and tune ``qa.retrieval.Searcher`` on, with
no files and no SQLite. Each document goes through the same steps as ``python -m qa eval --beir``:

* the Markdown ``qa.evaluation.write_beir_docs`` would write (``# title``, blank line, abstract) is read
  by ``qa.loaders.load_document`` as ``<doc id>.md`` (markup stripped, the title heading recorded);
  the same content under two ids is kept once, as the indexer does (the later id is a duplicate);
* ``qa.chunking.chunk_document`` with the default settings' ``ChunkSettings``;
* what the encoder and BM25 read for a chunk: ``qa.chunking.embedding_text(section, text, title)``;
  its sentences: ``qa.chunking.sentence_units(chunk.text, title)``, their vectors rounded to float16
  as the store keeps them;
* chunk ids 1, 2, … in document path order, as a fresh index numbers them.

Vectors are cached in ``/tmp/verbatim_bench_cache`` (``$VERBATIM_BENCH_CACHE``) as
``<encoder name and dtype, slugged>-<sha256 of the texts>.npy``, so a second run does not encode.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa import evaluation  # noqa: E402
from qa.chunking import ChunkSettings, chunk_document, embedding_text, sentence_units, spans_in_embedding_text  # noqa: E402
from qa.errors import DocumentError  # noqa: E402
from qa.loaders import load_document  # noqa: E402
from qa.settings import load_settings  # noqa: E402
from qa.snapshot import PRIMARY, Snapshot, StoredChunk  # noqa: E402

CACHE = Path(os.environ.get("VERBATIM_BENCH_CACHE", "/tmp/verbatim_bench_cache"))
ENCODE_SLICE = 2048  # texts per encoder call (progress is logged after each)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- documents


def beir_markdown(title: str, text: str) -> str:
    """The file ``qa.evaluation.write_beir_docs`` writes for one document (tests/test_bench.py checks it)."""
    return f"# {title.strip()}\n\n{text.strip()}\n" if title.strip() else f"{text.strip()}\n"


def load_documents(corpus: dict, settings=None) -> tuple[list, dict]:
    """``[(doc id, Document)]`` in path order, and ``{doc id: reason}`` for those the indexer would not index.

    ``corpus`` maps a doc id to ``(title, text)`` (``qa.evaluation.load_beir``)."""
    settings = settings or load_settings({})
    loaded, skipped, seen = [], {}, {}
    for rel, doc_id in sorted((f"{doc_id}.md", doc_id) for doc_id in corpus):
        title, text = corpus[doc_id]
        try:
            document = load_document(Path("."), rel, settings, data=beir_markdown(title, text).encode("utf-8"))
        except DocumentError as error:
            skipped[doc_id] = error.reason
            continue
        if document.content_hash in seen:
            skipped[doc_id] = f"a duplicate of {seen[document.content_hash]}"
            continue
        seen[document.content_hash] = doc_id
        loaded.append((doc_id, document))
    return loaded, skipped


# ---------------------------------------------------------------- encoding


def encoder_slug(encoder) -> str:
    """The cache-file prefix of an encoder: its name and bulk dtype (vectors differ between dtypes)."""
    name = f"{encoder.name} {getattr(encoder, 'dtype', '')}"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@contextlib.contextmanager
def all_cores(encoder):
    """Bulk encoding on every core (``bench/scifact.py`` keeps one thread for the query loop): torch's
    intra-op threads, and the ``threads`` of an encoder that has its own engine (``qa.e5``)."""
    cores = os.cpu_count() or 1
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    own_threads = getattr(encoder, "threads", None)
    try:
        if torch is not None:
            torch.set_num_threads(cores)
        if isinstance(own_threads, int):
            encoder.threads = cores
        yield
    finally:
        if torch is not None:
            torch.set_num_threads(torch_threads)
        if isinstance(own_threads, int):
            encoder.threads = own_threads


def encode_cached(encoder, texts: list[str], cache: Path | None = None, what: str = "texts") -> np.ndarray:
    """``encoder.encode(texts)`` as an ``(n, d)`` float32 array, read from / written to the cache."""
    cache = Path(cache or CACHE)
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass")).hexdigest()[:20]
    path = cache / f"{encoder_slug(encoder)}-{digest}.npy"
    if path.exists():
        vectors = np.load(path)
        if vectors.shape == (len(texts), encoder.dimension):
            return vectors
    matrix = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together: less padding
    started = time.perf_counter()
    with all_cores(encoder):
        for offset in range(0, len(texts), ENCODE_SLICE):
            rows = order[offset : offset + ENCODE_SLICE]
            matrix[rows] = encoder.encode([texts[i] for i in rows])
            done = min(offset + ENCODE_SLICE, len(texts))
            log(f"  encoded {done:,}/{len(texts):,} {what} with {encoder.name} ({time.perf_counter() - started:.0f} s)")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, matrix)
    os.replace(tmp, path)
    return matrix


# ---------------------------------------------------------------- snapshot


def pooled_sentences_cached(encoder, texts, bodies, sentence_spans, sentence_texts, cache: Path | None = None) -> np.ndarray:
    """Sentence vectors pooled from each chunk's forward pass, in ``sentence_texts`` order (those past the
    model's window encoded on their own), as ``qa.indexing`` makes them; cached like ``encode_cached``."""
    cache = Path(cache or CACHE)
    digest = hashlib.sha256("\x00".join(sentence_texts + texts).encode("utf-8", "surrogatepass")).hexdigest()[:20]
    path = cache / f"{encoder_slug(encoder)}-pooled-{digest}.npy"
    if path.exists():
        vectors = np.load(path)
        if vectors.shape == (len(sentence_texts), encoder.dimension):
            return vectors
    rows = []
    started = time.perf_counter()
    with all_cores(encoder):
        for begin in range(0, len(texts), ENCODE_SLICE):
            part = range(begin, min(begin + ENCODE_SLICE, len(texts)))
            spans = [spans_in_embedding_text(sentence_spans[i][1], bodies[i], texts[i]) for i in part]
            _, pooled = encoder.encode_with_sentences([texts[i] for i in part], spans)
            rows.extend(pooled)
            log(f"  pooled sentences of {part.stop:,}/{len(texts):,} chunks ({time.perf_counter() - started:.0f} s)")
    matrix = np.concatenate(rows) if rows else np.zeros((0, encoder.dimension), np.float32)
    alone = np.flatnonzero(np.isnan(matrix[:, 0]))
    if alone.size:
        matrix[alone] = encoder.encode([sentence_texts[i] for i in alone])
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, matrix)
    return matrix


def build_snapshot(corpus: dict, encoders: dict, settings=None, cache: Path | None = None) -> tuple[Snapshot, dict[int, str]]:
    """An in-memory ``Snapshot`` of a BEIR corpus and ``{chunk id: doc id}``.

    ``encoders`` maps an encoder key to an encoder (``.name``, ``.dimension``, ``.encode``,
    ``.encode_query``): ``qa.snapshot.PRIMARY`` is required and gives the chunk and sentence vectors;
    every other key gives chunk vectors only (the snapshot's ``extra_dense``). ``snapshot.manifest["bench"]``
    records the counts (documents, skipped, chunks, sentences) and the seconds spent building.
    """
    if PRIMARY not in encoders:
        raise ValueError(f"encoders must include the primary encoder (key {PRIMARY!r})")
    settings = settings or load_settings({})
    chunk_settings = ChunkSettings.from_settings(settings)
    started = time.perf_counter()
    documents, skipped = load_documents(corpus, settings)
    ids, texts, rows, chunk_doc = [], [], {}, {}
    sentence_texts: list[str] = []
    sentence_spans: list[tuple[int, np.ndarray]] = []  # (chunk id, spans) in sentence_texts order
    for doc_id, document in documents:
        for chunk in chunk_document(document, chunk_settings):
            chunk_id = len(ids) + 1
            ids.append(chunk_id)
            texts.append(embedding_text(chunk.section, chunk.text, document.title))
            chunk_doc[chunk_id] = doc_id
            rows[chunk_id] = StoredChunk(
                chunk_id, doc_id, document.title, document.symbol, chunk.ordinal, chunk.start, chunk.end, chunk.section,
                chunk.page, chunk.page_end, chunk.page_label, chunk.para, chunk.text,
            )
            spans, units = sentence_units(chunk.text, document.title)
            sentence_spans.append((chunk_id, np.array(spans, dtype=np.int32).reshape(-1, 2)))
            sentence_texts.extend(units)
    prepared = time.perf_counter()

    matrix = encode_cached(encoders[PRIMARY], texts, cache, "chunks")
    sentences = {}
    if settings.sentence_vectors:
        # float16, as the store keeps them (and float32 again in memory, as it reads them)
        if hasattr(encoders[PRIMARY], "encode_with_sentences"):  # as the indexer does: pooled from the chunk's pass
            bodies = [rows[chunk_id].text for chunk_id, _ in sentence_spans]
            sentence_matrix = pooled_sentences_cached(encoders[PRIMARY], texts, bodies, sentence_spans, sentence_texts, cache)
        else:
            sentence_matrix = encode_cached(encoders[PRIMARY], sentence_texts, cache, "sentences")
        sentence_matrix = sentence_matrix.astype(np.float16).astype(np.float32)
        offset = 0
        for chunk_id, spans in sentence_spans:
            sentences[chunk_id] = (spans, sentence_matrix[offset : offset + len(spans)])
            offset += len(spans)
    extra = {key: encode_cached(encoder, texts, cache, f"chunks ({key})") for key, encoder in encoders.items() if key != PRIMARY}
    encoded = time.perf_counter()

    info = {
        "documents": len(documents), "skipped": skipped, "chunks": len(ids), "sentences": len(sentence_texts),
        "encoders": {key: encoder.name for key, encoder in encoders.items()},
        "prepare_s": round(prepared - started, 1), "encode_s": round(encoded - prepared, 1),
    }
    snapshot = Snapshot.in_memory(
        ids, matrix, texts, rows=rows, sentences=sentences, extra_dense=extra,
        manifest={"sentence_vectors": bool(settings.sentence_vectors), "bench": info},
    )
    info["index_s"] = round(time.perf_counter() - encoded, 1)
    return snapshot, chunk_doc


# ---------------------------------------------------------------- evaluation


def doc_run(hits, chunk_doc: dict[int, str], depth: int = evaluation.BEIR_DEPTH) -> dict[str, float]:
    """Ranked chunks (``Hit``s or ``(chunk id, score)`` pairs) → ``{doc id: score}`` as ``qa.evaluation.doc_run``
    scores them: a document by its best chunk, rank-based scores, the first ``depth`` documents."""
    passages = [SimpleNamespace(doc=f"{chunk_doc[_chunk_id(hit)]}.md") for hit in hits]
    return evaluation.doc_run(passages, depth)


def _chunk_id(hit) -> int:
    return int(hit.chunk_id) if hasattr(hit, "chunk_id") else int(hit[0])


def evaluate(runs: dict, qrels: dict) -> dict:
    """nDCG@10, R@100 and MRR@10 of ``{query id: {doc id: score}}`` (``qa.evaluation.beir_metrics``)."""
    return evaluation.beir_metrics(qrels, runs)


def select(corpus: dict, qrels: dict, split_limit: int = 0, corpus_limit: int = 0) -> tuple[dict, dict]:
    """The first ``split_limit`` judged queries (sorted by id) and, with ``corpus_limit``, a small corpus for
    a quick check: the documents judged for them plus the first ``corpus_limit`` others."""
    query_ids = sorted(qrels)[:split_limit] if split_limit else sorted(qrels)
    if corpus_limit:
        keep = {d for q in query_ids for d in qrels[q]} | set(list(corpus)[:corpus_limit])
        corpus = {d: v for d, v in corpus.items() if d in keep}
    return corpus, {q: {d: s for d, s in qrels[q].items() if d in corpus} for q in query_ids}
