"""The Streamlit chat page (app.py) driven headlessly with ``streamlit.testing.v1.AppTest``, plus the plain
modules it is built from (``qa.render``: escaping and highlighting; ``qa.uploads``; ``qa.progress``;
``qa.pending``: index checks; ``qa.reporting``; ``qa.conversation``).

The app loads its own model through ``st.cache_resource``; AppTest runs the script in this process, so
that is the same cached model as the ``real_embedder`` fixture. Each app test gets private copies of the
docs and index folders (the index copied from the session's ``seeds_index`` so nothing is re-embedded).
"""

from __future__ import annotations

import hashlib
import os
import re

import pytest

import qa.answer

from conftest import REPO, SEED_DOC, FakeEmbedder, write
from qa import conversation, pending, progress, render, reporting, uploads

APP = str(REPO / "app.py")
TIMEOUT = 180  # the first run loads the model; later runs answer in about a second
QUESTION = "What did the state say about access to case materials?"
SEED_TITLE = "Reply of the Government of Kazakhstan to communication AL KAZ 1/2024"

OTHER_DOC = """---
title: "Reply of the Government of Ruritania to communication UA RUR 2/2024"
symbol: "UA RUR 2/2024"
---

# On access to the case file

The Government of Ruritania states that the lawyer of Mr. Petrov was given full access to the case materials
on 12 February 2024, two weeks before the trial, and could copy every document in the file.

# On the conditions of detention

Mr. Petrov is held in a single cell with daylight, and he receives visits from his family every Sunday.
"""

NEW_DOC = """# Report of the Ombudsman of Freedonia

## Visit to the Zelenograd detention centre

The Ombudsman of Freedonia visited the Zelenograd detention centre on 3 March 2024 and found 42 detainees
held in cells built for 20 people. The Ombudsman recommended that the centre close its basement cells.
"""

XSS_TITLE = "<script>alert('title')</script> Notes on the hearing"
XSS_MD = f"""---
title: "{XSS_TITLE}"
---

# Hearing <img src=x onerror=alert('heading')>

The hearing on the detention of Mr. Example was postponed to 5 June 2024 <script>alert(1)</script> at the
request of the defence.
"""
XSS_TXT = """Memo on the detention hearing

The detention hearing was postponed because the judge was ill <img src=x onerror=alert(2)> and the
prosecutor asked for more time [click me](javascript:alert(3)) ![pixel](http://example.com/p.png) **bold** $x$ :red[red].
"""


# ----------------------------------------------------------------------------------------- fixtures




def start(timeout: float = TIMEOUT):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at, question: str):
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def htmls(at) -> list[str]:
    """Bodies of every st.html element (the page CSS excluded)."""
    return [h.value for h in at.html if not h.value.lstrip().startswith("<style>")]


def cards(at) -> list[str]:
    return [h for h in htmls(at) if h.startswith('<article class="vb-card"')]


def card_docs(at) -> list[str]:
    return [re.search(r'data-doc="([^"]*)"', c).group(1) for c in cards(at)]


def markdown_texts(at) -> list[str]:
    """Everything Streamlit renders as Markdown: markdown, captions, alerts, and block labels."""
    texts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    texts += [e.value for kind in (at.error, at.warning, at.info, at.success) for e in kind]
    texts += [getattr(x, "label", "") or "" for x in list(at.expander) + list(at.status)]
    return texts


def plain(md: str) -> str:
    """Undo md_escape's backslashes, to compare Markdown sources with plain text."""
    return re.sub(r"\\(.)", r"\1", md)


# ----------------------------------------------------------------------------------------- the page


@pytest.mark.slow
def test_question_shows_cited_passage_with_highlight_and_citation(app_env, monkeypatch):
    monkeypatch.setattr(qa.answer, "answer_status", lambda confidence, kind="stored", second=None, first=None: "answered")  # the answered view
    at = start()
    assert any("Verbatim" in h for h in htmls(at))  # the empty-state title
    ask(at, QUESTION)

    body = "\n".join(htmls(at))
    assert "denied access to the materials are untrue" in body
    # the short answer quotes the first passage (what "answered" vouches for) verbatim with its marker, and the
    # passage cards mark their best sentences
    answer = next(h for h in htmls(at) if h.startswith('<div class="vb-answer"'))
    assert re.search(r"“[^”]*is guaranteed by law \(Code of Criminal Procedure, arts\. 64, 294 and 296\)\.”.*?\[1\]", answer)
    assert "denied access to the materials are untrue" not in answer
    card = next(c for c in cards(at) if "denied access to the materials are untrue" in c)
    assert re.search(r"<mark>[^<]*denied access to the materials are untrue", card)
    assert SEED_TITLE in card and "On the first point of the request" in card
    assert "Surrounding text" in card  # neighbouring chunks
    # a copyable citation with title and section
    citations = [c.value for c in at.code]
    assert f"{SEED_TITLE}, ‘On the first point of the request’" in citations
    # every card has an "Open" button for the whole document
    assert len([b for b in at.button if (b.key or "").startswith("open-")]) == len(cards(at)) == 5


