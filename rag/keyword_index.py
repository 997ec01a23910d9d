"""BM25 keyword search over chunk text, kept inside the database so it commits and rolls back
with the chunks themselves: SQLite FTS5 with Porter stemming, synced by triggers.

Also the keyword half of pseudo-relevance feedback: the terms that best characterize the first
round's top passages (RM3-style weights), to add to the query for a second round.
"""

import math
import re
from collections import Counter

import Stemmer
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

# Function words carry no topic; dropping them from queries keeps OR-queries fast and focused.
STOPWORDS = frozenset({
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did",
    "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it",
    "its", "may", "might", "more", "most", "no", "not", "of", "on", "or", "our", "should", "so",
    "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "to", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "would", "you", "your",
})  # fmt: skip
_WORD = re.compile(r"\w+")

_DDL = [
    """CREATE VIRTUAL TABLE chunk_fts USING fts5(
        text, content='chunks', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER chunk_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunk_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER chunk_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO chunk_fts(chunk_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    "INSERT INTO chunk_fts(chunk_fts) VALUES ('rebuild')",  # chunks stored before it existed
    "CREATE VIRTUAL TABLE chunk_fts_terms USING fts5vocab(chunk_fts, 'row')",  # term -> chunks
]
ORIGINAL_QUERY_WEIGHT = 2  # with feedback terms added, the user's own words count twice
_stemmer = Stemmer.Stemmer("porter")  # the same Porter stems that FTS5 indexes


def install_keyword_index(engine: Engine) -> None:
    """Create the full-text table and its triggers once per database."""
    if engine.dialect.name != "sqlite":
        raise NotImplementedError(
            f"keyword search needs SQLite FTS5; {engine.dialect.name} is not supported yet"
        )
    with engine.begin() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunk_fts'")
        ).first()
        if not exists:
            for statement in _DDL:
                connection.exec_driver_sql(statement)


def content_words(text: str) -> list[str]:
    """Lower-cased words without function words (all words if nothing else is left)."""
    words = [word.lower() for word in _WORD.findall(text)]
    return [word for word in words if word not in STOPWORDS] or words


def match_expression(query: str, expansion: list[str] | None = None) -> str:
    """An FTS5 query that matches any of the query's content words (each quoted, so user text
    is never parsed as FTS5 syntax); empty when there is no word at all. BM25 sums over the
    listed phrases, so repeating the query's words weighs them above the expansion terms."""
    original = list(dict.fromkeys(content_words(query)))
    if expansion:
        original = original * ORIGINAL_QUERY_WEIGHT + expansion
    return " OR ".join(f'"{word}"' for word in original)


def feedback_terms(
    session: Session, query: str, passages: list[tuple[str, float]], count: int
) -> list[str]:
    """The `count` stems that best characterize the (passage, relevance weight) pairs and are
    not in the query: each stem's share of a passage, times the passage's weight, times the
    stem's inverse document frequency (as in RM3)."""
    query_stems = set(_stemmer.stemWords(content_words(query)))
    weights: Counter[str] = Counter()
    frequencies = []
    for passage, _ in passages:
        words = [w for w in content_words(passage) if len(w) > 2 and not w.isdigit()]
        frequencies.append(Counter(_stemmer.stemWords(words)))
    candidates = {stem for frequency in frequencies for stem in frequency} - query_stems
    if not candidates:
        return []
    total = session.execute(text("SELECT count(*) FROM chunk_fts")).scalar() or 1
    document_counts = dict(
        session.execute(
            text(
                "SELECT term, doc FROM chunk_fts_terms WHERE term IN "
                f"({', '.join(f':t{i}' for i in range(len(candidates)))})"
            ),
            {f"t{i}": stem for i, stem in enumerate(candidates)},
        ).all()
    )
    for frequency, (_, relevance) in zip(frequencies, passages, strict=True):
        length = sum(frequency.values())
        for stem, occurrences in frequency.items():
            if stem in document_counts:
                idf = math.log(total / document_counts[stem])
                weights[stem] += relevance * occurrences / length * idf
    return [stem for stem, _ in weights.most_common(count)]


def keyword_search(
    session: Session,
    query: str,
    collection_id: int,
    k: int,
    document_ids: list[int] | None = None,
    expansion: list[str] | None = None,
) -> list[tuple[int, float]]:
    """(chunk id, BM25 score) of the best k ready chunks in the collection, best first."""
    expression = match_expression(query, expansion)
    if not expression:
        return []
    restrict = ""
    parameters: dict[str, object] = {"match": expression, "collection": collection_id, "k": k}
    if document_ids is not None:
        restrict = f"AND d.id IN ({', '.join(str(int(i)) for i in document_ids) or 'NULL'})"
    rows = session.execute(
        text(
            f"""
            SELECT chunk_fts.rowid, -bm25(chunk_fts) AS score
            FROM chunk_fts
            JOIN chunks c ON c.id = chunk_fts.rowid
            JOIN documents d ON d.id = c.document_id
            WHERE chunk_fts MATCH :match AND d.collection_id = :collection
              AND d.status = 'ready' {restrict}
            ORDER BY bm25(chunk_fts)
            LIMIT :k
            """
        ),
        parameters,
    )
    return [(int(chunk_id), float(score)) for chunk_id, score in rows]
