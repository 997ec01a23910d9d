"""The `scholar` command line: one subcommand per service action, `--json` for scripts."""

import argparse
import json
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from app.cli_model import add_model_commands
from app.cli_reliability import add_reliability_commands
from app.cli_serve import add_serve_commands
from app.evaluate import evaluate_retrieval
from app.evaluate_qa import BASELINES, evaluate_qa, report_table
from app.export import NOTHING_ON_THIS
from app.records import counted
from app.service import DEFAULT_COLLECTION, Scholar, ScholarError
from app.settings import Settings, SettingsError
from ingest.outcomes import FileOutcome, IngestStatus
from model.remote import RemoteGeneratorError
from rag.answer import ASKED_AGAIN_NOTE
from rag.citations import Citation, marked_unsupported
from rag.prompt import page_label

Handler = Callable[[argparse.Namespace, Scholar], int]


class TqdmProgress:
    """A bar per stage of the current item (pages read, chunks embedded, ...), under an optional
    bar counting files."""

    def __init__(self, files: int | None = None) -> None:
        self.files = (
            None
            if files is None
            else tqdm(total=files, unit="file", desc="files", disable=None, dynamic_ncols=True)
        )
        self.stage: tqdm | None = None
        self.stage_name = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.stage is None or stage != self.stage_name:
            self._close_stage()
            unit = {"read": "page", "ocr": "page", "embed": "chunk", "summarize": "step"}.get(
                stage, "it"
            )
            self.stage = tqdm(
                total=total, unit=unit, desc=stage, leave=False, disable=None, dynamic_ncols=True
            )
            self.stage_name = stage
        self.stage.update(done - self.stage.n)

    def file_done(self, line: str | None) -> None:
        self._close_stage()
        if line is not None:
            tqdm.write(line, file=sys.stdout)
        if self.files is not None:
            self.files.update(1)

    def close(self) -> None:
        self._close_stage()
        if self.files is not None:
            self.files.close()

    def _close_stage(self) -> None:
        if self.stage is not None:
            self.stage.close()
            self.stage = None


def ingest_command(args: argparse.Namespace, scholar: Scholar) -> int:
    from app.service import expand_paths

    paths = [Path(path) for path in args.paths]
    progress = TqdmProgress(len(expand_paths(paths)))
    counts: Counter[str] = Counter()
    try:
        for outcome in scholar.ingest(paths, args.collection, args.password, progress):
            counts[outcome.status] += 1
            progress.file_done(json.dumps(outcome.to_json()) if args.json else _line(outcome))
    finally:
        progress.close()
    if not args.json:
        summary = ", ".join(f"{counts[status]} {status}" for status in IngestStatus)
        print(f"{args.collection}: {summary}")
    return 1 if counts[IngestStatus.FAILED] else 0


def _line(outcome: FileOutcome) -> str:
    if outcome.status == IngestStatus.INGESTED:
        detail = (
            f"{counted(outcome.pages, 'page')}, {counted(outcome.chunks, 'chunk')} "
            f"(document {outcome.document_id})"
        )
    elif outcome.status == IngestStatus.DUPLICATE:
        named = f" ({outcome.duplicate_of})" if outcome.duplicate_of else ""
        detail = f"already ingested as document {outcome.document_id}{named}; nothing changed"
    else:
        detail = outcome.error or "unknown error"
    if outcome.note:
        detail = f"{detail}; {outcome.note}"
    return f"{outcome.label:<9}  {outcome.source}: {detail}"


def collections_command(args: argparse.Namespace, scholar: Scholar) -> int:
    collections = scholar.collections()
    if args.json:
        print(json.dumps({"collections": [c.to_json() for c in collections]}))
    elif not collections:
        print("no collections yet; `scholar ingest PATH` creates the default one")
    for collection in [] if args.json else collections:
        documents, chunks = (
            counted(collection.documents, "document"),
            counted(collection.chunks, "chunk"),
        )
        print(f"{collection.name}: {documents}, {chunks}")
    return 0


