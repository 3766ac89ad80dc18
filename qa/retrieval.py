"""Retrieval stage: a question → ranked ``Passage``s (dense, BM25 or hybrid)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher

import numpy as np

from . import articles, fusion, glossary, names, phrases, spelling, translations
from .citations import last_label, range_label
from .errors import InvalidQuestionError
from .language import PRIMARY_LANGUAGES, question_language
from .lexical import analyzer_of
from .ocr import passage_mark
from .snapshot import PRIMARY
from .types import Copy, Passage

MODES = ("hybrid", "dense", "bm25")
_QUERY_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="question-encoder")


# Acronyms that people who work with UN human-rights documents type, while the documents often spell
# the name out ("article 17 of the International Covenant on Civil and Political Rights"). A question
# using one is searched with the full name added (dense and BM25 alike).
ACRONYMS = {
    "ICCPR": "International Covenant on Civil and Political Rights",
    "ICESCR": "International Covenant on Economic, Social and Cultural Rights",
    "UDHR": "Universal Declaration of Human Rights",
    "CEDAW": "Convention on the Elimination of All Forms of Discrimination against Women",
    "CERD": "International Convention on the Elimination of All Forms of Racial Discrimination",
    "CRC": "Convention on the Rights of the Child",
    "CRPD": "Convention on the Rights of Persons with Disabilities",
    "CED": "International Convention for the Protection of All Persons from Enforced Disappearance",
    "CMW": "International Convention on the Protection of the Rights of All Migrant Workers",
    "CAT": "Convention against Torture; Committee against Torture",
    "OPCAT": "Optional Protocol to the Convention against Torture",
    "OHCHR": "Office of the United Nations High Commissioner for Human Rights",
    "HRC": "Human Rights Council; Human Rights Committee",
    "UPR": "Universal Periodic Review",
    "NHRI": "national human rights institution",
    "HRD": "human rights defender",
    "HRDS": "human rights defenders",
    "NGO": "non-governmental organization",
    "NGOS": "non-governmental organizations",
    "UNGA": "United Nations General Assembly",
    "ECOSOC": "Economic and Social Council",
    "UNHCR": "United Nations High Commissioner for Refugees",
    "SR": "Special Rapporteur",
    "WGAD": "Working Group on Arbitrary Detention",
}
# The same for questions in French, Spanish and Russian (acronyms the English table does not have), expanded in the
# question's language; a question whose language is undetermined ("art. 19 DUDH") gets every language's name.
ACRONYMS_IN = {
    "fr": {
        "DUDH": "Déclaration universelle des droits de l'homme",
        "PIDCP": "Pacte international relatif aux droits civils et politiques",
        "PIDESC": "Pacte international relatif aux droits économiques, sociaux et culturels",
        "ONG": "organisation non gouvernementale", "ONGS": "organisations non gouvernementales",
        "HCDH": "Haut-Commissariat des Nations Unies aux droits de l'homme",
        "CDH": "Conseil des droits de l'homme", "EPU": "Examen périodique universel",
    },
    "es": {
        "DUDH": "Declaración Universal de Derechos Humanos",
        "PIDCP": "Pacto Internacional de Derechos Civiles y Políticos",
        "PIDESC": "Pacto Internacional de Derechos Económicos, Sociales y Culturales",
        "ONG": "organización no gubernamental", "ONGS": "organizaciones no gubernamentales",
        "ACNUDH": "Oficina del Alto Comisionado de las Naciones Unidas para los Derechos Humanos",
        "CDH": "Consejo de Derechos Humanos", "EPU": "Examen Periódico Universal",
    },
    "ru": {
        "ВДПЧ": "Всеобщая декларация прав человека",
        "МПГПП": "Международный пакт о гражданских и политических правах",
        "МПЭСКП": "Международный пакт об экономических, социальных и культурных правах",
        "НПО": "неправительственная организация", "УВКПЧ": "Управление Верховного комиссара по правам человека",
        "СПЧ": "Совет по правам человека", "УПО": "универсальный периодический обзор",
    },
}
_ACRONYM = re.compile(r"\b[A-ZА-ЯЁ]{2,7}s?\b")


def expand_acronyms(question: str) -> str:
    """The question with the full name of each known acronym appended (once; a name already in it is not repeated)."""
    additions = []
    lowered = question.lower()
    language = None
    for match in _ACRONYM.finditer(question):
        acronym = match.group(0).upper()
        names = [ACRONYMS[acronym]] if acronym in ACRONYMS else []
        if not names and any(acronym in table for table in ACRONYMS_IN.values()):
            language = language or question_language(question)
            tables = [ACRONYMS_IN[language]] if language in ACRONYMS_IN else ACRONYMS_IN.values()
            names = [table[acronym] for table in tables if acronym in table]
        for name in names:
            if name.lower() not in lowered and name not in additions:
                additions.append(name)
    return question if not additions else f"{question} ({'; '.join(additions)})"


def check_question(question: str, max_chars: int) -> str:
    """Strip a question and refuse empty ones, ones without a letter or digit ("?", "!!!") and absurdly long ones."""
    if question is None or not question.strip():
        raise InvalidQuestionError("The question is empty: type a question about the documents.")
    question = " ".join(question.split())
    if not any(ch.isalnum() for ch in question):
        raise InvalidQuestionError("The question has no words to search for: type a question about the documents.")
    if len(question) > max_chars:
        raise InvalidQuestionError(
            f"The question is too long ({len(question):,} characters; the limit is {max_chars:,}). "
            "Ask about one thing at a time."
        )
    return question


@dataclass(frozen=True)
class Hit:
    """A ranked chunk with every signal that ranked it (``None`` where the mode did not compute one)."""

    chunk_id: int
    score: float  # what ranks it: the fused score (hybrid), the cosine (dense) or the BM25 score (bm25)
    dense: float | None = None  # cosine between the question and the chunk vector
    lexical: float | None = None  # BM25 score
    sentence: float | None = None  # cosine of the chunk's best sentence
    extra: tuple[tuple[str, float], ...] = ()  # cosines under the index's extra encoders, by key


@dataclass(frozen=True)
class Signals:
    """The candidate lists of one question, every candidate scored in each (what fusion combines)."""

    dense: list  # [(chunk id, cosine)]
    lexical: list  # [(chunk id, BM25)]
    sentence: list  # [(chunk id, best sentence cosine)]; empty for an index without sentence vectors
    extra: dict = field(default_factory=dict)  # {encoder key: [(chunk id, cosine)]}
    # Candidates in a language the primary (English) model does not read, when a multilingual second
    # encoder judges them: the dense and sentence lists leave them out of their z-scores.
    foreign: frozenset = frozenset()
    # {encoder key: the list of ``extra`` with the cosines pooled over each candidate's translations} (what fusion
    # reads in its place; ``qa.translations``); empty for an index in one language
    pooled: dict = field(default_factory=dict)
    # Candidates BM25 analysed in another language than the question (read in its own language only): their BM25
    # score of 0 says nothing, and the multilingual encoder's z-score stands in, as for ``foreign``.
    unread: frozenset = frozenset()
    # {chunk id: language} of the candidates, read beside a multilingual encoder (empty without one)
    languages: dict = field(default_factory=dict)

    def lists(self) -> list:
        extra = [self.pooled.get(key, scores) for key, scores in self.extra.items()]
        return [self.dense, self.lexical] + ([self.sentence] if self.sentence else []) + extra


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[Hit, ...]
    query: str  # as searched: acronyms expanded
    query_vectors: dict  # {encoder key: (1, d) vector}
    timings: dict
    language: str = "und"  # the question's (``qa.language.question_language``)
    # The sum of the fusion weights (hybrid): a hit's score over it is a weighted mean of z-scores, which reads
    # the same with or without a second encoder. 1.0 in the other modes.
    scale: float = 1.0
    # {word as typed: word searched} for each typing slip read as the index's word (``qa.spelling.respell``)
    respelled: dict = field(default_factory=dict)
    # Quoted phrases (``qa.phrases``): those every hit contains, or those no passage contains (searched as usual)
    phrases: tuple[str, ...] = ()
    phrases_missing: tuple[str, ...] = ()
    # Article numbers the question names that the index has passages under (``qa.articles``)
    articles: tuple[int, ...] = ()
    # Hits in another language than the question's that write a name it typed in Latin letters (``qa.names``)
    named: frozenset = frozenset()


def as_encoders(encoders) -> dict:
    """``{encoder key: encoder}``: a single encoder is the primary one."""
    if isinstance(encoders, Mapping):
        return dict(encoders)
    return {PRIMARY: encoders}


class Searcher:
    """Dense, BM25 and hybrid search over one ``Snapshot`` (an index on disk or arrays in memory)."""

    def __init__(self, snapshot, encoders, depth: int = fusion.CANDIDATES, extra_depth: int = fusion.EXTRA_CANDIDATES):
        self.snapshot = snapshot
        self.encoders = as_encoders(encoders)
        self.depth = depth
        self.extra_depth = extra_depth

    def query_vectors(self, query: str, given: dict | None = None) -> dict:
        """The question encoded by every encoder the index has vectors for (``given`` ones are reused).

        A second encoder runs in a helper thread while this one runs the first: each engine releases the
        GIL and uses one thread for a question, so on two cores the two encodings overlap."""
        result = dict(given or {})
        keys = sorted((key for key in self.snapshot.generation.dense if key not in result), key=lambda key: key != PRIMARY)
        encoders = {key: self.encoder(key) for key in keys}
        later = {key: _QUERY_POOL.submit(encoders[key].encode_query, query) for key in keys[1:]}
        for key in keys[:1]:
            result[key] = encoders[key].encode_query(query)
        result.update({key: future.result() for key, future in later.items()})
        return result

    def encoder(self, key: str):
        """The encoder of ``key``: given, or (a second encoder the caller did not pass) the model the manifest names."""
        if key not in self.encoders:
            from . import encoders
            from .settings import load_settings

            model = (self.snapshot.manifest.get("extra_encoders") or {}).get(key, {}).get("model")
            if model is None:
                raise KeyError(f"no encoder for the index's '{key}' vectors")
            self.encoders[key] = encoders.load(model, load_settings())
        return self.encoders[key]

    def search(self, question: str, k: int = 5, docs=None, mode: str = "hybrid", query_vectors: dict | None = None,
               expand: bool = True, as_asked: str | None = None) -> SearchResult:
        """Top-k hits for ``question``; ``docs`` restricts the search to those indexed documents. ``as_asked``: the
        question as the user asked it, when ``question`` is it read together with the previous one (a follow-up): its
        quoted phrases and article numbers, when it has any, stand for those of both, and only its own typing slips
        are reported."""
        if mode not in MODES:
            raise ValueError(f"Unknown mode '{mode}': use one of {', '.join(MODES)}.")
        timings: dict = {}
        scale = 1.0
        query = expand_acronyms(question) if expand else question
        query, respelled = spelling.respell(self.snapshot.lexical, query)
        if respelled:
            query_vectors = None  # given for the question as typed
            if as_asked:  # a follow-up reports its own slips, not those of the question it is read with
                respelled = spelling.own_slips(respelled, as_asked)
        asked_in = question_language(query)
        allowed = self.snapshot.chunk_ids_for_docs(docs) if docs else None
        allowed, exact, missing = self._narrowed((as_asked and phrases.quoted(as_asked)) or phrases.quoted(query), allowed)
        numbers: tuple = ()
        named: frozenset = frozenset()
        depth = max(self.depth, k)
        t0 = time.perf_counter()
        vectors_by_key = self.query_vectors(query, query_vectors) if mode != "bm25" else dict(query_vectors or {})
        timings["encode_ms"] = (time.perf_counter() - t0) * 1000
        if mode == "dense":
            t0 = time.perf_counter()
            ranked = self.snapshot.dense_search(vectors_by_key[PRIMARY], depth, allowed)[:k]
            timings["faiss_ms"] = (time.perf_counter() - t0) * 1000
            hits = [Hit(c, s, dense=s) for c, s in ranked]
        elif mode == "bm25":
            t0 = time.perf_counter()
            ranked = self.snapshot.lexical.search(glossary.expand(query), depth, _allowed_set(allowed))[:k]
            timings["bm25_ms"] = (time.perf_counter() - t0) * 1000
            hits = [Hit(c, s, lexical=s) for c, s in ranked]
        else:
            numbers = (as_asked and articles.referenced(as_asked)) or articles.referenced(query)
            article_ids = articles.chunks_of(self.snapshot, numbers, allowed, asked_in) if numbers else set()
            numbers = numbers if article_ids else ()
            signals = self.signals(query, vectors_by_key, depth, allowed, timings, asked_in, also=article_ids)
            t0 = time.perf_counter()
            weights = fusion.weights_for(signals)
            hits = self.fuse(signals, weights)
            if article_ids:
                hits = _raised(hits, article_ids, articles.BONUS * float(sum(weights)))
            if signals.extra:  # names across languages and scripts: only beside a multilingual encoder
                named = frozenset(names.chunks_naming(self.snapshot, question, [h.chunk_id for h in hits], asked_in,
                                                      signals.languages))
                if named:
                    hits = _raised(hits, named, names.BONUS * float(sum(weights)), first=False)
            hits = hits[:k]
            timings["fusion_ms"] = (time.perf_counter() - t0) * 1000
            scale = float(sum(weights))
        return SearchResult(tuple(hits), query, vectors_by_key, timings, asked_in, scale, respelled, exact, missing,
                            numbers, named & {h.chunk_id for h in hits})

    def _narrowed(self, quoted: tuple, allowed):
        """``(allowed, phrases every hit holds, phrases no passage holds)``: the chunks to search narrowed to those that
        hold every quoted phrase (``qa.phrases``), when some do."""
        containing = phrases.chunks_containing(self.snapshot, quoted, allowed) if quoted else None
        if containing is None:
            return allowed, (), ()
        return (containing, quoted, ()) if len(containing) else (allowed, (), quoted)

    def signals(self, query: str, vectors_by_key: dict, depth: int | None = None, allowed=None,
                timings: dict | None = None, asked_in: str | None = None, also=()) -> Signals:
        """Steps 1–3 of the hybrid recipe (``qa.fusion``): the dense and BM25 top ``depth``, every candidate
        filled in with the other score, its best sentence's cosine, and its cosine under each extra encoder.
        ``asked_in``: the question's language, if already detected; ``also``: chunk ids to make candidates too."""
        timings = {} if timings is None else timings
        depth = depth or self.depth
        snap = self.snapshot
        query_vector = vectors_by_key[PRIMARY]
        t0 = time.perf_counter()
        dense = snap.dense_search(query_vector, depth, allowed)
        t1 = time.perf_counter()
        # BM25 also gets the treaty wording of the question's everyday phrases (qa/glossary.py); the dense lists
        # read the question as asked (natural dev: hit@1 0.796 → 0.816 this way, 0.806 with both expanded).
        lexical_query = glossary.expand(query)
        lexical = snap.lexical.search(lexical_query, depth, _allowed_set(allowed))
        t2 = time.perf_counter()
        timings["faiss_ms"], timings["bm25_ms"] = (t1 - t0) * 1000, (t2 - t1) * 1000
        # A second encoder brings its own top candidates too (its dense list), scored in every list below.
        extra_keys = [key for key in vectors_by_key if key != PRIMARY and snap.has_dense(key)]
        own = {c for key in extra_keys for c, _ in snap.dense_search(vectors_by_key[key], self.extra_depth, allowed, key)}
        own |= set(also)
        filled_dense, filled_lexical = fusion.fill_in(
            dense, lexical, lambda ids: snap.cosines(ids, query_vector), lambda ids: dict(snap.lexical.scores_for(lexical_query, ids)),
            also=own,
        )
        candidates = sorted(chunk_id for chunk_id, _ in filled_dense)
        stored = snap.sentence_vectors(candidates)
        sentence = []
        if stored:
            owners = [chunk_id for chunk_id, (spans, _) in stored.items() for _ in range(len(spans))]
            matrix = np.concatenate([m for _, m in stored.values()]) if owners else np.zeros((0, query_vector.size), np.float32)
            sentence = fusion.max_sentence_scores(query_vector, matrix, owners)
        extra = {key: list(zip(candidates, (float(c) for c in snap.cosines(candidates, vectors_by_key[key], key))))
                 for key in extra_keys}
        pooled = {}
        for key in extra_keys:
            table = snap.translations(key)
            # Multilingual dev (UDHR in six languages, 40 questions a cell): own-language hit@1 0.845 → 0.900,
            # English → other 0.815 → 0.895 (hit@3 0.915 → 1.000), other → English 0.795 → 0.885.
            by_id = translations.pooled(table, vectors_by_key[key], extra[key]) if table is not None else {}
            if by_id:
                pooled[key] = [(c, by_id.get(c, cosine)) for c, cosine in extra[key]]
        foreign, unread, languages = frozenset(), frozenset(), {}
        if extra_keys:
            languages = snap.chunk_languages(candidates)
            read_in = set(snap.lexical.query_analyzers(lexical_query))
            unread = frozenset(c for c, code in languages.items() if analyzer_of(code) not in read_in)
            foreign = frozenset(c for c, code in languages.items() if code not in PRIMARY_LANGUAGES)
            asked_in = question_language(query) if asked_in is None else asked_in
            if asked_in not in PRIMARY_LANGUAGES and asked_in not in languages.values():
                # MiniLM cannot read the question, and no candidate is in its language: its lists judge none.
                # Multilingual dev (session 11), questions in French, Spanish, Russian, Arabic and Chinese asked of
                # the English UDHR (200): the article first 0.70 → 0.795, in the first three 0.885 → 0.925. (Where
                # passages in the question's language compete, MiniLM's low scores for the English ones keep them
                # first, as a reader of that language would want: judging the English ones by e5 there cost 5 of
                # the same 200 questions asked of the whole index, the article first in any language.)
                foreign = frozenset(candidates)
        timings["signals_ms"] = (time.perf_counter() - t2) * 1000
        return Signals(filled_dense, filled_lexical, sentence, extra, foreign, pooled, unread, languages)

    @staticmethod
    def fuse(signals: Signals, weights=None) -> list[Hit]:
        """Step 4: the z-score fusion of the signals, as hits carrying every signal."""
        blind, stand_in = None, None
        if signals.foreign:
            # The primary model's lists (dense, sentence) cannot judge these chunks; the multilingual encoder's
            # z-score stands in for theirs (the first extra list; ``foreign`` is only set beside one). Multilingual
            # dev (session 10, 240 questions asked of the whole index): the article first 0.808 → 0.871, in the
            # first three 0.863 → 0.929 against BM25's z-score standing in (which had beaten the list's mean,
            # 0.809 → 0.845); asked of one document, own-language hit@1 0.84 → 0.85 over the five languages.
            blind = [signals.foreign, None] + ([signals.foreign] if signals.sentence else []) + [None] * len(signals.extra)
            stand_in = len(blind) - len(signals.extra) if signals.extra else 1
        if signals.unread and signals.extra:
            # BM25 read these chunks in another language than the question's: the multilingual encoder's z-score
            # stands in for their BM25 score of 0, as for the primary model's lists (session 18; the mean, 0,
            # standing in instead: English questions about replies in other languages found the answering paragraph
            # first 15 times of 40 against 21, tests/data/names_questions.jsonl).
            blind = blind or [None] * len(signals.lists())
            blind[1] = signals.unread
            stand_in = len(blind) - len(signals.extra)
        ranked = fusion.combine(signals.lists(), weights or fusion.weights_for(signals), blind, stand_in)
        dense, lexical, sentence = dict(signals.dense), dict(signals.lexical), dict(signals.sentence)
        extra = {key: dict(scores) for key, scores in signals.extra.items()}
        return [
            Hit(c, s, dense.get(c), lexical.get(c), sentence.get(c),
                tuple((key, scores[c]) for key, scores in extra.items() if c in scores))
            for c, s in ranked
        ]


