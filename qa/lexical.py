"""BM25 over chunks, built on ``bm25s``, each chunk analysed in its own language.

Analysis (``analyze``): lower-case word tokens of two or more characters, the language's stopwords removed
(bm25s's lists: English, French, Spanish, Russian, …), then the language's Snowball stemmer (PyStemmer has
Arabic, French, Russian, Spanish and 30 more). Chinese and Japanese get character unigrams and bigrams
of their Han/kana runs (no segmenter: see ``CJK``). A chunk whose language is undetermined, or has no analyser
here, is analysed as English, exactly as before languages were told apart. Arabic diacritics and tatweel are
removed first, so a vowelled word is one token.

One vocabulary holds every language's terms: a non-English term carries its language (``fr:droit``,
``zh:逮捕``), so a term is only ever matched in chunks of the language it was analysed for and its document
frequency counts that language's chunks only. English terms carry no prefix, so an English-only index has
the same terms, scores and ranking as before. A question is analysed for its own language, told apart
among the languages the index holds (``QUERY_LANGUAGES = "own"``; when that is undetermined, for every
language of the index, so that each chunk is scored on the question as its own language would tokenise it);
``bench/multilingual.py`` measured both.

The index is a ``bm25s.BM25`` score matrix (CSC: one column per term, one row per chunk) plus
an ``ids.npy`` array mapping rows to int64 chunk ids and ``lexical.json`` (format version and the number of
chunks per language). Saved with bm25s's own json/npy files (``allow_pickle=False``); nothing is pickled. A
folder of another format version (one written before languages, version 1) does not load: the store then
rebuilds it from the stored texts.

Building streams the texts into compact term-count arrays and computes the Lucene BM25 matrix
vectorised (same formulas as ``bm25s.BM25(method="lucene").index``, without its per-document
Python lists), so ~1M chunks fit in a few GB. Not the public ``BM25.index``: its per-document lists
do not fit a 1M-passage index in memory; the two private scorer functions it uses are imported
instead, and a test checks the matrix against ``BM25.index``'s own (``test_scores_equal_bm25s_own_lucene_index``). Queries can also be scored with per-term weights
(``search_weighted``), e.g. for query-expansion terms with smaller weights.
"""

from __future__ import annotations

import json
from array import array
import pathlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain

import bm25s
import numpy as np
import Stemmer
from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

from . import language as language_module

# BEIR SciFact train, 1,200-char chunks: Snowball stemming +0.03 nDCG@10, stopwords ±0.001; k1/b
# barely matter alone (0.689–0.700); in the hybrid, k1 0.6–1.2 × b 0.1–0.55 all give 0.746–0.749
# against 0.744 for the bm25s default 1.5/0.75. 0.9/0.4 (Anserini's BEIR setting) sits mid-plateau.
# bm25+, bm25l, atire and robertson scored like lucene (±0.003).
K1 = 0.9
B = 0.4
METHOD = "lucene"

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
# Latin and Cyrillic letters with accents → the letter without them (from Unicode's decompositions)
UNACCENTED = {chr(c): unicodedata.normalize("NFD", chr(c))[0] for c in (*range(0xC0, 0x250), *range(0x400, 0x530))
               if len(unicodedata.normalize("NFD", chr(c))) > 1 and unicodedata.normalize("NFD", chr(c))[0].isalpha()
               and chr(c) not in "йЙ"}  # "й" is a letter of its own in Russian, not an "и" with an accent
MIN_UNACCENTED_STEM = 4  # shorter stems of an unaccented word are not looked up (too many words share them)
STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN)
IDS_FILE = "ids.npy"
FORMAT_FILE = "lexical.json"
FORMAT_VERSION = 2  # 2: per-language analysis (1: English analysis for every chunk)

