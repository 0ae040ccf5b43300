"""A Llama-style decoder-only Transformer in one file, read top to bottom.

Linear (and the fused head + loss) -> RMSNorm -> rotary position embeddings -> grouped-query attention through
scaled_dot_product_attention -> SwiGLU MLP -> blocks -> the model. Parameter names follow the Llama checkpoint
layout (q_proj, gate_proj, input_layernorm...) so SmolLM2's weights load by name. Torch and the standard library
only.
"""
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


def _onednn_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b.T for 2-D float32 CPU tensors (either may be a strided view) through oneDNN's matmul."""
    return torch.ops.mkldnn._linear_pointwise.default(a, b, None, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    """x W^T with forward and backward matmuls on oneDNN: float32 in and out, the same math as F.linear.

    On AVX-512 CPUs oneDNN's float32 GEMM measured 1.0-1.6x faster than the MKL one aten::mm uses for x W^T
    and grad x = g W, at the training shapes of llm_core's models (2048 rows x width 384..8192). grad W stays
    on aten::mm, which reads g^T without copying it.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        x2 = x.reshape(-1, x.size(-1))  # (..., K) -> (M, K)
        ctx.save_for_backward(x2, weight)
        return _onednn_mm(x2, weight).view(*x.shape[:-1], weight.size(0))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x2, weight = ctx.saved_tensors
        g2 = grad.reshape(-1, grad.size(-1))  # (M, N)
        grad_x = _onednn_mm(g2, weight.t()).view(*grad.shape[:-1], weight.size(1)) if ctx.needs_input_grad[0] else None
        # grad W = g^T x: MKL reads the transposed g in place, where oneDNN's op would copy it first.
        grad_weight = torch.mm(g2.t(), x2) if ctx.needs_input_grad[1] else None  # (N, M) @ (M, K)
        return grad_x, grad_weight


_HAS_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


class Linear(nn.Linear):
    """nn.Linear (same parameters and state-dict keys) whose float32 CPU training matmuls run on oneDNN.

    Everything else (inference, autocast, CUDA, biases, torch.compile) is plain F.linear.
    """

    def trains_on_onednn(self, x: torch.Tensor) -> bool:
        return (
            _HAS_ONEDNN and self.bias is None and x.dtype == torch.float32 and self.weight.dtype == torch.float32
            and x.device.type == "cpu" and torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.trains_on_onednn(x):
            return _OneDNNLinear.apply(x, self.weight)
        return F.linear(x, self.weight, self.bias)


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean next-token cross-entropy of the logits x W^T, with its gradients computed in the forward.

    The (N, V) logits are the largest tensor of a training step; here they live for one function, and the
    softmax, the loss and the gradient of the logits are all computed in place in that one buffer (the way
    Liger's fused linear cross-entropy does), where log_softmax + nll_loss and their backward allocate and
    sweep several (N, V) tensors. Float32 CPU only (see Linear), like the oneDNN matmuls it uses.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
        x2, t = x.reshape(-1, x.size(-1)), targets.reshape(-1)  # (N, C), (N,)
        logits = _onednn_mm(x2, weight)  # (N, V)
        valid = t != ignore_index
        t = t.where(valid, 0)
        target_logit = logits.gather(1, t[:, None]).squeeze(1)
        row_max = logits.amax(dim=-1, keepdim=True)
        probs = logits.sub_(row_max).exp_()  # unnormalised softmax, in place
        total = probs.sum(dim=-1, keepdim=True)
        lse = (row_max + total.log()).squeeze(1)
        count = valid.sum()
        weights = valid / count  # d loss / d (per-row loss); a NaN loss when nothing is valid, as F.cross_entropy
        loss = ((lse - target_logit) * weights).sum()
        grad_logits = probs.mul_(weights[:, None] / total)  # (softmax - one_hot) * weight, in place
        grad_logits.scatter_add_(1, t[:, None], -weights[:, None])
        grad_x = _onednn_mm(grad_logits, weight.t()).view(x.shape) if ctx.needs_input_grad[0] else None
        grad_weight = torch.mm(grad_logits.t(), x2) if ctx.needs_input_grad[1] else None
        ctx.grads = (grad_x, grad_weight)
        return loss

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad_x, grad_weight = ctx.grads
        del ctx.grads
        scale = None if grad.item() == 1.0 else grad
        if scale is not None:
            grad_x = grad_x * scale if grad_x is not None else None
            grad_weight = grad_weight * scale if grad_weight is not None else None
        return grad_x, grad_weight, None, None


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:  # one fused kernel; the same numbers as the unfused float32 formula
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        # Normalise in float32 whatever the compute dtype: bf16 loses too much in the mean of squares.
        return self.weight * F.rms_norm(x.float(), self.weight.shape, None, self.eps).to(x.dtype)


def rope_tables(head_dim: int, max_seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, (max_seq_len, head_dim), in the half-split layout Llama checkpoints use."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float32), inv_freq)  # (T, D/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, D)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, H, T, D) by per-position angles; cos/sin are (B, 1, T, D)."""
    first, second = x.chunk(2, dim=-1)
    rotated = torch.cat([-second, first], dim=-1)
    y = x * cos + rotated * sin
    return y if y.dtype == x.dtype else y.to(x.dtype)  # skipping no-op casts matters at ~1000 ops per token


@dataclass
class ModelConfig:
    vocab_size: int = 49152
    n_layer: int = 30
    n_embd: int = 576
    n_head: int = 9
    n_kv_head: int = 3  # grouped-query attention: each K/V head serves n_head / n_kv_head query heads
    intermediate_size: int = 1536
    max_seq_len: int = 2048
    rope_theta: float = 100000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head or self.n_head % self.n_kv_head:
            raise ValueError("n_embd must divide by n_head, and n_head by n_kv_head")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)


