from rag.tables import is_table_header, is_table_row, row_contexts


def test_a_row_is_a_label_then_figures_as_tables_print_them() -> None:
    rows = [
        "Author 55.2 42.6 48.1 75.1 14.0 23.6",
        "Papers w/ publisher abstract 73.4M (90.4%)",
        "No title 20k",
        "Page width > height 0.28M",
        "Macro Avg (Full S2-VL) 40.6 38.3 39.1",
    ]
    assert all(is_table_row(row) for row in rows)


def test_prose_equations_and_bare_numbers_are_no_rows() -> None:
    lines = [
        "We resolve a total of 380.5M citation links between papers in the corpus",
        "The resulting corpus consists of 81.1M papers.",  # a sentence
        "Stitle = 2 x J x C J + C (1)",  # an equation and its number
        "4973",  # no label: a page number
        "Evaluated task Title Authors",
    ]
    assert not any(is_table_row(line) for line in lines)


def test_a_header_is_column_names_not_a_sentence() -> None:
    assert is_table_header("Model Full Grobid Subset P R F1 P R F1")
    assert not is_table_header("These are per-category metrics for Table 2.")
    assert not is_table_header("GrobidCRF 40.6 38.3 39.1")


def test_rows_are_read_with_their_caption_below_and_their_header() -> None:
    sentences = [
        "Table 1: Types of Predictors implemented in papermage.",  # the table above's caption
        "Model Full Grobid Subset P R F1 P R F1",
        "GrobidCRF 40.6 38.3 39.1 81.2 76.7 78.9",
        "I-VILA 92.0 94.1 92.7 92.2 95.2 93.7",
        "Table 2: Evaluating performance of CoreRecipe for logical structure recovery.",
        "We ran the original PDFs through our parser.",
    ]
    context = (
        "Table 2: Evaluating performance of CoreRecipe for logical structure recovery. "
        "Model Full Grobid Subset P R F1 P R F1"
    )
    assert row_contexts(sentences) == ["", "", context, context, "", ""]


def test_a_caption_above_counts_where_none_follows_and_prose_is_no_header() -> None:
    above = ["Table 3: Statistics on paper provenance.", "Total papers 81.1M", "No title 20k"]
    assert row_contexts(above)[1:] == ["Table 3: Statistics on paper provenance."] * 2
    prose = ["The corpus is filtered for quality.", "No title 20k", "No authors 0.3M"]
    assert row_contexts(prose) == ["", "", ""]