ENGLISH = "en"
# ISO 639-1 code → PyStemmer's Snowball algorithm.
STEMMERS = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "eo": "esperanto", "es": "spanish", "et": "estonian", "eu": "basque", "fa": "persian", "fi": "finnish",
    "fr": "french", "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "sv": "swedish", "ta": "tamil",
    "tr": "turkish", "yi": "yiddish",
}
# Languages written without spaces between words: character unigrams and bigrams of their Han/kana runs (no
# dictionary, nothing to load). bench/multilingual.py, BM25 alone, Chinese questions on the Chinese UDHR: hit@1
# 0.9 (dev), 1.0 (test). A segmenter (jieba, rjieba) was not compared.
CJK = frozenset({"zh", "ja"})
# bm25s's stopword lists by language (English's is STOPWORDS above). Chinese's is not used: it lists words
# such as 不得 ("shall not") and 个人 ("individual") that legal text turns on.
_STOPWORD_LISTS = {
    "da": "STOPWORDS_DANISH", "de": "STOPWORDS_GERMAN", "es": "STOPWORDS_SPANISH", "fr": "STOPWORDS_FRENCH",
    "it": "STOPWORDS_ITALIAN", "nl": "STOPWORDS_DUTCH", "no": "STOPWORDS_NORWEGIAN", "pt": "STOPWORDS_PORTUGUESE",
    "ru": "STOPWORDS_RUSSIAN", "sv": "STOPWORDS_SWEDISH", "tr": "STOPWORDS_TURKISH",
}
# "own": a question is analysed for its own language, detected among the languages of the index
# (``language.detect(query, among=…)``), or for every language of the index when that is undetermined; "all":
# always for every language of the index. bench/multilingual.py, dev split, BM25 alone: own-language questions
# hit@1 fr/es/ru/ar/zh 0.9/0.8/1.0/0.9/0.9 ("all": 0.9/0.6/1.0/0.9/0.9: a Spanish question's English analysis
# matched "de" and "la" in the Spanish file's English header); English questions on the French and Spanish
# files 0.0 ("all": 0.5/0.4 through shared words such as "article" and "torture": finding a passage in another
# language is the multilingual encoder's work). "own" also analyses an English question in a mixed index
# exactly as an English-only index does.
QUERY_LANGUAGES = "own"

CJK_CHARACTER = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]"  # Han and kana
_CJK_RUN = re.compile(CJK_CHARACTER + "+")
_ARABIC_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")

_stemmer = Stemmer.Stemmer("english")


def analyzer_of(language: str | None) -> str:
    """The analyser a text of ``language`` gets: its own code when there is one, else ``"en"``."""
    if language in STEMMERS or language in CJK:
        return language
    return ENGLISH


@lru_cache(maxsize=None)
def _stemmer_of(language: str):
    return _stemmer if language == ENGLISH else Stemmer.Stemmer(STEMMERS[language])


@lru_cache(maxsize=None)
def _stopwords_of(language: str) -> frozenset:
    if language == ENGLISH:
        return STOPWORDS
    name = _STOPWORD_LISTS.get(language)
    return frozenset(getattr(bm25s.stopwords, name)) if name else frozenset()


def _cjk_tokens(text: str) -> list[str]:
    """Unigrams and bigrams of each Han/kana run; other words (Latin, digits) as lower-case tokens."""
    tokens: list[str] = []
    cursor = 0
    lowered = text.lower()
    for match in _CJK_RUN.finditer(lowered):
        tokens.extend(TOKEN_PATTERN.findall(lowered, cursor, match.start()))
        run = match.group()
        tokens.extend(run)
        tokens.extend(run[i:i + 2] for i in range(len(run) - 1))
        cursor = match.end()
    tokens.extend(TOKEN_PATTERN.findall(lowered, cursor))
    return tokens


def tokenize(text: str, language: str | None = None) -> list[str]:
    """Tokens of ``text`` as analysed for ``language`` (``None``, ``"und"`` or one without an analyser: English):
    lower-case words of two or more characters, stopwords removed, Snowball-stemmed; CJK character n-grams."""
    analyzer = analyzer_of(language)
    if analyzer in CJK:
        return _cjk_tokens(text)
    return _stemmer_of(analyzer).stemWords(_words(text, analyzer))


def _words(text: str, analyzer: str) -> list[str]:
    """The lower-case words of ``text`` a non-CJK analyser stems: stopwords out, Arabic marks removed."""
    if analyzer == "ar":
        text = without_arabic_marks(text)
    stopwords = _stopwords_of(analyzer)
    return [w for w in TOKEN_PATTERN.findall(text.lower()) if w not in stopwords]


def unaccent(text: str) -> str:
    """``text`` without the accents of Latin and Cyrillic letters ("é" → "e", "ё" → "е", "ñ" → "n"; case kept)."""
    return "".join(UNACCENTED.get(ch, ch) for ch in text)


