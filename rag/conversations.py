"""Conversations and their turns, persisted beside the documents so a follow-up question can be
read against earlier ones, today or tomorrow."""

import json

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
