"""Follow-up questions: read a question with the previous turn only when it cannot stand alone.

``contextualize`` decides in two steps (``needs_previous``): the rules of ``refers_back``, then, for a question
they let stand alone, a logistic model over the question's MiniLM vector, its cosine with the previous question
and its cosine with both questions read together (``qa/followup_model.json``, fitted by ``bench/followup.py``),
trusted above a bound that depends on what the question names (0.9; 0.6 for a definite noun phrase that names
nothing; never for a question that names something of its own: ``model_threshold``). Without MiniLM as the primary
encoder the rules decide alone. They read as follows.

A question leans on the previous turn when it opens with a connective ("and…", "what about…"), refers
back with a pronoun or a demonstrative ("what is she accused of?", "when was that adopted?"), points at
something listed before ("the second one"), or says nothing of its own ("Why?", "Which court?", "Since
when?"). It stands alone when it says it starts something new ("ok different question: …"), when it has a
subject of its own ("Is torture ever allowed?"), when "it" is a dummy subject ("is it legal to…"), and when its
pronoun has an antecedent in the question itself ("Is Mary Lawlor an addressee, and what is her mandate?", "detain
someone without telling them why").
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import language

_WORD = re.compile(r"[^\W\d_][\w'’-]*|\d+")
# Contractions typed without an apostrophe ("whats", "doesnt"): read as the word they stand for.
_RUN_TOGETHER = {
    "whats": "what", "wheres": "where", "whos": "who", "hows": "how", "whens": "when", "whys": "why",
    "isnt": "is", "arent": "are", "wasnt": "was", "werent": "were", "doesnt": "does", "dont": "do", "didnt": "did",
    "cant": "can", "couldnt": "could", "wont": "will", "wouldnt": "would", "shouldnt": "should", "hasnt": "has",
    "havent": "have", "hadnt": "had", "mustnt": "must", "thats": "that",
}
# Openings that always lean on the previous turn ("what about Russia?", "why not?").
_CONNECTIVE = re.compile(
    r"^\s*(what about|how about|what of|what else|anything else|same (for|question)|"
    r"why not|how come|in that case|if so|if not|what if|which one|who else|more (detail|details|info)|"
    r"tell me more|go on|and then|same\b|vs\b|versus|compared? (to|with)|in comparison)\b",
    re.I,
)
# Openings that lean on it unless the rest names a topic of its own ("and in 2023?" against "And what is
# the Public Oversight Act?").
_SOFT_CONNECTIVE = re.compile(r"^\s*(?:(?:ok|okay|thanks|right)\b[\s,.!]*)?(and|but|or|so|then|plus|also)\b[\s,]*", re.I)
OWN_TOPIC_WORDS = 3  # content words after a soft connective that make the rest a question of its own
# An opening that says the question starts something new ("ok different question: …", "changing the subject, …").
_NEW_TOPIC = re.compile(
    r"^\s*(?:(?:ok|okay|thanks|thank you|right|so|now)\b[\s,.!]*)*"
    r"(?:(?:a |an )?(?:different|new|another|unrelated|separate|other) (?:question|topic|subject|thing|matter)|"
    r"(?:changing|change of|switching|to change) (?:the )?(?:subject|topic)s?|on (?:a different|another) (?:note|topic)|"
    r"moving on|unrelated)\b\s*(?:now\b)?[\s:,.;!?–—-]*",
    re.I,
)
_POINTER = re.compile(
    r"\b(the (first|second|third|fourth|last|latter|former|other|same|previous|above) (one|ones|case|point|article)|"
    r"the latter|the former|after that|before that|what'?s next|next one|next(?=\W*$)|afterwards|as well\?|the (list|rest|others|remainder)\b(?! of))\b",
    re.I,
)
# Personal pronouns that point back to someone named before.
_PERSONAL = frozenset("he she him her his hers they them their theirs himself herself themselves".split())
_DEMONSTRATIVE = frozenset("this that these those".split())
# Words that say what kind of question it is, not what it is about.
_FRAME = frozenset(
    """
    what which who whom whose how when where why whether
    is are was were be been being am do does did done has have had having can could may might must shall
    should will would not no yes
    the a an of to in on at for from by with about into onto over under than as and or but if so then also
    since until till before after during between against within without
    any some all each every other another more most much many few less least own same only just even still
    anything something everything nothing anyone someone everyone else
    i me my we us our you your one ones it its there then such
    say says said tell told mention mentioned mean means meant happen happened happens know explain
    describe exactly really here now ever again yet already
    ok okay please pls plz thanks thank
    exist exists existing provide provided provides give gave given get got make made take took
    allowed permitted possible required
    """.split()
) | _PERSONAL | _DEMONSTRATIVE
_AUXILIARY = frozenset("is are was were do does did can could may might must shall should will would has have had".split())
# After "is it / it is", these make "it" a dummy subject ("is it legal to…").
_DUMMY_IT_NEXT = frozenset(
    "legal illegal lawful unlawful allowed permitted possible true false forbidden prohibited banned "
    "required necessary mandatory common usual normal okay ok right wrong fair acceptable compulsory "
    "enough easy hard difficult still ever really matter matters mattered "
    "take takes took taking cost costs said claimed reported alleged known believed argued".split()
)
# Nouns that only mean something about a topic named before ("which years?", "which court?").
_NEEDS_TOPIC = frozenset(
    """
    example examples detail details info information reason reasons date dates year years day days time times
    number numbers amount amounts source sources basis outcome outcomes result results answer response figure
    figures court courts article articles provision provisions section sections paragraph paragraphs law laws
    penalty penalties sentence sentences case cases country countries treaty treaties body bodies authority
    authorities person people step steps restriction restrictions exception exceptions condition conditions
    rule rules limit limits ground grounds deadline deadlines period periods document documents page pages
    one ones kind kinds type types part parts point points difference
    """.split()
)
_WH = frozenset("what which who whom whose how when where why".split())
# Nouns after "that" that make it point back ("who brought that case?"), besides those of _NEEDS_TOPIC.
_POINTED = _NEEDS_TOPIC | frozenset(
    "decision judgment judgement ruling act bill plan report question organisation organization group committee "
    "meeting session conference statement claim charge charges complaint complaints trial fine sentence verdict "
    "right rights procedure mechanism measure measures reform policy investigation".split()
)
# A last word that compares with or adds to something said before: "is the ICCPR stricter?", "is there one on
# grants too?", "does Italy have something similar?".
_COMPARES = frozenset(
    "similar stricter broader narrower wider better worse stronger weaker harsher longer shorter "
    "higher lower different".split()
)
# Openings of a clause that introduces a referent for a pronoun in the other clause ("When a State ignores a
# request, what can CAT do about it?").
_SUBORDINATOR = frozenset("when if once where while whenever unless".split())
_QUANTIFIER = frozenset("no any every some each".split())
# Antecedents inside the question for "they/them/their" ("detain someone without telling them why").
_INDEFINITE = frozenset("someone somebody anyone anybody everyone everybody people persons person citizens".split())
# Nouns for someone or something of the story told before when no name follows ("what was the committee's answer?").
_GENERIC = frozenset("committee court government state authorities ministry police lawyer judge prosecutor".split())
# A fragment that goes on from the previous question: "by which police departments?", "under the ICCPR?".
_PREPOSITION = frozenset("by under in for from with at since during through via on against after before".split())
# Requests about what was just shown: "quote the sentence", "give me the exact wording", "summarise the reasoning".
_REQUEST = frozenset(
    "quote give show summarise summarize explain elaborate expand clarify repeat translate read list cite".split()
)
# What a request asks for when it is about the passages just shown ("the exact wording", "the reasoning").
_SHOWN = frozenset(
    "wording text sentence sentences reasoning passage passages paragraph paragraphs quote quotes words summary "
    "argument arguments finding findings conclusion conclusions more".split()
)
# "this letter", "this report": the document being read, not something said before.
_THE_DOCUMENT = frozenset("letter report document reply communication note file".split())
# A document symbol names its own topic ("What is A/80/44?").
_SYMBOL = re.compile(r"\b[A-Z]{1,6}(?:/[A-Z0-9.()-]+){2,}")
_BE = frozenset("is are was were be been being am".split())
# Verbs after which "it" is the subject of a clause: "does Kazakhstan say it cooperates…".
_SPEECH = frozenset("say says said claim claims claimed state states stated argue argues argued deny denies denied "
                    "admit admits admitted think thinks thought believe believes insist insists".split())
_THE = re.compile(r"\bthe\b", re.I)
# "…, but is slavery banned?": the question is the last clause.
_LAST_CLAUSE = re.compile(r"^.*(?:,\s*but\s+|;\s*)", re.I | re.S)


def _tokens(text: str) -> list[str]:
    words = (w.strip("'’-") for w in _WORD.findall(text))
    return [_RUN_TOGETHER.get(w.lower(), w) for w in words]


def _strip_possessive(word: str) -> str:
    return word[:-2] if word.endswith(("'s", "’s")) else word


def _dummy_it(words: list[str], i: int) -> bool:
    """``words[i]`` is "it" used as a dummy subject: "is it legal to…", "it is true that…"."""
    after = words[i + 1 : i + 4]
    if after[:1] in (["mean"], ["means"]) and after[1:2] in (["when"], ["if"], ["to"], ["that"]):
        return True  # "what does it mean when a State accedes…"
    return any(w in _DUMMY_IT_NEXT for w in after[:3])


def _named_before(tokens: list[str], i: int) -> bool:
    """A name (a capitalised word that does not start the question) or an indefinite person before ``i``."""
    return any(
        (j > 0 and t[:1].isupper() and t.lower() not in _FRAME | _GENERIC and t != "I") or t.lower() in _INDEFINITE
        or (_strip_possessive(t.lower()) != t.lower() and _strip_possessive(t.lower()) not in _FRAME | _GENERIC)  # "smailova's lawyer"
        for j, t in enumerate(tokens[:i])
    )


def _points_or_opens(question: str) -> bool | None:
    """True for a pointer ("the second one") or an opening connective ("what about Russia?"); False for "what
    about X" followed by a question of its own ("what about the Framework Plan - what does it set out?");
    None when the question has neither."""
    if _POINTER.search(question):
        return True
    connective = _CONNECTIVE.search(question)
    if connective is None:
        return None
    return not (connective.group(1).lower() in ("what about", "how about") and _asks_of_its_own(question[connective.end():]))


def _says_nothing_of_its_own(words: list[str], question: str = "") -> bool:
    """No word but question words and nouns that need a topic: "Why?", "Which court?", "And in 2023?"."""
    if _SYMBOL.search(question):
        return False
    content = [w for w in words if w not in _FRAME and len(w) > 1]
    return not content or all(w in _NEEDS_TOPIC or w.isdigit() for w in content)


def new_topic(question: str) -> str | None:
    """The rest of a question that opens by saying it starts something new ("ok different question: what does the
    reply say about trade unions"), or None."""
    opened = _NEW_TOPIC.match(question)
    return question[opened.end():] if opened and opened.end() < len(question) else None


def refers_back(question: str) -> bool:
    """Whether ``question`` needs the previous turn to be understood."""
    rest = new_topic(question)
    if rest is not None:
        return refers_back(rest)
    opens = _points_or_opens(question)
    if opens is not None:
        return opens
    words = [t.lower() for t in _tokens(question)]
    if words and words[0] in _PREPOSITION and len(words) <= 6 and not any(w in _AUXILIARY for w in words):
        return True  # "by which police departments?", "under the ICCPR?", "in 2023?"
    if words and words[0] in _REQUEST and any(w in _SHOWN or w in _PERSONAL or w in ("it", "that", "this") for w in words[1:]) \
            and not _names_something(_tokens(question)[1:], numbers=False) \
            and len([w for w in words[1:] if w not in _FRAME | _SHOWN and _strip_possessive(w) not in _GENERIC
                     and not w.isdigit() and len(w) > 1]) < 2:  # not "show me the paragraph about the press conference"
        return True  # "quote the sentence", "give me the exact wording of paragraph 2"
    if len(words) >= 2 and words[-1] in _COMPARES and "than" not in words and "to" not in words[-3:]:
        return True  # "is the ICCPR stricter?", "does italy have something similar?"
    if re.search(r"\b(you|me|us) also\b|\balso (tell|give|show|explain|say)\b", question, re.I):
        return True  # "could you also tell me whether…"
    if len(words) >= 2 and words[-1] == "then" and words[-2] not in ("since", "until", "till", "and", "but"):
        return True  # "who decides then?"
    soft = _SOFT_CONNECTIVE.match(question)
    if soft:
        rest = question[soft.end():]
        tokens = _tokens(rest)
        content = [w for w in tokens if w.lower() not in _FRAME and w.lower() not in _NEEDS_TOPIC and len(w) > 1]
        # "article 3", "paragraph 12": a numbered provision is a topic word of its own
        content += [n for noun, n in zip(tokens, tokens[1:]) if noun.lower() in _NEEDS_TOPIC and n.isdigit()]
        asks = any(w.lower() in _WH or w.lower() in _AUXILIARY for w in tokens)
        return not asks or len(content) < OWN_TOPIC_WORDS or _leans_back(rest)  # "and the second protocol?"
    return _leans_back(question)


def _asks_of_its_own(rest: str) -> bool:
    """After "what about": a topic of two or more words and then a question about it ("…, is it protected?")."""
    parts = re.split(r",|\?|\s[-–—]\s", rest, maxsplit=1)
    if len(parts) < 2:
        return False
    topic = [w for w in _tokens(parts[0]) if w.lower() not in _FRAME and len(w) > 1]
    asks = any(w.lower() in _WH or w.lower() in _AUXILIARY for w in _tokens(parts[1]))
    return len(topic) >= 2 and asks and not _leans_back(rest)


def _names_something(tokens: list[str], numbers: bool = True) -> bool:
    """A capitalised word that is not a question word ("Optional Protocol", "UDHR"), or a number."""
    return any((t[:1].isupper() and t.lower() not in _FRAME and t != "I") or (numbers and t.isdigit()) for t in tokens)


def _leans_back(question: str) -> bool:
    question = _LAST_CLAUSE.sub("", question)
    # "It is often said that torture is banned. Where does the Convention say that?": the last sentence may
    # point at the one before it.
    sentences = [part for part in re.split(r"(?<=[.!?])\s+", question.strip()) if part]
    earlier_topic = len(sentences) > 1 and len([w for w in _tokens(" ".join(sentences[:-1])) if w.lower() not in _FRAME]) >= 2
    tokens = _tokens(question)
    words = [t.lower() for t in tokens]
    if not words:
        return False
    content = [w for w in words if w not in _FRAME and len(w) > 1]
    if _says_nothing_of_its_own(words, question):
        return True  # "Why?", "When was that?", "Which court?", "And in 2023?"
    if all(w in _NEEDS_TOPIC or w in _GENERIC or w.rstrip("'s’") in _GENERIC for w in content) and not _names_something(tokens):
        return True  # "what was the committee's answer?"
    if len(words) <= 2 and words[0] in _WH and not any(t[:1].isupper() for t in tokens[1:]):
        return True  # "who decides?"
    if words[0] == "how" and len(words) > 2 and words[1] in ("many", "much") and words[2] in _FRAME and words[2] != "of" \
            and ((words[2] in _BE and (len(words) == 3 or words[3] not in ("the", "a", "an")))
                 or len(content) <= 1):  # not "how much did smailova pay the plaintiffs", "how much was the fine on Petrov"
        return True  # "how many are still pending?": how many of what?
    long_question = len(content) >= 8
    # "Right to leave any country, where is that?", "Is that legal, shutting down an NGO over paperwork?",
    # "working group on defenders - who sits on it?": the pronoun points at the other side of the question's
    # own comma or dash, when that side names something rather than asking a question of its own ("what happens
    # there, do NGOs speak?") or offering an alternative ("does that cover mental pain too, or only physical?").
    parts = re.split(r",|\s[-–—]\s", question, maxsplit=1)
    first_part = len(_tokens(parts[0])) if len(parts) > 1 else len(tokens)
    names = [_names_a_referent(part) for part in parts] if len(parts) > 1 else [False]
    own_topics = (earlier_topic or names[-1], earlier_topic or names[0])  # for a pronoun in the first part, the second
    last = len(words) - 1
    for i, word in enumerate(words):
        own_topic = own_topics[0] if i < first_part else own_topics[1]
        if word in _PERSONAL and not (_named_before(tokens, i) or (long_question and _named_before(tokens, len(tokens)))):
            return True  # "whats his actual title?" however long the rest
        if word in ("it", "its") and not (_dummy_it(words, i) or own_topic or long_question or _said_before(tokens, i)):
            return True
        if word in ("this", "these", "those") and not (own_topic or long_question) \
                and not (word == "this" and i < last and words[i + 1] in _THE_DOCUMENT):
            return True  # "this law", "those cases", "is this allowed?"
        if word == "there" and i > 0 and words[i - 1] not in _BE and (i == last or words[i + 1] not in _BE) and not own_topic:
            return True  # "what happens there?", not "is there a right to…"
        if word == "that" and not own_topic:
            before = words[i - 1] if i > 0 else ""
            after = words[i + 1] if i < last else ""
            if before in _AUXILIARY:
                return True  # "does that cover mental suffering too?", "was that before or after the hearing…?"
            if (after in _POINTED and not (after.endswith("s") and not after.endswith("ss"))) or (i == last and before not in ("so", "than")):
                return True  # "who brought that case?", "who should decide that?"
            # "when was that adopted?", "does that include…?" — not the "that" of "true that…", "the law that…"
            if not long_question and (not before or before in _FRAME and before not in ("say", "says", "said", "mean", "means", "so")):
                return True
        if word in ("one", "ones") and i > 0 and words[i - 1] not in _QUANTIFIER | {"the", "which", "this", "that", "every"} \
                and (i == last or words[i + 1] in _PREPOSITION | {"and", "too", "yet", "either"}) and not own_topic:
            return True  # "what if a state doesn't submit one?", "did Kazakhstan send one, and when…"
    return False


def _names_a_referent(part: str) -> bool:
    tokens = _tokens(part)
    if len(tokens) > 1 and tokens[0].lower() in _SUBORDINATOR and tokens[1].lower() not in _AUXILIARY:
        return len([w for w in tokens if w.lower() not in _FRAME]) >= 2  # "When a State ignores a request, …"
    return (len([w for w in tokens if w.lower() not in _FRAME]) >= 2
            and tokens[0].lower() not in _AUXILIARY | _WH | _PREPOSITION | {"or", "and", "but", "according"})


def _said_before(tokens: list[str], i: int) -> bool:
    """"it" at ``i`` has its antecedent earlier in the question: a clause of its own before "and" ("When was
    the 2020 act adopted and what did it change?"), or a name before "it" as the subject of a verb ("Does
    Kazakhstan say it cooperates…?")."""
    words = [t.lower() for t in tokens[:i]]
    if "and" in words:
        clause = words[: len(words) - 1 - words[::-1].index("and")]
        if len([w for w in clause if w not in _FRAME and len(w) > 1]) >= 2:
            return True
    if i >= 2 and words[i - 1] in _SPEECH and words[i - 2] not in _FRAME and len(words[i - 2]) > 1:
        return True  # "does kazakhstan say it is willing…", typed without a capital
    return i + 1 < len(tokens) and _named_before(tokens, i) and (
        tokens[i + 1].lower() not in _FRAME or tokens[i + 1].lower() in _AUXILIARY)  # "does Italy say it will…"


# A logistic model over the question's MiniLM vector, its cosine with the previous question and its cosine with both
# questions read together, fitted by bench/followup.py on the written conversations (tests/data/conversations*.jsonl
# but the held-out and blind sets).
MODEL_FILE = Path(__file__).with_name("followup_model.json")


@lru_cache(maxsize=1)
def _model() -> dict:
    model = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    model["weights"] = np.asarray(model["weights"], dtype=np.float32)
    return model


def read_together(question: str, previous: str) -> str:
    """The question as searched when it is read with the previous one."""
    return f"{previous} {question}"


def follow_up_probability(question_vector: np.ndarray, previous_vector: np.ndarray, joined_vector: np.ndarray) -> float:
    """The model's probability that a question (its unit query vector) needs the previous one (its vector), given
    the vector of both read together (``read_together``). A question that stands alone keeps most of its own vector
    when the previous one is put before it (cosine 0.8 for half of them); a fragment or a bridging reference ("How
    old was the boy?") is swamped by it (0.5)."""
    model = _model()
    q, previous, joined = (np.ravel(v).astype(np.float32) for v in (question_vector, previous_vector, joined_vector))
    weights = model["weights"]
    z = float(weights[:-2] @ q + weights[-2] * float(q @ previous) + weights[-1] * float(q @ joined) + model["bias"])
    return 1.0 / (1.0 + math.exp(-z))


def reads_model(encoder) -> bool:
    """Whether ``encoder`` is the model the follow-up model was fitted on (else the rules decide alone)."""
    return getattr(encoder, "name", None) == _model()["model"] and getattr(encoder, "dimension", None) == _model()["dimension"]


def question_kind(question: str) -> str:
    """What a question names, for the model's bound: ``"named"`` when it names something of its own (a capitalised
    word after the first, a number, a UN symbol: "Who is Clement Voule?", "so what happened in Valenzuela Valdez v.
    Mexico"); ``"definite"`` when it names nothing but has a definite noun phrase, the commonest bridging reference
    ("How old was the boy?", "who chairs the working group?"); else ``"plain"``."""
    if _names_something(_tokens(question)[1:]):  # a UN symbol ("CAT/C/KAZ/4") splits into capitals and numbers
        return "named"
    return "definite" if _THE.search(question) else "plain"


def model_threshold(question: str, threshold: float, definite: float) -> float | None:
    """How sure the model must be to read a question the rules let stand with the previous one: never (None) for
    a question that names something, ``definite`` for one with a definite noun phrase, else ``threshold``
    (``question_kind``)."""
    return {"named": None, "definite": definite, "plain": threshold}[question_kind(question)]


def needs_previous(question: str, previous: str, encoder=None, vectors: dict | None = None) -> bool:
    """Whether ``question`` is to be read with ``previous``: when the rules of ``refers_back`` say so, or, with
    the MiniLM encoder, when the logistic model is sure enough of it (``model_threshold``): it catches some
    bridging references and bare fragments the rules let stand ("main recommendations" after a question about
    concluding observations, "evidence?" after one about a charge, "How old was the boy?" after one about a woman's
    son). It encodes the question, the previous one and both read together (the vector searched when it is read
    with the previous one).
    ``vectors``, if given, receives ``{text: query vector}`` of what was encoded, so the caller need not encode
    the question again."""
    if refers_back(question):
        return True
    if encoder is None or not reads_model(encoder) or new_topic(question) is not None:
        return False
    if language.question_language(question) not in language.PRIMARY_LANGUAGES:
        return False  # the model reads MiniLM's vector, which says nothing of a question in another language
    model = _model()
    bound = model_threshold(question, model["threshold"], model["threshold_definite"])
    if bound is None:
        return False
    joined = read_together(question, previous)
    encoded = {text: encoder.encode_query(text) for text in (question, previous, joined)}
    if vectors is not None:
        vectors.update(encoded)  # the joined vector is the one searched when the question is read with the previous
    return follow_up_probability(encoded[question], encoded[previous], encoded[joined]) >= bound


def contextualize(question: str, history: list[str] | None, encoder=None, vectors: dict | None = None) -> str:
    """The question as searched: with the previous question before it only when it refers back to it
    (``vectors``: see ``needs_previous``)."""
    if not history or not needs_previous(question, history[-1], encoder, vectors):
        return question
    return read_together(question, history[-1])
