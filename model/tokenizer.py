"""The tokenizer and chat template, through transformers."""

from collections.abc import Sequence
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase

Message = dict[str, str]


class Tokenizer:
    def __init__(self, hf: PreTrainedTokenizerBase, eos_ids: Sequence[int] = ()) -> None:
        self.hf = hf
        own_eos = [hf.eos_token_id] if hf.eos_token_id is not None else []
        self.eos_ids: frozenset[int] = frozenset([*eos_ids, *own_eos])
        self.pad_id: int = (
            hf.pad_token_id if hf.pad_token_id is not None else min(self.eos_ids, default=0)
        )

    @classmethod
    def from_folder(cls, folder: Path, eos_ids: Sequence[int] = ()) -> "Tokenizer":
        return cls(AutoTokenizer.from_pretrained(str(folder)), eos_ids)

    @classmethod
    def from_gguf(cls, path: Path) -> "Tokenizer":
        """Build the tokenizer from a GGUF's token tables (slow: seconds; cache the result)."""
        return cls(AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name))

    def save(self, folder: Path) -> None:
        self.hf.save_pretrained(str(folder))

    @property
    def has_chat_template(self) -> bool:
        return bool(self.hf.chat_template)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, with the special tokens the model expects at the start (if any)."""
        return list(self.hf(text, add_special_tokens=True)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=True)

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def chat_prompt(self, messages: Sequence[Message]) -> str:
        """`messages` rendered by the model's chat template, ready for the assistant's reply."""
        if not self.has_chat_template:
            raise ValueError("this model has no chat template; give a plain prompt instead")
        return str(
            self.hf.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        )

    def encode_chat(self, messages: Sequence[Message]) -> list[int]:
        # The template already writes any BOS token, so none is added again.
        return list(self.hf(self.chat_prompt(messages), add_special_tokens=False)["input_ids"])