@pytest.mark.slow
def test_open_whole_document_at_the_passage(app_env):
    at = ask(start(), QUESTION)
    rank = next(i for i, c in enumerate(cards(at)) if "denied access to the materials are untrue" in c) + 1
    button = next(b for b in at.button if b.key and b.key.endswith(f"-{rank}") and b.key.startswith("open-"))
    button.click().run()
    assert not at.exception
    view = next(h for h in htmls(at) if h.startswith('<div class="vb-docview"'))
    flat = re.sub(r'<span class="vb-(?:pb|h vb-h\d)">(.*?)</span>', r"\1", view, flags=re.S)  # paragraph gaps, headings
    target = re.search(r'<span class="vb-region" id="vb-doc-target">(.*?)</span>', flat, re.S).group(1)
    assert "denied access to the materials are untrue" in target
    assert 'href="#vb-doc-target"' in view  # jump link
    assert "MISSION PERMANENTE" in view  # the whole document, not just the passage
    # the document's headings look like headings
    assert '<span class="vb-h vb-h3">On the first point of the request</span>' in view


@pytest.mark.slow
@pytest.mark.parametrize("question, expected", [("", "empty"), ("   ", "empty"), ("x" * 10_000, "too long"), ("?!", "no words")])
def test_empty_and_too_long_questions_give_a_readable_error(app_env, question, expected):
    at = ask(start(), question)
    errors = [plain(e.value) for e in at.error]
    assert len(errors) == 1 and expected in errors[0]
    assert not at.exception
    assert not cards(at) and at.session_state["turns"] == []
    ask(at, QUESTION)  # the page still works afterwards
    assert cards(at) and not at.error


@pytest.mark.slow
def test_document_filter_restricts_passages(app_env):
    docs, _ = app_env
    write(docs, "ruritania-reply.md", OTHER_DOC)
    at = start()
    assert any(s.label.startswith("Index updated") and "1 added" in s.label for s in at.status), \
        "the new file is indexed on start, visibly"
    ask(at, "Was the lawyer given access to the case materials?")
    assert set(card_docs(at)) == {SEED_DOC, "ruritania-reply.md"}

    filter_box = at.sidebar.multiselect[0]
    assert set(filter_box.options) >= {"Reply of the Government of Ruritania to communication UA RUR 2/2024"}
    filter_box.set_value(["ruritania-reply.md"]).run()
    at.session_state["k"] = 5
    ask(at, "Was the lawyer given access to the case materials?")
    latest = at.session_state["turns"][-1]
    assert latest.docs == ("ruritania-reply.md",)
    assert latest.answer.passages and {p.doc for p in latest.answer.passages} == {"ruritania-reply.md"}
    last_cards = [c for c in cards(at) if 'id="vb-p-2-' in c]
    assert last_cards and all('data-doc="ruritania-reply.md"' in c for c in last_cards)
    assert any("searched 1 of 2 documents" in plain(c.value) for c in at.caption)


@pytest.mark.slow
def test_off_topic_question_is_not_answered(app_env):
    at = ask(start(), "What is the boiling point of mercury?")
    body = "\n".join(htmls(at))
    assert "The documents don&#x27;t seem to answer this." in body or "The documents don't seem to answer this." in body
    assert not any(h.startswith('<div class="vb-answer"><div class="vb-label">') for h in htmls(at))
    closest = [e for e in at.expander if e.label.startswith("Closest passages")]
    assert len(closest) == 1 and not closest[0].proto.expanded  # offered, collapsed


def _force_status(monkeypatch, status):
    """Make ``qa.answer.ask`` judge every question ``status`` (AppTest runs the page in this process)."""
    import qa.answer

    monkeypatch.setattr(qa.answer, "answer_status", lambda confidence, kind="stored", second=None, first=None: status)


def _card_words(card: str) -> str:
    return re.search(r'<span class="vb-rel-word">([^<]*)</span>', card).group(1)


@pytest.mark.slow
def test_answered_state_on_the_page(app_env, monkeypatch):
    _force_status(monkeypatch, "answered")
    at = ask(start(), QUESTION)
    answer = next(h for h in htmls(at) if h.startswith('<div class="vb-answer"'))
    assert "Answer, quoted from the documents" in answer and "vb-quote" in answer
    assert any('<div class="vb-sources">Sources</div>' == h for h in htmls(at))
    assert not [e for e in at.expander if e.label.startswith("Closest passages")]
    words = [_card_words(c) for c in cards(at)]
    assert words[0] in ("strong match", "partial match") and "strong match" in words
    assert any("<mark>" in c for c in cards(at))


@pytest.mark.slow
def test_uncertain_state_shows_the_passages_plainly_marked(app_env, monkeypatch):
    _force_status(monkeypatch, "uncertain")
    at = ask(start(), QUESTION)
    turn = at.session_state["turns"][-1]
    assert turn.answer.status == "uncertain" and not turn.answer.answerable
    top = next(h for h in htmls(at) if h.startswith('<div class="vb-answer'))
    assert "vb-uncertain" in top and render.esc(render.UNCERTAIN_NOTE) in top
    # the best sentence is offered as the closest one, clearly labelled, never as the answer
    assert "Closest sentence:" in top and turn.answer.sentences[0].text.split()[0] in top
    assert "Answer, quoted from the documents" not in "\n".join(htmls(at)) and "vb-quote" not in top
    assert any('<div class="vb-sources">Passages to check</div>' == h for h in htmls(at))
    # the passages are shown (not collapsed), and none reads as a strong match
    assert len(cards(at)) == 5 and not [e for e in at.expander if e.label.startswith("Closest passages")]
    assert {_card_words(c) for c in cards(at)} <= {"partial match", "weak match"}
    assert "strong match" not in "\n".join(cards(at))