def _raised(hits: list[Hit], chunk_ids: set[int], bonus: float, first: bool = True) -> list[Hit]:
    """The hits with ``bonus`` added to the fused score of those in ``chunk_ids``, best first again; then (``first``)
    the best of those first, if it is not (its score kept, so that it does not read as standing out)."""
    raised = [replace(hit, score=hit.score + bonus) if hit.chunk_id in chunk_ids else hit for hit in hits]
    raised.sort(key=lambda hit: (-hit.score, hit.chunk_id))
    best = next((i for i, hit in enumerate(raised) if hit.chunk_id in chunk_ids), 0) if first else 0
    if best:
        raised.insert(0, raised.pop(best))
    return raised


def _allowed_set(allowed):
    return set(allowed.tolist()) if allowed is not None else None


def to_passages(snapshot, hits) -> list[Passage]:
    """Join hits with their chunk rows and citation data from the same snapshot."""
    rows = snapshot.chunks([hit.chunk_id for hit in hits])
    scanned = snapshot.ocr_pages({row.doc for row in rows.values()})
    passages = []
    for hit in hits:
        row = rows.get(hit.chunk_id)
        if row is None:  # only an in-memory snapshot without rows for every id
            continue
        ocr, confidence = passage_mark(scanned.get(row.doc, {}), row.page, row.page_end)
        passages.append(
            Passage(
                rank=len(passages) + 1, score=float(hit.score), chunk_id=hit.chunk_id, doc=row.doc, title=row.title,
                section=row.section, start=row.start, end=row.end, text=row.text, page=row.page,
                page_end=row.page_end, page_label=row.page_label, para=row.para, symbol=row.symbol,
                ocr=ocr, ocr_confidence=confidence, lang=row.lang,
            )
        )
    return passages


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


