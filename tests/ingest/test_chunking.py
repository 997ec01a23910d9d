import itertools
import re

from ingest.chunking import chunk_pages
from rag.embedder import Embedder
from rag.sentences import PAGE_BREAK, split_sentences

MARKER = re.compile(r"Item (\d+) of page (\d+)\.")


def marked_pages(pages: int, sentences_per_page: int) -> list[str]:
    """Pages of sentences that say where they are, in two paragraphs per page."""
    result = []
    for page in range(1, pages + 1):
        sentences = [
            f"Item {n} of page {page}. The measured value was {n * 7 % 13} units."
            for n in range(1, sentences_per_page + 1)
        ]
        half = len(sentences) // 2
        result.append(" ".join(sentences[:half]) + "\n\n" + " ".join(sentences[half:]))
    return result


def test_every_chunk_carries_the_exact_span_of_the_pages_its_text_comes_from(
    embedder: Embedder,
) -> None:
    pages = marked_pages(pages=5, sentences_per_page=12)
    chunks = chunk_pages(pages, embedder.count_tokens, chunk_tokens=60, overlap_tokens=15)
    assert len(chunks) > 5
    seen: set[tuple[int, int]] = set()
    for chunk in chunks:
        markers = [(int(item), int(page)) for item, page in MARKER.findall(chunk.text)]
        pages_in_text = [page for _, page in markers]
        assert chunk.page_start == min(pages_in_text)
        assert chunk.page_end == max(pages_in_text)
        seen.update(markers)
    assert seen == {(item, page) for page in range(1, 6) for item in range(1, 13)}
    assert any(chunk.page_start < chunk.page_end for chunk in chunks)


def test_chunks_respect_the_token_budget_and_report_true_counts(embedder: Embedder) -> None:
    pages = marked_pages(pages=3, sentences_per_page=20)
    chunks = chunk_pages(pages, embedder.count_tokens, chunk_tokens=80, overlap_tokens=20)
    for chunk in chunks:
        assert chunk.token_count <= 80
        assert embedder.count_tokens([chunk.text]) == [chunk.token_count]


def test_chunks_overlap_by_whole_sentences_within_a_page_but_not_across_pages(
    embedder: Embedder,
) -> None:
    pages = marked_pages(pages=2, sentences_per_page=20)
    chunks = chunk_pages(pages, embedder.count_tokens, chunk_tokens=80, overlap_tokens=30)
    overlapping = 0
    for previous, following in itertools.pairwise(chunks):
        first_sentence = split_sentences(following.text.split("\n")[0])[0]
        if following.page_start == previous.page_end:
            assert first_sentence in previous.text
            overlapping += 1
        else:
            assert following.page_start == previous.page_end + 1
            assert first_sentence not in previous.text
    assert 0 < overlapping < len(chunks) - 1


def test_a_page_end_closes_a_chunk_that_is_reasonably_full(embedder: Embedder) -> None:
    pages = marked_pages(pages=4, sentences_per_page=8)  # about 130 tokens a page
    chunks = chunk_pages(pages, embedder.count_tokens, chunk_tokens=254, overlap_tokens=40)
    assert [(chunk.page_start, chunk.page_end) for chunk in chunks] == [(n, n) for n in range(1, 5)]


def test_chunks_break_at_sentence_ends(embedder: Embedder) -> None:
    pages = marked_pages(pages=2, sentences_per_page=15)
    chunks = chunk_pages(pages, embedder.count_tokens, chunk_tokens=50, overlap_tokens=0)
    for chunk in chunks:
        assert chunk.text.startswith("Item") or chunk.text.startswith("The measured")
        assert chunk.text.endswith(".")


def test_a_sentence_longer_than_a_chunk_is_split_not_dropped(embedder: Embedder) -> None:
    words = [f"token{n}" for n in range(400)]
    chunks = chunk_pages([" ".join(words)], embedder.count_tokens, 64, 10)
    assert len(chunks) > 1
    assert all(chunk.token_count <= 64 for chunk in chunks)
    rebuilt = " ".join(chunk.text for chunk in chunks).split()
    assert [word for word in words if word not in rebuilt] == []


