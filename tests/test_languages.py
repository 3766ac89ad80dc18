"""Documents in the UN's six languages (issue 16): language detection (qa.language), BM25 per language
(qa.lexical) and sentence splitting (qa.sentences) on real UDHR text from ../shared/corpora/un_multilingual/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from qa import language, lexical
from qa.evaluation import load_questions
from qa.lexical import LexicalIndex, index_terms, tokenize
from qa.sentences import is_prose, sentence_spans

REPO = Path(__file__).resolve().parents[1]
MULTILINGUAL = REPO.parent / "shared" / "corpora" / "un_multilingual"
UN_DOCS = REPO.parent / "shared" / "corpora" / "un_human_rights_docs"
QUESTIONS = REPO / "tests" / "data" / "multilingual.jsonl"
FILES = {"fr": "fr/udhr_fra.txt", "es": "es/udhr_spa.txt", "ru": "ru/udhr_rus.txt", "ar": "ar/udhr_arb.txt",
         "zh": "zh/udhr_cmn_hans.txt"}


def udhr(lang: str) -> str:
    path = MULTILINGUAL / FILES[lang]
    assert path.exists(), f"missing shared corpus file {path}"
    return path.read_text(encoding="utf-8")


def paragraphs(lang: str) -> list[str]:
    """The UDHR's text lines in ``lang`` after the 5-line English header, 40 characters or more."""
    return [line.strip() for line in udhr(lang).splitlines()[5:] if len(line.strip()) >= 40]


# ----------------------------------------------------------------------------------------- detection


@pytest.mark.parametrize("lang", list(FILES))
def test_detects_each_un_language_on_its_udhr_paragraphs(lang):
    texts = paragraphs(lang)
    got = [language.detect(t) for t in texts]
    assert len(texts) >= 15
    assert sum(g == lang for g in got) >= 0.95 * len(texts), [(g, t[:40]) for g, t in zip(got, texts) if g != lang]
    assert all(g in (lang, language.UNDETERMINED) for g in got)  # unsure is allowed, another language is not


def test_detects_english_and_never_calls_english_un_text_another_language():
    text = (UN_DOCS / "iccpr" / "iccpr_and_optional_protocol.en.md").read_text(encoding="utf-8")
    chunks = [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) >= 80][:80]
    got = [language.detect(c) for c in chunks]
    assert got.count("en") >= 0.95 * len(chunks)
    assert set(got) <= {"en", language.UNDETERMINED}


def test_too_short_or_unclear_text_is_undetermined_and_detection_is_deterministic():
    assert language.detect("") == language.detect("12.") == language.detect("—") == "und"
    assert language.detect("torture") == "und"  # one word: the model is not sure
    text = "Nul ne peut être arbitrairement arrêté, détenu ni exilé."
    assert {language.detect(text) for _ in range(5)} == {"fr"}
    assert language.detect_with_confidence(text)[1] >= language.MIN_CONFIDENCE


def test_chinese_varieties_fold_into_zh_and_arabic_into_ar():
    # py3langid splits written Chinese between zh, yue and wuu: the probabilities are added up
    assert language.detect("人人有权享有国籍。") == "zh"
    assert language.detect("任何人不得加以任意逮捕、拘禁或放逐。") == "zh"
    assert language.detect("لا يجوز القبض على أي إنسان أو حجزه أو نفيه تعسفاً.") == "ar"


def test_among_limits_the_answer_to_the_given_languages():
    question = "Which article prohibits arbitrary arrest?"
    assert language.detect(question) == "und"  # 0.62 among ~140 languages
    assert language.detect(question, among=language.UN_LANGUAGES) == "en"
    assert language.detect("¿Existe la libertad de cambiar de religión?", among=["en", "fr"]) in ("fr", "und")
    assert language.detect("Каждый человек имеет право на жизнь", among=["en", "fr"]) == "und"  # no overlap


def test_dominant_weighs_parts_and_ignores_undetermined():
    assert language.dominant([("fr", 300), ("en", 120), ("und", 900), ("fr", 50)]) == "fr"
    assert language.dominant([("und", 10)]) == "und"
    assert language.dominant([("es", 5), ("en", 5)]) == language.dominant([("en", 5), ("es", 5)]) == "en"


# ----------------------------------------------------------------------------------------------- BM25


