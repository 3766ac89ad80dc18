"""What the follow-up model reads (qa.followup.follow_up_probability): the question's MiniLM vector, its cosine with
the previous question and its cosine with both questions read together (session 14, bench/followup.py)."""

from __future__ import annotations

import numpy as np

from qa import followup


def test_the_model_has_a_weight_for_each_feature():
    model = followup._model()
    assert len(model["weights"]) == model["dimension"] + 2  # the vector, the cosine with the previous, with both joined
    assert model["threshold_definite"] <= model["threshold"]


def test_the_joined_text_is_the_one_searched_for_a_follow_up():
    joined = followup.read_together("evidence?", "What is Smailova accused of?")
    assert joined == "What is Smailova accused of? evidence?"
    assert followup.contextualize("what is she accused of?", ["Who is Smailova?"]) == \
        followup.read_together("what is she accused of?", "Who is Smailova?")


def test_a_question_swamped_by_the_previous_one_is_more_likely_a_follow_up():
    """Same question and previous vectors; only the cosine with both read together changes."""
    d = followup._model()["dimension"]
    rng = np.random.default_rng(0)
    question, previous = (v / np.linalg.norm(v) for v in rng.normal(size=(2, d)).astype(np.float32))
    kept = question * 0.9 + previous * 0.1  # the question keeps its own vector when the previous one is put before it
    swamped = question * 0.1 + previous * 0.9  # a fragment: the joined vector is the previous question's
    probability = [followup.follow_up_probability(question, previous, v / np.linalg.norm(v)) for v in (kept, swamped)]
    assert probability[0] < probability[1]


def test_the_joined_vector_is_handed_back_for_the_search(real_embedder):
    """needs_previous encodes the two questions read together; the caller searches with that vector when the
    question is read with the previous one (qa.answer.ask reads ``vectors``) instead of encoding it again."""
    previous = "What is Smailova accused of in the Ust-Kamenogorsk case?"
    vectors: dict = {}
    searched = followup.contextualize("evidence?", [previous], real_embedder, vectors)
    assert searched == followup.read_together("evidence?", previous)
    assert set(vectors) == {"evidence?", previous, searched}


def test_bridging_references_and_a_generic_new_question(real_embedder):
    """Misread in session 13's leave-one-set-out cross-validation: bridging definite noun phrases the model scored
    0.4–0.7 and a generic new question it took for a follow-up (0.87)."""
    assert followup.needs_previous("when were the implementing decrees adopted",
                                   "what disability reform did Italy adopt", real_embedder)
    assert followup.needs_previous("How old was the boy?", "When was Smailova named as a suspect in the case about "
                                   "the videos of N.A.'s son?", real_embedder)
    assert not followup.needs_previous("Is primary education free?", "Is the Covenant binding on Kazakhstan?",
                                       real_embedder)
    assert not followup.needs_previous("Do elections have to be by secret ballot?", "Who is Maina Kiai?", real_embedder)


def test_a_question_that_says_it_starts_something_new_is_never_read_with_the_previous_one(real_embedder):
    """Session 13's blind set: the model took this question, with its definite noun phrase, for a follow-up."""
    previous = "who represented Smailova at the court hearing on the wanted status"
    question = "ok different question: what does the reply say about trade union rights"
    assert followup.new_topic(question) == "what does the reply say about trade union rights"
    assert not followup.needs_previous(question, previous, real_embedder)
    assert followup.needs_previous("different topic: why was he there?", previous, real_embedder)

