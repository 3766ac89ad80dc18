"""Languages in the store: detected when a document is written, kept through migration, used by BM25 without
re-detection, listed and filtered on by the CLI and the page, and shown (right to left for Arabic) in the HTML."""

from __future__ import annotations

import json
import re
import sqlite3

import numpy as np
import pytest

from conftest import write
from qa import cli, encoders, language, render, schema
from qa.cli import main
from qa.conversation import answer_question
from qa.errors import IndexMismatchError, UnknownLanguageError
from qa.indexing import update_index
from qa.rows import DocumentInfo, documents_in_languages, language_label, language_name, parse_languages
from qa.snapshot import MemoryRecords, Snapshot, StoredChunk
from qa.store import Store
from qa.types import Answer, AnswerSentence, Document, Passage

TEXTS = {
    "udhr-en.md": "# Article 9\n\nNo one shall be subjected to arbitrary arrest, detention or exile. Everyone is "
                  "entitled in full equality to a fair and public hearing by an independent and impartial tribunal.\n",
    "udhr-fr.md": "# Article 9\n\nNul ne peut être arbitrairement arrêté, détenu ni exilé. Toute personne a droit, en "
                  "pleine égalité, à ce que sa cause soit entendue équitablement et publiquement par un tribunal.\n",
    "udhr-es.md": "# Artículo 9\n\nNadie podrá ser arbitrariamente detenido, preso ni desterrado. Toda persona tiene "
                  "derecho, en condiciones de plena igualdad, a ser oída públicamente y con justicia por un tribunal.\n",
    "udhr-ar.md": "# المادة 9\n\nلا يجوز القبض على أي إنسان أو حجزه أو نفيه تعسفاً. لكل إنسان الحق، على قدم المساواة "
                  "التامة مع الآخرين، في أن تنظر قضيته أمام محكمة مستقلة نزيهة نظراً عادلاً علنياً.\n",
    "udhr-zh.md": "# 第九条\n\n任何人不得加以任意逮捕、拘禁或放逐。人人完全平等地有权由一个独立而无偏倚的法庭进行公正的和公开的审讯。\n",
}
EXPECTED = {"udhr-en.md": "en", "udhr-fr.md": "fr", "udhr-es.md": "es", "udhr-ar.md": "ar", "udhr-zh.md": "zh"}


@pytest.fixture
def multilingual(settings, docs_dir, fake_embedder):
    for name, text in TEXTS.items():
        write(docs_dir, name, text)
    report = update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    assert not report.failed
    return settings


# ------------------------------------------------------------------------------------------ the write path


def test_undetermined_chunks_take_the_documents_dominant_language():
    french = "Nul ne peut être arbitrairement arrêté, détenu ni exilé. Toute personne a droit à un procès équitable."
    chunks, document = schema.detect_languages([french, "1234 5678 — 2024", "12. 13. 14."])
    assert document == "fr" and chunks == ["fr", "fr", "fr"]
    assert schema.detect_languages(["123", "4 5 6"]) == (["und", "und"], "und")
    english = "No one shall be subjected to arbitrary arrest, detention or exile, nor to torture of any kind."
    chunks, document = schema.detect_languages([english, english, french])
    assert (chunks, document) == (["en", "en", "fr"], "en"), "a French chunk of an English document stays French"


def test_a_chunk_without_a_letter_of_its_documents_script_is_detected_on_its_own_text():
    """An English passage of a Chinese document (here the copyright lines that open the UDHR's plain-text files),
    read with the document's Chinese title, came out Chinese: BM25 read it as Chinese and e5 judged it as a passage
    in another language than an English question's. A Latin-script chunk read with an English title keeps the
    title's language (the English seed reply's French letterhead stays English)."""
    from qa.chunking import embedding_text

    title = "世界人权宣言"
    header = ("Universal Declaration of Human Rights - Chinese, Mandarin (Simplified)\n© 1996 – 2009 The Office of "
              "the High Commissioner for Human Rights")
    article = "人人生而自由,在尊严和权利上一律平等。他们赋有理性和良心,并应以兄弟关系的精神相对待。"
    texts = [embedding_text("", header, title), embedding_text("第一条", article, title)]
    assert schema.detect_languages(texts)[0] == ["zh", "zh"]  # as before: the title decides
    assert schema.detect_languages(texts, [header, article]) == (["en", "zh"], "zh")
    letterhead = "MISSION PERMANENTE DE LA RÉPUBLIQUE DU KAZAKHSTAN auprès de l'Office des Nations Unies à Genève"
    english_title = "Reply of the Government of Kazakhstan to the joint communication of the special rapporteurs"
    read = schema.detect_languages([embedding_text("", letterhead, english_title)], [letterhead])[0]
    assert read == schema.detect_languages([embedding_text("", letterhead, english_title)])[0]
    assert not language.writes_language_script(header, "zh") and language.writes_language_script(article, "zh")
    assert language.writes_language_script(header, "fr") and language.writes_language_script("", "und")


def test_every_chunk_and_document_gets_its_language_when_written(multilingual):
    with Store.open(multilingual.index, multilingual) as store, store.snapshot() as snap:
        documents = {d.path: d.lang for d in store.documents()}
        assert documents == EXPECTED
        ids = snap.generation.ids.tolist()
        chunk_languages = snap.chunk_languages(ids)
        assert set(chunk_languages) == set(ids)
        by_doc = {row.doc: set() for row in snap.chunks(ids).values()}
        for chunk_id, row in snap.chunks(ids).items():
            assert row.lang == chunk_languages[chunk_id]
            by_doc[row.doc].add(row.lang)
        assert by_doc == {path: {code} for path, code in EXPECTED.items()}
        counts = snap.languages()
        assert sum(counts.values()) == len(ids) and set(counts) == set(EXPECTED.values())
        assert snap.chunk_languages([10**9]) == {}, "an id not in this generation is absent"
        # the BM25 index of this generation was built with exactly the stored languages
        assert snap.lexical.languages == counts


def test_bm25_is_rebuilt_from_stored_languages_without_detecting(multilingual, monkeypatch):
    with Store.open(multilingual.index, multilingual) as store:
        expected = store.languages()
        stored = store.lexical_rows()
        generation = store.generation

    def no_detection(*args, **kwargs):
        raise AssertionError("language detected again during a BM25 rebuild")

    monkeypatch.setattr(language, "detect", no_detection)
    import shutil

    shutil.rmtree(multilingual.index / f"lexical-{generation}")
    with Store.open(multilingual.index, multilingual) as store:
        store.writable = True
        assert store.repair()["lexical"] == "rebuilt"
        assert store.lexical_index().languages == expected
        assert store.lexical_rows() == stored
        ids, texts, languages = stored
        assert len(ids) == len(texts) == len(languages) and set(languages) == set(EXPECTED.values())


def test_a_renamed_document_keeps_its_language(multilingual, fake_embedder):
    docs = multilingual.docs
    (docs / "ar").mkdir()
    (docs / "udhr-ar.md").rename(docs / "ar" / "udhr-ar.md")  # the same file name: its title (from it) stays
    report = update_index(docs, multilingual.index, multilingual, embedder=fake_embedder)
    assert report.chunks_embedded == 0 and [(r.old, r.new) for r in report.renamed] == [("udhr-ar.md", "ar/udhr-ar.md")]
    with Store.open(multilingual.index, multilingual) as store:
        assert {d.path: d.lang for d in store.documents()}["ar/udhr-ar.md"] == "ar"
        assert set(store.chunk_languages(store.chunk_ids()).values()) == set(EXPECTED.values())


# ------------------------------------------------------------------------------------------ migration


def _downgrade_to_schema_3(index):
    conn = sqlite3.connect(index / "store.sqlite3")
    conn.executescript("ALTER TABLE chunks DROP COLUMN lang; ALTER TABLE documents DROP COLUMN lang; PRAGMA user_version = 3;")
    conn.close()


