"""Evidence at sentence level: the sentences of the retrieved passages ranked by how well each
answers the question. Dense similarity alone prefers sentences that sound like the question
("Not all papers in S2ORC can be found in ...") over the one that answers it; so the score adds
a lexical match (the share of the question's terms it states), the passage's retrieval rank, and the
question's type: a "how many" question wants a sentence that states a figure, a "when" question
one that states a year. A sentence that opens by pointing back ("This relationship ...",
"As such, ...") is read with the sentence before it, which says what it points to (and the
prompt shows both), and a table's row with its caption and header. Reference entries,
acknowledgements and author credits are no evidence whatever their words, nor table rows unless
the question asks for a figure."""

import math
import re
from collections import Counter
from dataclasses import dataclass, replace

from rag.asked import (
    ASKED_UNIT,
    ASKS_FIGURE,
    POINTER_NUMBER,
    as_asked,
    asked_type,
    counted_noun,
    counted_words,
    counts,
    named_noun,
    named_thing,
    names_something,
    states_asked_type,
)
from rag.citations import figures_of, sentences_with_pages
from rag.embedder import Embedder
from rag.keyword_index import STOPWORDS
from rag.retrieve import Passage
from rag.tables import is_table_row, row_contexts
from rag.terms import content_terms, names_in, question_names, question_terms

FIGURE_TYPES = ("figure", "percent")  # what `asked_type` says of a question asking for a figure
MIN_WORDS = 6  # headings and fragments are no evidence (a table's row can be shorter)
EMBEDDED_CANDIDATES = 64  # sentences embedded per question: the lexically best, and the top
TOP_PASSAGES = 3  # ... passages' sentences whatever their words
LEXICAL_WEIGHT = 0.5  # times the share of the question's terms stated, relative to the best
PASSAGE_WEIGHT = 0.04  # divided by the passage's retrieval rank
TYPE_BONUS = 0.3  # a sentence that states what the question asks for (a figure, a year)
COUNT_BONUS = 0.3  # ... and for "how many X", a figure that counts X ("95.5M paper clusters")
COVERAGE_SENTENCES = 5
NOT_EVIDENCE_PENALTY = 0.3
FIRST_STATEMENT_WITHIN = 5  # the best sentences, among which an earlier statement of the best
FIRST_STATEMENT_MARGIN = 0.3  # one's figure goes first, if it scored within this of the best
MEASURED_MIN_SIMILARITY = 0.3  # as the evidence shown: a sentence farther off is about another
# thing, and the measure it states is not the one asked for
CAPITALISED_SHARE = 0.5  # above this share of capitalised words, a title, author list or heading
SPELLED_OUT_SHARE = 0.3  # from this share of single letters, words spelled letter by letter

_POINTS_BACK = re.compile(r"^(This|These|That|Those|Such|As such|Thus|Hence|Therefore)\b")
_REFERENCE_ENTRY = re.compile(
    r"(In Proceedings|Proceedings of the|arXiv preprint,? arXiv|arXiv:\d|\bdoi:|"
    r"\bpages \d+\s*[-\u2013]\s*\d+|Association for Computational Linguistics)",
    re.IGNORECASE,
)
_CREDITS = re.compile(
    r"\b(thanks?|thank(ed|ful)|acknowledge?ments?|grants?|funded|funding|contributed|"
    r"contributions? to (this|the) (work|project|paper)|led the|advis(ed|ing)|internship|"
    r"correspondence|equal contribution)\b",
    re.IGNORECASE,
)
# A figure a question rounds: "roughly 31 million", "about 200", "2.5 billion".
_SCALE = r"(?:thousand|million|billion|trillion)"
_ROUNDED = re.compile(
    rf"\b(?:(?:roughly|about|around|approximately|nearly|almost|over|some)\s+[\d.,]+"
    rf"(?:\s+{_SCALE})?|[\d.,]+\s+{_SCALE})\b",
    re.IGNORECASE,
)
# Words of a question that ask for a figure or name whoever wrote the document, which the
# document says in other words or not at all.
_ASKING_TERMS = frozenset(
    content_terms(
        "number largest smallest highest lowest maximum minimum diarist narrator writer author"
    )
)
_NUMERIC_TOKEN = re.compile(r"^[\d.,%\u00b1+\-\u2013()]+$")
# The measures a question may ask a figure of (as it names them), each with the ways papers
# and tables write it.
_MEASURES = {
    r"accuracy": r"accura\w*|acc\b",
    r"f1|f-score|f-measure": r"f1|f-?score|f-?measure",
    r"precision": r"precision|prec\b",
    r"recall": r"recall",
    r"bleu": r"bleu",
    r"rouge(?:-\w+)?": r"rouge",
    r"auc|auroc": r"auc|auroc",
    r"perplexity": r"perplexity|ppl\b",
}