def test_a_long_sentence_splits_into_even_pieces_not_a_stray_tail(embedder: Embedder) -> None:
    words = [f"token{n}" for n in range(70)]
    budget = embedder.count_tokens([" ".join(words)])[0] - 3  # just too long for one chunk
    chunks = chunk_pages([" ".join(words) + "."], embedder.count_tokens, budget, 10)
    sizes = [chunk.token_count for chunk in chunks]
    assert len(sizes) == 2
    assert min(sizes) >= 0.4 * budget


def test_empty_pages_give_no_chunks_and_keep_numbering(embedder: Embedder) -> None:
    chunks = chunk_pages(["", "Only the second page has text.", ""], embedder.count_tokens, 64, 8)
    assert [(c.page_start, c.page_end, c.text) for c in chunks] == [
        (2, 2, "Only the second page has text.")
    ]


def test_pages_without_text_inside_a_chunk_keep_their_page_breaks(embedder: Embedder) -> None:
    """A full-page figure, or a page whose only line was its number: the text after it is on
    the page after it, which a citation finds by counting form feeds."""
    pages = ["Item 1 of page 1.", "", "", "Item 1 of page 4.", "Item 1 of page 5."]
    [chunk] = chunk_pages(pages, embedder.count_tokens, chunk_tokens=200, overlap_tokens=0)
    assert (chunk.page_start, chunk.page_end) == (1, 5)
    for offset, page_text in enumerate(chunk.text.split(PAGE_BREAK)):
        assert all(int(page) == 1 + offset for _, page in MARKER.findall(page_text))
    assert chunk.text.count(PAGE_BREAK) == 4


CUT = "Other tasks that leverage citation contexts include"
REST = "classifying citation intent and summarizing papers."


def test_a_sentence_a_page_break_cuts_stays_whole_in_one_chunk(embedder: Embedder) -> None:
    before = " ".join(f"Item {n} of page 1." for n in range(1, 9))
    after = " ".join(f"Item {n} of page 2." for n in range(1, 9))
    pages = [f"{before} {CUT}", f"{REST} {after}"]
    for chunk_tokens in (200, 60, 40):  # one chunk, or chunks that end at the page break
        chunks = chunk_pages(pages, embedder.count_tokens, chunk_tokens, overlap_tokens=0)
        [holding] = [chunk for chunk in chunks if CUT in chunk.text]
        assert f"{CUT}{PAGE_BREAK}{REST}" in holding.text
        assert holding.page_end == 2
        assert not any(chunk.text.startswith(REST) for chunk in chunks)
        for chunk in chunks:
            assert embedder.count_tokens([chunk.text]) == [chunk.token_count]


def test_a_chunk_that_starts_within_a_table_starts_with_its_header(embedder: Embedder) -> None:
    header = "Category GROBIDCRF RoBERTa I-VILA P R F1 P R F1 P R F1"
    labels = ["Abstract", "Author", "Caption", "Equation", "Figure", "Footer", "Table", "Title"]
    rows = [
        f"{label} {n}1.9 8{n}.1 85.3 89.2 93.7 91.4 97.4 98.3 9{n}.8"
        for n, label in enumerate(labels)
    ]
    page = "\n\n".join(["We evaluate every category below.", header, *rows, "Table 3: Results."])
    chunks = chunk_pages([page], embedder.count_tokens, chunk_tokens=90, overlap_tokens=0)
    assert len(chunks) >= 3
    for chunk in chunks:
        lines = chunk.text.split("\n")
        if any(line in rows for line in lines):
            assert header in lines
            assert chunk.token_count <= 90
    held = [line for chunk in chunks for line in chunk.text.split("\n") if line in rows]
    assert held == rows  # each row once, in order


def test_a_header_that_leaves_no_room_for_the_row_is_not_repeated(embedder: Embedder) -> None:
    header = "Category " + " ".join(f"Model{n} P R F1" for n in range(6))  # 31 tokens
    rows = [f"Row{n} " + " ".join(f"{n}{m}.5" for m in range(14)) for n in range(3)]  # 44 each
    page = "\n\n".join([header, *rows])
    chunks = chunk_pages([page], embedder.count_tokens, chunk_tokens=60, overlap_tokens=0)
    assert [chunk.text for chunk in chunks] == [header, *rows]  # each row alone, whole
