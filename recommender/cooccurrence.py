"""Item-to-item co-occurrence: "shoppers who viewed or bought A also viewed or bought B".

Counts pairs of items that occur within a few steps of each other in the same sequence, in either order,
nearer pairs weighing more (1 / distance). Stored as CSR arrays (numpy), so a pair lookup is a binary search
and a shopper's scores over the whole catalog are one sparse-dense product. It is both an offline baseline,
a prior blended into the model's scores, and the serving fallback when no model is active.
"""
from dataclasses import dataclass

import numpy as np
import torch

WINDOW = 3
RECENT = 5  # how many of a shopper's latest items vote
DECAY = 0.5  # each step further back votes half as much


@dataclass
class CooccurrenceIndex:
    indptr: np.ndarray  # (n_items + 2,) row starts, CSR
    indices: np.ndarray  # (nnz,) column item of each entry, sorted within a row
    weights: np.ndarray  # (nnz,) float32

    @property
    def n_items(self) -> int:
        return len(self.indptr) - 2

    @classmethod
    def from_sequences(cls, items: np.ndarray, offsets: np.ndarray, n_items: int, window: int = WINDOW) -> "CooccurrenceIndex":
        """Build from CSR sequences: items[offsets[u]:offsets[u + 1]] is user u's time-ordered items."""
        lengths = np.diff(offsets)
        position = np.arange(len(items)) - np.repeat(offsets[:-1], lengths)
        length_of = np.repeat(lengths, lengths)
        rows, cols, weights = [], [], []
        for distance in range(1, window + 1):
            # Pair each item with the one `distance` steps later in the same sequence.
            same = position + distance < length_of
            a = items[same]
            b = items[np.flatnonzero(same) + distance]
            keep = a != b
            a, b = a[keep], b[keep]
            rows += [a, b]
            cols += [b, a]
            weights.append(np.full(2 * len(a), 1.0 / distance, dtype=np.float32))
        stride = n_items + 1
        keys = np.concatenate(rows) * stride + np.concatenate(cols) if rows else np.zeros(0, dtype=np.int64)
        unique, inverse = np.unique(keys, return_inverse=True)
        summed = np.bincount(inverse, weights=np.concatenate(weights) if weights else None, minlength=len(unique))
        row_of = unique // stride
        indptr = np.concatenate([[0], np.cumsum(np.bincount(row_of, minlength=stride))]).astype(np.int64)
        return cls(indptr, (unique % stride).astype(np.int64), summed.astype(np.float32))

    def __post_init__(self) -> None:
        # Sorted pair keys row * (n_items + 1) + column, so a pair lookup is one binary search.
        rows = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        self.keys = rows * (self.n_items + 1) + self.indices
        # The same pairs as a sparse matrix for whole-catalog scoring; sorted by (row, column) already.
        self.matrix = torch.sparse_coo_tensor(
            torch.from_numpy(np.stack([rows, self.indices])), torch.from_numpy(self.weights),
            (self.n_items + 1, self.n_items + 1), is_coalesced=True, check_invariants=False,
        )

    def votes(self, histories: np.ndarray, recent: int = RECENT, decay: float = DECAY) -> tuple[np.ndarray, np.ndarray]:
        """(B, R) most recent items of right-aligned histories and their (R,) vote weights, newest = 1."""
        latest = histories[:, -recent:]
        return latest, decay ** np.arange(latest.shape[1] - 1, -1, -1, dtype=np.float32)

    def pair_weights(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Co-occurrence weight of each (row item, column item) pair, broadcasting; 0 for unseen pairs."""
        keys = self.keys
        wanted = np.asarray(rows, dtype=np.int64) * (self.n_items + 1) + np.asarray(cols, dtype=np.int64)
        if not len(keys):
            return np.zeros(wanted.shape, dtype=np.float32)
        position = np.searchsorted(keys, wanted).clip(max=len(keys) - 1)
        return np.where(keys[position] == wanted, self.weights[position], 0.0).astype(np.float32)

    def pair_scores(self, histories: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """(B, C) summed co-occurrence of each candidate with the shopper's recent items (binary searches)."""
        latest, vote = self.votes(histories)
        values = self.pair_weights(latest[:, :, None], candidates[:, None, :])  # (B, R, C); padding pairs are 0
        return (values * vote[None, :, None]).sum(axis=1).astype(np.float32)

    def all_scores(self, histories: np.ndarray) -> torch.Tensor:
        """(B, n_items + 1) summed co-occurrence of every item with the shopper's recent items."""
        latest, vote = self.votes(histories)
        profile = torch.zeros(len(histories), self.n_items + 1)
        profile.scatter_add_(1, torch.from_numpy(latest), torch.from_numpy(vote).expand(latest.shape).contiguous())
        profile[:, 0] = 0.0  # padding does not vote
        return torch.sparse.mm(self.matrix, profile.T).T  # pairs are symmetric, so rows serve as columns

    def neighbours(self, item: int, limit: int) -> list[tuple[int, float]]:
        """The items most often seen near `item`, strongest first."""
        if not 0 < item <= self.n_items:
            return []
        start, end = self.indptr[item], self.indptr[item + 1]
        order = np.argsort(-self.weights[start:end], kind="stable")[:limit]
        return [(int(self.indices[start + i]), float(self.weights[start + i])) for i in order]

    def tensors(self) -> dict[str, torch.Tensor]:
        """For saving next to a model's weights (safetensors)."""
        return {name: torch.from_numpy(getattr(self, name)) for name in ("indptr", "indices", "weights")}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "CooccurrenceIndex":
        return cls(*(tensors[name].numpy() for name in ("indptr", "indices", "weights")))