# A passage inside a better one counts as its copy from this many words, and this share of the better one's;
# also when their words differ only by spelling (the ICCPR's PDF "subparagraph" and Markdown "sub-paragraph", a
# fact sheet's "organise"): this share of the words in the same order (difflib's ratio).
COPY_MIN_WORDS = 25
COPY_MIN_SHARE = 0.8
COPY_NEAR = 0.95
COPY_FACT_WORDS = 3  # words beside a number that only one of two near copies has: a fact, not page furniture


def _copy_of(mine: str, other: str) -> bool:
    if not mine or mine == other:
        return bool(mine)
    count, total = mine.count(" ") + 1, other.count(" ") + 1
    if count < COPY_MIN_WORDS or count < COPY_MIN_SHARE * total:
        return False
    if f" {mine} " in f" {other} ":
        return True
    words, others = mine.split(), other.split()
    if len(set(words) & set(others)) < COPY_NEAR * len(set(words)):  # cheap: most passages are no copies
        return False
    matcher = SequenceMatcher(None, words, others, autojunk=False)
    return matcher.ratio() >= COPY_NEAR and not _numbers_differ(matcher, words, others)


def _numbers_differ(matcher: SequenceMatcher, words: list[str], others: list[str]) -> bool:
    """Whether two nearly equal word sequences differ in a fact: a number put for another ("48 hours" / "72 hours",
    a date, an amount), or words with a number that only one has ("and fined 100 euros"). A revised version of a
    note is no copy of the old one. Page furniture ("7/11", "A/80/67 GE.25-01234") and a footnote mark glued to a
    word ("expression3") are no fact."""
    def digits(tokens):
        return [t for t in tokens if any(ch.isdigit() for ch in t)]

    for tag, a, b, c, d in matcher.get_opcodes():
        mine, theirs = digits(words[a:b]), digits(others[c:d])
        if tag == "replace" and mine and theirs and mine != theirs:
            return True
        changed, numbers = (b - a, mine) if tag == "delete" else (d - c, theirs) if tag == "insert" else (0, [])
        if numbers and changed - len(numbers) >= COPY_FACT_WORDS:
            return True
    return False


