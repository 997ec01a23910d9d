"""Content terms of a text: its words without function words, stemmed, so "papers" meets
"paper". Shared by sentence-level evidence ranking and the clause check of claims."""

import re

import Stemmer

from rag.keyword_index import STOPWORDS

# Words of a question that ask, rather than say what about.
QUESTION_WORDS = frozenset({
    "according", "answer", "ask", "asked", "describe", "described", "document", "documents",
    "explain", "give", "mention", "mentioned", "say", "says", "tell",
})  # fmt: skip
_TERM = re.compile(r"[^\W_]+(?:[.,]\d+)*")
_STEMMER = Stemmer.Stemmer("english")


def content_terms(text: str) -> list[str]:
    """Stems of the text's words that carry content, in order (repeats kept)."""
    words = [word for word in _TERM.findall(text.lower()) if word not in STOPWORDS]
    return _STEMMER.stemWords(words)


def question_terms(question: str) -> list[str]:
    """The question's content terms without the words that only ask ("according to the paper,
    describe ..."), each once."""
    asking = set(_STEMMER.stemWords(list(QUESTION_WORDS)))
    return list(dict.fromkeys(term for term in content_terms(question) if term not in asking))
