"""A Llama-style decoder-only Transformer in one file, read top to bottom.

Linear (and the fused head + loss) -> SwiGLU -> RMSNorm -> rotary position embeddings -> causal attention ->
the config and KV cache -> attention, MLP, blocks -> the model. Parameter names follow the Llama checkpoint layout
(q_proj, gate_proj, input_layernorm...) so SmolLM2's weights load by name. Torch and the standard library only.

Float32 training on CPU takes a faster road through the same math: the projections that share an input run as
one matmul, and the pieces whose autograd backward is a string of elementwise passes (SwiGLU, RMSNorm, the
rotation) have hand-written ones. tests/llm_core/test_model.py checks every one of them against autograd and the
whole training step against transformers' LlamaForCausalLM.
"""
import functools
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


def stacked_training_matmul(x: torch.Tensor, linears: tuple[nn.Module, ...]) -> torch.Tensor | None:
    """x times the stacked weights of linears as one oneDNN matmul (one grad-x matmul instead of several plus
    their adds), where every one is a plain Linear that would train on oneDNN by itself (LoRA layers keep their
    own forward); None elsewhere."""
    if all(type(linear) is Linear and linear.trains_on_onednn(x) for linear in linears):
        return _OneDNNLinear.apply(x, torch.cat([linear.weight for linear in linears]))
    return None


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


