"""The second encoder's cosines pooled over a passage's translations (``qa.translations``): found as the nearest
passage in each other language, read on the passage's language scale, used by fusion only. Fast: vectors built
by hand over 16 dimensions, two languages of 12 passages."""

from __future__ import annotations

import numpy as np
import pytest

from qa import translations, vectors
from qa.retrieval import Hit, Searcher, drop_translations, hits_to_ask, to_passages
from qa.snapshot import PRIMARY, Snapshot, StoredChunk
from qa.types import Copy

D = 16
BASIS = np.eye(D, dtype=np.float32)


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def bilingual():
    """12 English passages (one basis direction each) and their 12 French translations; French 0 and 1 carry a
    little of other directions, and the question leans on French 1's, so French 1 reads closer to it than French 0
    although English 0 is clearly closer than English 1."""
    english = [BASIS[i] for i in range(12)]
    french = [BASIS[i] for i in range(12)]
    french[0] = unit(BASIS[0] + 0.45 * BASIS[13])
    french[1] = unit(BASIS[1] + 0.45 * BASIS[14])
    question = unit(BASIS[0] + 0.8 * BASIS[1] + 0.7 * BASIS[14] + 0.2 * BASIS[2:12].sum(axis=0))
    return np.stack(english + french), ["en"] * 12 + ["fr"] * 12, question


def table_of(matrix, languages):
    ids = np.arange(len(matrix), dtype=np.int64)
    return translations.table(vectors.build(ids, matrix, matrix.shape[1]), lambda asked: {i: languages[i] for i in asked},
                              lambda asked: {})  # documents unknown: one a language


def test_an_index_in_one_language_has_no_table():
    matrix, languages, _ = bilingual()
    assert table_of(matrix[:12], languages[:12]) is None
    # French below MIN_ROWS passages, and undetermined rows, are no language to pool
    few = translations.MIN_ROWS - 1
    assert table_of(matrix[: 12 + few], languages[:12] + ["fr"] * few) is None
    assert table_of(matrix, languages[:12] + ["und"] * 12) is None
    assert set(table_of(matrix, languages).groups) == {"en", "fr"}


def test_a_translation_is_the_nearest_passage_in_another_language_both_ways_when_close_enough():
    matrix, languages, _ = bilingual()
    matrix[14] = BASIS[15]  # French 2 is like no English passage
    # French 3 is close enough to English 0, but English 0 has a closer French passage (French 0): a text on the
    # same subject, not a translation
    matrix[15] = unit(BASIS[0] + 0.6 * BASIS[15])
    assert matrix[15] @ matrix[0] >= translations.LINKED_AT and int(np.argmax(matrix[:12] @ matrix[15])) == 0
    table = table_of(matrix, languages)
    links = translations.linked(table, [0, 12, 13, 14, 15, 99])  # 99: not in the index
    assert links == {0: {"fr": 12}, 12: {"en": 0}, 13: {"en": 1}, 14: {}, 15: {}}


def test_a_passage_is_no_translation_when_its_document_does_not_translate_the_other():
    """French 0 is English 0's translation both ways, but its document holds four passages like no English one:
    one shared passage does not make two documents translations. French 5–11, a document of their own, are."""
    matrix, languages, _ = bilingual()
    for row, free in zip(range(13, 17), range(12, 16)):
        matrix[row] = BASIS[free]
    docs = {i: "en.md" for i in range(12)} | {i: "notes.txt" for i in range(12, 17)} | {i: "fr.txt" for i in range(17, 24)}
    ids = np.arange(len(matrix), dtype=np.int64)
    table = translations.table(vectors.build(ids, matrix, D), lambda asked: {i: languages[i] for i in asked},
                               lambda asked: {i: docs[i] for i in asked})
    assert translations.linked(table, [12, 17]) == {12: {}, 17: {"en": 5}}
    assert table.agree[("notes.txt", "en.md", "en")] is False and table.agree[("fr.txt", "en.md", "en")] is True


def test_a_passage_is_judged_with_its_translation():
    matrix, languages, question = bilingual()
    matrix[14] = BASIS[15]  # French 2: no English passage is its translation
    table = table_of(matrix, languages)
    cosines = matrix @ question
    french = [(12 + i, float(cosines[12 + i])) for i in range(12)]
    assert cosines[13] > cosines[12] and cosines[0] > cosines[1]
    pooled = translations.pooled(table, question, french)
    assert pooled[12] > pooled[13]  # English 0's reading lifts French 0 above French 1
    assert 14 not in pooled
    # the translation's cosine is put on French's scale for this question before it is averaged in
    best = {code: np.sort(cosines[rows])[-translations.SCALE_DEPTH:] for code, rows in table.groups.items()}
    english_on_french = best["fr"].mean() + best["fr"].std() * (cosines[0] - best["en"].mean()) / best["en"].std()
    assert pooled[12] == pytest.approx((cosines[12] + english_on_french) / 2, abs=1e-5)


def test_only_the_best_candidates_are_pooled(monkeypatch):
    matrix, languages, question = bilingual()
    cosines = matrix @ question
    french = [(12 + i, float(cosines[12 + i])) for i in range(12)]
    monkeypatch.setattr(translations, "POOLED", 2)
    pooled = translations.pooled(table_of(matrix, languages), question, french)
    assert set(pooled) == {c for c, _ in sorted(french, key=lambda item: -item[1])[:2]}


