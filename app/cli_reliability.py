"""`scholar doctor [--repair] [--json]`: check a home folder, and repair it from the store."""

import argparse
import json
from typing import Any

from app.doctor import Doctor, Report
from app.service import Scholar


def doctor_command(args: argparse.Namespace, scholar: Scholar) -> int:
    doctor = Doctor(scholar.store, scholar.indexes, scholar.settings.files_dir)
    report = doctor.check(thorough=True, repair=args.repair)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(_text(report, scholar))
    return 1 if report.unresolved else 0


def _text(report: Report, scholar: Scholar) -> str:
    home = scholar.settings.home
    if report.healthy:
        return f"{home}: healthy (store, indexes and stored originals agree)"
    lines = [f"{home}: {len(report.problems)} problems"]
    for problem in report.problems:
        outcome = problem.repair if report.repaired else f"--repair: {problem.repair}"
        lines.append(f"  {problem.kind}: {problem.detail}  [{outcome}]")
    if not report.repaired and any(problem.repairable for problem in report.problems):
        lines.append("run `scholar doctor --repair` to repair them")
    return "\n".join(lines)


def add_reliability_commands(subparsers: Any) -> None:
    """Register `doctor` on the `scholar` command's subparsers."""
    help_text = "check that the store, the indexes and the stored originals agree"
    doctor = subparsers.add_parser("doctor", help=help_text, description=help_text)
    doctor.add_argument(
        "--repair",
        action="store_true",
        help="rebuild indexes from the store and remove what interrupted work left behind",
    )
    doctor.add_argument("--json", action="store_true", help="print JSON instead of text")
    doctor.set_defaults(handler=doctor_command)