@pytest.mark.slow
def test_not_found_state_says_so_and_keeps_the_closest_passages_below(app_env, monkeypatch):
    _force_status(monkeypatch, "not_found")
    at = ask(start(), QUESTION)
    top = next(h for h in htmls(at) if h.startswith('<div class="vb-answer'))
    assert "vb-none" in top and render.esc(render.NOT_ANSWERED) in top and "weak matches" in top
    closest = [e for e in at.expander if e.label.startswith("Closest passages")]
    assert len(closest) == 1 and not closest[0].proto.expanded and "weak matches" in closest[0].label
    inside = [h.value for h in closest[0].html]
    assert len([h for h in inside if h.startswith('<article class="vb-card"')]) == 5
    assert {_card_words(c) for c in cards(at)} == {"weak match"}  # never "4 of 5 dots" under a "not found"
    assert not any("<mark>" in c for c in cards(at)), "no sentence is marked as if it answered"


@pytest.mark.slow
def test_a_typing_slip_is_searched_as_the_documents_word_and_the_page_says_so(app_env):
    at = ask(start(), "Why was Smailva banned from leaving Kazahstan?")
    answer = at.session_state["turns"][0].answer
    assert answer.respelled == {"Smailva": "Smailova", "Kazahstan": "Kazakhstan"}
    notes = [h.value for h in at.html if "vb-respelled" in h.value]
    assert len(notes) == 1 and "“<bdi>Smailova</bdi>” where you typed “<bdi>Smailva</bdi>”" in notes[0]
    assert "Smailova" in answer.passages[0].text


@pytest.mark.slow
def test_words_in_quotes_show_only_passages_that_contain_them(app_env):
    at = ask(start(), 'Could her lawyer see the "materials of a criminal case"?')
    answer = at.session_state["turns"][0].answer
    assert answer.phrases == ("materials of a criminal case",) and answer.passages
    assert all("materials of a criminal case" in " ".join(p.text.split()).lower() for p in answer.passages)
    notes = [h.value for h in at.html if "vb-phrases" in h.value]
    assert len(notes) == 1 and "Showing only passages that contain “<bdi>materials of a criminal case</bdi>”." in notes[0]
    assert cards(at) and all('<strong class="vb-quoted">materials of a criminal case</strong>' in c for c in cards(at))


@pytest.mark.slow
def test_follow_up_question_uses_the_previous_one(app_env):
    at = ask(start(), QUESTION)
    ask(at, "and what about her lawyer?")
    turns = at.session_state["turns"]
    assert len(turns) == 2 and turns[1].answer.status != "not_found"
    assert any("lawyer" in p.text for p in turns[1].answer.passages[:2])
    # the page says the second question was read with the first, once, and not for the first
    notes = [h.value for h in at.html if "vb-read-with" in h.value]
    assert turns[0].answer.read_with is None and turns[1].answer.read_with == QUESTION
    assert len(notes) == 1 and f"“<bdi>{QUESTION}</bdi>”" in notes[0]
    at.sidebar.button[0].click().run()  # New conversation
    assert at.session_state["turns"] == [] and not cards(at)


@pytest.mark.slow
def test_a_question_sent_while_the_previous_one_was_answered_keeps_both(app_env):
    """Sending a question interrupts the run still answering the one before (its spinner's exit raises
    Streamlit's rerun), which lost that question: it stays in ``asked`` until answered, and is answered first."""
    at = start()
    at.session_state["asked"] = [QUESTION]  # what the interrupted run left
    ask(at, "and what about her lawyer?")
    turns = at.session_state["turns"]
    assert [t.question for t in turns] == [QUESTION, "and what about her lawyer?"] and at.session_state["asked"] == []
    assert turns[1].answer.read_with == QUESTION and turns[0].id < turns[1].id
    assert len([h for h in htmls(at) if h.startswith('<div class="vb-question" dir="auto">')]) == 2


