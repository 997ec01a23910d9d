"""Answers that loop: stopping a model that repeats itself, against letting it run to the limit.

A small model decoding greedily often repeats one line or list item until the token limit. The
app stops such an answer at the loop (`rag.loops`). Over the shared papers, each question is
asked twice in the same run at the app's default answer length, once with that stop and once
without (the reference), in turns. Reported: answers whose streamed text ended in a loop, the
text streamed to the user, tokens generated, the time to the whole answer (medians) and the
final answers' length. Either way the final answer keeps one copy of a loop that its end shows;
run to the limit, a loop can change on the way (a list passing item 9), which no end shows.

    python bench/answer_loops.py [PATH ...] [--json]
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.service import Scholar
from app.settings import Settings
from bench.answer import DEFAULT_PAPERS
from bench.answer import QUESTIONS as LATENCY_QUESTIONS
from rag.loops import loop_end

QUESTIONS = [
    *LATENCY_QUESTIONS,
    "What does PaperMage provide for visually-rich documents?",
    "Which PDF parsers does S2ORC compare?",
    "What is GROBID used for in S2ORC?",
]
MODES = {"stopping loops": True, "running to the limit": False}


def ask(scholar: Scholar, question: str, stop_loops: bool) -> dict[str, float]:
    answerer = scholar.answerer
    answerer.config = dataclasses.replace(answerer.config, stop_loops=stop_loops)
    stream = scholar.ask(question)
    shown = "".join(stream)
    answer = stream.result()
    return {
        "looped": float(loop_end(shown) is not None),
        "chars_shown": len(shown),
        "tokens": scholar.generator.count_tokens(shown),
        "total_ms": answer.timings.total_ms,
        "answer_chars": len(answer.text),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[DEFAULT_PAPERS])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as home:
        scholar = Scholar(Settings.from_env({**os.environ, "SCHOLAR_HOME": home}))
        list(scholar.ingest(args.paths))
        scholar.ask(QUESTIONS[0]).result()  # warm-up: models loaded, caches filled
        for turn, question in enumerate(QUESTIONS):
            order = list(MODES) if turn % 2 == 0 else list(reversed(MODES))
            for mode in order:
                rows[mode].append(ask(scholar, question, MODES[mode]))
        max_new_tokens = scholar.answerer.config.max_new_tokens
        scholar.store.dispose()
    result = {
        mode: {
            "answers_looping": sum(row["looped"] for row in found),
            "chars_shown": sum(row["chars_shown"] for row in found),
            "median_tokens": statistics.median(row["tokens"] for row in found),
            "median_total_ms": statistics.median(row["total_ms"] for row in found),
            "answer_chars": sum(row["answer_chars"] for row in found),
        }
        for mode, found in rows.items()
    }
    if args.json:
        print(json.dumps(result))
        return
    ours, reference = result["stopping loops"], result["running to the limit"]
    print(
        f"{len(QUESTIONS)} questions over {', '.join(p.name for p in args.paths)}, "
        f"{max_new_tokens} new tokens at most, {os.cpu_count()} CPUs\n"
    )
    print("| measure                              | stopping loops | to the limit |  ratio |")
    print("|--------------------------------------|----------------|--------------|--------|")
    for name, label in (
        ("answers_looping", "answers whose stream loops"),
        ("chars_shown", "characters streamed, all answers"),
        ("median_tokens", "tokens generated, median"),
        ("median_total_ms", "time to the whole answer, median ms"),
        ("answer_chars", "final answer characters, all"),
    ):
        ratio = ours[name] / reference[name] if reference[name] else float("nan")
        print(f"| {label:<36} | {ours[name]:14.0f} | {reference[name]:12.0f} | {ratio:5.2f}x |")


if __name__ == "__main__":
    main()
