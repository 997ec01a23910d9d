"""Keyword search over chunk text, kept inside the database so it commits and rolls back with
the chunks themselves. SQLite: an FTS5 table (BM25, Porter stems) synced by triggers.
PostgreSQL: a generated tsvector column (Snowball English stems) with a GIN index, ranked by
ts_rank with length normalization (close to BM25 in spirit, not in numbers).

Also the keyword half of pseudo-relevance feedback: the terms that best characterize the first
round's top passages (RM3-style weights), to add to the query for a second round.
"""

import math
import re
from collections import Counter

import Stemmer
from sqlalchemy import Connection, text
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
_PG_DDL = [
    """ALTER TABLE chunks ADD COLUMN IF NOT EXISTS search tsvector
        GENERATED ALWAYS AS (to_tsvector('english', text)) STORED""",
    "CREATE INDEX IF NOT EXISTS chunks_search ON chunks USING GIN (search)",
]
ORIGINAL_QUERY_WEIGHT = 2  # with feedback terms added, the user's own words count twice
# Feedback terms are stems as the database indexes them: Porter in FTS5, Snowball in PostgreSQL.
_STEMMERS = {"sqlite": Stemmer.Stemmer("porter"), "postgresql": Stemmer.Stemmer("english")}


def install_keyword_index(connection: Connection) -> None:
    """Create the full-text index (and on SQLite its triggers) once per database."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        for statement in _PG_DDL:
            connection.exec_driver_sql(statement)
        return
    if dialect != "sqlite":
        raise NotImplementedError(f"keyword search needs SQLite or PostgreSQL, not {dialect}")
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
    postgres = _dialect(session) == "postgresql"
    stemmer = _STEMMERS["postgresql" if postgres else "sqlite"]
    query_stems = set(stemmer.stemWords(content_words(query)))
    weights: Counter[str] = Counter()
    frequencies = []
    for passage, _ in passages:
        words = [w for w in content_words(passage) if len(w) > 2 and not w.isdigit()]
        frequencies.append(Counter(stemmer.stemWords(words)))
    candidates = {stem for frequency in frequencies for stem in frequency} - query_stems
    if not candidates:
        return []
    if postgres:
        total, document_counts = _pg_document_counts(session, sorted(candidates))
    else:
        total, document_counts = _fts5_document_counts(session, sorted(candidates))
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
    if _dialect(session) == "postgresql":
        return _pg_search(session, query, collection_id, k, document_ids, expansion)
    expression = match_expression(query, expansion)
    if not expression:
        return []
    parameters: dict[str, object] = {"match": expression, "collection": collection_id, "k": k}
    rows = session.execute(
        text(
            f"""
            SELECT chunk_fts.rowid, -bm25(chunk_fts) AS score
            FROM chunk_fts
            JOIN chunks c ON c.id = chunk_fts.rowid
            JOIN documents d ON d.id = c.document_id
            WHERE chunk_fts MATCH :match AND d.collection_id = :collection
              AND d.status = 'ready' {_restriction(document_ids)}
            ORDER BY bm25(chunk_fts)
            LIMIT :k
            """
        ),
        parameters,
    )
    return [(int(chunk_id), float(score)) for chunk_id, score in rows]


def _pg_search(
    session: Session,
    query: str,
    collection_id: int,
    k: int,
    document_ids: list[int] | None,
    expansion: list[str] | None,
) -> list[tuple[int, float]]:
    """The same search on PostgreSQL: any of the query's words (stemmed by the database) or of
    the expansion stems (already stems: matched as they are), the query's words weighted up."""
    words = list(dict.fromkeys(content_words(query)))
    if not words:
        return []
    parameters: dict[str, object] = {"collection": collection_id, "k": k}
    parameters |= {f"w{i}": word for i, word in enumerate(words)}
    original = " || ".join(f"plainto_tsquery('english', :w{i})" for i in range(len(words)))
    score = f"{ORIGINAL_QUERY_WEIGHT if expansion else 1} * ts_rank(c.search, ({original}), 1)"
    matched = f"({original})"
    if expansion:
        parameters |= {f"e{i}": stem for i, stem in enumerate(expansion)}
        extra = " || ".join(f"plainto_tsquery('simple', :e{i})" for i in range(len(expansion)))
        score += f" + ts_rank(c.search, ({extra}), 1)"
        matched = f"({original} || {extra})"
    rows = session.execute(
        text(
            f"""
            SELECT c.id, {score} AS score
            FROM chunks c JOIN documents d ON d.id = c.document_id
            WHERE c.search @@ {matched} AND d.collection_id = :collection
              AND d.status = 'ready' {_restriction(document_ids)}
            ORDER BY score DESC, c.id
            LIMIT :k
            """
        ),
        parameters,
    )
    return [(int(chunk_id), float(score)) for chunk_id, score in rows]


def _restriction(document_ids: list[int] | None) -> str:
    if document_ids is None:
        return ""
    return f"AND d.id IN ({', '.join(str(int(i)) for i in document_ids) or 'NULL'})"


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _fts5_document_counts(session: Session, stems: list[str]) -> tuple[int, dict[str, int]]:
    total = session.execute(text("SELECT count(*) FROM chunk_fts")).scalar() or 1
    counts = session.execute(
        text(
            "SELECT term, doc FROM chunk_fts_terms WHERE term IN "
            f"({', '.join(f':t{i}' for i in range(len(stems)))})"
        ),
        {f"t{i}": stem for i, stem in enumerate(stems)},
    ).all()
    return total, dict(counts)


def _pg_document_counts(session: Session, stems: list[str]) -> tuple[int, dict[str, int]]:
    total = session.execute(text("SELECT count(*) FROM chunks")).scalar() or 1
    counts = session.execute(
        text(
            """
            SELECT s.stem, (SELECT count(*) FROM chunks WHERE search @@ to_tsquery('simple',
                            quote_literal(s.stem))) AS n
            FROM unnest(CAST(:stems AS text[])) AS s(stem)
            """
        ),
        {"stems": stems},
    ).all()
    return total, {stem: n for stem, n in counts if n}
