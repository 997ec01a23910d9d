"""What a question asks for: a kind of figure (a year, a percentage, any figure), what a "how
many" question counts, and whether a text states it. Shared by evidence ranking and its tests
of what the documents cannot answer."""

import re
from typing import Literal

from rag.citations import figures_of
from rag.keyword_index import STOPWORDS
from rag.terms import QUESTION_WORDS, content_terms

COUNTED_WITHIN = 3  # words between a figure and the noun it counts ("81.1M English-language
# academic papers")

ASKS_FIGURE = re.compile(
    r"\b(how (many|much|large|big|long|often|fast|small|accurate|similar)|number of|amount of|"
    r"size of|how (well|poorly|accurately)|what ([\w-]+ ){0,2}(percentage|proportion|fraction|"
    r"share|size|scores?|accuracy|f1|precision|recall|performance))\b",
    re.IGNORECASE,
)  # "what similarity score", "what macro-averaged F1"
# A share is stated as a percentage; a sentence with another figure (a count) does not give it.
_ASKS_PERCENT = re.compile(r"\bwhat ([\w-]+ ){0,2}(percentage|percent|share)\b", re.IGNORECASE)
_PERCENT = re.compile(r"\d\s*%|\bper ?cent\b", re.IGNORECASE)
# "When was ...?" asks for a date; "When the evaluation is limited to ..., what F1 ...?" does not.
_ASKS_YEAR = re.compile(
    r"(^|[.?!]\s+)when\s+(was|were|did|is|are|does|do|has|have|had|will)\b|"
    r"\b(what|which) year\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
# Numbers that point somewhere rather than state a figure: sections, tables, figures, equations,
# and citations by number or year ("\u00a72.5", "Table 2", "[49]", "(Lopez, 2009)", "Shen et al.,
# 2022").
POINTER_NUMBER = re.compile(
    r"\[\d+(?:\s*[,\u2013-]\s*\d+)*\]|\u00a7\s*\d+(?:\.\d+)*|"
    r"\b(?:Tables?|Tab\.|Figures?|Fig\.|Sections?|Sec\.|Eq\.|Equations?|"
    r"Appendix|Algorithm|Step)\s*\d+(?:\.\d+)*|(?:et al\.|[A-Z][\w-]+),?\s+(?:19|20)\d\d[a-z]?\b"
)
# "how many [of the] X ...": the words that name X follow, up to the first function word.
HOW_MANY = re.compile(r"\b(?:how many|number of)\s+(?:of\s+(?:the|these|those|its)\s+)?", re.I)
ASKED_UNIT = re.compile(r"\bin ([A-Za-z]+)\s*\?\s*$")  # "... size of the release in gigabytes?"
# "What was the name of the writer's sister?": what a name is asked for.
_ASKS_NAME = re.compile(
    r"\bthe names? of ((?:the |a |an |his |her |their |its )?[\w'\u2019 -]+?)\s*\?", re.I
)
_ENDS_COUNTED = STOPWORDS | QUESTION_WORDS | {"per"}  # "how many pages per second"
_ARTICLES = frozenset({"the", "a", "an", "its", "their", "these", "those", "this", "that"})
_NUMBER_WORDS = frozenset({
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million", "millions",
})  # fmt: skip
_PLURAL = re.compile(r"[A-Za-z]{2}[^siuSIU\W]s$")  # "links", "PDFs"; not "bus", "basis", "class"
_IRREGULAR_PLURALS = frozenset({"people", "men", "women", "children", "oxen", "feet", "teeth",
                                "mice", "geese", "data", "criteria", "phenomena"})  # fmt: skip

AskedType = Literal["year", "percent", "figure", ""]


def asked_type(question: str) -> AskedType:
    """What kind of figure the question asks for: a year ("When was ...?"), a percentage
    ("What share ...?"), any figure ("How many ...?", "What F1 ...?"), or none ("")."""
    if _ASKS_YEAR.search(question):
        return "year"
    if _ASKS_PERCENT.search(question):
        return "percent"
    return "figure" if ASKS_FIGURE.search(question) else ""


def states_asked_type(text: str, asked_for: AskedType) -> bool:
    """Whether the text states a figure of the kind asked for; numbers that point to a section,
    a table or a cited work state none ("See \u00a72.5 for details" answers no "how many")."""
    text = POINTER_NUMBER.sub(" ", text)
    if asked_for == "year":
        return bool(_YEAR.search(text))
    if asked_for == "percent":
        return bool(_PERCENT.search(text))
    return asked_for == "figure" and bool(figures_of(text))


def counted_words(question: str) -> list[str]:
    """The words of what a "how many X" question counts ("How many distinct authors are ..."
    counts "distinct", "authors"; "paper-to-paper citation links", "paper", "citation",
    "links"): those after "how many" up to the first plural noun or function word ("how many
    people live near it" counts "people"). At an article the words end ("how many mortar
    shells the diarist saw"), and a past tense before it is a verb ("how many survived the
    filters"), which counts nothing."""
    found = HOW_MANY.search(question)
    words: list[str] = []
    for word in re.findall(r"[\w-]+", question[found.end() :] if found else ""):
        if word.lower() in _ARTICLES:
            return words[:-1] if words and words[-1].lower().endswith("ed") else words
        if word.lower() in _ENDS_COUNTED:
            break
        words += [part for part in word.split("-") if part.lower() not in _ENDS_COUNTED]
        if _PLURAL.search(word) or word.lower() in _IRREGULAR_PLURALS:
            break
    return words


def as_asked(question: str, names: list[str]) -> list[str]:
    """`names` as the reader wrote them: a word of what a "how many" question counts stands
    for the whole of it ("distinct" as "distinct authors", "paper" as "paper-to-paper citation
    links"), so the answer says what the documents never mention."""
    counted = counted_words(question)
    found = HOW_MANY.search(question)
    if not counted or found is None:
        return names
    rest = question[found.end() :]
    first = rest.find(counted[0])
    phrase = rest[first : rest.find(counted[-1], first) + len(counted[-1])]
    return list(dict.fromkeys(phrase if name in counted else name for name in names))


def counted_noun(question: str) -> str | None:
    """The stem of the noun a "how many X" question counts ("How many paper clusters got
    dropped" counts "cluster"), or None: the last of its counted words."""
    words = counted_words(question)
    terms = content_terms(words[-1]) if words else []
    return terms[-1] if terms else None


def counts(text: str, noun: str, either_side: bool = False) -> bool:
    """Whether the text states a figure (or a number word) that counts `noun`, within
    COUNTED_WITHIN words before it: "95.5M paper clusters", "twelve separate ... models"; with
    `either_side`, also after it, as tables and definitions put it ("Papers w/ PDF 28.9M", "the
    number of papers is 81.1M")."""
    words = re.findall(r"[\w.,%-]+", POINTER_NUMBER.sub(" ", text))
    for index, word in enumerate(words):
        if figures_of(word) or word.lower() in _NUMBER_WORDS:
            near = words[index + 1 : index + 2 + COUNTED_WITHIN]
            if either_side:
                near += words[max(0, index - 1 - COUNTED_WITHIN) : index]
            if noun in content_terms(" ".join(near)):
                return True
    return False


def named_thing(question: str) -> str:
    """What the question asks the name of, as written ("What was the name of the writer's
    sister?" asks it of "the writer's sister"), or ""."""
    found = _ASKS_NAME.search(question)
    return found[1].strip() if found else ""


def named_noun(thing: str) -> str | None:
    """The stem of the noun a name is asked for: the first content word that is no one's
    ("writer's sister" asks it of "sister", "dataset built with the pipeline" of "dataset")."""
    words = re.findall(r"[\w'\u2019-]+", thing)
    terms = content_terms(" ".join(word for word in words if not word.endswith(("'s", "\u2019s"))))
    return terms[0] if terms else None


def names_something(sentence: str, question: str) -> bool:
    """Whether the sentence gives a name: a capitalised word that is not its first, not "I",
    and not a word of the question."""
    asked = {word.lower() for word in re.findall(r"[\w'-]+", question)}
    return any(
        word[0].isupper() and word != "I" and word.lower() not in asked
        for word in re.findall(r"[A-Za-z][\w'-]*", sentence)[1:]
    )