def without_arabic_marks(text: str) -> str:
    """``text`` without Arabic vowel marks and tatweel, as the Arabic analyser reads it."""
    return _ARABIC_MARKS.sub("", text)


def stem(word: str, analyzer: str) -> str:
    """``word`` as the analyser's Snowball stemmer leaves it (no language prefix)."""
    return _stemmer_of(analyzer).stemWord(word)


def word_terms(words: list[str], analyzer: str) -> list[str]:
    """The index term of each of ``words`` (lower-case words of a non-CJK analyser): stemmed, prefixed unless English."""
    return _prefixed(_stemmer_of(analyzer).stemWords(words), analyzer)


def analysed_words(text: str, analyzer: str) -> list[tuple[str, str]]:
    """``(word, its index term)`` for each word a non-CJK analyser keeps of ``text`` (stopwords out)."""
    words = _words(text, analyzer)
    return list(zip(words, word_terms(words, analyzer)))


def tokenize_query(query: str) -> list[str]:
    """English query tokens: the same analysis as documents (repeated words kept, so they weigh more)."""
    return tokenize(query)


def _prefixed(tokens: list[str], analyzer: str) -> list[str]:
    if analyzer == ENGLISH:
        return tokens
    prefix = analyzer + ":"
    return [prefix + token for token in tokens]


def index_terms(text: str, language: str | None = None) -> list[str]:
    """The terms ``text`` adds to the index: its tokens, prefixed with the analyser's code unless English."""
    analyzer = analyzer_of(language)
    return _prefixed(tokenize(text, analyzer), analyzer)


def query_terms(query: str, analyzers: Iterable[str]) -> list[str]:
    """The terms of ``query`` analysed for each of ``analyzers`` (English through ``tokenize_query``)."""
    terms: list[str] = []
    for analyzer in sorted(set(analyzers)):
        tokens = tokenize_query(query) if analyzer == ENGLISH else tokenize(query, analyzer)
        terms.extend(_prefixed(tokens, analyzer))
    return terms


def _bm25_matrix(cols: np.ndarray, tfs: np.ndarray, terms_per_row: np.ndarray, n_terms: int):
    """CSC arrays (data, indices, indptr) of Lucene BM25 term scores.

    ``cols``/``tfs`` hold each row's distinct term ids and their counts, row after row;
    ``terms_per_row[r]`` says how many of them belong to row ``r``. Within a column, rows ascend.
    """
    n_rows = len(terms_per_row)
    rows = np.repeat(np.arange(n_rows, dtype=np.int32), terms_per_row)
    row_lengths = np.bincount(rows, weights=tfs, minlength=n_rows).astype(np.float32)
    doc_freqs = np.bincount(cols, minlength=n_terms)
    idf = np.vectorize(_select_idf_scorer(METHOD), otypes=[np.float64])(np.maximum(doc_freqs, 1), n_rows)
    avg_length = float(row_lengths.mean()) if n_rows else 1.0
    data = _select_tfc_scorer(METHOD)(tfs.astype(np.float32), row_lengths[rows], np.float32(avg_length), K1, B, None)
    data *= idf.astype(np.float32)[cols]
    order = np.argsort(cols, kind="stable")  # rows were appended in order, so they stay ascending
    del cols
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(doc_freqs, out=indptr[1:])
    return data.astype(np.float32, copy=False)[order], rows[order], indptr