def docs_command(args: argparse.Namespace, scholar: Scholar) -> int:
    documents = scholar.documents(args.collection)
    if args.json:
        print(json.dumps({"documents": [document.to_json() for document in documents]}))
        return 0
    if not documents:
        print(f"collection {args.collection!r} has no documents")
    for document in documents:
        line = f"{document.id:>5}  {document.status:<6}  {document.filename}"
        if document.status == "ready":
            counts = f"{counted(document.pages, 'page')}, {counted(document.chunks, 'chunk')}"
            line += f"  ({counts})  {document.title}"
        else:
            line += f"  {document.error}"
        print(line)
    return 0


def delete_command(args: argparse.Namespace, scholar: Scholar) -> int:
    deleted = scholar.delete_document(args.document_id)
    if args.json:
        print(json.dumps({"deleted": deleted.to_json()}))
    else:
        print(f"deleted document {deleted.id} ({deleted.filename}) from {deleted.collection!r}")
    return 0


def search_command(args: argparse.Namespace, scholar: Scholar) -> int:
    passages = scholar.search(args.query, args.collection, args.k)
    if args.json:
        print(json.dumps({"results": [passage.to_json() for passage in passages]}))
        return 0
    if not passages:
        print("no passages found")
    for passage in passages:
        where = f"{passage.filename}, {page_label(passage)}"
        print(f"{passage.rank}. [{passage.similarity:.2f}] {passage.title} ({where})")
        excerpt = textwrap.shorten(passage.text, width=400, placeholder=" ...")
        print(textwrap.indent(textwrap.fill(excerpt, width=96), "   "))
    return 0


def ask_command(args: argparse.Namespace, scholar: Scholar) -> int:
    stream = scholar.ask(args.question, args.collection, args.doc, args.conversation)
    for piece in stream:
        if not args.json:
            sys.stdout.write(piece)
            sys.stdout.flush()
    answer = stream.result()
    if args.json:
        print(json.dumps(answer.to_json()))
        return 0
    print("\n")
    if answer.asked_again:
        print(ASKED_AGAIN_NOTE + "\n")
    if answer.found:
        print(f"Answer with citations: {marked_unsupported(answer.text, answer.unsupported)}\n")
        _print_quotes("Sources", answer.citations)
        if not answer.quoted:  # else the answer is the evidence
            _print_quotes("Evidence", answer.evidence)
        if answer.unsupported:
            print("Not supported by the sources:")
            for sentence in answer.unsupported:
                print(f"  - {sentence}")
    else:
        for passage in answer.retrieved[:3]:
            print(f"  {passage.title} ({passage.filename}, {page_label(passage)})")
    timings = answer.timings
    spent = f"retrieval {timings.retrieve_ms:.0f} ms"
    if timings.ttft_ms:  # the model wrote something
        spent += f", first token {timings.ttft_ms:.0f} ms"
    if timings.tokens_per_s:  # more than one token
        spent += f", {timings.tokens_per_s:.1f} tokens/s"
    print(
        f"\nconversation {answer.conversation_id} (continue with --conversation "
        f"{answer.conversation_id}); {spent}"
    )
    return 0


def _print_quotes(heading: str, citations: list[Citation]) -> None:
    if not citations:
        return
    print(f"{heading}:")
    for citation in citations:
        print(f"  [{citation.n}] {citation.title} ({citation.filename}, p. {citation.page}):")
        print(textwrap.indent(textwrap.fill(f'"{citation.quote}"', width=92), "      "))


def summarize_command(args: argparse.Namespace, scholar: Scholar) -> int:
    progress = TqdmProgress()
    try:
        summary = scholar.summarize(args.document_id, progress, refresh=args.refresh)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(summary.to_json()))
        return 0
    print(f"TL;DR: {summary.tldr} {_pages(summary.tldr_pages)}")
    for section in summary.sections:
        print(f"\n{section.heading}")
        if not section.points:
            print(f"  ({NOTHING_ON_THIS})")
        for point in section.points:
            print(
                textwrap.fill(
                    f"{point.text} {_pages(point.pages)}",
                    96,
                    initial_indent="  - ",
                    subsequent_indent="    ",
                )
            )
    return 0


