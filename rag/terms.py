"""Content terms of a text: its words without function words, stemmed, so "papers" meets
"paper"; the names a question gives, and whether a text holds them. Shared by sentence-level
evidence ranking, retrieval by name and the clause check of claims."""

import re

import Stemmer

from rag.keyword_index import STOPWORDS

# Words of a question that ask, rather than say what about; the light verbs, particles and
# hedges of everyday phrasing ("how many got dropped", "what makes up", "roughly how many"),
# which a paper says in other words; the prefixes a hyphen cuts off ("pre-filtering"), and the
# possessive's s ("the writer's sister").
QUESTION_WORDS = frozenset({
    "according", "answer", "ask", "asked", "describe", "described", "document", "documents",
    "explain", "give", "mention", "mentioned", "say", "says", "tell",
    "actually", "also", "come", "comes", "exactly", "get", "gets", "getting", "go", "goes", "got",
    "just", "keep", "keeps", "make", "makes", "plus", "pick", "picking", "pull", "pulling",
    "put", "really", "roughly", "take", "takes", "try", "tries", "turn", "turns",
    "up", "out", "off", "my", "overall", "many",
    "pre", "non", "co", "re", "sub", "inter", "multi", "post", "semi", "anti", "s",
})  # fmt: skip
# A name the question gives: two capitals in a word (GPU, SQuAD, CoreRecipe, S2ORC) or a
# capitalised word after the first (Nougat, Python).
_TWO_CAPITALS = r"\b\w*[A-Z]\w*[A-Z]\w*\b"
_QUESTION_NAME = re.compile(rf"({_TWO_CAPITALS})|(?<=\w[\s,(])([A-Z][a-z]\w*)")
# What a "which ..." or "what ..." question asks for: the last word before its verb ("Under which
# license is ...", "What inter-annotator agreement was ...").
_ASKED_FOR = re.compile(
    r"\b(?:which|what)\s+(?:[\w-]+\s+){0,3}?([\w-]+)\s+"
    r"(?:is|are|was|were|does|do|did|can|could|has|have|had|will|would|should)\b",
    re.IGNORECASE,
)
# A figure keeps its decimal and thousands marks ("81.1", "1,000", "v0.7.3"); after a word that
# ends in a letter, a comma and digits are a footnote's number ("S2ORC,1 a large corpus").
_TERM = re.compile(r"[^\W_]*\d(?:[.,]\d+)+|[^\W_]+")
_FOOTNOTE_GLUED = re.compile(r"^([a-z]{4,})\d{1,2}$")  # not "gpt4", "v3"
_STEMMER = Stemmer.Stemmer("english")
# A footnote's number where the PDF glues it to the word or the end mark it annotates:
# "S2ORC,1 a large corpus", "from each PDF.11 We", "(Kim et al., 2023).6 We", "models3 to".
_FOOTNOTE_NUMBER = re.compile(
    r"(?<=[A-Za-z])(,)\d{1,2}(?=\s)|(?:(?<=[A-Za-z]{2}[.!?])|(?<=\)[.!?]))\d{1,2}(?=\s)|"
    r"\b([a-z]{4,})\d{1,2}\b"
)


def content_terms(text: str) -> list[str]:
    """Stems of the text's words that carry content, in order (repeats kept); a footnote's
    number that the PDF glued to a word is dropped ("models3" is "models")."""
    words = [_FOOTNOTE_GLUED.sub(r"\1", word) for word in _TERM.findall(text.lower())]
    return _STEMMER.stemWords([word for word in words if word not in STOPWORDS])


def without_footnote_numbers(text: str, keep_commas: bool = False) -> str:
    """The text without the footnote numbers glued to its words: a model given it copies
    "S2ORC,1" into its answer, or reads "models3" as a name. A prompt loses the comma before
    such a number too ("S2ORC a large corpus"): given "S2ORC, a large corpus of 81.1M ...", the
    default model ran the abstract's sentence on into the table after it. A reader keeps it."""
    return _FOOTNOTE_NUMBER.sub(
        lambda match: (match[1] if keep_commas else "") or match[2] or "", text
    )


def question_terms(question: str) -> list[str]:
    """The question's content terms without the words that only ask ("according to the paper,
    describe ..."), each once."""
    asking = set(_STEMMER.stemWords(list(QUESTION_WORDS)))
    return list(dict.fromkeys(term for term in content_terms(question) if term not in asking))


def question_names(question: str) -> list[str]:
    """The names the question gives (GPU, SQuAD, Nougat), then the word for what a "which" or
    "what" question asks for (license), each once: a text that holds none of one of them cannot
    answer it."""
    found = [first or second for first, second in _QUESTION_NAME.findall(question)]
    asked = _ASKED_FOR.search(question)
    if asked and content_terms(asked.group(1)):
        found.append(asked.group(1))
    return list(dict.fromkeys(found))


def two_capital_names(text: str) -> list[str]:
    """The words of `text` with two capitals: SciBERT, GROBID, S2ORC, PDFs."""
    return re.findall(_TWO_CAPITALS, text)


def names_in(name: str, text: str, any_case: bool = False) -> bool:
    """Whether `text` holds the name: an acronym in capitals, where no capital touches it
    ("CRF" in "GrobidCRF", not in "DEMOCRACY"; "PDFs" as "PDF"); another name, or an acronym
    with `any_case` ("Grobid" for "GROBID"), in any case at the start of a word, a word in lower
    case by what it shares with its stem ("license" in "Licensing")."""
    form = searched_form(name)
    if form.isupper() and not any_case:
        return re.search(rf"(?<![A-Z]){re.escape(form)}(?![A-Z])", text) is not None
    return re.search(rf"(?<![^\W\d_]){re.escape(form)}", text, re.IGNORECASE) is not None


def searched_form(name: str) -> str:
    """What `names_in` looks for: an acronym's singular, a lower-case word's start that its
    stem shares ("librar" of "library" and "librari"), else the name."""
    singular = re.sub(r"(?<=[A-Z])s$", "", name)
    if singular.isupper():
        return singular
    return _shared_start(name, _STEMMER.stemWord(name)) if name.islower() else name


def _shared_start(first: str, second: str) -> str:
    length = 0
    while length < min(len(first), len(second)) and first[length] == second[length]:
        length += 1
    return first[:length]
