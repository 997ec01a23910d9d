"""The server's scheduler on the real default model: its rows decode through the flat step, padded
or not, alone or together, and every request gets the text it would get alone."""

from collections.abc import Iterator

import pytest

from model import Generator, SamplingParams, batching
from model.batching import Finished, Scheduler, Ticket

SHORT = [1, 504, 3458, 314]
LONG = [1, 504, 3458, 314, 253, 1345, 28, 3211, 30]


@pytest.fixture
def scheduler(default_auto: Generator) -> Iterator[Scheduler]:
    """Not started: requests submitted before `start` are admitted in one batch."""
    scheduler = Scheduler(default_auto, max_batch=4)
    yield scheduler
    scheduler.close()


def text_of(ticket: Ticket) -> str:
    pieces = []
    while not isinstance(event := ticket.next_event(timeout=120), Finished):
        assert isinstance(event, str), event
        pieces.append(event)
    return "".join(pieces)


def alone(generator: Generator, prompt: list[int], new_tokens: int) -> str:
    return generator.generate(prompt, SamplingParams(new_tokens, ignore_eos=True)).text


def test_one_stream_decodes_through_the_flat_step(
    scheduler: Scheduler, default_auto: Generator, flat_steps: list[tuple[int, tuple[int, ...]]]
) -> None:
    expected = alone(default_auto, LONG, 12)
    flat_steps.clear()
    ticket = scheduler.submit(LONG, SamplingParams(12, ignore_eos=True))
    scheduler.start()
    assert text_of(ticket) == expected
    if default_auto.plan.int4:
        assert flat_steps == [(slot, (0,)) for slot in range(len(LONG), len(LONG) + 11)]
    else:
        assert not flat_steps


def test_a_padded_row_left_alone_decodes_flat_from_its_first_slot(
    scheduler: Scheduler, default_auto: Generator, flat_steps: list[tuple[int, tuple[int, ...]]]
) -> None:
    """Admitted together, the short prompt is padded to the long one's width; once the long
    request finishes, the short one's row decodes alone, its tokens starting after the pad."""
    expected_long, expected_short = alone(default_auto, LONG, 3), alone(default_auto, SHORT, 12)
    flat_steps.clear()
    long_ticket = scheduler.submit(LONG, SamplingParams(3, ignore_eos=True))
    short_ticket = scheduler.submit(SHORT, SamplingParams(12, ignore_eos=True))
    scheduler.start()
    assert text_of(long_ticket) == expected_long
    assert text_of(short_ticket) == expected_short
    assert scheduler.stats.max_batch == 2
    if default_auto.plan.int4:
        pad = len(LONG) - len(SHORT)
        together = [(slot, (0, pad)) for slot in range(len(LONG), len(LONG) + 2)]
        alone_after = [(slot, (pad,)) for slot in range(len(LONG) + 2, len(LONG) + 11)]
        assert flat_steps == together + alone_after
    else:
        assert not flat_steps


@pytest.mark.parametrize("row_at_a_time", [False, True], ids=["padded-batch", "row-at-a-time"])
def test_prompts_admitted_together_are_prefilled_padded_or_a_row_at_a_time(
    row_at_a_time: bool,
    scheduler: Scheduler,
    default_auto: Generator,
    alone_prefills: list[tuple[int, int, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Wide prompts are prefilled alone, each into its own row, ending at the shared slot."""
    expected = [alone(default_auto, prompt, 6) for prompt in (LONG, SHORT)]
    monkeypatch.setattr(batching, "ALONE_FROM", len(LONG) if row_at_a_time else len(LONG) + 1)
    alone_prefills.clear()
    tickets = [scheduler.submit(p, SamplingParams(6, ignore_eos=True)) for p in (LONG, SHORT)]
    scheduler.start()
    assert [text_of(ticket) for ticket in tickets] == expected
    if row_at_a_time:
        assert alone_prefills == [(0, len(LONG), len(LONG)), (1, len(LONG), len(SHORT))]
    else:
        assert alone_prefills == []


def test_a_request_that_joins_a_running_batch_is_prefilled_alone_before_the_current_slot(
    scheduler: Scheduler, default_auto: Generator, alone_prefills: list[tuple[int, int, int]]
) -> None:
    expected_long, expected_short = alone(default_auto, LONG, 100), alone(default_auto, SHORT, 6)
    alone_prefills.clear()
    long_ticket = scheduler.submit(LONG, SamplingParams(100, ignore_eos=True))
    scheduler.start()
    first_piece = long_ticket.next_event(timeout=120)
    short_ticket = scheduler.submit(SHORT, SamplingParams(6, ignore_eos=True))
    assert first_piece + text_of(long_ticket) == expected_long
    assert text_of(short_ticket) == expected_short
    (row, end, length), joined = alone_prefills[0], alone_prefills[1]
    assert (row, end, length) == (0, len(LONG), len(LONG))
    assert joined[0] == 1 and joined[1] > len(LONG) and joined[2] == len(SHORT)
