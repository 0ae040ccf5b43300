"""Text generation over a KV cache allocated once per request (gpt-fast style).

`prefill` runs the prompt, `decode_one_token` extends by one position, `sample` picks the next token. `generate`
runs a left-padded batch to completion; `stream` yields one prompt's text as it is produced. With a draft model,
greedy single-prompt generation decodes speculatively (several tokens per pass over the weights).

Inference mode is entered per step (the steps are decorated), never held across a yield to the caller.
"""
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from llm_core.model import KVCache, Transformer
from llm_core.tokenizer import Tokenizer

Prompt = str | Sequence[int]


@dataclass
class GenerationResult:
    text: str  # the generated text, cut before a stop string, without the EOS token
    token_ids: list[int]  # generated ids (without EOS; up to and including the token that completed a stop string)
    prompt_tokens: int
    finish_reason: str  # "eos" | "stop" | "length"


# ---- the steps ----------------------------------------------------------------------------------------------
@torch.inference_mode()
def prefill(
    model: Transformer, input_ids: torch.Tensor, cache: KVCache, padding_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Run the (B, T) prompt into an empty cache; return the last position's logits, (B, V)."""
    logits, _ = model(input_ids, padding_mask=padding_mask, cache=cache, start_pos=0, last_only=True)
    return logits[:, -1]


@torch.inference_mode()
def decode_one_token(
    model: Transformer, token: torch.Tensor, cache: KVCache, pos: int, padding_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Feed (B,) tokens at position pos; return the next logits, (B, V). padding_mask covers pos + 1 positions."""
    logits, _ = model(token[:, None], padding_mask=padding_mask, cache=cache, start_pos=pos)  # (B,) -> (B, 1)
    return logits[:, -1]


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's penalty, as transformers applies it: seen tokens' logits are divided by penalty when positive and
    multiplied by it when negative. seen is a (B, V) bool mask."""
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalized, logits)


def sample(
    logits: torch.Tensor,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, V) logits -> (B,) token ids. temperature 0 is greedy (argmax, first index on ties, like transformers)."""
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth_best = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Keep the smallest head of the distribution whose mass reaches top_p: drop a token once the mass
        # before it already does. The best token always survives (the mass before it is 0).
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


# ---- text as it is produced ---------------------------------------------------------------------------------
class IncrementalDecoder:
    """Turns one token at a time into text, never emitting half a UTF-8 character.

    Byte-level BPE splits characters across tokens (an emoji is often 2-4 tokens), and decoding such a prefix
    yields U+FFFD. So a token's text is the difference between decoding a short window with and without it,
    and nothing is emitted while the window ends in an incomplete character (the approach of TGI and vLLM).
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix_offset = 0  # start of the window that gives context to the decode
        self.read_offset = 0  # tokens before this have been emitted

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        before = self._decode(self.ids[self.prefix_offset : self.read_offset])
        after = self._decode(self.ids[self.prefix_offset :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character at the very end decodes as U+FFFD)."""
        before = self._decode(self.ids[self.prefix_offset : self.read_offset])
        after = self._decode(self.ids[self.prefix_offset :])
        self.prefix_offset = self.read_offset = len(self.ids)
        return after[len(before) :]


@dataclass
class _Row:
    """One sequence's progress: its tokens, its text so far, and why it stopped."""

    decoder: IncrementalDecoder
    stop: Sequence[str]
    eos_ids: Collection[int]
    prompt_tokens: int
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None

    def push(self, token_id: int) -> None:
        if token_id in self.eos_ids:
            self.finish("eos")
            return
        self.token_ids.append(token_id)
        self._append(self.decoder.push(token_id))

    def finish(self, reason: str) -> None:
        self._append(self.decoder.flush())
        if self.finish_reason is None:
            self.finish_reason = reason

    def _append(self, piece: str) -> None:
        if not piece or self.finish_reason is not None:
            return
        # A stop string may straddle pieces, so search from just before the new piece.
        start = max(0, len(self.text) - max((len(s) for s in self.stop), default=0))
        self.text += piece
        hits = [i for i in (self.text.find(s, start) for s in self.stop) if i >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            self.finish_reason = "stop"

    def safe_text(self) -> str:
        """The text that can no longer turn out to be the start of a stop string."""
        if self.finish_reason is not None:
            return self.text
        for k in range(min(len(self.text), max((len(s) for s in self.stop), default=0)), 0, -1):
            if any(s.startswith(self.text[-k:]) for s in self.stop):
                return self.text[:-k]
        return self.text


# ---- the loop -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Params:
    max_new_tokens: int
    temperature: float
    top_k: int | None
    top_p: float | None
    repetition_penalty: float
    stop: Sequence[str]
    seed: int | None
    eos_token_ids: Collection[int] | None
    draft: Transformer | None
    num_draft: int

    def check(self, model: Transformer, batch: int) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {self.top_k!r}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if isinstance(self.stop, str) or any(not isinstance(s, str) or not s for s in self.stop):
            raise ValueError("stop must be a list of non-empty strings")
        if self.draft is None:
            return
        if self.temperature != 0.0 or self.repetition_penalty != 1.0:
            raise ValueError("speculative decoding (draft=) is greedy only: temperature 0, repetition_penalty 1")
        if batch != 1:
            raise ValueError(f"speculative decoding (draft=) takes one prompt at a time, got {batch}")
        if self.draft.config.vocab_size != model.config.vocab_size:
            raise ValueError("the draft model's vocabulary differs from the model's")
        if not isinstance(self.num_draft, int) or self.num_draft < 1:
            raise ValueError(f"num_draft must be a positive integer, got {self.num_draft!r}")


def _prompt_ids(model: Transformer, tokenizer: Tokenizer, prompts: Sequence[Prompt]) -> list[list[int]]:
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise ValueError("prompts must be a non-empty list of strings or of token-id lists")
    vocab, context = model.config.vocab_size, model.config.max_seq_len
    encoded = []
    for i, prompt in enumerate(prompts):
        ids = tokenizer.encode(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]
        if not ids:
            raise ValueError(f"prompt {i} is empty")
        if any(t < 0 or t >= vocab for t in ids):
            raise ValueError(f"prompt {i} has token ids outside the vocabulary of {vocab}")
        if len(ids) >= context:
            raise ValueError(
                f"prompt {i} has {len(ids)} tokens, which leaves no room in the model's context of {context}"
            )
        encoded.append(ids)
    return encoded


@torch.inference_mode()
def _sampled_tokens(
    model: Transformer,
    input_ids: torch.Tensor,
    padding_mask: torch.Tensor | None,
    steps: int,
    params: _Params,
    seen: torch.Tensor | None,
) -> Iterator[list[list[int]]]:
    """One token per row per step: prefill, then sample / decode_one_token over one preallocated cache."""
    batch, prompt_len = input_ids.shape
    generator = None
    if params.seed is not None:
        generator = torch.Generator(device=input_ids.device).manual_seed(params.seed)

    def mask_until(end: int) -> torch.Tensor | None:
        return None if padding_mask is None else padding_mask[:, :end]

    # The last sampled token is never fed back, so the cache needs one position fewer than the sequence.
    cache = model.new_cache(batch, prompt_len + steps - 1)
    logits = prefill(model, input_ids, cache, mask_until(prompt_len))
    for step in range(steps):
        if seen is not None:
            logits = apply_repetition_penalty(logits, seen, params.repetition_penalty)
        next_ids = sample(
            logits, temperature=params.temperature, top_k=params.top_k, top_p=params.top_p, generator=generator
        )
        yield [[token_id] for token_id in next_ids.tolist()]  # the one host sync per step
        if step == steps - 1:
            return
        if seen is not None:
            seen.scatter_(1, next_ids[:, None], True)
        pos = prompt_len + step
        logits = decode_one_token(model, next_ids, cache, pos, mask_until(pos + 1))


@torch.inference_mode()
def _speculative_tokens(
    model: Transformer, draft: Transformer, input_ids: torch.Tensor, steps: int, num_draft: int
) -> Iterator[list[list[int]]]:
    """Greedy decoding of one (1, T) prompt, several tokens per pass over the model's weights.

    The cheap draft guesses num_draft tokens one by one; the model scores all guesses in one forward (on a CPU
    that costs about what one token costs: the weights are read once either way) and keeps the guesses up to
    the first it disagrees with, plus its own next token. Every token kept is the model's own argmax, so the
    output is the model's greedy output (up to float rounding between a 1-token and a k-token forward).
    """
    prompt_len = input_ids.size(1)
    # A verification block writes up to num_draft positions past the last token that is kept.
    cache_len = min(prompt_len + steps + num_draft, model.config.max_seq_len)
    cache, draft_cache = model.new_cache(1, cache_len), draft.new_cache(1, cache_len)
    token = prefill(model, input_ids, cache).argmax(-1)  # (1,)
    prefill(draft, input_ids, draft_cache)
    pos, produced = prompt_len, 1  # token goes in at pos
    yield [token.tolist()]
    while produced < steps:
        k = min(num_draft, cache_len - pos - 1)
        if k == 0:  # the end of the context: no room left to guess ahead
            token = decode_one_token(model, token, cache, pos).argmax(-1)
            pos, produced = pos + 1, produced + 1
            yield [token.tolist()]
            continue
        guesses = [token]
        for i in range(k):
            guesses.append(decode_one_token(draft, guesses[-1], draft_cache, pos + i).argmax(-1))
        block = torch.cat(guesses)[None]  # k + 1 tokens of (1,) -> (1, k + 1)
        logits, _ = model(block, cache=cache, start_pos=pos)  # (1, k + 1, V)
        best = logits[0].argmax(-1)  # (k + 1,): the model's choice after each prefix of the block
        agree = (best[:k] == block[0, 1:]).tolist()
        accepted = agree.index(False) if False in agree else k
        if accepted == k:  # every guess kept: the draft has not yet seen its own last guess
            decode_one_token(draft, guesses[-1], draft_cache, pos + k)
        token = best[accepted : accepted + 1]
        pos, produced = pos + accepted + 1, produced + accepted + 1
        yield [best[: accepted + 1].tolist()]


def _run(model: Transformer, tokenizer: Tokenizer, prompts: Sequence[Prompt], params: _Params) -> Iterator[list[_Row]]:
    """Yield the rows after every step, until each has finished (the last yield has all finished)."""
    prompt_ids = _prompt_ids(model, tokenizer, prompts)
    params.check(model, len(prompt_ids))
    eos = params.eos_token_ids
    eos = frozenset(eos) if eos is not None else frozenset({tokenizer.eos_id} - {None})
    device = model.embed_tokens.weight.device
    batch, prompt_len = len(prompt_ids), max(len(ids) for ids in prompt_ids)
    # Past the context a row stops with finish_reason "length", as if max_new_tokens had been smaller.
    steps = min(params.max_new_tokens, model.config.max_seq_len - prompt_len)
    rows = [_Row(IncrementalDecoder(tokenizer), params.stop, eos, len(ids)) for ids in prompt_ids]

    # Left padding lines the prompts' ends up, so every row's next token lands in the same cache column.
    input_ids = torch.full((batch, prompt_len), tokenizer.pad_id, dtype=torch.long)  # (B, T)
    for i, ids in enumerate(prompt_ids):
        input_ids[i, prompt_len - len(ids) :] = torch.tensor(ids)
    padding_mask = None
    if any(len(ids) != prompt_len for ids in prompt_ids):
        padding_mask = torch.ones(batch, prompt_len + steps, dtype=torch.long)  # (B, T + steps), 0 = padding
        for i, ids in enumerate(prompt_ids):
            padding_mask[i, : prompt_len - len(ids)] = 0
        padding_mask = padding_mask.to(device)
    input_ids = input_ids.to(device)

    if params.draft is not None:
        source = _speculative_tokens(model, params.draft, input_ids, steps, params.num_draft)
    else:
        seen = None
        if params.repetition_penalty != 1.0:
            seen = torch.zeros(batch, model.config.vocab_size, dtype=torch.bool, device=device)  # (B, V)
            for i, ids in enumerate(prompt_ids):
                seen[i, ids] = True
        source = _sampled_tokens(model, input_ids, padding_mask, steps, params, seen)

    produced = 0
    try:
        for new_tokens in source:
            room = steps - produced  # a speculative step may overshoot max_new_tokens
            for row, tokens in zip(rows, new_tokens):
                for token_id in tokens[:room]:
                    if row.finish_reason is None:
                        row.push(token_id)
            produced += min(len(new_tokens[0]), room)
            last = produced >= steps or all(row.finish_reason is not None for row in rows)
            if last:
                for row in rows:
                    row.finish("length")  # a no-op for rows that already finished
            yield rows
            if last:
                return
    finally:
        source.close()


def generate(
    model: Transformer,
    tokenizer: Tokenizer,
    prompts: Sequence[Prompt],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    stop: Sequence[str] = (),
    seed: int | None = None,
    eos_token_ids: Collection[int] | None = None,
    draft: Transformer | None = None,
    num_draft: int = 4,
) -> list[GenerationResult]:
    """Complete each prompt (a string, or token ids) in one left-padded batch.

    Each row stops at an EOS id (default: the tokenizer's EOS; pass () to never stop early), at a stop string
    (the text is cut before it), or after max_new_tokens. seed makes sampling reproducible. draft (a cheaper
    model over the same vocabulary, e.g. quantize.int4_draft(model)) turns on speculative decoding for greedy
    single-prompt requests: same tokens, fewer passes over the model's weights.
    """
    params = _Params(
        max_new_tokens, temperature, top_k, top_p, repetition_penalty, stop, seed, eos_token_ids, draft, num_draft
    )
    rows: list[_Row] = []
    for rows in _run(model, tokenizer, prompts, params):
        pass
    return [GenerationResult(r.text, r.token_ids, r.prompt_tokens, r.finish_reason or "length") for r in rows]


def stream(
    model: Transformer,
    tokenizer: Tokenizer,
    prompt: Prompt,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    stop: Sequence[str] = (),
    seed: int | None = None,
    eos_token_ids: Collection[int] | None = None,
    draft: Transformer | None = None,
    num_draft: int = 4,
) -> Iterator[str]:
    """Yield one prompt's generated text in pieces as it is produced; the pieces join to generate()'s text.

    Text that might be the beginning of a stop string is held back until it is known not to be.
    Bad arguments raise ValueError here, before the first piece is asked for.
    """
    params = _Params(
        max_new_tokens, temperature, top_k, top_p, repetition_penalty, stop, seed, eos_token_ids, draft, num_draft
    )
    # Checked eagerly: inside the generator the error would only surface on the first next().
    params.check(model, len(_prompt_ids(model, tokenizer, [prompt])))
    return _pieces(row for (row,) in _run(model, tokenizer, [prompt], params))


def _pieces(states: Iterator[_Row]) -> Iterator[str]:
    """The new safe text of each successive state of one row."""
    emitted = 0
    for row in states:
        text = row.safe_text()
        if len(text) > emitted:
            yield text[emitted:]
            emitted = len(text)
