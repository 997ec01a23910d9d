"""A paper's abstract: the paragraph under its "Abstract" heading, and the sentence of it that
states the paper's contribution ("We introduce S2ORC, a large corpus of 81.1M ...")."""

import re
from itertools import pairwise

import numpy as np

from rag.embedder import Embedder
from rag.retrieve import Passage
from rag.sentences import PAGE_BREAK, split_sentences

ABSTRACT_PASSAGES = 2  # a paper's abstract heading is in its first passages
ABSTRACT_MIN_WORDS = 6
CONTRIBUTION = "In this paper we introduce and present our main contribution."
_ABSTRACT_HEADING = re.compile(r"abstract[.:]?", re.IGNORECASE)
# How an abstract states its contribution: "We introduce S2ORC, ...", "This paper presents ...".
_CONTRIBUTES = re.compile(
    r"\b(?:we|this (?:paper|work|article))\s+(?:\w+ly\s+)?(?:introduce|present|propose|release|"
    r"describe|develop|build|contribute|show)s?\b",
    re.IGNORECASE,
)


def abstract_sentences(passages: list[Passage]) -> list[tuple[int, str]]:
    """The sentences of the paragraph under an "Abstract" heading in the document's first
    passages, with their page (where a passage ends inside it, the next one goes on with it);
    none where the document has no such heading."""
    for index, passage in enumerate(passages[:ABSTRACT_PASSAGES]):
        pages = passage.text.split(PAGE_BREAK)
        for offset, page_text in enumerate(pages):
            lines = page_text.split("\n")
            for position, (heading, paragraph) in enumerate(pairwise(lines)):
                if not _ABSTRACT_HEADING.fullmatch(heading.strip()):
                    continue
                page = passage.page_start + offset
                # An abstract may start a sentence with its lower-case name ("papermage offers").
                sentences = split_sentences(paragraph, any_start=True)
                ends_passage = position + 2 == len(lines) and offset + 1 == len(pages)
                if ends_passage and index + 1 < len(passages):
                    going_on = passages[index + 1].text.split(PAGE_BREAK)[0].split("\n")[0]
                    going_on_sentences = split_sentences(going_on, any_start=True)
                    sentences += [s for s in going_on_sentences if s not in sentences]
                return [
                    (page, sentence)
                    for sentence in sentences
                    if len(sentence.split()) >= ABSTRACT_MIN_WORDS
                ]
    return []


def contribution_index(sentences: list[str], embedder: Embedder) -> int:
    """Which of an abstract's sentences states the contribution: the first that says "we
    introduce / present / propose ...", else the closest to such a statement."""
    stating = [index for index, text in enumerate(sentences) if _CONTRIBUTES.search(text)]
    if stating:
        return stating[0]
    vectors = embedder.embed(sentences)
    return int(np.argmax(vectors @ embedder.embed([CONTRIBUTION])[0]))
