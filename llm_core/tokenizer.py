"""A small wrapper over a `tokenizers.Tokenizer`: encode/decode, special tokens and the chat template.

Saved as tokenizer.json (the tokenizers format, which transformers' PreTrainedTokenizerFast also loads) plus
tokenizer_config.json (special tokens and the Jinja chat template, in transformers' key names).
"""
import json
from pathlib import Path
from typing import Iterable, Mapping

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer as HFTokenizer

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


def _raise_template_error(message: str) -> None:
    raise jinja2.TemplateError(message)


def _compile_template(source: str) -> jinja2.Template:
    # The same environment transformers renders chat templates in, so a template renders identically here:
    # sandboxed, trim_blocks/lstrip_blocks, loop controls, and a raise_exception() helper templates call.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = _raise_template_error
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    return env.from_string(source)


class Tokenizer:
    def __init__(
        self,
        tokenizer: HFTokenizer,
        *,
        bos_token: str | None = None,
        eos_token: str | None = None,
        pad_token: str | None = None,
        chat_template: str | None = None,
        add_bos: bool = False,
    ):
        self.backend = tokenizer
        self.bos_token, self.eos_token, self.pad_token = bos_token, eos_token, pad_token or eos_token
        self.chat_template = chat_template
        self.add_bos = add_bos
        self._template = _compile_template(chat_template) if chat_template else None
        for name in ("bos_token", "eos_token", "pad_token"):
            token = getattr(self, name)
            if token is not None and tokenizer.token_to_id(token) is None:
                raise ValueError(f"{name} {token!r} is not in the vocabulary")

    # ---- special tokens -------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self.backend.id_to_token(token_id)

    @property
    def bos_id(self) -> int | None:
        return None if self.bos_token is None else self.backend.token_to_id(self.bos_token)

    @property
    def eos_id(self) -> int | None:
        return None if self.eos_token is None else self.backend.token_to_id(self.eos_token)

    @property
    def pad_id(self) -> int:
        # Padding is always masked out, so any id works; the EOS id keeps the embedding lookup in range.
        pad = self.pad_token or self.eos_token
        return 0 if pad is None else self.backend.token_to_id(pad)

    # ---- text <-> ids ---------------------------------------------------------------------------------------
    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """Ids for text. Special-token strings in the text (e.g. "<|im_start|>") map to their single ids."""
        ids = self.backend.encode(text, add_special_tokens=False).ids
        if add_special_tokens and self.add_bos and self.bos_id is not None:
            ids = [self.bos_id, *ids]
        return ids

    def encode_batch(self, texts: list[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        return [self.encode(t, add_special_tokens=add_special_tokens) for t in texts]

    def decode(self, ids: Iterable[int], *, skip_special_tokens: bool = False) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def apply_chat_template(
        self,
        messages: list[Mapping[str, str]],
        *,
        add_generation_prompt: bool = True,
        tokenize: bool = False,
    ) -> str | list[int]:
        """Render [{"role": ..., "content": ...}, ...] with the model's chat template (text, or ids)."""
        if self._template is None:
            raise ValueError("this tokenizer has no chat template")
        if not messages:
            raise ValueError("messages is empty")
        for message in messages:
            if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
                raise ValueError(f"each message needs a role and a content, got {message!r}")
        text = self._template.render(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token or "",
            eos_token=self.eos_token or "",
        )
        return self.encode(text) if tokenize else text

    # ---- files ----------------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.backend.save(str(directory / TOKENIZER_FILE))
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",  # lets transformers.AutoTokenizer load the folder
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "pad_token": self.pad_token,
            "add_bos_token": self.add_bos,
            "chat_template": self.chat_template,
            "clean_up_tokenization_spaces": False,
        }
        (directory / TOKENIZER_CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False))

    @classmethod
    def from_dir(cls, directory: str | Path) -> "Tokenizer":
        directory = Path(directory)
        path = directory / TOKENIZER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer at {path}")
        backend = HFTokenizer.from_file(str(path))
        config_path = directory / TOKENIZER_CONFIG_FILE
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        return cls(
            backend,
            bos_token=config.get("bos_token"),
            eos_token=config.get("eos_token"),
            pad_token=config.get("pad_token"),
            chat_template=config.get("chat_template"),
            add_bos=bool(config.get("add_bos_token", False)),
        )
