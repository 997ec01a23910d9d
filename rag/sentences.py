"""Sentence splitting for English prose, shared by chunking, citation checks and evidence."""

import re

# Marks where a new page starts inside a chunk's text (written by chunking, read by citations),
# so a quote's exact page can be found.
PAGE_BREAK = "\f"

_ABBREVIATIONS = {
    "al", "cf", "dr", "e.g", "eq", "eqs", "etc", "fig", "figs", "i.e", "mr", "mrs", "ms", "no",
    "pp", "prof", "ref", "refs", "sec", "st", "tab", "vol", "vs",
}  # fmt: skip
_CLOSERS = "\"'\u201d\u2019)\\]"
# Initials with stops ("U.S.", "D.C.") end a sentence only before a word that opens one.
_INITIALS = re.compile(r"(?:[a-z]\.)+[a-z]")
_OPENS = re.compile(
    r"(?:The|A|An|We|I|He|She|It|They|This|That|These|Those|There|In|On|At|But|And|As|Our|"
    r"His|Her|Their|After|Before|When|Then)\b"
)
_OPENERS = "\"'\u201c\u2018(["
# A footnote's number can follow the end mark, glued to it ("from each PDF.11 We then use"): it
# ends the sentence it annotates. Two letters before the mark tell it from a decimal ("by 2.11").
_SENTENCE_BREAK = re.compile(
    rf"((?<=[.!?])[{_CLOSERS}]*|(?<=[A-Za-z]{{2}}[.!?])\d{{1,2}})\s+(?=[{re.escape(_OPENERS)}]?[A-Z0-9])"
)
# Text with no capitals at all (lower-cased corpora, some OCR and transcripts) has no capital to
# mark a sentence start: there any word after an end mark starts one.
_CASELESS_BREAK = re.compile(rf"(?<=[.!?])([{_CLOSERS}]*)\s+(?=[{re.escape(_OPENERS)}]?\w)")


# A heading that the PDF's text runs into the sentence after it ("Ethical Considerations As a
# toolkit ...", "Misrepresentation of information in documents In \u00a73, we ..."): words with no
# end mark, the last not a function word, then a word that opens sentences.
_GLUED_HEADING = re.compile(
    r"^[A-Z0-9][^.!?;,()]*?[A-Za-z0-9]\s+(?=(?:As|In|We|The|This|Our|For|It|These|Such|Here|"
    r"How|What|When|While|Although|Unlike|Like|Since|Because|Given|Finally|First|However|"
    r"Overall|Today)\s)"
)
_HEADING_ENDS_NOT = frozenset({
    "in", "of", "the", "a", "an", "to", "for", "and", "or", "with", "on", "by", "at", "as", "from",
    "into", "is", "are", "was", "were", "be", "been", "has", "have", "had", "that", "which",
    "where", "when", "than", "whether", "we", "it",
})  # fmt: skip
HEADING_MAX_WORDS = 12
HEADING_MIN_REST_WORDS = 6


def without_glued_heading(sentence: str) -> str:
    """The sentence without a heading glued to its start, if it has one of at most
    `HEADING_MAX_WORDS` words and a sentence of some length follows it."""
    match = _GLUED_HEADING.match(sentence)
    if match is None or len(match[0].split()) > HEADING_MAX_WORDS:
        return sentence
    if match[0].split()[-1].lower() in _HEADING_ENDS_NOT:  # "published in The Lancet"
        return sentence
    rest = sentence[match.end() :]
    return rest if len(rest.split()) >= HEADING_MIN_REST_WORDS else sentence


def split_sentences(paragraph: str, any_start: bool = False) -> list[str]:
    """The paragraph's sentences. With `any_start`, as in text without capitals, any word after
    an end mark starts one: "... scientific documents. papermage offers ..." is two."""
    sentences, start = [], 0
    caseless = any_start or not any(character.isupper() for character in paragraph)
    for match in (_CASELESS_BREAK if caseless else _SENTENCE_BREAK).finditer(paragraph):
        before = paragraph[start : match.start()]
        last_word = before.rsplit(maxsplit=1)[-1] if before.split() else ""
        last_word = last_word.lstrip(_OPENERS).rstrip(".").lower()  # "(e.g." is "e.g"
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        if _INITIALS.fullmatch(last_word) and not _OPENS.match(paragraph, match.end()):
            continue  # "the U.S. Army", but "in Washington, D.C. The next day"
        sentences.append(paragraph[start : match.end(1)].strip())
        start = match.end()
    sentences.append(paragraph[start:].strip())
    return [sentence for sentence in sentences if sentence]


def goes_on_over_page(last: str, first: str) -> bool:
    """Whether a page's last sentence, `last`, is cut off by the page break and goes on as the
    next page's first sentence, `first`: it has no end mark and the next starts in lower case."""
    return not ends_sentence(last, also=":;") and first[:1].islower()


def is_question(text: str) -> bool:
    """Whether `text` ends with a question mark, perhaps followed by closing quotes or brackets."""
    return re.search(rf"\?[{_CLOSERS}]*$", text) is not None


def ends_sentence(text: str, also: str = "") -> bool:
    """Whether `text` ends with an end mark, or one of the characters `also` (":" before a
    list, "]" after a citation marker), perhaps followed by closing quotes or brackets."""
    return re.search(rf"[.!?{re.escape(also)}][{_CLOSERS}]*$", text) is not None