@pytest.mark.slow
def test_upload_then_update_index_then_ask(app_env):
    """Upload through the real st.file_uploader (AppTest supports it), then press "Update index"."""
    docs, _ = app_env
    seed_bytes = (docs / SEED_DOC).read_bytes()
    at = start()
    at.sidebar.file_uploader[0].set_value([
        ("../../ombudsman <report>.md", NEW_DOC.encode(), "text/markdown"),
        ("copy of the reply.md", seed_bytes, "text/markdown"),
        ("setup.exe", b"MZ\x90\x00", "application/octet-stream"),
    ]).run()
    assert not at.exception
    assert sorted(p.name for p in docs.iterdir()) == sorted([SEED_DOC, "ombudsman _report.md"])
    messages = [plain(m.value) for m in list(at.sidebar.success) + list(at.sidebar.info) + list(at.sidebar.warning)]
    assert any("Saved ../../ombudsman <report>.md as ombudsman _report.md" in m for m in messages)
    assert any("copy of the reply.md is already there" in m and SEED_DOC in m for m in messages)
    assert any("setup.exe was not saved" in m and "not supported" in m for m in messages)
    assert any("1 new file" in plain(c.value) for c in at.sidebar.caption)
    assert not at.sidebar.file_uploader[0].value  # a fresh uploader: nothing is saved twice

    next(b for b in at.sidebar.button if b.label == "Update index").click().run()
    assert not at.exception
    report = at.session_state["last_report"]
    assert report.added == ["ombudsman _report.md"] and not report.failed
    assert any("Index updated: 1 added" in plain(e.label) for e in at.sidebar.expander)
    assert any("Added: ombudsman _report.md" in plain(c.value) for c in at.sidebar.caption)
    # the page words the report with qa.reporting, like the CLI and the watcher (see test_reporting.py)
    assert render.md_escape(reporting.headline(report)) in [e.label for e in at.sidebar.expander]
    shown = {"info": at.sidebar.caption, "warning": at.sidebar.warning, "error": at.sidebar.error}
    for level, text in reporting.lines(report):
        assert render.md_escape(text) in [x.value for x in shown[level]], (level, text)

    ask(at, "How many detainees did the Ombudsman find in the Zelenograd detention centre?")
    turn = at.session_state["turns"][-1]
    assert turn.answer.status != "not_found" and turn.answer.passages[0].doc == "ombudsman _report.md"
    assert "42 detainees" in cards(at)[0]


@pytest.mark.slow
def test_startup_builds_a_missing_index_with_visible_progress(tmp_path, monkeypatch, real_embedder):
    docs = tmp_path / "docs"
    write(docs, "ombudsman.md", NEW_DOC)
    monkeypatch.setenv("QA_DOCS", str(docs))
    monkeypatch.setenv("QA_INDEX", str(tmp_path / "index"))
    at = start()
    assert any(plain(s.label) == "Index updated: 1 added" for s in at.status)
    assert [p.value for p in at.get("progress")] == [100]
    assert (tmp_path / "index" / "store.sqlite3").exists()
    ask(at, "How many detainees were found in the Zelenograd detention centre?")
    assert "42 detainees" in cards(at)[0]


@pytest.mark.slow
def test_document_text_with_html_and_markdown_is_shown_literally(tmp_path, monkeypatch, real_embedder):
    docs = tmp_path / "docs"
    write(docs, "hearing.md", XSS_MD)
    write(docs, "memo.txt", XSS_TXT)
    monkeypatch.setenv("QA_DOCS", str(docs))
    monkeypatch.setenv("QA_INDEX", str(tmp_path / "index"))
    at = start()
    ask(at, "Why was the detention hearing postponed?")
    ask(at, "When was the hearing on the detention of Mr. Example postponed?")
    turns = at.session_state["turns"]
    assert {p.doc for t in turns for p in t.answer.passages} == {"hearing.md", "memo.txt"}

    bodies = htmls(at)
    joined = "\n".join(bodies)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in joined
    assert "&lt;img src=x onerror=alert(2)&gt;" in joined
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt; Notes on the hearing" in joined  # titles too
    assert "[click me](javascript:alert(3)) ![pixel](http://example.com/p.png) **bold** $x$ :red[red]" in joined
    for body in bodies:
        assert "<script" not in body.lower() and "<img" not in body.lower()
        assert "javascript:" not in re.sub(r"(?s)>[^<]*<", "><", body)  # never inside a tag
    # Markdown-rendered elements (captions, alerts, labels) never carry raw document text
    for text in markdown_texts(at):
        assert "<script" not in text and "<img" not in text and "](javascript" not in text
    # the sidebar list escapes the title as well
    assert any("vb-docs" in b and "&lt;script&gt;" in b for b in bodies)


# ----------------------------------------------------------------------------------------- helpers


def test_md_escape_neutralises_markdown_and_html():
    raw = "[a](http://x) ![i](y) <b>x</b> **b** _i_ # h $m$ :red[r] `c` www.x.org | t |"
    escaped = render.md_escape(raw)
    assert plain(escaped) == raw
    assert not re.search(r"(?<!\\)[\[\]()<>*_#$:`|]", escaped)


def test_marked_html_escapes_and_marks_absolute_offsets():
    doc = "Intro. The <b>lawyer</b> & co were denied access. The end."
    start = doc.index("The <b>")
    text = doc[start:doc.index(" The end")]
    s = doc.index("were denied")
    out = render.marked_html(text, start, [(s, s + len("were denied access."))])
    assert out == "The &lt;b&gt;lawyer&lt;/b&gt; &amp; co <mark>were denied access.</mark>"
    # region + highlight overlapping it, spans outside are clipped
    out = render.marked_html("abcdefgh", 10, [(12, 20), (0, 5)], region=(11, 14), region_id="t")
    assert out == 'a<span class="vb-region" id="t">b<mark>cd</mark></span><mark>efgh</mark>'