def drop_copies(passages: list[Passage]) -> list[Passage]:
    """Passages of another document whose words a better passage already shows (the same article as PDF,
    Markdown and annex, chunked alike) are dropped, and cited in the better one's ``also_in``."""
    kept: list[Passage] = []
    words: list[str] = []
    for passage in passages:
        mine = _words(passage.text)
        same = next((i for i, other in enumerate(words) if kept[i].doc != passage.doc and _copy_of(mine, other)), None)
        if same is None:
            kept.append(passage)
            words.append(mine)
        elif all(copy.doc != passage.doc for copy in kept[same].also_in):
            copy = Copy(passage.doc, passage.start, passage.end, passage.page, passage.page_end)
            kept[same] = replace(kept[same], also_in=kept[same].also_in + (copy,))
    return kept


def drop_translations(snapshot, passages: list[Passage]) -> list[Passage]:
    """Passages that translate a better one (``qa.translations.linked``, either way) are dropped and cited in the
    better one's ``also_in`` with their language: the same article in six languages takes one place, not six."""
    table = translation_table(snapshot)
    if table is None or not passages:
        return passages
    links = translations.linked(table, [p.chunk_id for p in passages])
    kept: list[Passage] = []
    folded: list[list[int]] = []  # the chunk ids of each kept passage's translations
    for passage in passages:
        mine = set(links.get(passage.chunk_id, {}).values())
        same = next((i for i, other in enumerate(kept)
                     if other.chunk_id in mine or passage.chunk_id in links.get(other.chunk_id, {}).values()), None)
        if same is None:
            kept.append(passage)
            folded.append(list(links.get(passage.chunk_id, {}).values()))
        elif passage.chunk_id not in folded[same]:
            folded[same].append(passage.chunk_id)
    rows = snapshot.chunks([c for ids in folded for c in ids])
    result = []
    for passage, ids in zip(kept, folded):
        copies = tuple(Copy(row.doc, row.start, row.end, row.page, row.page_end, row.lang)
                       for row in (rows.get(c) for c in ids) if row is not None)
        result.append(replace(passage, also_in=passage.also_in + copies) if copies else passage)
    return result