def test_each_language_has_its_own_analysis():
    assert tokenize("Les droits et les libertés", "fr") == ["droit", "libert"]  # French stopwords and stemmer
    assert tokenize("los derechos y las libertades", "es") == ["derech", "libertad"]
    assert tokenize("свободу свободы и права", "ru") == ["свобод", "свобод", "прав"]
    assert tokenize("المدرسة والمدرسين", "ar") == tokenize("المدرسة", "ar") + tokenize("والمدرسين", "ar")
    assert tokenize("تعسفاً", "ar") == tokenize("تعسفا", "ar") == ["تعسف"]  # the diacritic does not split the word
    assert tokenize("人人有权", "zh") == ["人", "人", "有", "权", "人人", "人有", "有权"]
    assert tokenize("第19条 UN", "zh") == ["19", "un", "第", "条"] or "un" in tokenize("第19条 UN", "zh")
    # English, an undetermined language and one without an analyser here: today's English analysis
    assert tokenize("The Detained are RUNNING studies") == tokenize("The Detained are RUNNING studies", "und") \
        == tokenize("The Detained are RUNNING studies", "sw") == ["detain", "run", "studi"]


def test_index_terms_carry_their_language_except_english():
    assert index_terms("Les droits", "fr") == ["fr:droit"]
    assert index_terms("The rights", "en") == index_terms("The rights", "und") == ["right"]


def test_english_only_index_is_the_english_analysis_of_before():
    texts = ["The detention of migrants was ruled unlawful by the court of appeal in 2019.",
             "Migrants detained at the border; the detained were released after the hearing.",
             "Studies of protein folding in mice show that chaperones assist the process."]
    index = LexicalIndex.build(texts, [1, 2, 3])
    assert index.languages == {"en": 3}
    vocab = index._bm25.vocab_dict
    assert set(vocab) == {t for text in texts for t in tokenize(text)}  # no prefixes, same terms
    assert index.query_analyzers("¿Dónde están los migrantes detenidos?") == ["en"]


def _udhr_index():
    """A BM25 index of the UDHR's articles in five languages, one row per article; ids = 100·language + article."""
    ids, texts, langs = [], [], []
    heading = re.compile(r"^\s*(?:Article (?:premier|\d+)|Artículo \d+|Статья \d+|المادة \d+|第.{1,3}条)\s*$")
    for n, lang in enumerate(FILES, start=1):
        article, parts = 0, None
        for line in udhr(lang).splitlines():
            if heading.match(line):
                if parts:
                    ids.append(100 * n + article), texts.append(" ".join(parts)), langs.append(lang)
                article, parts = article + 1, []
            elif parts is not None and line.strip():
                parts.append(line.strip())
        ids.append(100 * n + article), texts.append(" ".join(parts)), langs.append(lang)
    return ids, texts, langs


@pytest.fixture(scope="module")
def udhr_index():
    ids, texts, langs = _udhr_index()
    assert len(ids) == 150
    return LexicalIndex.build(texts, ids), dict(zip(ids, langs))


@pytest.mark.parametrize("question, article", [
    ("Nul ne peut être arrêté ou détenu arbitrairement", (1, 9)),
    ("libertad de reunión y de asociación pacíficas", (2, 20)),
    ("право на свободу убеждений и на свободное выражение", (3, 19)),
    ("حرية الاشتراك في الجمعيات والجماعات السلمية", (4, 20)),
    ("任何人不得任意逮捕", (5, 9)),
    ("人人有权享有国籍", (5, 15)),
])
def test_a_question_in_each_language_finds_its_article_first(udhr_index, question, article):
    index, _ = udhr_index
    lang, number = article
    assert index.search(question, 3)[0][0] == 100 * lang + number


def test_detected_languages_are_counted_and_saved(udhr_index, tmp_path):
    index, by_id = udhr_index
    counts = index.languages
    assert sum(counts.values()) == 150 and set(counts) <= {"fr", "es", "ru", "ar", "zh", "en"}
    assert all(counts[lang] >= 29 for lang in FILES)  # a short article may be undetermined: English analysis
    index.save(tmp_path)
    info = json.loads((tmp_path / lexical.FORMAT_FILE).read_text())
    assert info["version"] == lexical.FORMAT_VERSION == 2 and info["languages"] == index.languages
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.languages == index.languages
    assert loaded.search("人人有权享有国籍", 5) == index.search("人人有权享有国籍", 5)


def test_a_question_only_matches_chunks_of_the_language_it_was_analysed_for(udhr_index, monkeypatch):
    index, by_id = udhr_index
    monkeypatch.setattr(lexical, "QUERY_LANGUAGES", "own")
    assert index.query_analyzers("Toute personne a droit à la liberté de réunion") == ["fr"]
    assert {by_id[i] for i, _ in index.search("Toute personne a droit à la liberté de réunion", 30)} == {"fr"}
    monkeypatch.setattr(lexical, "QUERY_LANGUAGES", "all")
    assert index.query_analyzers("Toute personne a droit à la liberté de réunion") == sorted(index.languages)
    assert {"ar", "es", "fr", "ru", "zh"} <= set(sorted(index.languages))


