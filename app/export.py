"""Answers, conversations and summaries as Markdown files a user can keep, citations included."""

from collections.abc import Mapping, Sequence
from typing import Any

from rag.conversations import StoredTurn
from rag.summarize import Summary

NOTHING_ON_THIS = "Nothing on this in the document."  # a summary section without a point


def answer_markdown(question: str, details: Mapping[str, Any]) -> str:
    """One question and its answer: the text, the sources it cites with quotes, the evidence."""
    lines = [f"## {_one_line(question)}", "", str(details["answer"]).strip(), ""]
    # As the app lists them: the sources of the answer's markers and of its evidence.
    citations = unique_citations([*details.get("citations", []), *details.get("evidence", [])])
    if citations:
        lines += ["### Sources", ""]
        lines += [_citation_line(citation) for citation in citations]
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


def _citation_line(citation: Mapping[str, Any]) -> str:
    return (
        f"- [{citation['n']}] {citation['title']} ({citation['filename']}), "
        f"p. {citation['page']}: “{citation['quote']}”"
    )


def _quote_line(citation: Mapping[str, Any]) -> str:
    return f"“{citation['quote']}” [{citation['n']}] ({citation['title']}, p. {citation['page']})"


def unique_citations(citations: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One citation per source number, in number order."""
    seen: dict[int, Mapping[str, Any]] = {}
    for citation in citations:
        seen.setdefault(int(citation["n"]), citation)
    return [seen[n] for n in sorted(seen)]


def _pages(pages: Sequence[int]) -> str:
    if not pages:
        return ""
    label = "p." if len(pages) == 1 else "pp."
    return f" ({label} {', '.join(str(page) for page in pages)})"


def _one_line(text: str) -> str:
    return " ".join(text.split())