def test_marked_html_keeps_text_and_shortens_paragraph_breaks():
    out = render.marked_html("One.\n\nTwo.", 0, [(0, 10)])
    assert out == '<mark>One.<span class="vb-pb">\n\n</span>Two.</mark>'
    assert re.sub(r"<[^>]+>", "", out) == "One.\n\nTwo."


def _passage(**changes):
    from qa.types import Passage

    text = "Given that the investigation had not been completed, the allegations are untrue. More <text>."
    base = dict(rank=2, score=0.03, chunk_id=7, doc="a/b.md", title="Reply <of> X", section="Annex > On the first point",
                start=100, end=100 + len(text), text=text, page=8, page_end=9, para="12", symbol="AL X 1/2024",
                highlights=((100, 100 + text.index(" More")),))
    base.update(changes)
    return Passage(**base)


def test_passage_card_has_marker_title_section_pages_and_escaped_text():
    card = render.passage_card_html(_passage(), turn_id=3, relevance=0.5, context=(89, "Before it. " + _passage().text))
    assert 'id="vb-p-3-2"' in card and '<span class="vb-badge">2</span>' in card
    assert "Reply &lt;of&gt; X" in card and "On the first point" in card and "Annex" not in card
    assert "para. 12" in card and "pp. 8–9" in card and "partial match" in card  # the second passage of an answer
    assert "strong match" in render.passage_card_html(_passage(rank=1), turn_id=3, relevance=0.5)
    assert "<mark>Given that" in card and "More &lt;text&gt;." in card
    assert '<details class="vb-context"><summary>Surrounding text</summary>' in card
    assert 'Before it. <span class="vb-region"><mark>Given that' in card
    assert render.citation_label(_passage()) == "Reply <of> X (AL X 1/2024), ‘On the first point’, para. 12, pp. 8–9"
    assert render.location_parts(_passage(page=8, page_end=None, para=None)) == ["On the first point", "p. 8"]


def test_the_previous_question_a_follow_up_was_read_with_is_shown_escaped():
    from qa.types import Answer

    answer = Answer("and her lawyer?", (), read_with='Who is <script>alert(1)</script> "Smailova"?')
    shown = render.read_with_html(answer)
    assert "Read together with your previous question" in shown and "<script>" not in shown
    assert "“<bdi>Who is &lt;script&gt;alert(1)&lt;/script&gt; &quot;Smailova&quot;?</bdi>”" in shown
    assert render.read_with_html(Answer("Who is Smailova?", ())) == ""


def test_a_question_in_arabic_is_laid_out_right_to_left():
    shown = render.question_html("متى تم القبض على السيدة كيسبي روخاس؟ (AL COS 2/2024)")
    assert shown.startswith('<div class="vb-question" dir="auto">')


def test_answer_html_quotes_sentences_with_markers():
    from qa.types import Answer, AnswerSentence

    p = _passage()
    answer = Answer("q", (p,), (AnswerSentence("It is <untrue>.", p.doc, 100, 115, 2),))
    out = render.answer_html(answer, 5)
    assert "“It is &lt;untrue&gt;.”" in out and 'href="#vb-p-5-2"' in out and ">[2]</a>" in out
    assert render.NOT_ANSWERED in render.not_answered_html(Answer("q", (p,), (), False)).replace("&#x27;", "'")


def test_the_three_states_in_html():
    from qa.types import Answer, AnswerSentence

    p = _passage()
    sentence = AnswerSentence("Given that the investigation had not been completed, the allegations are untrue.", p.doc, 100, 180, 2)
    answered = Answer("q", (p,), (sentence,), True, 0.9, status="answered")
    uncertain = Answer("q", (p,), (sentence,), False, 0.3, status="uncertain")
    not_found = Answer("q", (p,), (sentence,), False, 0.05, status="not_found")
    assert [render.answer_state(a) for a in (answered, uncertain, not_found)] == ["answered", "uncertain", "not_found"]
    assert render.answer_state(Answer("q", (), (), True, 0.9)) == "not_found", "no passages: nothing to show as an answer"
    out = render.uncertain_html(uncertain, 4)
    assert render.esc(render.UNCERTAIN_NOTE) in out and "Closest sentence:" in out and 'href="#vb-p-4-2"' in out
    assert "vb-label" not in out and "vb-quote" not in out  # not presented as the answer
    out = render.not_answered_html(not_found, 2)
    assert render.esc(render.NOT_ANSWERED) in out and "2 selected documents" in out and "weak matches" in out
    assert [render.sources_label(a.status) for a in (answered, uncertain, not_found)] == \
        ["Sources", "Passages to check", "Closest passages"]
    # the same passage: marked and a strong match when answered; never stronger than partial when uncertain;
    # a weak match, with nothing marked, under "not found"
    first = _passage(rank=1)
    cards = {a.status: render.passage_card_html(first, 1, 0.6, status=a.status) for a in (answered, uncertain, not_found)}
    assert "strong match" in cards["answered"] and "<mark>" in cards["answered"]
    assert "partial match" in cards["uncertain"] and "<mark>" in cards["uncertain"]
    assert "weak match" in cards["not_found"] and "<mark>" not in cards["not_found"]