def _pages(pages: list[int]) -> str:
    if not pages:
        return ""
    return f"(p. {pages[0]})" if len(pages) == 1 else f"(pp. {', '.join(map(str, pages))})"


def eval_retrieval_command(args: argparse.Namespace, scholar: Scholar) -> int:
    progress = TqdmProgress()
    try:
        scores = evaluate_retrieval(Path(args.beir_dir), scholar.settings, progress=progress)
    finally:
        progress.close()
    result = scores["default"].to_json()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.beir_dir}: {result.pop('queries')} judged queries")
        for metric, value in result.items():
            print(f"  {metric:<10} {value:.4f}")
    return 0


def eval_qa_command(args: argparse.Namespace, scholar: Scholar) -> int:
    progress = TqdmProgress()
    try:
        report = evaluate_qa(Path(args.file), scholar, args.collection, progress, args.baseline)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    ours = report.scores["ours"]
    print(
        f"{args.file}: {ours.questions} questions "
        f"({ours.answerable} answerable, {ours.unanswerable} unanswerable)\n"
    )
    print(report_table(report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scholar", description="llama-scholar: ask your papers, get cited answers."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        return sub

    ingest = command("ingest", ingest_command, "ingest files and folders into a collection")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (recursive)")
    ingest.add_argument("--collection", default=DEFAULT_COLLECTION)
    ingest.add_argument("--password", help="password for encrypted PDFs")

    command("collections", collections_command, "list collections")

    docs = command("docs", docs_command, "list the documents of a collection")
    docs.add_argument("--collection", default=DEFAULT_COLLECTION)

    delete = command("delete", delete_command, "delete a document, its passages and its file")
    delete.add_argument("document_id", type=int, metavar="DOC_ID")

    search = command("search", search_command, "find the passages that match a query")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--collection", default=DEFAULT_COLLECTION)
    search.add_argument("-k", type=int, default=5, help="how many passages (default 5)")

    ask = command("ask", ask_command, "answer a question from the documents, with citations")
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument("--collection", default=DEFAULT_COLLECTION)
    ask.add_argument(
        "--doc", type=int, action="append", metavar="ID", help="only this document (repeatable)"
    )
    ask.add_argument("--conversation", type=int, metavar="ID", help="continue a conversation")

    summarize = command("summarize", summarize_command, "a structured summary with page references")
    summarize.add_argument("document_id", type=int, metavar="DOC_ID")
    summarize.add_argument("--refresh", action="store_true", help="write it again")

    add_model_commands(commands)
    add_serve_commands(commands)
    add_reliability_commands(commands)

    evaluation = commands.add_parser("eval", help="measure retrieval or answer quality")
    evaluations = evaluation.add_subparsers(dest="evaluation", required=True, metavar="WHAT")
    retrieval = evaluations.add_parser(
        "retrieval",
        help="nDCG@10, Recall@100, MRR@10 and MAP on a BEIR-format set",
        description="Ingest a BEIR-format set into a temporary home and score retrieval on it.",
    )
    retrieval.add_argument("beir_dir", metavar="BEIR_DIR")
    retrieval.add_argument("--json", action="store_true", help="print JSON instead of text")
    retrieval.set_defaults(handler=eval_retrieval_command)
    qa = evaluations.add_parser(
        "qa",
        help="evidence, answer recall, cited pages, abstention and latency on a JSONL file",
        description='Ask each {"question","answer","key_fact"?,"document"?,"page"?,"kind"?} '
        "line and score the answers.",
    )
    qa.add_argument("file", metavar="FILE.jsonl")
    qa.add_argument("--collection", default=DEFAULT_COLLECTION)
    qa.add_argument(
        "--baseline",
        choices=BASELINES,
        help="also answer each question with a plain RAG baseline, the same model, and compare",
    )
    qa.add_argument("--json", action="store_true", help="print JSON instead of text")
    qa.set_defaults(handler=eval_qa_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        scholar = Scholar(Settings.from_env())
        return args.handler(args, scholar)
    except (ScholarError, SettingsError, RemoteGeneratorError, FileNotFoundError) as error:
        print(f"scholar: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scholar: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