def test_fusion_ranks_by_the_pooled_cosines_and_hits_keep_their_own():
    matrix, languages, question = bilingual()
    ids = np.arange(len(matrix), dtype=np.int64)
    texts = [f"passage number {i}" for i in range(len(matrix))]
    snap = Snapshot.in_memory(ids, matrix, texts, extra_dense={"e5": matrix}, languages=languages)
    french_only = ids[12:]
    searcher = Searcher(snap, {})
    signals = searcher.signals("Que dit le texte sur ce sujet ?", {PRIMARY: question, "e5": question},
                               allowed=french_only, asked_in="fr")
    assert set(signals.pooled) == {"e5"}
    hits = Searcher.fuse(signals)
    assert hits[0].chunk_id == 12
    raw = matrix @ question
    assert all(dict(hit.extra)["e5"] == pytest.approx(float(raw[hit.chunk_id]), abs=1e-5) for hit in hits)
    # without the English translations (an index of the French passages alone) the French order stands
    alone = Snapshot.in_memory(ids[12:], matrix[12:], texts[12:], extra_dense={"e5": matrix[12:]}, languages=languages[12:])
    signals = Searcher(alone, {}).signals("Que dit le texte sur ce sujet ?", {PRIMARY: question, "e5": question},
                                          asked_in="fr")
    assert signals.pooled == {}
    assert Searcher.fuse(signals)[0].chunk_id == 13


def bilingual_snapshot(matrix, languages) -> Snapshot:
    """The 24 passages as two documents, ``en.md`` and ``fr.txt``, with rows (what passages are made of)."""
    ids = np.arange(len(matrix), dtype=np.int64)
    texts = [f"passage number {i}" for i in ids]
    rows = {int(i): StoredChunk(int(i), f"{languages[i]}.md" if languages[i] == "en" else f"{languages[i]}.txt", "UDHR",
                                None, int(i) % 12, 100 * (int(i) % 12), 100 * (int(i) % 12) + 50, f"Article {int(i) % 12 + 1}",
                                None, None, None, None, texts[i], languages[i])
            for i in ids}
    return Snapshot.in_memory(ids, matrix, texts, rows=rows, extra_dense={"e5": matrix}, languages=languages)


def test_a_translation_of_a_better_passage_is_cited_on_it_not_shown_again():
    matrix, languages, _ = bilingual()
    matrix[14] = BASIS[15]  # French 2 translates nothing
    snap = bilingual_snapshot(matrix, languages)
    passages = to_passages(snap, [Hit(0, 3.0), Hit(12, 2.9), Hit(1, 2.0), Hit(14, 1.5), Hit(2, 1.0)])
    shown = drop_translations(snap, passages)
    assert [p.chunk_id for p in shown] == [0, 1, 14, 2]
    # French 0 folded into English 0; English 1 cites its French translation though it was not among the hits
    assert shown[0].also_in == (Copy("fr.txt", 0, 50, None, None, "fr"),)
    assert shown[1].also_in == (Copy("fr.txt", 100, 150, None, None, "fr"),)
    assert shown[2].also_in == () and shown[3].also_in == ()
    # room for the translations of each passage among the hits ranked
    assert hits_to_ask(snap, 5) == 5 + 4 + 5
    one_language = Snapshot.in_memory(np.arange(12), matrix[:12], [f"p {i}" for i in range(12)],
                                      extra_dense={"e5": matrix[:12]}, languages=languages[:12])
    assert drop_translations(one_language, passages) == passages and hits_to_ask(one_language, 5) == 9


def test_a_card_names_the_languages_of_the_translations_escaped():
    from qa.render import passage_card_html

    matrix, languages, _ = bilingual()
    snap = bilingual_snapshot(matrix, languages)
    shown = drop_translations(snap, to_passages(snap, [Hit(0, 3.0)]))[0]
    html = passage_card_html(shown, turn_id=1)
    assert "also in French (fr.txt)" in html
    odd = Copy("<script>alert(1)</script>.txt", 0, 50, 3, 4, "ar")
    html = passage_card_html(type(shown)(**{**shown.__dict__, "also_in": (odd,)}), turn_id=1)
    assert "also in Arabic (&lt;script&gt;alert(1)&lt;/script&gt;.txt p. 3–4)" in html and "<script>" not in html


def test_the_command_line_names_a_passages_translations_and_copies():
    from qa.cli import format_answer
    from qa.types import Answer

    matrix, languages, _ = bilingual()
    snap = bilingual_snapshot(matrix, languages)
    shown = drop_translations(snap, to_passages(snap, [Hit(0, 3.0)]))[0]
    same_words = Copy("copy.txt", 0, 50, 2, 2, None)
    passage = type(shown)(**{**shown.__dict__, "also_in": (*shown.also_in, same_words)})
    out = format_answer(Answer("q", (passage,), status="uncertain"))
    line = next(line for line in out.splitlines() if line.startswith("[1]"))
    assert "also in copy.txt p. 2" in line and "also in French (fr.txt)" in line
