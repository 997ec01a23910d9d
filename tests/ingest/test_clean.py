from ingest.clean import clean_pages
from rag.tables import is_table_row


def test_running_headers_and_footers_are_removed_but_content_stays() -> None:
    pages = [
        f"Journal of Testing, Vol. 7\nBody text of page {n} about topic {n}.\nPage {n} of 4"
        for n in range(1, 5)
    ]
    cleaned = clean_pages(pages)
    for number, page in enumerate(cleaned, start=1):
        assert "Journal of Testing" not in page
        assert "of 4" not in page
        assert f"Body text of page {number} about topic {number}." in page


def test_a_books_page_numbers_on_either_side_and_an_ocr_misread_are_running() -> None:
    headers = [
        "THE SIEGE OF VICKSBURG. 49",
        "50 THE SIEGE OF VICKSBURG.",
        "THE SIEGE OF VICKSBURG. 51",
        "52 THE SIEGE OF VICKSBURG.",
        "THE SIEGE OP VICKSBURG. 53",  # as OCR read it
    ]
    pages = [f"{header}\nWe dug the trench on day {n}." for n, header in enumerate(headers)]
    cleaned = clean_pages(pages)
    assert cleaned == [f"We dug the trench on day {n}." for n in range(len(headers))]
    # A line one letter away from a short running line is another line.
    short = [f"Part {n}\nThe fort fell. {line}" for n, line in enumerate(["A", "B", "C"])]
    assert clean_pages([*short, "Port 9\nThe end."])[-1] == "Port 9 The end."


def test_short_documents_keep_repeated_lines() -> None:
    # With two pages, a repeated line is as likely content as a running header.
    cleaned = clean_pages(["Same line\nfirst", "Same line\nsecond"])
    assert all("Same line" in page for page in cleaned)


def test_hyphenation_across_line_breaks_is_joined() -> None:
    [page] = clean_pages(["The experi-\nment was repeated with care-\nful controls."])
    assert page == "The experiment was repeated with careful controls."


def test_real_hyphenated_compounds_keep_their_hyphen() -> None:
    [page] = clean_pages(["A state-of-the-art result and a non-\nEnglish word."])
    assert "state-of-the-art" in page
    assert "non-English word" in page


def test_a_line_end_hyphen_follows_how_the_document_spells_the_word_elsewhere() -> None:
    pages = [
        "We train image-based and just-in-time models. Knowledge helps.",
        "The image-\nbased model, its knowl-\nedge, a just-\nin-time step.",
    ]
    assert clean_pages(pages)[1] == ("The image-based model, its knowledge, a just-in-time step.")


def test_without_other_spellings_two_whole_words_keep_the_hyphen() -> None:
    page = (
        "An image model is based on text; this image-\nbased one is not. To-\nday we re-\nport it."
    )
    assert clean_pages([page]) == [
        "An image model is based on text; this image-based one is not. Today we report it."
    ]


def test_an_adverb_before_a_line_end_hyphen_keeps_it_but_a_word_part_does_not() -> None:
    page = "Aggressively-\ncleaned text, automatically-\ndetected links and poly-\nethylene."
    assert clean_pages([page]) == [
        "Aggressively-cleaned text, automatically-detected links and polyethylene."
    ]


def test_before_a_capital_or_a_digit_the_hyphen_stays_unless_the_word_is_written_whole() -> None:
    pages = ["GROBID parses the PDF.", "We ran GRO-\nBID on pages 3-\n5 with Yu-\nYen's tool."]
    assert clean_pages(pages)[1] == "We ran GROBID on pages 3-5 with Yu-Yen's tool."
    assert clean_pages(["The last line of a column ends in de-\n7"]) == [
        "The last line of a column ends in de- 7"  # a page number is not the word's end
    ]


