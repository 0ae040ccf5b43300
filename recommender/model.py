"""A SASRec-style next-item model built from llm_core's Transformer blocks.

Items are tokens: a causal stack of llm_core Blocks (pre-norm RMSNorm, rotary attention, SwiGLU) reads a
shopper's right-aligned item sequence and the hidden state at each position scores every item by a dot
product with the same item vectors the input uses (weight tying, as SASRec does). Optionally each item's
vector adds a learned projection of a frozen text embedding of the product (MiniLM), so a product nobody has
clicked yet still has a meaningful vector. Torch and llm_core only.
"""
from dataclasses import asdict, dataclass

import torch
from torch import nn

from llm_core.model import Block, ModelConfig, RMSNorm, attention_mask_for, rope_tables


@dataclass
class RecommenderConfig:
    n_items: int
    max_len: int = 50  # the published protocol's length; dense data (long histories) wants ~200
    dim: int = 64
    n_layers: int = 2
    # SASRec uses 1. On Video.txt (sampled, seed 0): 1 head HR@10 0.751 / NDCG@10 0.557, 2 heads of 32
    # 0.756 / 0.562, 4 heads of 16 0.761 / 0.564; 4 heads with seeds 1 and 2: 0.752 / 0.565, 0.758 / 0.563.
    n_heads: int = 4
    # Above SASRec's 0.5: the model is limited by overfitting, not by training time. On Video.txt (sampled
    # test) 0.7 gave HR@10 0.706 / NDCG@10 0.519 against 0.691 / 0.505 for 0.5 (both stopped early, within
    # the 14-minute budget); dim 128 overfitted sooner (0.676 / 0.495), as 0.3 did before. Scientific gained
    # (0.481 / 0.312 vs 0.470 / 0.308); Musical Instruments, 1,429 users, was level. Measured again with
    # lr 3e-3 and 3,000 validated users: 0.6 gave 0.745 / 0.551 against 0.751 / 0.557 for 0.7.
    dropout: float = 0.7
    # "rope": llm_core's rotary attention (relative, so left padding needs no offset);
    # "learned": SASRec's absolute position table counted from the most recent item.
    positions: str = "rope"
    text_dim: int = 0  # width of the frozen text vectors joined to the item vectors; 0 = ids only
    # A learned per-item score offset: popularity no longer has to be squeezed into the embedding geometry.
    item_bias: bool = True
    # Multiply the input item vectors by sqrt(dim), as SASRec and the original Transformer do, so that the
    # item itself is not drowned by the blocks' outputs in the residual stream: on Video.txt validation
    # NDCG@10 after 8 epochs went from 0.38 to 0.44.
    scale_input: bool = True

    def __post_init__(self) -> None:
        if self.positions not in {"rope", "learned"}:
            raise ValueError(f"positions must be 'rope' or 'learned', not {self.positions!r}")

    def block_config(self) -> ModelConfig:
        return ModelConfig(
            vocab_size=self.n_items + 1,
            n_layer=self.n_layers,
            n_embd=self.dim,
            n_head=self.n_heads,
            n_kv_head=self.n_heads,
            intermediate_size=2 * self.dim,  # SwiGLU's three matrices at 2x width cost what a 3x GELU MLP does
            max_seq_len=self.max_len,
            rope_theta=10000.0,
            dropout=self.dropout,
        )

    def to_dict(self) -> dict:
        return asdict(self)


class SequenceRecommender(nn.Module):
    def __init__(self, config: RecommenderConfig, text_vectors: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        block_config = config.block_config()
        self.item_embedding = nn.Embedding(config.n_items + 1, config.dim, padding_idx=0)
        nn.init.normal_(self.item_embedding.weight, std=config.dim**-0.5)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        if config.text_dim:
            if text_vectors is None:
                text_vectors = torch.zeros(config.n_items + 1, config.text_dim)
            if text_vectors.shape != (config.n_items + 1, config.text_dim):
                raise ValueError(f"text vectors must be ({config.n_items + 1}, {config.text_dim})")
            self.register_buffer("text_vectors", text_vectors.float())
            self.text_projection = nn.Linear(config.text_dim, config.dim, bias=False)
        self.position_embedding = nn.Embedding(config.max_len, config.dim) if config.positions == "learned" else None
        self.item_bias = nn.Parameter(torch.zeros(config.n_items + 1)) if config.item_bias else None
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(Block(block_config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.dim)
        if config.positions == "rope":
            cos, sin = rope_tables(block_config.head_dim, config.max_len, block_config.rope_theta)
        else:
            # Identity rotation: the blocks always rotate, so learned positions pass angle zero.
            cos = torch.ones(config.max_len, block_config.head_dim)
            sin = torch.zeros(config.max_len, block_config.head_dim)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def item_vectors(self) -> torch.Tensor:
        """(n_items + 1, dim): the vector of every item, shared by the input and the output (row 0 = padding)."""
        vectors = self.item_embedding.weight
        if self.config.text_dim:
            vectors = vectors + self.text_projection(self.text_vectors)
        return vectors

    def encode(self, sequences: torch.Tensor, item_vectors: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) right-aligned item indices, 0 = padding -> (B, T, dim) hidden states."""
        B, T = sequences.shape
        if T > self.config.max_len:
            sequences, T = sequences[:, -self.config.max_len :], self.config.max_len
        if item_vectors is None:
            item_vectors = self.item_vectors()
        real = sequences > 0
        x = item_vectors[sequences] * real.unsqueeze(-1)  # padding contributes nothing, even with text vectors
        if self.config.scale_input:
            x = x * self.config.dim**0.5
        if self.position_embedding is not None:
            # Position 0 of the table is always the most recent item, whatever the batch's width.
            x = x + self.position_embedding.weight[self.config.max_len - T :].unsqueeze(0)
        x = self.dropout(x)
        cos = self.rope_cos[:T].view(1, 1, T, -1)  # relative angles: the left-padding offset cancels out
        sin = self.rope_sin[:T].view(1, 1, T, -1)
        mask = attention_mask_for(real.long(), T, 0, sequences.device)  # (B, 1, T, T), causal, no padded keys
        for block in self.layers:
            x = block(x, cos, sin, mask)
        return self.norm(x)

    def scores(self, hidden: torch.Tensor, vectors: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of hidden states against items: hidden (..., dim) with items (..., C) -> (..., C);
        items None -> every item, (..., n_items + 1)."""
        if items is None:
            logits = hidden @ vectors.T
            return logits + self.item_bias if self.item_bias is not None else logits
        logits = (hidden.unsqueeze(-2) * vectors[items]).sum(-1)
        return logits + self.item_bias[items] if self.item_bias is not None else logits

    def score_all(self, sequences: torch.Tensor) -> torch.Tensor:
        """(B, T) histories -> (B, n_items + 1) scores for the item after each history's last one."""
        vectors = self.item_vectors()
        return self.scores(self.encode(sequences, vectors)[:, -1, :], vectors)

    def score_candidates(self, sequences: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """(B, T) histories and (B, C) candidate items -> (B, C) scores; cheaper than score_all for few items."""
        vectors = self.item_vectors()
        return self.scores(self.encode(sequences, vectors)[:, -1, :], vectors, candidates)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