@dataclass(frozen=True)
class EvidenceSentence:
    passage: Passage  # the best-ranked passage that holds it
    page: int
    text: str
    score: float  # fused score: only its order means something
    similarity: float  # cosine similarity of question and sentence
    context: str = ""  # the sentence before, for one that points back to it
    topical: float = 0.0  # the score without the bonus for stating what is asked (a figure)

    @property
    def read(self) -> str:
        """The sentence as ranked: with the sentence it points back to, if any."""
        return f"{self.context} {self.text}" if self.context else self.text


@dataclass(frozen=True)
class RankedEvidence:
    sentences: list[EvidenceSentence]  # best first
    coverage: float  # idf-weighted share of the question's terms that the best five state
    unknown_names: list[str]  # names the question gives that no candidate passage holds
    uncounted: str = ""  # what a "how many" question counts, as asked, where no candidate
    # states a number of it: the passages that speak of it cannot answer how many
    unmeasured: str = ""  # the measure a question asks a figure of (accuracy, F1) where no
    # candidate states it beside a figure
    unnamed: str = ""  # what a question asks the name of ("the writer's sister") where the
    # candidates that speak of it give no name


def rank_evidence(question: str, passages: list[Passage], embedder: Embedder) -> RankedEvidence:
    """The candidate sentences of `passages` (distinct, of some length), best first."""
    candidates = _candidates(passages)
    unknown = unknown_names(question, passages)
    if not candidates:
        return RankedEvidence([], 0.0, unknown)
    asked = question_terms(question)
    terms = [content_terms(candidate.read) for candidate in candidates]
    idf = _idf(terms)
    lexical = [_term_coverage(asked, set(sentence), idf, len(terms)) for sentence in terms]
    embedded = _worth_embedding(candidates, lexical)
    vectors = embedder.embed_cached([candidates[index].read for index in embedded])
    similarities = vectors @ embedder.embed_cached([question])[0]  # (embedded,)
    best_lexical = max(lexical) or 1.0
    asked_for = asked_type(question)
    wants_figure = asked_for in FIGURE_TYPES  # tables hold figures
    counted = counted_noun(question)
    ranked = []
    for index, similarity in zip(embedded, similarities, strict=True):
        candidate = candidates[index]
        topical = (
            float(similarity)
            + LEXICAL_WEIGHT * lexical[index] / best_lexical
            + PASSAGE_WEIGHT / candidate.passage.rank
            - NOT_EVIDENCE_PENALTY * _is_not_evidence(candidate.text, wants_figure)
        )
        states_asked = states_asked_type(candidate.read, asked_for)
        row = is_table_row(candidate.text)  # "Total papers 81.1M": the count follows its noun
        counts_asked = bool(counted and counts(candidate.read, counted, either_side=row))
        asked_bonus = TYPE_BONUS * states_asked + COUNT_BONUS * counts_asked
        ranked.append(
            replace(
                candidate,
                score=topical + asked_bonus,
                similarity=float(similarity),
                topical=topical,
            )
        )
    ranked.sort(key=lambda sentence: sentence.score, reverse=True)
    ranked = _not_shown_twice(ranked)
    if wants_figure:
        ranked = _first_statement_first(ranked, counted)
    # Whether the documents speak of what is asked does not hang on a figure: the coverage is
    # read from the sentences best on the topic, before the bonus for what is asked.
    on_topic = sorted(ranked, key=lambda sentence: sentence.topical, reverse=True)
    stated = {term for s in on_topic[:COVERAGE_SENTENCES] for term in content_terms(s.read)}
    coverage = _term_coverage(
        _coverage_terms(question, asked, stated), stated, idf, len(candidates)
    )
    uncounted = ""
    if counted and not any(counts(c.read, counted, either_side=True) for c in candidates):
        uncounted = as_asked(question, counted_words(question)[-1:])[0]
    unmeasured = unmeasured_in(question, ranked[:COVERAGE_SENTENCES]) if wants_figure else ""
    return RankedEvidence(
        ranked, coverage, unknown, uncounted, unmeasured, unnamed_in(question, candidates)
    )


def unnamed_in(question: str, candidates: list[EvidenceSentence]) -> str:
    """What the question asks the name of ("the writer's sister"), where candidates speak of
    it ("of the dear sister there, bedridden") and none of them gives a name, or "": a small
    model would make one up."""
    thing = named_thing(question)
    noun = named_noun(thing)
    if noun is None:
        return ""
    speaking = [c for c in candidates if noun in content_terms(c.text)]
    if speaking and not any(names_something(c.text, question) for c in speaking):
        return thing
    return ""