def test_a_word_hyphenated_across_pages_is_completed_on_the_page_it_starts() -> None:
    pages = [
        "Body text of page one about corpus size.\nWe describe the sources in de-\n1",
        "tail here, and more body text follows.\nThe resulting pretraining cor-\n2",
        "pus contains 16.4B tokens.\nMore text about the size of the corpus.\n3",
        "A last page of body text.\nIt has no hyphen at its end.\n4",
    ]
    cleaned = clean_pages(pages)
    assert cleaned[0].endswith("We describe the sources in detail")
    assert cleaned[1].startswith("here, and more body text follows.")
    assert cleaned[1].endswith("The resulting pretraining corpus")
    assert cleaned[2].startswith("contains 16.4B tokens.")
    assert all(not page.endswith("\n4") for page in cleaned)  # the page numbers went first


def test_a_word_the_document_writes_whole_is_joined_even_from_two_words() -> None:
    page = "Some times differ, and sometimes not: some-\ntimes they agree."
    assert clean_pages([page]) == ["Some times differ, and sometimes not: sometimes they agree."]


def test_wrapped_lines_join_into_paragraphs() -> None:
    text = (
        "This first paragraph is long enough to wrap over\n"
        "several lines in the extracted text of a PDF page\n"
        "and it ends here.\n"
        "\n"
        "A second paragraph follows after a blank line and\n"
        "also wraps once."
    )
    [page] = clean_pages([text])
    assert page.split("\n\n") == [
        "This first paragraph is long enough to wrap over several lines in the extracted text "
        "of a PDF page and it ends here.",
        "A second paragraph follows after a blank line and also wraps once.",
    ]


def test_numbered_headings_stand_apart_from_the_text_they_head() -> None:
    text = (
        "The corpus also links the papers to each other through the citation graph of\n"
        "the whole collection\n"
        "8 Conclusion\n"
        "We introduce the largest publicly available corpus of English academic papers,\n"
        "covering dozens of disciplines.\n"
        "8.1 Future work\n"
        "We plan to add more publishers and their papers over the coming years and to\n"
        "update the corpus twice a year.\n"
        "In 2020 the corpus was released to everyone who wants to use it for research\n"
        "10 tables in the appendix give the details of every one of the datasets here."
    )
    [page] = clean_pages([text])
    paragraphs = page.split("\n\n")
    assert paragraphs[1:4] == [
        "8 Conclusion",
        "We introduce the largest publicly available corpus of English academic papers, "
        "covering dozens of disciplines.",
        "8.1 Future work",
    ]
    # A wrapped line that merely starts with a number is no heading.
    assert paragraphs[-1].endswith(
        "for research 10 tables in the appendix give the details of every one of the datasets here."
    )


def test_each_table_row_is_a_paragraph_after_its_header_and_before_its_caption() -> None:
    text = (
        "Structure\n"
        "Category\n"
        "GROBIDCRF RoBERTa I-VILA\n"
        "P R F1 P R F1 P R F1\n"
        "Abstract 81.9 89.1 85.3 89.2 93.7 91.4 97.4 98.3 97.8\n"
        "Author 55.2 42.6 48.1 87.5 73.5 79.9 65.5 96.9 78.2\n"
        "Macro Avg\n"
        "(Full S2-VL) 40.6 38.3 39.1 75.9 80.0 76.8 92.0 94.1 92.7\n"
        "Table 3: Evaluating CoreRecipe for logical structure recovery on S2-VL. These are\n"
        "per-category metrics for Table 2."
    )
    [page] = clean_pages([text])
    assert page.split("\n\n") == [
        "Structure Category GROBIDCRF RoBERTa I-VILA P R F1 P R F1 P R F1",
        "Abstract 81.9 89.1 85.3 89.2 93.7 91.4 97.4 98.3 97.8",
        "Author 55.2 42.6 48.1 87.5 73.5 79.9 65.5 96.9 78.2",
        "Macro Avg (Full S2-VL) 40.6 38.3 39.1 75.9 80.0 76.8 92.0 94.1 92.7",  # label wrapped
        "Table 3: Evaluating CoreRecipe for logical structure recovery on S2-VL. These are "
        "per-category metrics for Table 2.",
    ]


