"""Interaction sequences: loading, the leave-one-out split, padding, batching and negative sampling.

Framework-free (numpy only), so offline evaluation and the tests run without Django. Sequences are
kept in CSR form, one flat array of item indices plus per-user offsets, so every step below is a vectorised
numpy operation rather than a Python loop over users. Item index 0 is padding; real items are 1..n_items.
"""
import gzip
import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np


@dataclass
class Interactions:
    """Every user's time-ordered items, CSR-style: user u's items are items[offsets[u]:offsets[u + 1]]."""

    items: np.ndarray  # (total,) int64 item indices in 1..n_items
    offsets: np.ndarray  # (n_users + 1,) int64
    item_ids: list[str]  # item_ids[i - 1] is the external id of item index i

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[str]], vocabulary: Sequence[str] = ()) -> "Interactions":
        """Index external item ids; ids in `vocabulary` keep their positions (a trained model's items come first)."""
        index = {item_id: i + 1 for i, item_id in enumerate(vocabulary)}
        item_ids = list(vocabulary)
        flat: list[int] = []
        offsets = [0]
        for sequence in sequences:
            for item_id in sequence:
                position = index.get(item_id)
                if position is None:
                    item_ids.append(item_id)
                    position = index[item_id] = len(item_ids)
                flat.append(position)
            offsets.append(len(flat))
        return cls(np.asarray(flat, dtype=np.int64), np.asarray(offsets, dtype=np.int64), item_ids)


FORMATS = ("pairs", "lines", "recbole", "reviews")


def read_sequences(path: str | Path, fmt: str) -> list[list[str]]:
    """Read a dataset file as one list of external item ids per user, in time order.

    fmt "pairs": `user item` per line in time order (SASRec files; one user's lines need not be contiguous).
    fmt "lines": `user item1 item2 ...` per line. Blank lines are skipped; any other malformed line is an error.
    fmt "recbole": a RecBole sequential `.inter` file (UniSRec's datasets): a header, then
        `user<TAB>item1 item2 ...<TAB>target` rows; a user's longest row (history + target) is their sequence.
    fmt "reviews": Amazon review JSON lines (`reviewerID`, `asin`, `unixReviewTime`), plain, .gz or a one-file
        .zip; each reviewer's items ordered by time, file order breaking ties.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    reader = {"pairs": _read_whitespace, "lines": _read_whitespace, "recbole": _read_recbole, "reviews": _read_reviews}[fmt]
    with _open_text(path) as handle:
        by_user = reader(handle, str(path), fmt)
    if not by_user:
        raise ValueError(f"{path}: no interactions")
    return list(by_user.values())


def _open_text(path: str | Path) -> IO[str]:
    """The file as text; a .gz is decompressed, and so is a .zip holding exactly one file."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    if path.suffix == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as error:
            raise ValueError(f"{path}: not a readable zip archive ({error})") from None
        members = [name for name in archive.namelist() if not name.endswith("/")]
        if len(members) != 1:
            raise ValueError(f"{path}: expected one file in the archive, found {len(members)}")
        return io.TextIOWrapper(archive.open(members[0]), encoding="utf-8")
    return open(path, encoding="utf-8")


def _read_whitespace(handle: IO[str], name: str, fmt: str) -> dict[str, list[str]]:
    by_user: dict[str, list[str]] = {}
    for line_number, line in enumerate(handle, start=1):
        fields = line.split()
        if not fields:
            continue
        if fmt == "pairs" and len(fields) != 2:
            raise ValueError(f"{name}:{line_number}: expected 'user item', got {line.strip()!r}")
        if fmt == "lines" and len(fields) < 2:
            raise ValueError(f"{name}:{line_number}: expected 'user item1 item2 ...', got {line.strip()!r}")
        by_user.setdefault(fields[0], []).extend(fields[1:])
    return by_user


def _read_recbole(handle: IO[str], name: str, fmt: str) -> dict[str, list[str]]:
    by_user: dict[str, list[str]] = {}
    for line_number, line in enumerate(handle, start=1):
        if not line.strip() or (line_number == 1 and ":" in line.split("\t")[0]):
            continue  # the header names the fields as `user_id:token`
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 3 or not fields[0] or not fields[2].strip():
            raise ValueError(f"{name}:{line_number}: expected 'user<TAB>history<TAB>target', got {line.strip()!r}")
        sequence = fields[1].split() + [fields[2].strip()]
        if len(sequence) > len(by_user.get(fields[0], ())):
            by_user[fields[0]] = sequence
    return by_user


def _read_reviews(handle: IO[str], name: str, fmt: str) -> dict[str, list[str]]:
    timed: dict[str, list[tuple[int, str]]] = {}
    for line_number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            review = json.loads(line)
            timed.setdefault(str(review["reviewerID"]), []).append((int(review["unixReviewTime"]), str(review["asin"])))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{name}:{line_number}: expected a review with reviewerID, asin and unixReviewTime ({error})") from None
    # sorted() is stable on the time key alone, so same-day reviews keep their file order.
    return {user: [item for _, item in sorted(reviews, key=lambda review: review[0])] for user, reviews in timed.items()}