def _columns(index, table):
    conn = sqlite3.connect(index / "store.sqlite3")
    try:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}, conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_an_index_without_languages_is_upgraded_in_place_and_detects_them(multilingual, fake_embedder):
    _downgrade_to_schema_3(multilingual.index)
    with pytest.raises(IndexMismatchError, match="in place"):
        Store.open(multilingual.index, multilingual)  # readers run no DDL
    assert "lang" not in _columns(multilingual.index, "chunks")[0]
    encoded = len(fake_embedder.encoded_texts)
    report = update_index(multilingual.docs, multilingual.index, multilingual, embedder=fake_embedder)
    assert report.chunks_embedded == 0 and len(fake_embedder.encoded_texts) == encoded, "nothing re-embedded"
    with Store.open(multilingual.index, multilingual) as store:
        assert {d.path: d.lang for d in store.documents()} == EXPECTED
        assert set(store.languages()) == set(EXPECTED.values())
        store.verify(strict=True)
    assert _columns(multilingual.index, "chunks")[1] == schema.SCHEMA_VERSION


def test_an_interrupted_upgrade_changes_nothing_and_runs_again(multilingual, fake_embedder, monkeypatch):
    _downgrade_to_schema_3(multilingual.index)
    real = schema.detect_languages
    calls = []

    def dies_on_the_third_document(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(schema, "detect_languages", dies_on_the_third_document)
    with pytest.raises(KeyboardInterrupt):
        update_index(multilingual.docs, multilingual.index, multilingual, embedder=fake_embedder)
    columns, version = _columns(multilingual.index, "chunks")
    assert version == 3 and "lang" not in columns, "the step rolled back whole"
    assert "lang" not in _columns(multilingual.index, "documents")[0]
    monkeypatch.setattr(schema, "detect_languages", real)
    update_index(multilingual.docs, multilingual.index, multilingual, embedder=fake_embedder)
    with Store.open(multilingual.index, multilingual) as store:
        assert {d.path: d.lang for d in store.documents()} == EXPECTED


# ------------------------------------------------------------------------------------------ in memory


def test_a_memory_snapshot_takes_languages_or_detects_them():
    texts = [TEXTS["udhr-fr.md"], TEXTS["udhr-zh.md"], "12 34"]
    matrix = np.eye(3, 8, dtype=np.float32)
    given = Snapshot.in_memory([5, 6, 7], matrix, texts, languages=["fr", "zh", "fr"])
    assert given.chunk_languages([5, 6, 7, 8]) == {5: "fr", 6: "zh", 7: "fr", 8: "und"}
    assert given.languages() == {"fr": 2, "zh": 1} and given.lexical.languages == {"fr": 2, "zh": 1}
    detected = Snapshot.in_memory([5, 6, 7], matrix, texts)
    assert detected.chunk_languages([5, 6, 7]) == {5: "fr", 6: "zh", 7: "und"}
    with pytest.raises(ValueError, match="same length"):
        Snapshot.in_memory([5, 6, 7], matrix, texts, languages=["fr"])
    row = StoredChunk(1, "a.md", "A", None, 0, 0, 5, "", None, None, None, None, "Hello", "en")
    records = MemoryRecords({1: row, 2: StoredChunk(2, "b.md", "B", None, 0, 0, 2, "", None, None, None, None, "Hi")})
    assert records.chunk_languages([1, 2]) == {1: "en", 2: "und"} and records.languages() == {"en": 1, "und": 1}


# ------------------------------------------------------------------------------------------ filter


def _info(path, lang):
    return DocumentInfo(1, path, path, None, "markdown", "h", 0, 1, 1, 0, 0.0, lang)


DOCS = [_info("a.md", "en"), _info("b.md", "fr"), _info("c.md", "fr"), _info("d.md", "es"), _info("e.md", "und")]


def test_languages_turn_into_documents_and_bad_ones_are_refused():
    assert parse_languages(["fr, es", "FR", " Russian "]) == ("fr", "es", "ru")
    assert parse_languages(["German,zh-CN", "zh-Hans zh_TW", "français", "Mandarin", "pt-BR"]) == ("de", "zh", "fr", "pt")
    assert documents_in_languages(DOCS, ["fr"]) == ["b.md", "c.md"]
    assert documents_in_languages(DOCS, ["fr,es"]) == ["b.md", "c.md", "d.md"]
    assert documents_in_languages(DOCS, ["French"], within=["c.md", "a.md"]) == ["c.md"]
    assert documents_in_languages(DOCS, ["und"]) == ["e.md"]
    cases = [
        (["xx"], "Unknown language 'xx'"),
        (["klingonese"], "Unknown language 'klingonese'"),
        (["German"], "No document in the index is in German (de)."),
        (["zh-CN"], "No document in the index is in Chinese (zh)."),
        (["<b>"], "Unknown language '<b>'"),
        (["ru"], "No document in the index is in Russian (ru). The index has: English (en): 1 document"),
        (["fr,ru"], "No document in the index is in Russian (ru)"),
        ([" , "], "No language given"),
    ]
    for codes, message in cases:
        with pytest.raises(UnknownLanguageError, match=re.escape(message)) as info:
            documents_in_languages(DOCS, codes)
        assert info.value.exit_code == 2 and "\n" not in str(info.value)
    with pytest.raises(UnknownLanguageError, match=re.escape("None of the chosen documents is in Spanish (es)")):
        documents_in_languages(DOCS, ["es"], within=["a.md", "b.md"])


def test_the_page_offers_languages_only_when_there_are_several():
    assert render.language_choices(DOCS) == {
        "en": "English (1 document)", "fr": "French (2 documents)", "es": "Spanish (1 document)",
        "und": "Undetermined (1 document)",
    }
    assert list(render.language_choices(DOCS)) == ["en", "fr", "es", "und"]
    assert render.language_choices([_info("a.md", "en"), _info("b.md", "en"), _info("e.md", "und")]) == {}
    assert render.language_choices([]) == {}
    assert [language_name(c) for c in ("ar", "zh", "en", "fr", "ru", "es", "de")] == \
        ["Arabic", "Chinese", "English", "French", "Russian", "Spanish", "German"]
    assert language_name("xx") == "xx" and language_name("<b>") == "<b>"  # no name: the code as it is


def test_a_question_on_the_page_searches_only_the_chosen_languages(multilingual, fake_embedder):
    with Store.open(multilingual.index, multilingual) as store:
        turn = answer_question(store, fake_embedder, "arbitrary arrest tribunal", k=5, settings=multilingual,
                               langs=["fr", "es"])
        assert turn.docs == ("udhr-es.md", "udhr-fr.md") and turn.langs == ("fr", "es")
        assert turn.answer.passages and {p.doc for p in turn.answer.passages} <= {"udhr-es.md", "udhr-fr.md"}
        assert {turn.languages[p.chunk_id] for p in turn.answer.passages} <= {"fr", "es"}
        assert turn.doc_languages == {p.doc: EXPECTED[p.doc] for p in turn.answer.passages}
        assert "in French, Spanish" in render.turn_footer(turn, 5)
        with pytest.raises(UnknownLanguageError, match="None of the chosen documents is in Arabic"):
            answer_question(store, fake_embedder, "arrest", k=3, settings=multilingual, docs=["udhr-en.md"], langs=["ar"])


# ------------------------------------------------------------------------------------------ CLI


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_docs_lists_each_documents_language(multilingual, capsys, monkeypatch):
    monkeypatch.setenv("QA_SECOND_ENCODER", "none")  # as the fixture's index was built
    code, out, _ = run(capsys, "docs", "--index", str(multilingual.index), "--json")
    assert code == 0
    assert {d["doc"]: d["lang"] for d in json.loads(out)["documents"]} == EXPECTED
    code, out, _ = run(capsys, "docs", "--index", str(multilingual.index))
    assert code == 0
    for path, code_ in EXPECTED.items():
        block = out[out.index(path):].split("\n")[1]
        assert f"— {language_label(code_)}, " in block


def test_ask_with_lang_restricts_the_search(multilingual, capsys, monkeypatch, fake_embedder):
    monkeypatch.setenv("QA_SECOND_ENCODER", "none")  # as the fixture's index was built
    monkeypatch.setattr(encoders, "embedder_for", lambda settings: fake_embedder)
    index = str(multilingual.index)
    code, out, err = run(capsys, "ask", "arbitrary arrest detention", "--index", index, "--json", "--lang", "fr,es")
    assert code == 0, err
    passages = json.loads(out)["passages"]
    assert passages and {p["doc"] for p in passages} <= {"udhr-fr.md", "udhr-es.md"}
    assert all(p["lang"] == EXPECTED[p["doc"]] for p in passages)
    code, out, err = run(capsys, "ask", "arbitrary arrest detention", "--index", index, "--json", "--lang", "ar", "--lang", "zh")
    assert code == 0, err
    assert {p["doc"] for p in json.loads(out)["passages"]} <= {"udhr-ar.md", "udhr-zh.md"}
    code, out, err = run(capsys, "ask", "arbitrary arrest detention", "--index", index, "--json")
    assert code == 0 and len({p["doc"] for p in json.loads(out)["passages"]}) > 2, "no --lang: every language"
    code, out, err = run(capsys, "ask", "arbitrary arrest detention", "--index", index, "--lang", "fr")
    assert code == 0 and " · French" in out and "English" not in out
    for argv, message in [
        (["--lang", "xx"], "error: Unknown language 'xx'"),
        (["--lang", "ru"], "error: No document in the index is in Russian (ru)."),
        (["--lang", ""], "error: No language given"),
        (["--lang", "fr", "--doc", "udhr-en.md"], "error: None of the chosen documents is in French (fr)."),
    ]:
        code, out, err = run(capsys, "ask", "arrest", "--index", index, *argv)
        assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1, (argv, err)


# ------------------------------------------------------------------------------------------ HTML


ARABIC = "لا يجوز القبض على أي إنسان أو حجزه أو نفيه تعسفاً. <script>alert(1)</script> لكل إنسان الحق في محاكمة عادلة."
CHINESE = "人人有权享有生命、自由和人身安全。任何人不得加以任意逮捕、拘禁或放逐。<b>注</b>人人完全平等地有权由法庭进行公正的审讯。"


def _card_passage(text, quote, doc, lang, start=40):
    s = start + text.index(quote)
    return Passage(1, 0.5, 9, doc, "<i>UDHR</i>", "Article 9", start, start + len(text), text,
                   highlights=((s, s + len(quote)),), lang=lang)


@pytest.mark.parametrize("text, quote, lang, direction, name", [
    (ARABIC, "لا يجوز القبض على أي إنسان أو حجزه أو نفيه تعسفاً.", "ar", "rtl", "Arabic"),
    (CHINESE, "任何人不得加以任意逮捕、拘禁或放逐。", "zh", "auto", "Chinese"),
])
def test_cards_and_documents_in_arabic_and_chinese(text, quote, lang, direction, name):
    passage = _card_passage(text, quote, f"udhr-{lang}.md", lang)
    (s, e), = passage.highlights
    assert text[s - passage.start : e - passage.start] == quote, "the highlight covers exactly the quoted characters"
    card = render.passage_card_html(passage, 1, doc_lang=lang)
    assert f'<div class="vb-text" dir="{direction}" lang="{lang}"><mark>{render.esc(quote)}</mark>' in card \
        if text.startswith(quote) else f"<mark>{render.esc(quote)}</mark>" in card
    assert f'<span class="vb-lang" title="Language of the document">{name}</span>' in card
    assert "<script>" not in card and "<b>" not in card and "<i>" not in card
    assert "&lt;i&gt;UDHR&lt;/i&gt;" in card and '<span class="vb-title" dir="auto">' in card
    marked = re.findall(r"<mark>(.*?)</mark>", card)
    assert marked == [render.esc(quote)]
    # the answer quotes the sentence in its own language and direction
    answer = Answer("q", (passage,), (AnswerSentence(quote, passage.doc, s, e, 1),))
    out = render.answer_html(answer, 2)
    assert f'<span dir="{direction}" lang="{lang}">“{render.esc(quote)}”</span>' in out
    # a right-to-left quote's line runs right to left (aligned right, the marker at its end), as the card does
    assert ('<p class="vb-quote" dir="rtl">' in out) == (direction == "rtl")
    closest = render.uncertain_html(answer, 2)
    assert ('<span class="vb-closest-quote" dir="rtl">' in closest) == (direction == "rtl")
    # the Open dialog: the whole document, right to left for Arabic, the passage marked on the same characters
    full = "x" * 40 + text
    document = Document(path=passage.doc, text=full, title="<i>UDHR</i>", content_hash="h")
    view = render.document_html(document, passage.start, passage.end, passage.highlights, passage.text, lang=lang)
    assert f'<div class="vb-doc vb-text" dir="{direction}" lang="{lang}">' in view and f" · {name}</span>" in view
    assert f"<mark>{render.esc(quote)}</mark>" in view
    tag = "<script>" if "<script>" in text else "<b>"
    assert tag not in view and render.esc(tag) in view and tag not in card and render.esc(tag) in card
    assert full[s:e] == quote


def test_a_card_without_a_known_language_names_none_and_lets_the_browser_decide():
    passage = _card_passage("Plain text <here>.", "Plain text", "a.md", "und")
    card = render.passage_card_html(passage, 1)
    assert '<div class="vb-text" dir="auto"><mark>Plain text</mark> &lt;here&gt;.</div>' in card
    assert "vb-lang" not in card and 'lang="' not in card
    # the chunk's language may come from the caller (the page looks it up) and wins over the passage's "und"
    card = render.passage_card_html(passage, 1, lang="ar", doc_lang="en")
    assert 'dir="rtl" lang="ar"' in card and ">English</span>" in card
    hostile = render.passage_card_html(passage, 1, lang='"><script>', doc_lang='"><script>')
    assert "<script>" not in hostile and 'lang="&quot;&gt;&lt;script&gt;"' in hostile


def test_format_answer_names_the_documents_language():
    passage = _card_passage(CHINESE, "任何人不得加以任意逮捕、拘禁或放逐。", "udhr-zh.md", "zh")
    answer = Answer("q", (passage,), (), True, 0.9, status="answered")
    out = cli.format_answer(answer, languages={"udhr-zh.md": "zh"})
    assert "[1] " in out and " · Chinese" in out and "»任何人不得加以任意逮捕、拘禁或放逐。«" in out
    assert "Chinese" not in cli.format_answer(answer)


# ------------------------------------------------------------------------------------------ the page

FRENCH_REPLY = """# Sur l'accès au dossier

Le Gouvernement affirme que l'avocat de M. Petrov a eu pleinement accès aux pièces du dossier le 12 février 2024,
deux semaines avant le procès, et qu'il a pu copier chaque document du dossier.
"""




def _start():
    from streamlit.testing.v1 import AppTest

    from conftest import REPO

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_the_page_filters_by_language_and_names_it_on_cards(app_env):
    docs, _ = app_env
    at = _start()
    assert not [m for m in at.multiselect if m.label == "Search only in languages"], "one language: no language filter"
    write(docs, "reponse-fr.md", FRENCH_REPLY)
    at = _start()  # a new session brings the index up to date first
    chooser = next(m for m in at.multiselect if m.label == "Search only in languages")
    assert set(chooser.options) == {"English (1 document)", "French (1 document)"}
    chooser.set_value(["fr"]).run()
    at.chat_input[0].set_value("What did the state say about access to case materials?").run()
    assert not at.exception, [e.value for e in at.exception]
    cards = [h.value for h in at.html if h.value.startswith('<article class="vb-card"')]
    assert cards and all('data-doc="reponse-fr.md"' in c for c in cards)
    assert all('<span class="vb-lang" title="Language of the document">French</span>' in c for c in cards)
    assert all('<div class="vb-text" dir="auto" lang="fr">' in c for c in cards)
    assert any("in French" in c.value for c in at.caption)


@pytest.mark.slow
def test_the_page_upgrades_an_index_without_languages_in_place(app_env):
    _, index = app_env
    _downgrade_to_schema_3(index)
    at = _start()
    assert not at.error, [e.value for e in at.error]
    assert not [b for b in at.button if b.label == "Rebuild the index"]
    assert _columns(index, "chunks")[1] == schema.SCHEMA_VERSION
    with sqlite3.connect(index / "store.sqlite3") as conn:
        assert conn.execute("SELECT DISTINCT lang FROM documents").fetchall() == [("en",)]
