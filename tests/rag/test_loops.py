from collections.abc import Iterator

from rag.loops import loop_end, until_loop


def test_a_unit_written_back_to_back_is_cut_to_one_copy() -> None:
    unit = "S2ORC: The Semantic Scholar Open Research Corpus, p. 8: [4] "
    text = "The corpus is described on page 8. " + unit * 3
    assert text[: loop_end(text)] == "The corpus is described on page 8. " + unit.rstrip()


def test_a_loop_of_lines_is_cut_at_the_end_of_the_first_line() -> None:
    text = "S2ORC: The Semantic Scholar Open Research Corpus, p. 8:\n" * 2
    assert text[: loop_end(text)] == "S2ORC: The Semantic Scholar Open Research Corpus, p. 8:"


def test_a_loop_that_began_mid_unit_keeps_one_period_from_its_start() -> None:
    sentence = "It is a collection of 1.0M arXiv papers for bibliographic data. [3] "
    text = '"S2ORC", p. 6: ' + sentence + '"S2ORC", p. 6: ' + sentence + '"S2ORC", p.'
    assert text[: loop_end(text)] == '"S2ORC", p. 6: ' + sentence.rstrip()


def test_items_that_differ_only_by_their_numbers_are_a_loop() -> None:
    items = "".join(f"{n}. PaperMage: A Unified Toolkit for documents. [4] " for n in range(1, 5))
    text = "PaperMage provides tools. " + items
    assert text[: loop_end(text)] == (
        "PaperMage provides tools. 1. PaperMage: A Unified Toolkit for documents. [4]"
    )


def test_a_short_unit_must_come_three_times() -> None:
    twice = "Tables 1 and 2 show it. " * 2
    assert loop_end("Results: " + twice) is None
    assert loop_end("Results: " + twice + "Tables 1 and 2 show it. ") == len(
        "Results: Tables 1 and 2 show it."
    )


def test_a_loop_whose_unit_ends_like_the_text_before_it_is_cut_at_a_sentence_end() -> None:
    text = "It uses GROBID. " + "PDFs are parsed by GROBID. " * 3
    assert text[: loop_end(text)] == "It uses GROBID. PDFs are parsed by GROBID."


def test_ordinary_answers_and_citation_runs_are_not_loops() -> None:
    answer = (
        "S2ORC contains 81.1M papers [1][2][3]. Of these, 8.1M have full text parsed by GROBID "
        "[2]. Full text comes from PDFs and from LaTeX sources [4][5]."
    )
    assert loop_end(answer) is None
    assert loop_end("[1] [2] [3] [4] [5] [6] [7] [8] [9]") is None
    assert loop_end("") is None


def test_a_stream_stops_at_the_piece_that_completes_a_loop() -> None:
    read: list[str] = []

    def looping() -> Iterator[str]:
        yield "The lamp burns paraffin oil. "
        while True:
            for word in ("It ", "turns ", "every ", "ten ", "seconds. "):
                read.append(word)
                yield word

    shown = "".join(until_loop(looping()))
    assert shown == "The lamp burns paraffin oil. " + "It turns every ten seconds. " * 3
    assert len(read) == 15  # nothing was read past the third copy
    assert shown[: loop_end(shown)] == "The lamp burns paraffin oil. It turns every ten seconds."


def test_a_stream_without_a_loop_is_passed_through_whole() -> None:
    pieces = [
        "S2ORC ",
        "has ",
        "81.1M ",
        "papers ",
        "[1]. ",
        "Of ",
        "these, ",
        "8.1M ",
        "have ",
        "text.",
    ]
    assert list(until_loop(iter(pieces))) == pieces