class TermCounts:
    """Each chunk's distinct term ids and their counts, row after row: what a BM25 matrix is computed from.

    Immutable: ``with_texts`` and ``without`` return new counts; term ids keep their meaning from one to the
    next (the vocabulary only grows; a term no row holds any more scores nothing). An app server on a PostgreSQL store keeps them, so that a new
    generation tokenises only its new chunks before the matrix is recomputed (``LexicalIndex._from_counts``).
    """

    def __init__(self, vocab=None, ids=None, cols=None, tfs=None, terms_per_row=None, analyzers=None):
        self.vocab: dict[str, int] = {} if vocab is None else vocab
        self.ids = np.zeros(0, np.int64) if ids is None else ids
        self.cols = np.zeros(0, np.int32) if cols is None else cols
        self.tfs = np.zeros(0, np.int32) if tfs is None else tfs
        self.terms_per_row = np.zeros(0, np.int32) if terms_per_row is None else terms_per_row
        self.analyzers = np.zeros(0, dtype="<U8") if analyzers is None else analyzers  # per row

    def __len__(self) -> int:
        return len(self.ids)

    def with_texts(self, ids, texts, languages=None) -> "TermCounts":
        """These counts plus one row per text (``languages[i]`` its language; detected when not given)."""
        vocab = dict(self.vocab) if self.vocab else {}  # a copy: an index built on these counts keeps its own
        cols, tfs, terms_per_row, analyzers = array("i"), array("i"), array("i"), []
        for i, text in enumerate(texts):
            analyzer = analyzer_of(languages[i] if languages is not None else language_module.detect(text))
            analyzers.append(analyzer)
            counts = Counter(vocab.setdefault(token, len(vocab)) for token in index_terms(text, analyzer))
            cols.extend(counts.keys())
            tfs.extend(counts.values())
            terms_per_row.append(len(counts))

        def joined(old, new, dtype):
            new = np.frombuffer(new, dtype=dtype) if len(new) else np.zeros(0, dtype)
            return np.concatenate([old, new]) if len(old) else new.copy()

        return TermCounts(
            vocab, np.concatenate([self.ids, np.asarray(list(ids), dtype=np.int64)]),
            joined(self.cols, cols, np.int32), joined(self.tfs, tfs, np.int32),
            joined(self.terms_per_row, terms_per_row, np.int32),
            np.concatenate([self.analyzers, np.asarray(analyzers, dtype="<U8")]),
        )

    def without(self, ids) -> "TermCounts":
        """These counts less the rows of chunk ``ids``."""
        gone = np.isin(self.ids, np.asarray(list(ids), dtype=np.int64))
        if not gone.any():
            return self
        keep = ~gone
        per_term = np.repeat(keep, self.terms_per_row)
        return TermCounts(self.vocab, self.ids[keep], self.cols[per_term], self.tfs[per_term],
                          self.terms_per_row[keep], self.analyzers[keep])

    def analyzer_counts(self) -> dict[str, int]:
        codes, counts = np.unique(self.analyzers, return_counts=True)
        return {str(c): int(n) for c, n in zip(codes, counts)}

    def index(self) -> "LexicalIndex":
        return LexicalIndex._from_counts(self)