def test_card_shows_the_section_once_and_names_the_opening():
    from qa.types import Heading

    text = "On the first point\n\nGiven that the investigation had not been completed, the allegations are untrue."
    heading = Heading(100, 100 + len("On the first point"), 3, "On the first point")
    p = _passage(text=text, end=100 + len(text), highlights=())
    card = render.passage_card_html(p, 1, headings=(heading,))
    assert card.count("On the first point") == 1, "the section label only, not again as the text's first line"
    assert '<div class="vb-text" dir="auto">Given that' in card
    assert render.body_start(p, (heading,)) == 100 + text.index("Given")
    assert render.body_start(p, ()) == 100  # without the document's headings, nothing is cut
    # a heading inside the surrounding text is styled as one
    card = render.passage_card_html(p, 1, context=(100, text), headings=(heading,))
    assert '<span class="vb-region"><span class="vb-h vb-h3">On the first point</span>' in card
    # before the first heading: "Opening", never a dash
    opening = _passage(section="", page=None, page_end=None, para=None)
    assert "Opening" in render.passage_card_html(opening, 1, opening=True)
    plain_card = render.passage_card_html(opening, 1)
    assert "—" not in plain_card and "vb-meta" not in plain_card  # a document without headings: no section at all


def test_marked_plain_for_the_command_line():
    text = "One. Two is here. Three. Four."
    assert render.marked_plain(text, 10, [(15, 27)]) == "One. »Two is here.« Three. Four."
    assert render.marked_plain(text, 10, [(15, 27), (28, 34)], "<", ">") == "One. <Two is here. Three.> Four."
    assert render.marked_plain(text, 10, []) == text


def test_structure_finds_the_opening_and_nearby_headings(tmp_path, fake_embedder):
    from qa.indexing import update_index
    from qa.settings import load_settings
    from qa.store import Store

    docs = tmp_path / "docs"
    settings = load_settings({}).with_(docs=docs, index=tmp_path / "index", mode="dense")
    write(docs, "memo.md", "Introductory remarks about the detention review, before any heading.\n\n"
                           "# Hearing\n\nThe hearing on the detention review was postponed because the judge was ill.\n")
    update_index(docs, settings.index, settings, embedder=fake_embedder)
    store = Store.open(settings.index, settings)
    try:
        turn = conversation.answer_question(store, fake_embedder, "detention review hearing postponed", k=2, settings=settings)
        by_section = {p.section: p for p in turn.answer.passages}
        intro, hearing = by_section[""], by_section["Hearing"]
        assert turn.openings == {intro.chunk_id}
        assert [h.title for h in turn.headings[hearing.chunk_id]] == ["Hearing"]
        card = render.passage_card_html(hearing, turn.id, headings=turn.headings[hearing.chunk_id])
        below_title = card.split("</header>", 1)[1]
        assert re.sub(r"<[^>]+>", "", below_title).count("Hearing") == 1  # the section label, not the text again
        assert "<span>Opening</span>" in render.passage_card_html(intro, turn.id, opening=intro.chunk_id in turn.openings)
    finally:
        store.close()


def test_document_html_marks_the_passage_and_survives_changes():
    from qa.types import Document

    text = "Title\n\n" + "Filler sentence. " * 50 + "The key <passage> here." + " Tail." * 20
    start = text.index("The key")
    end = start + len("The key <passage> here.")
    doc = Document(path="d.md", text=text, title="D", content_hash="x")
    out = render.document_html(doc, start, end, [(start, end)])
    assert '<span class="vb-region" id="vb-doc-target"><mark>The key &lt;passage&gt; here.</mark></span>' in out
    # the document changed: the passage moved → found by its text; removed → a note, no mark
    moved = Document(path="d.md", text="New intro. " + text, title="D", content_hash="y")
    assert 'id="vb-doc-target"><mark>The key' in render.document_html(moved, start, end, [(start, end)], text[start:end])
    gone = Document(path="d.md", text="Something else entirely.", title="D", content_hash="z")
    out = render.document_html(gone, start, end, [(start, end)], text[start:end])
    assert "has changed" in out and "vb-doc-target" not in out.replace('href="#vb-doc-target"', "")
    # long documents are cut to a window around the passage
    out = render.document_html(doc, start, end, (), window=200)
    assert "earlier text not shown" in out and "The key &lt;passage&gt; here." in out