def test_a_lone_line_that_ends_in_a_figure_stays_in_its_paragraph() -> None:
    text = (
        "The filter removes papers whose text is shorter than a limit that we set at\n"
        "the level of 100\n"
        "characters, and keeps the rest of the papers."
    )
    assert is_table_row("the level of 100")  # alone, as a row would read
    [page] = clean_pages([text])
    assert "\n\n" not in page


def test_an_appendix_heading_stands_apart_from_a_caption_without_a_full_stop() -> None:
    text = (
        "We filter out PDFs that produce an error or have greater than 50 pages in total and\n"
        "we also remove every PDF whose page width is larger than its page height here.\n"
        "Table 8: PDFs filtered out before GROBID processing\n"
        "C The paper clustering problem\n"
        "In academic fields in which preprint publishing is common (e.g. arXiv), the notion\n"
        "of a paper is somewhat ambiguous."
    )
    [page] = clean_pages([text])
    caption, *rest = page.split("\n\n")
    assert caption.endswith("here. Table 8: PDFs filtered out before GROBID processing")
    assert rest == [
        "C The paper clustering problem",
        "In academic fields in which preprint publishing is common (e.g. arXiv), the notion of "
        "a paper is somewhat ambiguous.",
    ]


def test_a_named_heading_keeps_the_front_matter_out_of_the_abstract() -> None:
    text = (
        "Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics\n"
        "S2ORC: The Semantic Scholar Open Research Corpus\n"
        "Kyle Lo Lucy Lu Wang Mark Neumann\n"
        "Abstract\n"
        "We introduce S2ORC, a large corpus of 81.1M English-language academic papers\n"
        "spanning many academic disciplines. The corpus consists of rich metadata and\n"
        "structured full text for 8.1M open access papers from many publishers around\n"
        "the world.\n"
        "ACKNOWLEDGEMENTS\n"
        "We thank the reviewers of this paper for their many helpful comments on the work."
    )
    [page] = clean_pages([text])
    paragraphs = page.split("\n\n")
    assert paragraphs[1] == "Abstract"
    assert paragraphs[2].startswith("We introduce S2ORC, a large corpus of 81.1M")
    assert paragraphs[0].endswith("Kyle Lo Lucy Lu Wang Mark Neumann")
    assert paragraphs[-2:] == [
        "ACKNOWLEDGEMENTS",
        "We thank the reviewers of this paper for their many helpful comments on the work.",
    ]


def test_whitespace_ligatures_and_detached_accents_are_normalized() -> None:
    [page] = clean_pages(["The  \ufb01rst\u00a0result \t by F\u00a8arber,  na\u00a8\u0131ve"])
    assert page == "The first result by Färber, naïve"


def test_non_latin_text_is_preserved() -> None:
    [page] = clean_pages(["Привет, мир. 你好世界. مرحبا بالعالم"])
    assert page == "Привет, мир. 你好世界. مرحبا بالعالم"


def test_fake_bold_doubled_glyphs_are_repaired() -> None:
    [page] = clean_pages(
        ["Below: B B O O L L D D\nS S A A M M P P L L E E T T e e s s t t\nDDEEBBUUGG"]
    )
    assert page == "Below: BOLD SAMPLE Test DEBUG"


def test_short_doubled_runs_and_real_double_letters_stay() -> None:
    [page] = clean_pages(["I I said a a b b; the committee took a full week to agree."])
    assert page == "I I said a a b b; the committee took a full week to agree."


def test_latex_ff_ligature_arrow_becomes_ff() -> None:
    [page] = clean_pages(["Ongoing e\u21b5orts in di\u21b5erent fields \u21b5 alone."])
    assert page == "Ongoing efforts in different fields \u21b5 alone."


def test_fake_bold_drawn_one_glyph_per_line_is_joined() -> None:
    glyphs = "\n".join(ch + "\n" + ch for ch in "BOLD TEXT")
    [page] = clean_pages([f"Before it:\n{glyphs}\nafter it.\nA\nB\nC"])
    assert page == "Before it: BOLD TEXT after it. A B C"