def translation_table(snapshot):
    """The ``qa.translations.Table`` of the snapshot's second encoder, or ``None`` (none, or one language)."""
    key = next((key for key in snapshot.generation.dense if key != PRIMARY), None)
    return snapshot.translations(key) if key is not None else None


def hits_to_ask(snapshot, k: int) -> int:
    """How many hits to rank for ``k`` passages: spares for the joined and dropped ones, and room for the
    translations of each passage where the index holds several languages."""
    table = translation_table(snapshot)
    return k + SPARE_HITS + (k * (len(table.groups) - 1) if table is not None else 0)


def shown(snapshot, hits, k: int) -> list[Passage]:
    """The first ``k`` passages the hits make: copies and translations folded into the better passage,
    neighbouring chunks joined."""
    passages = drop_translations(snapshot, drop_copies(to_passages(snapshot, hits)))
    return join_neighbours(passages, k, gap_text=gap_reader(snapshot))


# Spare hits asked for beyond k, so that joined and dropped passages leave k to show.
SPARE_HITS = 4
# Neighbouring chunks among the first this many passages are shown as one passage.
JOIN_WITHIN = 3
# At most this many chunks in one joined passage.
JOIN_MOST = 3


# Chunks this few characters apart (the line break between two paragraphs) still count as neighbours.
JOIN_GAP = 2