def test_match_levels_are_words_and_never_stronger_than_the_answer():
    assert [render.match_level(x) for x in (None, -0.1, 0.1, 0.25, 0.3, 0.4, 0.6)] == [0, 1, 1, 2, 2, 3, 3]
    assert [render.match_words(0.6, status) for status in ("answered", "uncertain", "not_found")] == \
        ["strong match", "partial match", "weak match"]
    assert render.relevance_html(None) == ""
    strong = render.relevance_html(0.5)
    assert strong.count('class="on"') == 3 and "strong match" in strong and "0.50" in strong  # the figure in the tooltip
    weak = render.relevance_html(0.5, "not_found")
    assert weak.count('class="on"') == 1 and "weak match" in weak and "no stronger than the answer" in weak
    # "answered" vouches for the first passage: the others read at most as partial matches
    assert [render.match_words(0.6, "answered", rank) for rank in (1, 2, 3)] == ["strong match", "partial match", "partial match"]
    assert render.match_words(0.1, "answered", 2) == "weak match" and render.match_words(0.6, "uncertain", 2) == "partial match"
    second = render.relevance_html(0.5, "answered", 2)
    assert second.count('class="on"') == 2 and "only the first passage" in second
    # and the passage an answered answer is quoted from never reads "weak match": that contradicted the answer
    assert render.match_words(0.1, "answered", 1) == "partial match" and render.match_words(0.1, "uncertain", 1) == "weak match"
    first = render.relevance_html(0.1, "answered", 1)
    assert first.count('class="on"') == 2 and "at least as a partial match" in first and "0.10" in first


@pytest.mark.parametrize("name, expected", [
    ("reply.pdf", "reply.pdf"),
    ("../../etc/passwd.md", "passwd.md"),
    ("/abs/path/Note.TXT", "Note.txt"),
    ("C:\\Users\\me\\Reply <final>.docx", "Reply _final.docx"),
    ("..\\..\\evil.html", "evil.html"),
    ("Ответ правительства.md", "Ответ правительства.md"),
    (".hidden.md", "hidden.md"),
    ("a\x00b\u202e\ttab.md", "ab tab.md"),
    ("README.md", "README (document).md"),
    ("CON.txt", "CON_.txt"),
    ("...md", "document.md"),
    ("x" * 300 + ".md", "x" * uploads.MAX_NAME_CHARS + ".md"),
])
def test_sanitize_filename(name, expected):
    assert uploads.sanitize_filename(name) == expected


@pytest.mark.parametrize("name", ["setup.exe", "noextension", "archive.tar.gz", "", "../"])
def test_sanitize_filename_rejects_unsupported(name):
    with pytest.raises(uploads.UploadRejected):
        uploads.sanitize_filename(name)


def test_allowed_types_are_the_loaders_extensions():
    from qa.loaders import SUPPORTED_EXTENSIONS

    assert {"." + t for t in uploads.allowed_types()} == set(SUPPORTED_EXTENSIONS)


def test_save_uploads(tmp_path):
    from qa.store import DocumentInfo

    docs = tmp_path / "docs"
    write(docs, "existing.md", "# Old\n\nAlready in the folder, not indexed yet.\n")
    indexed_bytes = b"# Indexed\n\nThis content is in the index.\n"
    info = DocumentInfo(id=1, path="gone-from-folder.md", title="Indexed", symbol=None, kind="markdown",
                        content_hash=hashlib.sha256(indexed_bytes).hexdigest(), page_count=0, chunk_count=1,
                        size=len(indexed_bytes), mtime_ns=0, indexed_at=0.0)
    new = b"# New\n\nA new report.\n"
    outcomes = uploads.save_uploads([
        ("../../new.md", new),
        ("again.md", new),                                              # same batch
        ("copy.md", (docs / "existing.md").read_bytes()),              # already in the folder
        ("copy2.md", indexed_bytes),                                    # already indexed
        ("existing.md", b"# Different\n\nSame name, other content.\n"),  # never overwrite
        ("empty.md", b""),
        ("big.txt", b"x" * 101),
        ("fake.pdf", b"just text"),                                     # content contradicts the extension
        ("bin.txt", b"\x00\x01 binary " * 5),                           # refused now, not by every update after
        ("x.exe", b"MZ"),
    ], docs, [info], max_bytes=100)
    got = [(o.status, o.saved_as or o.same_as) for o in outcomes]
    assert got == [
        ("saved", "new.md"), ("duplicate", "new.md"), ("duplicate", "existing.md"), ("duplicate", "gone-from-folder.md"),
        ("saved", "existing (2).md"), ("rejected", None), ("rejected", None), ("rejected", None), ("rejected", None),
        ("rejected", None),
    ]
    assert (docs / "new.md").read_bytes() == new
    assert (docs / "existing.md").read_text().startswith("# Old")
    assert sorted(p.name for p in docs.iterdir()) == ["existing (2).md", "existing.md", "new.md"]  # no temp files left
    assert not (tmp_path / "new.md").exists() and not (tmp_path.parent / "new.md").exists()
    reasons = [o.reason for o in outcomes if o.status == "rejected"]
    assert "empty" in reasons[0] and "too large" in reasons[1] and "PDF" in reasons[2] and "not supported" in reasons[4]
    assert reasons[3] == "binary content, not text (NUL bytes)"
    assert outcomes[0].message() == "Saved ../../new.md as new.md."
    # a right-to-left override in the name as uploaded cannot reverse the message (it is saved without it)
    reversed_name = uploads.UploadOutcome("\u202egnp.txt", "saved", saved_as="gnp.txt")
    assert reversed_name.message() == "Saved \\u202egnp.txt as gnp.txt."


