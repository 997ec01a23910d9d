"""What a point of a paper's summary must say to stand in its section, beyond being the
nearest to the section's description: a statement in prose (not a question, a caption or a
table's run of figures), and for results and limitations, words that say so. The embedder puts
"S2ORC is well-suited to citation-based tasks." nearest the description of limitations."""

import re
from collections.abc import Callable

from rag.abstract import ABSTRACT_MIN_WORDS
from rag.sentences import is_question, without_glued_heading
from rag.terms import without_footnote_numbers

SECTIONS = {
    "Problem": "The problem, motivation and goal of this work, and what earlier work lacks.",
    "Method": "The proposed method, approach, system, dataset or toolkit and how it works.",
    "Key results": "The results of the evaluation and experiments, with accuracy and numbers.",
    "Limitations": "The limitations and weaknesses of the work, and future work.",
}
# A result names a measure or a comparison, a limitation a weakness.
_RESULT_WORDS = re.compile(
    r"\b(outperform\w*|improv\w*|better|worse|higher|lower|faster|slower|accura\w*|"
    r"precision|recall|F1|scores?|than|(?:results?|experiments?|evaluations?) (?:show|indicate|"
    r"suggest|demonstrate)\w*|we (?:find|found|observe\w*|show))\b",
    re.IGNORECASE,
)
# "Yet, existing corpora are not without their limitations." states the problem, not a
# limitation of the work.
_ABOUT_OTHERS = re.compile(
    r"\b(?:existing|prior|previous|earlier|other|current)\s+(?:\w+\s+){0,2}?(?:corpora|"
    r"works?|methods?|approaches|tools?|systems?|datasets?|resources?|models?|toolkits?)\b",
    re.IGNORECASE,
)
_LIMITATION_WORDS = re.compile(
    r"\b(limit(?:ed|s|ations?)?|cannot|can not|could not|unable|not (?:always|yet|able|possible|"
    r"available|guaranteed|straightforward|clear|all)|fail\w*|nois[ey]|errors?|erroneous|"
    r"incorrect\w*|inaccura\w*|bias(?:es|ed)?|difficult\w*|challeng\w*|drawbacks?|"
    r"shortcomings?|weakness\w*|risks?|harm\w*|caution\w*|vigilant|future (?:work|research|"
    r"directions?)|mis\w{4,}|fabricat\w*|rare(?:ly)?|lack\w*|restrict\w*)\b",
    re.IGNORECASE,
)
SECTION_NEEDS: dict[str, Callable[[str], bool]] = {
    "Key results": lambda text: _RESULT_WORDS.search(text) is not None,
    "Limitations": lambda text: (
        _LIMITATION_WORDS.search(text) is not None and _ABOUT_OTHERS.search(text) is None
    ),
}
TABLE_SHARE = 0.25  # of a text's tokens figures: a table's run, no point of a summary
_NUMERIC = re.compile(r"[(\[]?[\d.,%]*\d[\d.,%]*[)\]]?[.,;]?")
_CAPTION = re.compile(r"\b(?:Table|Figure|Fig\.)\s*\d+:")  # a table's run ends in its caption


def plain_sentence(text: str) -> str:
    """The document's sentence without what the PDF glued to it: footnote numbers ("We
    introduce S2ORC,1 a large corpus") and a heading before it ("Ethical Considerations As a
    toolkit ...")."""
    return without_glued_heading(without_footnote_numbers(text, keep_commas=True))


def meets(heading: str, text: str) -> bool:
    """Whether `text` says what a point of `heading` must say (`SECTION_NEEDS`): a statement
    in prose, not a question, a caption or a table's run of figures; a TL;DR is a sentence
    of some length, not a title ("THE SIEGE OF VICKSBURG.")."""
    text = plain_sentence(text)
    tokens = text.split()
    numeric = sum(bool(_NUMERIC.fullmatch(token)) for token in tokens)
    if is_question(text) or numeric > TABLE_SHARE * len(tokens):
        return False
    if _CAPTION.search(text):
        return False
    if heading == "TL;DR":
        return len(tokens) >= ABSTRACT_MIN_WORDS
    return SECTION_NEEDS.get(heading, lambda _: True)(text)