def test_given_languages_are_used_instead_of_detection():
    texts = ["Les droits de l'homme", "Les droits de l'homme"]
    index = LexicalIndex.build(texts, [1, 2], languages=["fr", "und"])
    assert index.languages == {"fr": 1, "en": 1}
    assert "fr:droit" in index._bm25.vocab_dict and "droit" in index._bm25.vocab_dict
    with pytest.raises(ValueError):
        LexicalIndex.build(texts, [1, 2], languages=["fr"])


def test_a_folder_of_the_format_before_languages_does_not_load(tmp_path):
    index = LexicalIndex.build(["The detention of migrants"], [7])
    index.save(tmp_path)
    (tmp_path / lexical.FORMAT_FILE).write_text(json.dumps({"version": 1, "tokenizer": "snowball-english+bm25s-en-stopwords"}))
    with pytest.raises(ValueError, match="format version 1"):
        LexicalIndex.load(tmp_path)
    (tmp_path / lexical.FORMAT_FILE).unlink()
    with pytest.raises(FileNotFoundError):
        LexicalIndex.load(tmp_path)


def test_a_stale_lexical_folder_is_rebuilt_from_the_store(tmp_path):
    """``_load_checked`` treats a folder that does not load as missing: the store rebuilds BM25 from its rows."""
    from qa.snapshot import GenerationFiles

    files = GenerationFiles(tmp_path)
    index = LexicalIndex.build(["The detention of migrants", "Nul ne peut être arbitrairement arrêté"], [1, 2])
    index.save(files.lexical_path(3))
    assert files.load_lexical(3, np.array([1, 2])) is not None
    (files.lexical_path(3) / lexical.FORMAT_FILE).write_text(json.dumps({"version": 1}))
    assert files.load_lexical(3, np.array([1, 2])) is None


# ------------------------------------------------------------------------------------------ sentences


def _sentences(text: str) -> list[str]:
    spans = sentence_spans(text)
    assert all(text[s:e] == text[s:e].strip() and text[s:e] for s, e in spans)
    return [text[s:e] for s, e in spans]


def test_chinese_full_stops_end_sentences_without_a_space():
    text = udhr("zh")
    start = text.index("人人有权享有国籍。")
    block = text[start:text.index("\n", start)]
    assert _sentences("人人有权享有国籍。任何人的国籍不得任意剥夺。他是谁？我不知道！") == [
        "人人有权享有国籍。", "任何人的国籍不得任意剥夺。", "他是谁？", "我不知道！"]
    assert _sentences(block) == [block]  # one sentence on that line of the UDHR
    assert _sentences("他说：“我们走吧。”然后离开了。") == ["他说：“我们走吧。”", "然后离开了。"]


def test_arabic_question_mark_and_comma():
    assert _sentences("هل يجوز ذلك؟ لا يجوز القبض على أي إنسان. ويشمل هذا الحق، حرية اعتناق الآراء.") == [
        "هل يجوز ذلك؟", "لا يجوز القبض على أي إنسان.", "ويشمل هذا الحق، حرية اعتناق الآراء."]
    article_19 = "لكل شخص الحق في حرية الرأي والتعبير. ويشمل هذا الحق حرية اعتناق الآراء دون أي تدخل"
    assert article_19 in udhr("ar")
    assert _sentences(article_19) == ["لكل شخص الحق في حرية الرأي والتعبير.", "ويشمل هذا الحق حرية اعتناق الآراء دون أي تدخل"]
    assert _sentences("انظر المادة 9. ، والمادة 10.") == ["انظر المادة 9. ، والمادة 10."]  # "، " keeps it going


def test_french_legal_abbreviations_and_guillemets():
    text = ("Voir l’art. 9 de la Déclaration, al. 2, p. ex. la détention. M. Dupont a dit : « Nul ne peut être "
            "arrêté. » Puis il est parti. Cf. le chap. 3, n° 12.")
    assert _sentences(text) == ["Voir l’art. 9 de la Déclaration, al. 2, p. ex. la détention.",
                                "M. Dupont a dit : « Nul ne peut être arrêté. »", "Puis il est parti.",
                                "Cf. le chap. 3, n° 12."]