@dataclass
class LeaveOneOut:
    """The published protocol's split: per user with >= 3 actions, the last item is the test target and the
    second-to-last the validation target; everything before is training. Shorter users are training only."""

    data: Interactions
    train_lengths: np.ndarray  # (n_users,) how many leading items of each sequence are training data
    eval_users: np.ndarray  # users with >= 3 actions, the only ones validated and tested

    @classmethod
    def split(cls, data: Interactions) -> "LeaveOneOut":
        lengths = data.lengths
        evaluable = lengths >= 3
        train_lengths = np.where(evaluable, lengths - 2, lengths)
        return cls(data, train_lengths, np.flatnonzero(evaluable))

    def valid_targets(self, users: np.ndarray) -> np.ndarray:
        return self.data.items[self.data.offsets[users] + self.train_lengths[users]]

    def test_targets(self, users: np.ndarray) -> np.ndarray:
        return self.data.items[self.data.offsets[users] + self.train_lengths[users] + 1]

    def train_sequences(self) -> tuple[np.ndarray, np.ndarray]:
        """The training parts alone, CSR-style (items, offsets): what popularity and co-occurrence count."""
        position = np.arange(len(self.data.items)) - np.repeat(self.data.offsets[:-1], self.data.lengths)
        mask = position < np.repeat(self.train_lengths, self.data.lengths)
        return self.data.items[mask], np.concatenate([[0], np.cumsum(self.train_lengths)])


def left_pad(items: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """(len(starts), width) matrix holding each items[start:end]'s last `width` items, right-aligned, 0-padded.

    Right alignment keeps the most recent item in the last column, where the model reads its prediction.
    """
    index = ends[:, None] - width + np.arange(width)[None, :]  # (U, width)
    valid = index >= starts[:, None]
    if len(items) == 0:
        return np.zeros(index.shape, dtype=np.int64)
    return np.where(valid, items[np.clip(index, 0, len(items) - 1)], 0)


def history_matrix(split: LeaveOneOut, users: np.ndarray, stage: str, width: int) -> np.ndarray:
    """Model input for validation (the training part) or test (training part + validation item)."""
    starts = split.data.offsets[users]
    ends = starts + split.train_lengths[users] + (1 if stage == "test" else 0)
    return left_pad(split.data.items, starts, ends, width)


@dataclass
class TrainingPairs:
    """Next-item training on every position: inputs[u, j] is followed by targets[u, j] (0 where padded)."""

    inputs: np.ndarray  # (U, max_len)
    targets: np.ndarray  # (U, max_len)
    lengths: np.ndarray  # (U,) real positions per row

    @classmethod
    def from_split(cls, split: LeaveOneOut, max_len: int, validated_users: np.ndarray | None = None) -> "TrainingPairs":
        """Every user's training part. With validated_users given, the validation item of every other
        evaluable user is training data too: only the validated users' must stay unseen for early stopping to
        be honest, and the others' is their most recent action before the test item. Test items never train."""
        lengths = split.train_lengths.copy()
        if validated_users is not None:
            extra = np.setdiff1d(split.eval_users, validated_users, assume_unique=True)
            lengths[extra] += 1
        keep = np.flatnonzero(lengths >= 2)  # one item alone has nothing to predict
        starts = split.data.offsets[keep]
        ends = starts + lengths[keep]
        inputs = left_pad(split.data.items, starts, ends - 1, max_len)
        targets = left_pad(split.data.items, starts + 1, ends, max_len)
        return cls(inputs, targets, np.minimum(lengths[keep] - 1, max_len))

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Shuffled batches, each cut to its longest row: rows are sorted by length inside chunks of 50
        batches, so short sequences (most of them, in shop data) do not pay for 50 columns of padding."""
        order = rng.permutation(len(self.lengths))
        chunk = batch_size * 50
        batches = []
        for begin in range(0, len(order), chunk):
            rows = order[begin : begin + chunk]
            rows = rows[np.argsort(self.lengths[rows], kind="stable")]
            batches.extend(rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
        width_total = self.inputs.shape[1]
        for batch_index in rng.permutation(len(batches)):
            rows = batches[batch_index]
            width = int(self.lengths[rows].max())
            yield self.inputs[rows, width_total - width :], self.targets[rows, width_total - width :]


def user_item_keys(split: LeaveOneOut, users: np.ndarray) -> np.ndarray:
    """Sorted int64 keys row * (n_items + 1) + item for every item of each listed user (all their actions)."""
    lengths = split.data.lengths[users]
    rows = np.repeat(np.arange(len(users)), lengths)
    starts = np.repeat(split.data.offsets[users], lengths)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    keys = rows * (split.data.n_items + 1) + split.data.items[starts + within]
    return np.unique(keys)


def sample_negatives(split: LeaveOneOut, users: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(len(users), count) items drawn uniformly (with replacement, as the SASRec protocol does) from 1..n_items,
    never one the user interacted with. Vectorised: draw all, then redraw only the collisions."""
    n_items = split.data.n_items
    stride = n_items + 1
    owned = user_item_keys(split, users)
    negatives = rng.integers(1, n_items + 1, size=(len(users), count))
    rows = np.arange(len(users))[:, None]
    for _ in range(1000):
        keys = rows * stride + negatives
        position = np.searchsorted(owned, keys).clip(max=len(owned) - 1)
        clash = owned[position] == keys
        if not clash.any():
            return negatives
        negatives[clash] = rng.integers(1, n_items + 1, size=int(clash.sum()))
    raise ValueError("cannot sample negatives: some user has interacted with (almost) every item")