class LexicalIndex:
    """BM25 index over chunk texts; rows are addressed by int64 chunk ids."""

    def __init__(self, retriever: bm25s.BM25, ids: np.ndarray, languages: dict[str, int] | None = None):
        self._bm25 = retriever
        self._ids = np.asarray(ids, dtype=np.int64)
        self._row_of = None
        self._accented: dict | None = None  # {term with accents, unaccented: term ids}, built on first use
        # rows per analyser ({"en": 120, "fr": 30}); an index of no rows answers English questions as English
        self._languages = dict(sorted((languages or {}).items()))
        # the last question's analysers: a hybrid question asks for them three times (search, fill-in, coverage)
        self._last_analyzers: tuple[tuple | None, list[str]] = (None, [])

    @classmethod
    def build(cls, texts: list[str], ids: list[int], languages: Sequence[str] | None = None) -> "LexicalIndex":
        """Tokenise ``texts`` and build the BM25 score matrix; ``ids[i]`` is the chunk id of ``texts[i]``.

        ``languages[i]`` is the language of ``texts[i]`` (an ISO 639 code, or ``"und"``), as the store
        recorded it; without it each text's language is detected here (``qa.language.detect``).
        """
        if len(texts) != len(ids) or (languages is not None and len(languages) != len(texts)):
            raise ValueError("texts, ids and languages must have the same length")
        return TermCounts().with_texts(ids, texts, languages).index()

    @classmethod
    def _from_counts(cls, counts: "TermCounts") -> "LexicalIndex":
        data, indices, indptr = _bm25_matrix(counts.cols, counts.tfs, counts.terms_per_row, len(counts.vocab))
        retriever = bm25s.BM25(k1=K1, b=B, method=METHOD)
        retriever.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": len(counts.ids)}
        retriever.vocab_dict = counts.vocab
        retriever.unique_token_ids_set = set(counts.vocab.values())
        retriever.nonoccurrence_array = None
        return cls(retriever, counts.ids, counts.analyzer_counts())

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """Chunk ids in row order (int64)."""
        return self._ids

    def vocabulary(self) -> tuple[dict[str, int], np.ndarray]:
        """``({term: term id}, document frequency by term id)``: a term no row holds any more has frequency 0."""
        return self._bm25.vocab_dict, np.diff(self._bm25.scores["indptr"])

    @property
    def languages(self) -> dict[str, int]:
        """How many rows each analyser tokenised: ``{"en": 120, "fr": 30, "zh": 12}`` (undetermined → ``"en"``)."""
        return dict(self._languages)

    def query_analyzers(self, query: str) -> list[str]:
        """The analysers ``query`` is tokenised with: every language of the index (``QUERY_LANGUAGES = "all"``),
        or the question's own detected language when the index has chunks of it (``"own"``)."""
        key = (query, QUERY_LANGUAGES)
        last_key, analyzers = self._last_analyzers  # one read: another thread may replace the pair
        if key == last_key:
            return list(analyzers)
        present = [code for code, rows in self._languages.items() if rows] or [ENGLISH]
        if QUERY_LANGUAGES == "own" and len(present) > 1:
            code = language_module.detect(query, among=present)
            if code != language_module.UNDETERMINED:
                present = [code]
        self._last_analyzers = (key, present)
        return list(present)

    def term_weights(self, query: str) -> dict[int, float]:
        """Known query terms as {term id: count}."""
        counts = Counter(self._bm25.vocab_dict.get(t) for t in query_terms(query, self.query_analyzers(query)))
        counts.pop(None, None)
        return {t: float(c) for t, c in counts.items()}

    def ids_with_every_term(self, text: str, unaccented: bool = False) -> np.ndarray | None:
        """Chunk ids (ascending) of the rows that hold every term of ``text`` as their language analyses it;
        ``None`` when a language of the index leaves ``text`` no term (stopwords only): its rows cannot be told.
        ``unaccented``: a term typed without accents also stands for the terms that differ from it only by them
        or by the stem their accents left ("policia" for "policía", stemmed "polici" and "polic"): a superset,
        for the caller to check against the text."""
        s = self._bm25.scores
        found = []
        for analyzer in [code for code, rows in self._languages.items() if rows] or [ENGLISH]:
            terms = set(index_terms(text, analyzer))
            if not terms:
                return None
            term_ids = [self._term_ids(term, unaccented) for term in terms]
            if not all(term_ids):
                continue
            rows = None
            for ids in term_ids:
                postings = np.unique(np.concatenate([s["indices"][s["indptr"][t]:s["indptr"][t + 1]] for t in ids]))
                rows = postings if rows is None else np.intersect1d(rows, postings, assume_unique=True)
            found.append(self._ids[rows])
        return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)

    def _term_ids(self, term: str, unaccented: bool) -> list[int]:
        """The term's id, and (``unaccented``, for a term typed without accents) the ids of the terms that read the
        same without accents, or whose stem is a letter or two shorter or longer ("es:polici" → "es:polic")."""
        vocab = self._bm25.vocab_dict
        if not unaccented or unaccent(term) != term:
            return [vocab[term]] if term in vocab else []
        if self._accented is None:  # only the terms with accents: the others read the same
            accented: dict[str, list[int]] = {}
            for known, known_id in vocab.items():
                plain = unaccent(known)
                if plain != known:
                    accented.setdefault(plain, []).append(known_id)
            self._accented = accented
        prefix, _, stem = term.rpartition(":")
        prefix = prefix + ":" if prefix else ""
        if len(stem) < MIN_UNACCENTED_STEM:
            keys = {term}
        else:  # the stem a letter or two shorter, and the terms two letters longer at most
            keys = {prefix + stem[:cut] for cut in range(max(len(stem) - 2, MIN_UNACCENTED_STEM), len(stem) + 1)}
            keys |= {k for k in chain(vocab, self._accented) if k.startswith(term) and len(k) <= len(term) + 2}
        ids = {vocab[k] for k in keys if k in vocab}
        for key in keys:
            ids.update(self._accented.get(key, ()))
        return sorted(ids)

    def scores(self, weights: dict[int, float]) -> np.ndarray:
        """BM25 score of every row for weighted term ids."""
        s = self._bm25.scores
        out = np.zeros(s["num_docs"], dtype=np.float32)
        for term, w in weights.items():
            lo, hi = s["indptr"][term], s["indptr"][term + 1]
            out[s["indices"][lo:hi]] += np.float32(w) * s["data"][lo:hi]
        return out

    def _rows_of(self, allowed_ids: Iterable[int]) -> np.ndarray:
        """Row numbers of the given chunk ids (unknown ids are ignored)."""
        if self._row_of is None:
            order = np.argsort(self._ids, kind="stable")
            self._row_of = (self._ids[order], order)
        sorted_ids, order = self._row_of
        wanted = np.fromiter(allowed_ids, np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
        return order[pos[sorted_ids[pos] == wanted]]

    def search_weighted(
        self, weights: dict[int, float], k: int, allowed_ids: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, score) for weighted term ids, best first; only rows with a positive score."""
        if not weights or k <= 0 or len(self) == 0:
            return []
        scores = self.scores(weights)
        if allowed_ids is None:
            candidates = np.flatnonzero(scores > 0)
        else:
            rows = self._rows_of(allowed_ids)
            candidates = rows[scores[rows] > 0]
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        candidates = candidates[np.lexsort((self._ids[candidates], -scores[candidates]))]
        return [(int(self._ids[r]), float(scores[r])) for r in candidates]

    def search(self, query: str, k: int, allowed_ids: set[int] | None = None) -> list[tuple[int, float]]:
        """Top ``k`` chunks for ``query`` as (chunk id, BM25 score), best first (ties: smaller id first)."""
        if len(self) == 0:
            return []
        return self.search_weighted(self.term_weights(query), k, allowed_ids)

    def scores_for(self, query: str, ids: Iterable[int]) -> list[tuple[int, float]]:
        """BM25 scores of the given chunk ids (0.0 when no query term occurs; unknown ids left out), in id order.

        Costs a binary search per (query term, id), not a pass over the postings, so it is cheap for
        filling in the scores of the few candidates that dense search found and BM25 did not.
        """
        wanted = sorted(set(int(i) for i in ids))
        if not wanted or len(self) == 0:
            return []
        rows = np.sort(self._rows_of(wanted))
        totals = np.zeros(len(rows), dtype=np.float32)
        s = self._bm25.scores
        for term, weight in self.term_weights(query).items():
            lo, hi = int(s["indptr"][term]), int(s["indptr"][term + 1])
            postings = s["indices"][lo:hi]  # rows containing the term, ascending
            pos = np.minimum(np.searchsorted(postings, rows), max(hi - lo - 1, 0))
            hit = (postings[pos] == rows) if hi > lo else np.zeros(len(rows), dtype=bool)
            totals[hit] += np.float32(weight) * s["data"][lo + pos[hit]]
        return sorted((int(self._ids[r]), float(t)) for r, t in zip(rows, totals))

    def save(self, directory: pathlib.Path) -> None:
        """Write bm25s's files plus ``ids.npy`` and a small format file into ``directory``."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._bm25.save(directory, allow_pickle=False, show_progress=False)
        np.save(directory / IDS_FILE, self._ids, allow_pickle=False)
        (directory / FORMAT_FILE).write_text(json.dumps({
            "version": FORMAT_VERSION,
            "tokenizer": "per-language: snowball+bm25s-stopwords; zh/ja: char 1-2 grams; other: snowball-english",
            "languages": self._languages,
        }))

    @classmethod
    def load(cls, directory: pathlib.Path) -> "LexicalIndex":
        """Read an index written by :meth:`save`.

        Raises ``ValueError`` for a folder of another format version (or none: written before version 1
        had its format file), so that the store rebuilds it from the stored texts."""
        directory = pathlib.Path(directory)
        info = json.loads((directory / FORMAT_FILE).read_text(encoding="utf-8"))
        if info.get("version") != FORMAT_VERSION:
            raise ValueError(f"BM25 folder of format version {info.get('version')}, not {FORMAT_VERSION}: rebuild it")
        retriever = bm25s.BM25.load(directory, load_corpus=False, allow_pickle=False)
        ids = np.load(directory / IDS_FILE, allow_pickle=False)
        languages = {str(code): int(rows) for code, rows in (info.get("languages") or {}).items()}
        return cls(retriever, ids, languages)
