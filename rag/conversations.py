"""Conversations and their turns, persisted beside the documents so a follow-up question can be
read against earlier ones, today or tomorrow."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rag.prompt import Turn
from rag.store import Conversation, ConversationTurn

TITLE_CHARACTERS = 80


def start_conversation(session: Session, collection_id: int, first_question: str) -> int:
    title = " ".join(first_question.split())[:TITLE_CHARACTERS]
    conversation = Conversation(collection_id=collection_id, title=title)
    session.add(conversation)
    session.flush()
    return conversation.id


def history(session: Session, conversation_id: int) -> list[Turn] | None:
    """The conversation's turns, oldest first; None when there is no such conversation."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    return [Turn(turn.question, turn.answer) for turn in conversation.turns]


def add_turn(
    session: Session, conversation_id: int, question: str, answer: str, details: dict[str, object]
) -> None:
    session.add(
        ConversationTurn(
            conversation_id=conversation_id,
            question=question,
            answer=answer,
            details=json.dumps(details),
        )
    )


@dataclass(frozen=True)
class ConversationListing:
    id: int
    title: str
    created_at: datetime
    turns: int


@dataclass(frozen=True)
class StoredTurn:
    question: str
    answer: str
    details: dict[str, Any]  # the answer's JSON, as `Answer.to_json` wrote it


def conversations_in(session: Session, collection_id: int) -> list[ConversationListing]:
    """The collection's conversations, newest first."""
    rows = session.execute(
        select(Conversation.id, Conversation.title, Conversation.created_at, func.count())
        .join(ConversationTurn, ConversationTurn.conversation_id == Conversation.id)
        .where(Conversation.collection_id == collection_id)
        .group_by(Conversation.id)
        .order_by(Conversation.id.desc())
    ).all()
    return [ConversationListing(*row) for row in rows]


def stored_turns(session: Session, conversation_id: int) -> list[StoredTurn] | None:
    """The turns with their answers' details, oldest first; None when there is no such
    conversation."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    return [
        StoredTurn(turn.question, turn.answer, json.loads(turn.details))
        for turn in conversation.turns
    ]


def delete_conversation(session: Session, conversation_id: int) -> bool:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return False
    session.delete(conversation)
    return True