def test_spanish_legal_abbreviations():
    text = "Véase el art. 19, núm. 3, párr. 2 de la Ley. Los EE.UU. Firmaron. ¿Quién decide? Nadie. Sra. Pérez, págs. 4 a 6."
    assert _sentences(text) == ["Véase el art. 19, núm. 3, párr. 2 de la Ley.", "Los EE.UU. Firmaron.",
                                "¿Quién decide?", "Nadie.", "Sra. Pérez, págs. 4 a 6."]


def test_russian_legal_abbreviations():
    text = ("Согласно ст. 19 Конституции, т.е. Основного закона, и п. 3 ч. 2 ст. 5, см. Гл. 4. "
            "В 1990–1995 гг. Суд решил иначе. Статья 9 запрещает произвольный арест.")
    assert _sentences(text) == ["Согласно ст. 19 Конституции, т.е. Основного закона, и п. 3 ч. 2 ст. 5, см. Гл. 4.",
                                "В 1990–1995 гг. Суд решил иначе.", "Статья 9 запрещает произвольный арест."]


@pytest.mark.parametrize("lang", ["fr", "es", "ru"])
def test_each_udhr_line_of_one_sentence_stays_one(lang):
    one = [p for p in paragraphs(lang) if p.count(". ") == 0 and p.endswith(".")]
    assert len(one) >= 10
    for p in one:
        assert _sentences(p) == [p]


def test_short_chinese_sentences_are_prose_and_headings_are_not():
    assert is_prose("人人有权享有国籍。")
    assert not is_prose("第十五条")
    assert is_prose("لا يجوز القبض على أي إنسان أو حجزه أو نفيه تعسفاً.")
    assert not is_prose("المادة 9")


# ------------------------------------------------------------------------------------------ question set


def test_the_question_set_quotes_the_documents_and_splits_by_article():
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    langs = {row["lang"] for row in rows}
    assert langs == {"en", "fr", "es", "ru", "ar", "zh"}
    for lang in langs:
        articles = {row["article"] for row in rows if row["lang"] == lang}
        assert len(articles) >= 10
        assert {row["q_lang"] for row in rows if row["lang"] == lang} == ({"en"} | {lang})
    splits = {}
    for row in rows:
        splits.setdefault(row["article"], set()).add(row["split"])
        folder = UN_DOCS if row["doc"].startswith("udhr/") else MULTILINGUAL
        text = (folder / row["doc"].removeprefix("un_multilingual/")).read_text(encoding="utf-8")
        assert row["gold"] and all(g in text for g in row["gold"]), row["id"]
        assert row["q_lang"] == "en" or language.detect(row["q"], among=language.UN_LANGUAGES) == row["q_lang"], row["q"]
    assert all(len(s) == 1 for s in splits.values())  # an article's questions are all dev or all test
    assert {"dev", "test"} == set().union(*splits.values())
    assert len({row["id"] for row in rows}) == len(rows)


def test_the_off_topic_questions_are_the_english_sets_ones_in_five_languages_with_their_splits():
    english = {row["id"]: row for name in ("natural_seeds", "natural_un", "seeds_questions", "un_questions")
               for row in load_questions(QUESTIONS.parent / f"{name}.jsonl") if row.get("kind") == "off_topic"}
    rows = load_questions(QUESTIONS.parent / "multilingual_off_topic.jsonl")
    assert {row["source"] for row in rows} == set(english)
    for row in rows:
        assert row["split"] == english[row["source"]]["split"] and row["kind"] == "off_topic", row["id"]
        assert row["q_lang"] == row["lang"] and row["doc"].startswith(f"un_multilingual/{row['lang']}/"), row["id"]
        assert (MULTILINGUAL / row["doc"].removeprefix("un_multilingual/")).is_file(), row["doc"]
        assert language.detect(row["q"], among=language.UN_LANGUAGES) == row["lang"], row["q"]
    assert {(row["source"], row["lang"]) for row in rows} == {(s, lang) for s in english for lang in ("fr", "es", "ru", "ar", "zh")}
    assert len({row["id"] for row in rows}) == len(rows)


# ----------------------------------------------------------------------------------------- structure