def unmeasured_in(question: str, best: list[EvidenceSentence]) -> str:
    """The measure the question asks for ("What answer accuracy did ... achieve?") that none of
    the best sentences states beside a figure, or "": what speaks of the thing measured does
    not report it, and a small model makes a figure up ("99.99% accuracy"). A table row counts
    where its header, glued to it, names the measure ("P R F1 ... GrobidCRF 40.6 38.3 39.1").
    A sentence that the question's meaning is far from does not count: found by the measure's
    name alone, "Table 6: Accuracy of paper clustering" does not measure a QA prototype."""
    for asked, written in _MEASURES.items():
        measure = re.search(rf"\b(?:{asked})\b", question, re.IGNORECASE)
        stated = re.compile(rf"\b(?:{written})", re.IGNORECASE)
        if measure and not any(
            stated.search(sentence.read)
            and figures_of(sentence.read)
            and sentence.similarity >= MEASURED_MIN_SIMILARITY
            for sentence in best
        ):
            return measure[0]
    return ""


def _first_statement_first(
    ranked: list[EvidenceSentence], counted: str | None
) -> list[EvidenceSentence]:
    """The ranking with the first statement of the best sentence's figures first: where one of
    the next best sentences states them on an earlier page of the same document (all of them,
    or for "how many X" a figure of them that counts X). A paper states its figures in the
    abstract and introduction, and its tables and discussion repeat them: "We introduce S2ORC,
    a large corpus of 81.1M English-language academic papers" (p. 1) is the claim a reader looks
    for, "Total papers 81.1M Papers w/ PDF 28.9M ..." (p. 5) its table. The statement found
    so is looked behind in turn: its score, not the best's, is what an earlier one must come
    near (the introduction's 81.1M near the table's, the abstract's near the introduction's)."""
    best = ranked[0]
    figures = distinctive_figures(best.read)

    def restates(sentence: EvidenceSentence) -> bool:
        stated = distinctive_figures(sentence.read)
        if counted and counts(sentence.read, counted):
            return bool(figures & stated)
        return bool(figures) and figures <= stated

    first = best
    while earlier := [
        sentence
        for sentence in ranked[1:FIRST_STATEMENT_WITHIN]
        if sentence.passage.document_id == best.passage.document_id
        and sentence.page < first.page
        and sentence.score >= first.score - FIRST_STATEMENT_MARGIN
        and restates(sentence)
    ]:
        first = min(earlier, key=lambda sentence: sentence.page)
    return [first, *(sentence for sentence in ranked if sentence is not first)]


def traced_figures(question: str, ranked: RankedEvidence) -> list[str]:
    """The numbers of the best sentence's distinctive figures ("73.4", "90.4"), where the
    question asks for a figure: where else the document states them, earlier, is worth a look
    (`Retriever.stating`), for its table repeats what its text states first."""
    if asked_type(question) not in FIGURE_TYPES or not ranked.sentences:
        return []
    return sorted({number for number, _ in distinctive_figures(ranked.sentences[0].read)})


def distinctive_figures(text: str) -> set[tuple[str, str]]:
    """The figures of a text that say what they are alone: with a scale ("81.1M", "35.6%") or
    decimals ("0.536"); not a count, a year or a pointer ("§2.2", "Table 2")."""
    return {
        (number, scale)
        for number, scale in figures_of(POINTER_NUMBER.sub("", text))
        if scale or "." in number
    }


def _not_shown_twice(ranked: list[EvidenceSentence]) -> list[EvidenceSentence]:
    """The ranking without a sentence already read as a better one's context, nor one read
    with a context that a better one shows (it ranked below that sentence with its words): the
    reader and the prompt would get the same sentence twice. A table's rows share their header."""
    shown: set[str] = set()
    kept = []
    for sentence in ranked:
        context_shown = sentence.context in shown and not is_table_row(sentence.text)
        if sentence.text not in shown and not context_shown:
            kept.append(sentence)
            shown.update(filter(None, (sentence.text, sentence.context)))
    return kept


def unknown_names(question: str, passages: list[Passage]) -> list[str]:
    """The names in the question (GPU, Nougat), the words of what a "how many" question counts
    ("distinct authors") and the unit a figure is asked in ("in gigabytes") that none of the
    passages holds: the passages cannot answer a question about something they never name."""
    asked = [*question_names(question), *counted_words(question)]
    unit = ASKED_UNIT.search(question)
    if unit and ASKS_FIGURE.search(question) and unit.group(1).lower() not in STOPWORDS:
        asked.append(unit.group(1))
    return [
        name
        for name in dict.fromkeys(asked)
        if not any(names_in(name, passage.text) for passage in passages)
    ]


def _candidates(passages: list[Passage]) -> list[EvidenceSentence]:
    """Each distinct sentence, unscored, from the best passage holding it; one that points back
    carries the sentence before it on its page as context, a table's row its caption and header
    (from the passage that holds the most of them)."""
    found: dict[tuple[int, str], EvidenceSentence] = {}
    for passage in sorted(passages, key=lambda passage: passage.rank):
        previous: tuple[int, str] | None = None
        sentences = sentences_with_pages(passage)
        tables = row_contexts([text for _, text in sentences])
        for (page, text), table in zip(sentences, tables, strict=True):
            points_back = previous and previous[0] == page and _POINTS_BACK.match(text)
            context = table or (previous[1] if previous and points_back else "")
            previous = (page, text)
            key = (passage.document_id, text)
            if len(text.split()) < MIN_WORDS and not is_table_row(text):
                continue
            if key not in found or len(table) > len(found[key].context):
                found[key] = EvidenceSentence(passage, page, text, 0.0, 0.0, context)
    return list(found.values())


def _coverage_terms(question: str, asked: list[str], stated: set[str]) -> list[str]:
    """The question's terms that tell whether the documents speak of what it asks; a figure the
    question rounds counts only where stated ("roughly 31 million PDFs" is "31.3M PDFs" in the
    paper). Another figure counts as any term: a date the documents never give ("on 17 June
    2019") is a sign that they do not answer. The words that ask for a figure ("the largest
    number of") or name the document's writer ("the diarist") count only where stated: a diary
    says "I have seen as many as three of them in the air at once"."""
    rounded = {term for found in _ROUNDED.finditer(question) for term in content_terms(found[0])}
    return [
        term
        for term in asked
        if term in stated or (term not in rounded and term not in _ASKING_TERMS)
    ]


def _idf(terms: list[list[str]]) -> dict[str, float]:
    frequency = Counter(term for sentence in terms for term in set(sentence))
    count = len(terms)
    return {term: math.log(1 + (count - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}


def _absent_idf(count: int) -> float:
    """The idf of a term that no candidate holds."""
    return math.log(1 + (count + 0.5) / 0.5)


def _term_coverage(asked: list[str], stated: set[str], idf: dict[str, float], count: int) -> float:
    """The idf-weighted share of the question's terms that `stated` holds (a term no candidate
    holds weighs most). Unlike BM25 it does not favour short sentences over a table's row."""
    if not asked:
        return 1.0
    weights = {term: idf.get(term, _absent_idf(count)) for term in asked}
    return sum(weight for term, weight in weights.items() if term in stated) / sum(weights.values())


def _worth_embedding(candidates: list[EvidenceSentence], lexical: list[float]) -> list[int]:
    """Indexes of the candidates to embed: those of the best passages, then the lexically best,
    up to EMBEDDED_CANDIDATES (embedding every sentence of a dozen passages costs seconds)."""
    top = [i for i, candidate in enumerate(candidates) if candidate.passage.rank <= TOP_PASSAGES]
    by_lexical = sorted(range(len(candidates)), key=lambda index: -lexical[index])
    chosen = dict.fromkeys(top[:EMBEDDED_CANDIDATES])
    for index in by_lexical:
        if len(chosen) >= EMBEDDED_CANDIDATES:
            break
        chosen.setdefault(index)
    return sorted(chosen)


def _is_not_evidence(text: str, wants_figure: bool) -> bool:
    """A reference entry, an acknowledgement or author credit, a title with its author list or
    a heading (most words capitalised), a question (the paper asks it; the answer is elsewhere),
    code (an interpreter's prompt, or words the PDF spells letter by letter: "P D F 2 I m a g e
    R a s t e r i z e r"), or (unless the question asks for a figure, which tables hold) a
    table row."""
    tokens = text.split()
    numeric = sum(bool(_NUMERIC_TOKEN.match(token)) for token in tokens)
    capitalised = sum(token[:1].isupper() for token in tokens)
    single_letters = sum(len(token) == 1 and token.isalpha() for token in tokens)
    return (
        bool(_REFERENCE_ENTRY.search(text))
        or bool(_CREDITS.search(text))
        or capitalised > CAPITALISED_SHARE * len(tokens)
        or text.rstrip().endswith("?")
        or ">>>" in text
        or single_letters >= SPELLED_OUT_SHARE * len(tokens)
        or (not wants_figure and numeric >= 0.35 * len(tokens))
    )


def best_similarity(evidence: RankedEvidence) -> float:
    """The highest cosine similarity of a candidate sentence to the question."""
    return max((sentence.similarity for sentence in evidence.sentences), default=0.0)
