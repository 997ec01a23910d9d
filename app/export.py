"""Answers, conversations and summaries as Markdown files a user can keep, citations included."""

from collections.abc import Mapping, Sequence
from typing import Any

from rag.citations import marked_unsupported
from rag.conversations import StoredTurn
from rag.summarize import Summary

NOTHING_ON_THIS = "Nothing on this in the document."  # a summary section without a point

Citation = Mapping[str, Any]  # as `rag.citations.Citation.to_json` writes it


def answer_markdown(question: str, details: Mapping[str, Any]) -> str:
    """One question and its answer: the text, the sources it cites with quotes, the evidence."""
    text = marked_unsupported(str(details["answer"]), details.get("unsupported_sentences", []))
    lines = [f"## {_one_line(question)}", "", text.strip(), ""]
    # As the app lists them: the sources of the answer's markers and of its evidence.
    sources = cited_sources([*details.get("citations", []), *details.get("evidence", [])])
    if sources:
        lines += ["### Sources", ""]
        for first, *more in sources:
            lines.append(_citation_line(first))
            lines += [f"  - p. {cited['page']}: “{cited['quote']}”" for cited in more]
        lines.append("")
    evidence = [] if details.get("quoted") else details.get("evidence", [])  # else: the answer
    if evidence:
        lines += ["### Evidence from the sources", ""]
        lines += [f"- {_quote_line(citation)}" for citation in evidence]
        lines.append("")
    unsupported = details.get("unsupported_sentences", [])
    if unsupported:
        lines += ["### Not supported by the sources", ""]
        lines += [f"- {sentence}" for sentence in unsupported]
        lines.append("")
    return "\n".join(lines)


def conversation_markdown(title: str, turns: Sequence[StoredTurn]) -> str:
    parts = [f"# {_one_line(title)}", ""]
    parts += [answer_markdown(turn.question, turn.details) for turn in turns]
    return "\n".join(parts)


def summary_markdown(title: str, summary: Summary) -> str:
    lines = [f"# {_one_line(title)}", "", f"**TL;DR** {summary.tldr}{_pages(summary.tldr_pages)}"]
    for section in summary.sections:
        lines += ["", f"## {section.heading}", ""]
        points = [f"- {point.text}{_pages(point.pages)}" for point in section.points]
        lines += points or [NOTHING_ON_THIS]
    return "\n".join(lines) + "\n"


def _citation_line(citation: Citation) -> str:
    return (
        f"- [{citation['n']}] {citation['title']} ({citation['filename']}), "
        f"p. {citation['page']}: “{citation['quote']}”"
    )


def _quote_line(citation: Citation) -> str:
    return f"“{citation['quote']}” [{citation['n']}] ({citation['title']}, p. {citation['page']})"


def cited_sources(citations: Sequence[Citation]) -> list[list[Citation]]:
    """The citations grouped by source number, in number order, each quote once: several
    sentences of an answer may cite one source, each with its own quote."""
    sources: dict[int, dict[str, Citation]] = {}
    for citation in citations:
        sources.setdefault(int(citation["n"]), {}).setdefault(str(citation["quote"]), citation)
    return [list(sources[n].values()) for n in sorted(sources)]


def _pages(pages: Sequence[int]) -> str:
    if not pages:
        return ""
    label = "p." if len(pages) == 1 else "pp."
    return f" ({label} {', '.join(str(page) for page in pages)})"


def _one_line(text: str) -> str:
    return " ".join(text.split())