@pytest.mark.parametrize("lang,first,last", [
    ("fr", "Article premier", "Article 30"), ("es", "Preámbulo", "Artículo 30"), ("ru", "ПРЕАМБУЛА", "Статья 30"),
    ("ar", "الديباجة", "المادة 30"), ("zh", "序言", "第三十条"),
])
def test_each_article_of_a_plain_text_treaty_is_a_heading_and_a_chunk_of_its_own(lang, first, last):
    from qa.chunking import ChunkSettings, chunk_document
    from qa.loaders.text import load_text
    from qa.types import Document

    extracted = load_text(udhr(lang).encode("utf-8"), FILES[lang])
    articles = [h for h in extracted.headings if h.title != first or first == "Article premier"]
    assert extracted.headings[0].title == first and extracted.headings[-1].title == last
    assert len(articles) == 30 and all(extracted.text[h.start:h.end] == h.title for h in extracted.headings)
    assert extracted.title.startswith("Universal Declaration of Human Rights")  # the file's first line
    doc = Document(path=FILES[lang], text=extracted.text, title=extracted.title, content_hash="x", headings=extracted.headings)
    chunks = chunk_document(doc, ChunkSettings())
    for heading in extracted.headings:  # every article opens a chunk, whose section is that article
        opening = [c for c in chunks if c.start == heading.start]
        assert opening and opening[0].section.endswith(heading.title)
    assert all(extracted.text[c.start:c.end] == c.text for c in chunks)


@pytest.mark.parametrize("line,level", [
    ("Article 14", 3), ("Article premier", 3), ("Artículo 3.", 3), ("Статья 12", 3), ("المادة 5", 3),
    ("第十九条", 3), ("第二章", 2), ("PART II", 2), ("Chapitre III", 2), ("Preamble", 3),
    ("Article 5 – Prohibition of torture", 3),
    ("Article 5 of the Covenant says that no one shall be held in slavery", None),
    ("Article 5 – States shall take effective measures.", None), ("Articles 3", None),
    ("The article 5", None), ("article 9 of the convention,", None), ("Participation", None),
])
def test_structure_heading_lines(line, level):
    from qa.loaders.common import structure_heading_level

    assert structure_heading_level(line) == level


def test_a_plain_text_without_structure_headings_is_read_as_before():
    from qa.loaders.text import load_text

    data = "A note\n\nThe State replied in 2024.\nArticle 9 of the Covenant was cited.\n\nEnd.\n".encode()
    extracted = load_text(data, "note.txt")
    assert extracted.headings == () and extracted.title == "A note"  # a first line of its own that ends no sentence
    assert extracted.text == "A note\n\nThe State replied in 2024.\nArticle 9 of the Covenant was cited.\n\nEnd."


@pytest.mark.parametrize("text, title", [
    ("رد حكومة جمهورية الواحة على البلاغ المشترك AL WAH 4/2024\n\nتهدي البعثة الدائمة تحياتها.\n",
     "رد حكومة جمهورية الواحة على البلاغ المشترك AL WAH 4/2024"),
    ("The State replied in 2024.\n\nEnd.\n", None),  # a sentence, not a title
    ("Geneva, 3 May 2024:\n\nThe State replied.\n", None),
    ("Only one line, no title\n", None),  # nothing after it: the whole document
    ("A first line\nand a second one\n\nThe State replied.\n", None),  # a paragraph of two lines
])
def test_a_plain_text_title_is_its_first_line_alone(text, title):
    from qa.loaders.text import load_text

    assert load_text(text.encode(), "reply.txt").title == title


def test_the_command_line_wraps_chinese_at_the_terminal_width():
    """A CJK character takes two columns: Chinese passages printed 230 columns wide."""
    from qa.cli import WIDTH, _wrap

    text = "王明先生于2024年1月8日因涉嫌煽动颠覆国家政权罪被刑事拘留，并于2024年2月10日被正式逮捕。" * 4
    lines = _wrap(text, "    ", False).split("\n")
    columns = [sum(2 if "\u4e00" <= ch <= "\u9fff" else 1 for ch in line) for line in lines]
    assert len(lines) > 2 and max(columns) <= WIDTH and "".join(line.strip() for line in lines) == text


@pytest.mark.parametrize("heading", ["Reply to question 1", "Réponse à la question 1", "Respuesta a la pregunta 1",
                                     "Ответ на вопрос 1", "الرد على السؤال 1", "对问题1的答复", "Question 1:",
                                     "On the first point of the request"])
def test_a_plain_text_replys_question_headings_are_sections(heading):
    """A reply in plain text answers the communication question by question: each answer is a section, cited by it
    (the Arabic reply was one passage with no section)."""
    from qa.loaders.text import load_text

    text = f"Reply of the Government\n\nThe Mission presents its compliments.\n\n{heading}\n\nThe person was released.\n"
    extracted = load_text(text.encode(), "reply.txt")
    assert [h.title for h in extracted.headings] == [heading] and extracted.title == "Reply of the Government"
    assert load_text("Question 1 was about the police, and the reply came late.\n\nMore.".encode(), "r.txt").headings == ()
