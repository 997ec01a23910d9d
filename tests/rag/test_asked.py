from rag.answer import not_found_text
from rag.asked import named_noun, named_thing, names_something, states_asked_type


def test_what_a_question_asks_the_name_of() -> None:
    assert named_thing("What was the name of the writer's sister?") == "the writer's sister"
    assert named_noun("the writer's sister") == "sister"
    assert named_noun(named_thing("What was the name of the writer\u2019s sister?")) == "sister"
    assert named_noun(named_thing("What is the name of the dataset built with it?")) == "dataset"
    assert named_thing("Which names do the authors flag?") == ""


def test_a_name_is_a_capitalised_word_past_the_first_that_the_question_lacks() -> None:
    question = "What was the name of the writer's sister?"
    assert names_something("I wrote to my sister Mary at home.", question)
    assert not names_something("My thoughts were of the dear sister there, bedridden.", question)
    assert not names_something("I thought of my sister and I wept.", question)
    assert not names_something("The writer's sister was ill.", "Was the Writer's sister ill?")
    assert not_found_text(unnamed="the writer's sister") == (
        "I could not find an answer to this in the documents: the passages that speak of the "
        "writer's sister give no name. The closest passages are listed below."
    )


def test_a_citation_by_number_states_no_figure() -> None:
    assert not states_asked_type(
        "Practitioners turned to crowdsourcing at low cost [49].", "figure"
    )
    assert not states_asked_type("as earlier work did [4, 9\u201312].", "figure")
    assert states_asked_type("The crowd labelled 49 of the 60 items [3].", "figure")