def join_neighbours(passages: list[Passage], k: int, within: int = JOIN_WITHIN, gap_text=None) -> list[Passage]:
    """The first ``k`` passages, where two of the first ``within`` that are neighbouring chunks of one section
    (overlapping, touching, or ``JOIN_GAP`` characters apart) become one passage in the better one's place: the
    question's words in one chunk and the answer in the next is the commonest near miss (dev split: 8 of 28
    misses at rank 1). The joined text is the document's text over both spans, an exact substring at its
    offsets; ``gap_text(doc, start, end)`` gives the characters between two chunks (without it, or when it
    gives ``None``, chunks with a gap stay apart)."""
    result: list[Passage] = []
    for index, passage in enumerate(passages):
        target = next(
            (i for i, kept in enumerate(result)
             if index < within and i < within and kept.doc == passage.doc and kept.section == passage.section
             and passage.start <= kept.end + JOIN_GAP and kept.start <= passage.end + JOIN_GAP
             and len(kept.members) < JOIN_MOST),
            None,
        )
        joined = _joined(result[target], passage, gap_text) if target is not None else None
        if joined is None:
            result.append(passage)
        else:
            result[target] = joined
    return [replace(p, rank=i + 1) for i, p in enumerate(result[:k])]


def _joined(better: Passage, other: Passage, gap_text=None) -> Passage | None:
    first, second = sorted((better, other), key=lambda p: p.start)
    if second.end <= first.end:
        text = first.text
    elif second.start <= first.end:
        text = first.text + second.text[first.end - second.start:]
    else:
        gap = gap_text(first.doc, first.end, second.start) if gap_text is not None else None
        if gap is None or len(gap) != second.start - first.end:
            return None
        text = first.text + gap + second.text
    pages = [p for p in (first.page, first.page_end, second.page, second.page_end) if p is not None]
    last = second if (second.page_end or second.page or 0) >= (first.page_end or first.page or 0) else first
    label = range_label(min(pages) if pages else None, first.page_label, max(pages) if pages else None,
                        last_label(last.page, last.page_end, last.page_label))
    parts = better.members + other.members
    return replace(
        better, start=first.start, end=max(first.end, second.end), text=text,
        page=min(pages) if pages else None, page_end=max(pages) if pages else None,
        page_label=label, para=first.para if second.end <= first.end else para_range(first.para, second.para),
        parts=parts,
        ocr=better.ocr or other.ocr,
        ocr_confidence=min((c for c in (better.ocr_confidence, other.ocr_confidence) if c is not None), default=None),
    )