def test_progress_reporter_maps_stages_and_throttles():
    calls = []
    clock = iter([0.0, 0.01, 0.02, 0.5, 0.51, 0.52, 0.53, 0.54]).__next__
    reporter = progress.ProgressReporter(lambda f, t: calls.append((round(f, 3), t)), interval=0.1, clock=clock)
    reporter("scan", 0, 2)
    reporter("scan", 1, 2)    # throttled
    reporter("scan", 2, 2)    # final: always shown
    reporter("embed", 0, 100)
    reporter("embed", 50, 100)  # throttled (0.01 s later)
    reporter("embed", 100, 100)
    reporter("write", 0, 1)
    reporter("write", 1, 1)
    assert calls == [
        (0.0, "Looking for documents: 0 of 2 files"), (0.05, "Looking for documents: 2 of 2 files"),
        (0.3, "Embedding passages and sentences: 0 of 100"), (0.95, "Embedding passages and sentences: 100 of 100"),
        (0.95, "Saving the index…"), (1.0, "Saving the index…"),
    ]


def test_pending_changes_and_settle(tmp_path, fake_embedder):
    from qa.indexing import update_index
    from qa.settings import load_settings
    from qa.store import Store

    docs = tmp_path / "docs"
    settings = load_settings({}).with_(docs=docs, index=tmp_path / "index")
    write(docs, "a.md", "# A\n\nAlpha text about the hearing.\n")
    write(docs, "b.md", "# B\n\nBeta text about the lawyer.\n")
    update_index(docs, settings.index, settings, embedder=fake_embedder)
    store = Store.open(settings.index, settings)
    try:
        assert not pending.pending_changes(docs, store.documents())
        write(docs, "c.md", "# C\n\nGamma.\n")
        write(docs, "a.md", "# A\n\nAlpha text, changed.\n")
        os.utime(docs / "a.md", ns=(1, 1))
        (docs / "b.md").unlink()
        write(docs, "broken.pdf", "not a pdf")
        waiting = pending.pending_changes(docs, store.documents())
        assert (waiting.new, waiting.changed, waiting.removed) == (["broken.pdf", "c.md"], ["a.md"], ["b.md"])
        assert waiting.describe() == "2 new, 1 changed, 1 removed files"
        report = pending.update(settings, fake_embedder)
        assert [f.doc for f in report.failed] == ["broken.pdf"]
        assert not pending.pending_changes(docs, store.documents()), "an unreadable file is not pending again until it changes"
        lines = reporting.lines(report)
        assert ("error", "Could not index broken.pdf: not a PDF: the file does not start with a PDF header (corrupt or mislabelled)") in lines \
            or any(level == "error" and "broken.pdf" in text for level, text in lines)
        assert reporting.headline(report).startswith("Index updated: 1 added, 1 changed, 1 removed")
    finally:
        store.close()


def test_answer_question_collects_context_and_relevance(tmp_path, fake_embedder):
    from qa.indexing import update_index
    from qa.settings import load_settings
    from qa.store import Store

    docs = tmp_path / "docs"
    settings = load_settings({}).with_(docs=docs, index=tmp_path / "index", mode="dense")
    paragraphs = [f"Paragraph {i} says the court heard witness number {i} about the detention." for i in range(60)]
    write(docs, "long.md", "# Long\n\n" + "\n\n".join(paragraphs) + "\n")
    update_index(docs, settings.index, settings, embedder=fake_embedder)
    store = Store.open(settings.index, settings)

    class Counting(FakeEmbedder):
        queries = 0

        def encode_query(self, text):
            Counting.queries += 1
            return super().encode_query(text)

    try:
        turn = conversation.answer_question(store, Counting(), "witness number 30 detention", k=3, settings=settings, turn_id=4)
        assert Counting.queries == 1, "the question is encoded once (relevance reuses ask's vector)"
        assert turn.id == 4 and len(turn.answer.passages) == 3
        for p in turn.answer.passages:
            start, text = turn.contexts[p.chunk_id]
            assert text[p.start - start : p.end - start] == p.text and len(text) > len(p.text)
            assert -1.0 <= turn.relevance[p.chunk_id] <= 1.0
        assert render.turn_footer(turn).startswith("3 passages · dense search · ")
    finally:
        store.close()


@pytest.mark.slow
def test_an_index_of_an_older_format_is_rebuilt_from_the_page(app_env):
    """An index written by an older Verbatim (format 1, no sentence vectors) is refused with a readable
    message and a button; the button rebuilds it and the page answers again."""
    import json
    import sqlite3

    _, index = app_env
    conn = sqlite3.connect(index / "store.sqlite3")
    with conn:
        manifest = json.loads(conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()[0])
        manifest["format_version"] = 1
        manifest.pop("sentence_vectors")
        conn.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps(manifest),))
        conn.execute("UPDATE chunks SET sentence_spans=NULL, sentence_vectors=NULL")
    conn.close()
    at = start()
    errors = " ".join(e.value for e in at.error)
    assert "format_version is 1 in the index but 2 now" in plain(errors) and "--rebuild" in plain(errors)
    assert not at.chat_input
    button = next(b for b in at.button if b.label == "Rebuild the index")
    button.click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    ask(at, QUESTION)
    assert any("denied access to the materials are untrue" in c for c in cards(at))