def swiglu(gate_up: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up, gate and up being the two halves of the last dimension."""
    gate, up = gate_up.chunk(2, dim=-1)
    return F.silu(gate).mul_(up)


class _SwiGLU(torch.autograd.Function):
    """swiglu over a fused (N, 2 I) gate/up projection, with a backward that writes both halves of its gradient in
    place: autograd's own allocates three (N, I) tensors and then concatenates two of them."""

    @staticmethod
    def forward(ctx, gate_up: torch.Tensor) -> torch.Tensor:
        gate, up = gate_up.chunk(2, dim=-1)
        silu = F.silu(gate)
        ctx.save_for_backward(gate_up, silu)  # what autograd keeps too; silu spares the backward a strided pass
        return silu * up

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        gate_up, silu = ctx.saved_tensors
        gate, up = gate_up.chunk(2, dim=-1)
        grad_gate_up = torch.empty_like(gate_up)
        grad_gate, grad_up = grad_gate_up.chunk(2, dim=-1)
        torch.mul(grad, up, out=grad_gate)
        torch.ops.aten.silu_backward.grad_input(grad_gate, gate, grad_input=grad_gate)  # times silu'(gate)
        torch.mul(grad, silu, out=grad_up)
        return grad_gate_up


class _RMSNorm(torch.autograd.Function):
    """F.rms_norm's float32 CPU forward with a hand-written backward: autograd's runs about a dozen elementwise
    passes over the formula's pieces, this one eight."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        y, rstd = torch.ops.aten._fused_rms_norm(x, [x.size(-1)], weight, eps)  # rstd: (..., 1)
        ctx.save_for_backward(x, weight, rstd)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight, rstd = ctx.saved_tensors
        x_hat = x * rstd
        grad_weight = (grad * x_hat).flatten(0, -2).sum(0) if ctx.needs_input_grad[1] else None
        grad_x_hat = grad * weight
        # x_hat = x * rstd(x), so grad_x = rstd * (grad_x_hat - x_hat * mean(grad_x_hat * x_hat)) per row.
        mean_dot = torch.linalg.vecdot(grad_x_hat, x_hat).unsqueeze(-1).div_(x.size(-1))
        return grad_x_hat.sub_(x_hat.mul_(mean_dot)).mul_(rstd), grad_weight, None


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            if x.device.type == "cpu" and torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
                return _RMSNorm.apply(x, self.weight, self.eps)
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)  # one fused kernel, unfused numbers
        # Normalise in float32 whatever the compute dtype: bf16 loses too much in the mean of squares.
        return self.weight * F.rms_norm(x.float(), self.weight.shape, None, self.eps).to(x.dtype)


def rope_tables(head_dim: int, max_seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, (max_seq_len, head_dim), in the half-split layout Llama checkpoints use."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float32), inv_freq)  # (T, D/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, D)
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, out: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
    """Write x (..., T, D) rotated by per-position angles into out; sign=-1 rotates back (the backward).

    Half-split layout, as Llama checkpoints: [x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin]; cos and sin are
    (..., T, D) tables whose two halves are equal. One product and two in-place addcmuls: no temporaries.
    """
    half = x.size(-1) // 2
    first, second, sin_half = x[..., :half], x[..., half:], sin[..., :half]
    torch.mul(x, cos, out=out)
    out[..., :half].addcmul_(second, sin_half, value=-sign)
    out[..., half:].addcmul_(first, sin_half, value=sign)
    return out


def _rotated_split(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, n_head: int) -> tuple[torch.Tensor, ...]:
    B, T, heads, D = qkv.shape
    n_rotated = n_head + (heads - n_head) // 2  # the q and k heads
    rotated = qkv.new_empty(B, T, n_rotated, D).transpose(1, 2)
    rotate(qkv[:, :, :n_rotated].transpose(1, 2), cos, sin, rotated)
    return rotated[:, :n_head], rotated[:, n_head:], qkv[:, :, n_rotated:].transpose(1, 2)


class _SplitQKV(torch.autograd.Function):
    """The rotated split whose backward writes the three gradients into one (B, T, H + 2 Hkv, D) tensor: the layout the
    projection's backward reads, with no concatenation and no autograd bookkeeping of the rotation's temporaries."""

    @staticmethod
    def forward(ctx, qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, n_head: int):
        ctx.save_for_backward(cos, sin)
        ctx.n_head = n_head
        return _rotated_split(qkv, cos, sin, n_head)

    @staticmethod
    def backward(ctx, grad_q: torch.Tensor, grad_k: torch.Tensor, grad_v: torch.Tensor):
        cos, sin = ctx.saved_tensors
        H, Hkv = ctx.n_head, grad_k.size(1)
        grad = grad_q.new_empty(grad_q.size(0), grad_q.size(2), H + 2 * Hkv, grad_q.size(3))  # (B, T, heads, D)
        heads_first = grad.transpose(1, 2)
        rotate(grad_q, cos, sin, heads_first[:, :H], sign=-1.0)
        rotate(grad_k, cos, sin, heads_first[:, H : H + Hkv], sign=-1.0)
        heads_first[:, H + Hkv :].copy_(grad_v)
        return grad, None, None, None


def split_qkv(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, n_head: int) -> tuple[torch.Tensor, ...]:
    """(B, T, H + 2 Hkv, D) projections -> q, k, v as (B, heads, T, D) views, q and k rotated (both in one call)."""
    if torch.is_grad_enabled() and qkv.requires_grad:
        return _SplitQKV.apply(qkv, cos, sin, n_head)
    return _rotated_split(qkv, cos, sin, n_head)


QUERY_BLOCK = 32  # causal_attention's block of queries on CPU


@functools.lru_cache(maxsize=256)
def _diagonal_mask(start: int, end: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Additive (end - start, end) mask: queries start..end-1 may see keys up to their own position."""
    query_pos = torch.arange(start, end, device=device)[:, None]
    key_pos = torch.arange(end, device=device)[None, :]
    return torch.zeros(end - start, end, dtype=dtype, device=device).masked_fill_(key_pos > query_pos, float("-inf"))


_flash_forward = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default
_flash_backward = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward.default


class _BlockCausalAttention(torch.autograd.Function):
    """Float32 causal attention on CPU: SDPA's flash kernel run per block of QUERY_BLOCK queries over the keys
    the block can see, with an additive mask on the block's own diagonal.

    The fused kernel tiles keys by 512, so below about a thousand tokens it computes the whole upper triangle of
    the causal mask and throws it away: half its work at 256 tokens. In blocks, 9/16 of the kernel's work remains.
    Forward + backward of one layer of bench.llm_train (Zen 4, 1 thread): 27 ms against 37, with blocks of 16
    queries 28 ms and of 64 29 ms. In bf16 the blocks measured slower than the fused kernel, so bf16 keeps it.
    """

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        B, H, T, D = q.shape
        out = q.new_empty(B, T, H, D).transpose(1, 2)  # heads-last, as the caller's transpose + reshape wants
        blocks, lses = [], []
        for start in range(0, T, QUERY_BLOCK):
            end = min(start + QUERY_BLOCK, T)
            mask = _diagonal_mask(start, end, q.dtype, q.device)
            block_out, lse = _flash_forward(
                q[:, :, start:end], k[:, :, :end], v[:, :, :end], 0.0, False, attn_mask=mask
            )
            out[:, :, start:end] = block_out
            blocks.append((start, end, mask))
            lses.append(lse)
        ctx.save_for_backward(q, k, v, out, *lses)
        ctx.blocks = blocks
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        q, k, v, out, *lses = ctx.saved_tensors
        grad_q = q.new_empty(q.size(0), q.size(2), q.size(1), q.size(3)).transpose(1, 2)
        grad_k = k.new_zeros(k.size(0), k.size(2), k.size(1), k.size(3)).transpose(1, 2)
        grad_v = torch.zeros_like(grad_k)
        for (start, end, mask), lse in zip(ctx.blocks, lses):
            block_q, block_k, block_v = _flash_backward(
                grad[:, :, start:end], q[:, :, start:end], k[:, :, :end], v[:, :, :end], out[:, :, start:end], lse,
                0.0, False, attn_mask=mask,
            )
            grad_q[:, :, start:end] = block_q
            grad_k[:, :, :end] += block_k  # every later block sees these keys too
            grad_v[:, :, :end] += block_v
        return grad_q, grad_k, grad_v


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal self-attention without padding: (B, H, T, D) queries over (B, Hkv, T, D) keys and values."""
    blocks_pay = q.device.type == "cpu" and q.dtype == torch.float32 and q.size(2) > QUERY_BLOCK
    if blocks_pay and not torch.compiler.is_compiling():
        return _BlockCausalAttention.apply(q, k, v)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=k.size(1) != q.size(1))


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
        if self.qkv_proj is not None:  # fused for inference by fuse_projections
            qkv = self.qkv_proj(x)
        else:
            qkv = stacked_training_matmul(x, (self.q_proj, self.k_proj, self.v_proj))  # float32 CPU training
            if qkv is None:
                qkv = torch.cat([self.q_proj(x), self.k_proj(x), self.v_proj(x)], dim=-1)
        q, k, v = split_qkv(qkv.view(B, T, H + 2 * Hkv, D), cos, sin, H)  # each (B, heads, T, D)
        if cache is not None:
            if cache.keys.dtype != k.dtype:  # e.g. a bf16 cache under float32 weights
                k, v = cache.update(self.layer_index, start_pos, k.to(cache.keys.dtype), v.to(cache.keys.dtype))
                k, v = k.to(q.dtype), v.to(q.dtype)
            else:
                k, v = cache.update(self.layer_index, start_pos, k, v)
        # Without a mask, a multi-token call is a plain causal prefill and a single token attends to everything
        # cached; every other case (padding, chunked prefill) arrives with a mask.
        dropout = self.dropout if self.training else 0.0
        if mask is None and T > 1 and dropout == 0.0:
            y = causal_attention(q, k, v)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=mask is None and T > 1, dropout_p=dropout,
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
        if self.gate_up_proj is not None:
            return self.down_proj(swiglu(self.gate_up_proj(x)))  # (B, T, 2 I) -> (B, T, I)
        gate_up = stacked_training_matmul(x, (self.gate_proj, self.up_proj))  # float32 CPU training
        if gate_up is not None:
            return self.down_proj(_SwiGLU.apply(gate_up))
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


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