def para_range(first: str | None, second: str | None) -> str | None:
    """The numbered paragraphs of two passages one after the other: "1–3" and "3–5" make "1–5"."""
    if not first or not second:
        return first or second
    low, high = first.split("–")[0], second.split("–")[-1]
    return low if low == high else f"{low}–{high}"


def gap_reader(snapshot):
    """``gap_text`` for ``join_neighbours``: the characters between two offsets of a document of ``snapshot``
    (``None`` where its records hold no document texts, as in a benchmark's snapshot in memory)."""
    texts: dict[str, str] = {}

    def gap_text(doc: str, start: int, end: int) -> str | None:
        if doc not in texts:
            reader = getattr(snapshot.records, "document", None)
            if reader is None:
                return None
            texts[doc] = reader(doc).text
        return texts[doc][start:end]

    return gap_text


def search(store, embedder, question: str, k: int = 5, docs: list[str] | None = None, mode: str = "hybrid",
           timings: dict | None = None) -> list[Passage]:
    """Top-k passages for ``question`` from one snapshot of ``store`` (see ``Searcher``; neighbours joined)."""
    with store.snapshot() as snap:
        result = Searcher(snap, embedder).search(question, hits_to_ask(snap, k), docs, mode)
        if timings is not None:
            timings.update(result.timings)
        return shown(snap, result.hits, k)
