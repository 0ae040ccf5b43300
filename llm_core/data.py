"""Training data: packed pretraining windows, loss-masked chat examples, a padded collator, and a batch loader
whose position can be saved and restored so that a resumed run sees exactly the batches it would have seen.

An example is a dict of 1-D LongTensors {"input_ids": (T,), "targets": (T,)} where targets[i] is the token
that follows input_ids[i], or -100 where no loss is taken (prompt tokens, padding). A batch is the same
dict with (B, T) tensors, which is what `Transformer.forward(input_ids, targets=...)` takes.
"""
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

import torch
from torch.utils.data import Dataset

IGNORE_INDEX = -100  # what F.cross_entropy skips
Example = dict[str, torch.Tensor]
Batch = dict[str, torch.Tensor]
Encode = Callable[[str], list[int]]
T = TypeVar("T")


class PackedDataset(Dataset):
    """Documents joined with EOS into one token stream, cut into windows of seq_len + 1 tokens.

    Consecutive windows overlap by one token, so every next-token pair of the stream is trained exactly once;
    the tail shorter than a window is dropped. Documents are not isolated from each other (as in GPT-2
    pretraining): the EOS between them teaches the model where a document ends.
    """

    def __init__(self, documents: Iterable[Sequence[int]], seq_len: int, eos_id: int):
        eos = torch.tensor([eos_id], dtype=torch.int32)
        parts = [part for doc in documents for part in (torch.tensor(list(doc), dtype=torch.int32), eos)]
        # int32 halves the memory of a large corpus; windows become int64 (what the loss wants) one at a time.
        self.tokens = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int32)
        self.seq_len = seq_len
        if len(self) == 0:
            raise ValueError(f"{self.tokens.numel()} tokens do not fill one window of {seq_len + 1}")

    def __len__(self) -> int:
        return max(0, (self.tokens.numel() - 1) // self.seq_len)

    def __getitem__(self, index: int) -> Example:
        start = index * self.seq_len
        window = self.tokens[start : start + self.seq_len + 1].long()
        return {"input_ids": window[:-1], "targets": window[1:]}


def masked_example(segments: Sequence[tuple[Sequence[int], bool]], max_len: int) -> Example | None:
    """Join token segments; only tokens of segments flagged True are predicted (the rest get -100 targets).

    The sequence is cut to max_len + 1 tokens (max_len inputs). Returns None when no trained token is left.
    """
    tokens: list[int] = []
    trained: list[bool] = []
    for ids, train in segments:
        tokens.extend(ids)
        trained.extend([train] * len(ids))
    tokens, trained = tokens[: max_len + 1], trained[: max_len + 1]
    targets = [tok if keep else IGNORE_INDEX for tok, keep in zip(tokens[1:], trained[1:])]
    if all(t == IGNORE_INDEX for t in targets):
        return None
    return {"input_ids": torch.tensor(tokens[:-1]), "targets": torch.tensor(targets)}  # int64, from Python ints


def chat_example(messages: Sequence[Mapping[str, str]], encode: Encode, max_len: int) -> Example | None:
    """A ChatML conversation (SmolLM2's template) that trains on the assistant turns only.

    Each message renders as `<|im_start|>{role}\\n{content}<|im_end|>\\n`; the assistant's content and its
    <|im_end|> are trained, so the model learns both the answer and when to stop. `encode` must turn the
    special-token strings into their ids (HF tokenizers do). None when no assistant token fits in max_len.
    """
    segments: list[tuple[list[int], bool]] = []
    for message in messages:
        is_reply = message["role"] == "assistant"
        segments.append((encode(f"<|im_start|>{message['role']}\n"), False))
        segments.append((encode(f"{message['content']}<|im_end|>"), is_reply))
        segments.append((encode("\n"), False))
    return masked_example(segments, max_len)


def collate(examples: Sequence[Example], pad_id: int) -> Batch:
    """Right-pad to the longest example: input_ids with pad_id, targets with -100.

    No padding mask is needed: with right padding and causal attention no real token ever sees a pad, and
    pads are never predicted, so the model can take the fused causal attention path.
    """
    length = max(ex["input_ids"].numel() for ex in examples)
    input_ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    for row, ex in enumerate(examples):
        n = ex["input_ids"].numel()
        input_ids[row, :n] = ex["input_ids"]
        targets[row, :n] = ex["targets"]
    return {"input_ids": input_ids, "targets": targets}


def shuffled_indices(n: int, seed: int, epoch: int = 0) -> list[int]:
    """A permutation of range(n) that depends only on (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def train_eval_split(items: Sequence[T], eval_fraction: float, seed: int = 0) -> tuple[list[T], list[T]]:
    """Shuffle deterministically and hold out ceil(eval_fraction * n) items (at least one when fraction > 0)."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    order = shuffled_indices(len(items), seed)
    n_eval = math.ceil(eval_fraction * len(items)) if eval_fraction > 0 else 0
    if n_eval >= len(items):
        raise ValueError(f"{len(items)} items are too few to hold out {n_eval} for evaluation")
    return [items[i] for i in order[n_eval:]], [items[i] for i in order[:n_eval]]


class BatchLoader:
    """An endless stream of batches: epoch after epoch, each shuffled by (seed, epoch), incomplete batches dropped.

    Under data parallelism every rank walks the same permutation and takes its own slice of each global batch
    (batch_size * world_size items), so ranks never overlap. `state_dict()` is the (epoch, position) to
    continue from; loading it into a loader over the same data makes the next batch the one that would have
    come next.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        collate_fn: Callable[[list[Example]], Batch],
        *,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.dataset, self.batch_size, self.collate_fn = dataset, batch_size, collate_fn
        self.seed, self.shuffle, self.rank, self.world_size = seed, shuffle, rank, world_size
        self.batches_per_epoch = len(dataset) // (batch_size * world_size)
        if self.batches_per_epoch == 0:
            raise ValueError(f"{len(dataset)} examples do not fill one batch of {batch_size} x {world_size} ranks")
        self.epoch, self.position = 0, 0
        self._order = self._epoch_order()

    def _epoch_order(self) -> list[int]:
        n = len(self.dataset)
        return shuffled_indices(n, self.seed, self.epoch) if self.shuffle else list(range(n))

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        if self.position == self.batches_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._epoch_order()
        start = (self.position * self.world_size + self.rank) * self.batch_size
        self.position += 1
        return self.collate_fn([self.dataset[i] for i in self._order[start : start + self.batch_size]])

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._order = self._epoch_order()


def eval_batches(
    dataset: Dataset,
    batch_size: int,
    collate_fn: Callable[[list[Example]], Batch],
    *,
    rank: int = 0,
    world_size: int = 1,
) -> list[Batch]:
    """Every example once, in order, in batches; rank r takes batches r, r + world_size, ..."""
    starts = range(rank * batch_size, len(dataset), batch_size * world_size)
    return [collate_fn([dataset[i] for i in range(s, min(s + batch_size, len(dataset)))]) for s in starts]