class KVCache:
    """Keys and values for every layer, allocated once per request: (n_layer, B, n_kv_head, max_len, head_dim)."""

    def __init__(self, config: ModelConfig, batch_size: int, max_len: int, device: torch.device, dtype: torch.dtype):
        shape = (config.n_layer, batch_size, config.n_kv_head, max_len, config.head_dim)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        # Per-layer views, made once: indexing the 5-D tensors costs several dispatched ops per call.
        self.layer_keys = [self.keys[i] for i in range(config.n_layer)]  # not unbind(): its views are read-only
        self.layer_values = [self.values[i] for i in range(config.n_layer)]
        self.max_len = max_len

    def update(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write (B, Hkv, T, D) at positions start..start+T and return everything cached so far."""
        end = start + k.size(2)
        keys, values = self.layer_keys[layer], self.layer_values[layer]  # (B, Hkv, max_len, D)
        keys[:, :, start:end] = k
        values[:, :, start:end] = v
        return keys[:, :, :end], values[:, :, :end]


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, layer_index: int):
        super().__init__()
        self.layer_index = layer_index
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.q_proj = Linear(config.n_embd, config.n_head * config.head_dim, bias=False)
        self.k_proj = Linear(config.n_embd, config.n_kv_head * config.head_dim, bias=False)
        self.v_proj = Linear(config.n_embd, config.n_kv_head * config.head_dim, bias=False)
        self.o_proj = Linear(config.n_head * config.head_dim, config.n_embd, bias=False)
        self.qkv_proj: nn.Module | None = None  # q, k and v in one matmul, after fuse_projections
        self.dropout = config.dropout

    def fuse_projections(self, make_linear: Callable[[torch.Tensor], nn.Module]) -> None:
        """Replace q/k/v_proj by make_linear(their stacked weights): one matmul call instead of three (inference)."""
        weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])  # (H D + 2 Hkv D, C)
        self.qkv_proj = make_linear(weight.detach())
        self.q_proj = self.k_proj = self.v_proj = None

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None = None,
        start_pos: int = 0,
    ) -> torch.Tensor:
        B, T, _ = x.shape
        H, Hkv, D = self.n_head, self.n_kv_head, self.head_dim
        if self.qkv_proj is None:
            # (B, T, H*D) -> (B, H, T, D)
            q = apply_rotary(self.q_proj(x).view(B, T, H, D).transpose(1, 2), cos, sin)
            k = apply_rotary(self.k_proj(x).view(B, T, Hkv, D).transpose(1, 2), cos, sin)
            v = self.v_proj(x).view(B, T, Hkv, D).transpose(1, 2)
        else:
            qkv = self.qkv_proj(x).view(B, T, H + 2 * Hkv, D).transpose(1, 2)  # -> (B, H + 2 Hkv, T, D)
            qk = apply_rotary(qkv[:, : H + Hkv], cos, sin)  # q and k in one rotation: half the ops per token
            q, k, v = qk[:, :H], qk[:, H:], qkv[:, H + Hkv :]
        if cache is not None:
            if cache.keys.dtype != k.dtype:  # e.g. a bf16 cache under float32 weights
                k, v = cache.update(self.layer_index, start_pos, k.to(cache.keys.dtype), v.to(cache.keys.dtype))
                k, v = k.to(q.dtype), v.to(q.dtype)
            else:
                k, v = cache.update(self.layer_index, start_pos, k, v)
        # Without a mask, a multi-token call is a plain causal prefill (SDPA's fused path) and a single token
        # attends to everything cached; every other case (padding, chunked prefill) arrives with a mask.
        is_causal = mask is None and T > 1
        y = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=mask,
            is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0,
            enable_gqa=self.n_kv_head != self.n_head,
        )
        y = y.transpose(1, 2).reshape(B, T, H * D)  # (B, H, T, D) -> (B, T, H*D)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate_proj = Linear(config.n_embd, config.intermediate_size, bias=False)
        self.up_proj = Linear(config.n_embd, config.intermediate_size, bias=False)
        self.down_proj = Linear(config.intermediate_size, config.n_embd, bias=False)
        self.gate_up_proj: nn.Module | None = None  # gate and up in one matmul, after fuse_projections

    def fuse_projections(self, make_linear: Callable[[torch.Tensor], nn.Module]) -> None:
        """Replace gate/up_proj by make_linear(their stacked weights): one matmul call instead of two (inference)."""
        self.gate_up_proj = make_linear(torch.cat([self.gate_proj.weight, self.up_proj.weight]).detach())  # (2 I, C)
        self.gate_proj = self.up_proj = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate_up_proj is None:
            gate, up = self.gate_proj(x), self.up_proj(x)
        else:
            gate, up = self.gate_up_proj(x).chunk(2, dim=-1)  # (B, T, 2 I) -> 2 x (B, T, I)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: ModelConfig, layer_index: int):
        super().__init__()
        self.input_layernorm = RMSNorm(config.n_embd, config.norm_eps)
        self.self_attn = Attention(config, layer_index)
        self.post_attention_layernorm = RMSNorm(config.n_embd, config.norm_eps)
        self.mlp = MLP(config)
        # Identity when there is no dropout: even in eval mode nn.Dropout costs a dispatched op per call.
        self.resid_dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()

    def forward(self, x, cos, sin, mask=None, cache=None, start_pos: int = 0) -> torch.Tensor:
        x = x + self.resid_dropout(self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, start_pos))
        return x + self.resid_dropout(self.mlp(self.post_attention_layernorm(x)))


def attention_mask_for(
    padding_mask: torch.Tensor | None, query_len: int, start_pos: int, device: torch.device
) -> torch.Tensor | None:
    """Boolean (B, 1, T, S) mask, True = may attend: causal, and never to padded keys.

    padding_mask is (B, S) with 1 for real tokens, covering every position up to start_pos + query_len.
    A padded query position may still see itself, so no row is all-False (SDPA would give NaN there).
    """
    if padding_mask is None:
        return None
    key_len = start_pos + query_len
    query_pos = torch.arange(start_pos, key_len, device=device)[:, None]  # (T, 1)
    key_pos = torch.arange(key_len, device=device)[None, :]  # (1, S)
    causal = key_pos <= query_pos  # (T, S)
    keys_real = padding_mask[:, None, None, :key_len].bool()  # (B, 1, 1, S)
    return (causal & keys_real) | (key_pos == query_pos)


def positions_for(padding_mask: torch.Tensor | None, batch: int, query_len: int, start_pos: int, device) -> torch.Tensor:
    """Position ids (B, T). With left padding the first real token is position 0, as transformers counts."""
    if padding_mask is None:
        return torch.arange(start_pos, start_pos + query_len, device=device).expand(batch, query_len)
    positions = padding_mask.long().cumsum(-1) - 1
    return positions.clamp(min=0)[:, start_pos : start_pos + query_len]


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.n_embd)
        self.embed_dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.layers = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.norm = RMSNorm(config.n_embd, config.norm_eps)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.init_rope_buffers()
        self.apply(self._init_weights)
        # Scale the residual projections down with depth so the residual stream's variance stays flat (GPT-2).
        for name, param in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def init_rope_buffers(self, device: torch.device | str | None = None) -> None:
        """(Re)compute the rotary tables, e.g. after building the model on the meta device to load weights."""
        cos, sin = rope_tables(self.config.head_dim, self.config.max_seq_len, self.config.rope_theta)
        if device is not None:
            cos, sin = cos.to(device), sin.to(device)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        total = sum(p.numel() for p in self.parameters())  # tied weights are counted once by parameters()
        return total - self.embed_tokens.weight.numel() if exclude_embeddings else total

    def new_cache(self, batch_size: int, max_len: int, dtype: torch.dtype | None = None) -> KVCache:
        if max_len > self.config.max_seq_len:
            raise ValueError(f"a cache of {max_len} positions exceeds the context of {self.config.max_seq_len}")
        weight = self.embed_tokens.weight
        return KVCache(self.config, batch_size, max_len, weight.device, dtype or weight.dtype)

    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        targets: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        start_pos: int = 0,
        last_only: bool = False,
        return_logits: bool = True,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """input_ids (B, T) -> (logits, loss).

        targets: (B, T) next-token ids, -100 where the loss is masked (padding, prompts).
        padding_mask: (B, start_pos + T), 1 for real tokens, 0 for (left) padding.
        cache/start_pos: write keys and values at start_pos and attend over everything cached.
        last_only: compute logits for the last position only (generation needs nothing else).
        return_logits=False (with targets): the logits may go unreturned (None), so that a float32 CPU training
        step can fuse the head with the loss and never keep the (B, T, V) logits (see _LinearCrossEntropy).
        """
        B, T = input_ids.shape
        if start_pos + T > self.config.max_seq_len:
            raise ValueError(f"sequence of {start_pos + T} tokens exceeds the context of {self.config.max_seq_len}")
        if padding_mask is None and start_pos > 0 and T > 1:
            # A chunk after cached tokens needs an offset causal mask, which SDPA's is_causal does not give.
            padding_mask = torch.ones(B, start_pos + T, dtype=torch.long, device=input_ids.device)
        if padding_mask is None:  # every row at the same positions: a view of the tables, no gather
            cos = self.rope_cos[start_pos : start_pos + T][None, None]  # (T, D) -> (1, 1, T, D)
            sin = self.rope_sin[start_pos : start_pos + T][None, None]
        else:
            positions = positions_for(padding_mask, B, T, start_pos, input_ids.device)  # (B, T)
            cos = self.rope_cos[positions].unsqueeze(1)  # (B, 1, T, D)
            sin = self.rope_sin[positions].unsqueeze(1)
        mask = attention_mask_for(padding_mask, T, start_pos, input_ids.device)
        x = self.embed_dropout(self.embed_tokens(input_ids))
        for block in self.layers:
            x = block(x, cos, sin, mask, cache, start_pos)
        if last_only:
            x = x[:, -1:, :]
        x = self.norm(x)
        head = self.lm_head
        if targets is not None and not return_logits and type(head) is Linear and head.trains_on_onednn(x):
            return None, _LinearCrossEntropy.apply(x, head.weight, targets, -100)
        logits = head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss
