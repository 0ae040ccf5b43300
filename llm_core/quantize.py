"""Weight formats for CPU inference (oneDNN-packed float32 or bfloat16, int8, int4), and the perplexity that
measures what quantization costs.

int8 (serving, quantize_int8): int8 weights with one symmetric scale per output channel (absmax / 127), a
quarter of float32's bytes. On x86 CPUs each linear layer is a DynamicInt8Linear: the activations are quantized
per row on the fly and the matmul is fbgemm's int8 x int8 kernel, with q/k/v and gate/up each fused into one
matmul. Measured at one token on an AVX-512 dev box (SmolLM2's shapes, one thread, weights streamed from
memory): fbgemm's kernel took 25-55 us per projection and 1.2 ms for the head, where weight-only int8 on bf16
activations took 1.5-2.5x that (`_weight_int8pack_mm` 27-216 us, 2.4 ms; the int4pack kernel over two 4-bit
planes, Int8Linear, 70-260 us, 3.6 ms), and bf16 weights through oneDNN 60-410 us. Greedy decoding of SmolLM2
ran ~1.55x faster than with Int8Linear everywhere. With VNNI the activations keep 8 bits; on AVX2 alone they
get 7 (see seven_bit_activations), and down_proj, whose inputs carry the widest outliers, is a WeightInt8Linear
there (weight-only int8, as fast as fbgemm's kernel on that CPU; on an AVX2 EPYC, int4pack ran 3.5x slower).
Perplexity on the benchmark's 2048 held-out tokens, after smooth_activations: +0.7% with 8-bit activations
(+2.7% unsmoothed), +1.5% with 7 (+3.0% with down_proj at 7 bits too); on short texts rounding moves the figure
by about a point between equally good models. Elsewhere (not x86) each linear layer becomes an Int8Linear.

int4 (draft models for speculative decoding, see int4_draft): 4-bit groups through the int4pack kernel.

Quantize after loading (it takes seconds); quantized models are for inference and are not saved.
"""
import copy
import math
import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from llm_core.model import MLP, Attention, Transformer


class PackedLinear(nn.Module):
    """A bias-free CPU linear layer whose weight is pre-packed in oneDNN's blocked layout, float32 in and out.

    In float32 (pack_float32): the same math as nn.Linear, through oneDNN's matmul instead of MKL's: measured
    on the dev box at SmolLM2's shapes, 1.1x faster at one token, ~1.4-1.9x at 5-8 rows (speculative
    verification, batches), 1.2-1.3x on prefills. Results differ from nn.Linear only by float32 rounding
    (~1e-6 relative). In bfloat16 (bf16_twin): the weights and the matmul's inputs are bf16, for prompt
    prefills on CPUs with bf16 matmul units. The packed weight is opaque: inference only, and it cannot be
    deep-copied or saved.
    """

    PACK_FOR_ROWS = 8  # oneDNN picks the blocking for this many rows; it measured as fast as 1 at one row

    def __init__(self, weight: torch.Tensor, *, dtype: torch.dtype = torch.float32, pack_for_rows: int = PACK_FOR_ROWS):
        super().__init__()
        if weight.device.type != "cpu" or weight.dtype != torch.float32 or weight.dim() != 2:
            raise ValueError("PackedLinear takes the float32 weight of a bias-free linear layer on the CPU")
        self.out_features, self.in_features = weight.shape
        self.compute_dtype = dtype
        packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().to(dtype), pack_for_rows)
        self.register_buffer("weight", packed, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.mkldnn._linear_pointwise.default(x.to(self.compute_dtype), self.weight, None, "none", [], "")
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        dtype = str(self.compute_dtype).removeprefix("torch.")
        return f"in_features={self.in_features}, out_features={self.out_features}, onednn-packed {dtype}"


def _float32_weight(module: nn.Module) -> torch.Tensor | None:
    """The dense float32 (out, in) weight of a bias-free float32 linear layer, plain or packed; else None."""
    if isinstance(module, PackedLinear):
        return module.weight.to_dense() if module.compute_dtype == torch.float32 else None
    if isinstance(module, nn.Linear) and module.bias is None and module.weight.dtype == torch.float32:
        return module.weight
    return None


def pack_float32(model: nn.Module, skip: Sequence[str] = ()) -> nn.Module:
    """Replace every float32 nn.Linear (except names in skip) by a PackedLinear, in place; returns the model.

    A head tied to the embedding gets its own packed copy. Build any draft (int4_draft) before packing.
    """
    def convert(name: str, linear: nn.Linear) -> PackedLinear:
        if linear.bias is not None:
            raise ValueError(f"{name}: PackedLinear takes bias-free linear layers")
        return PackedLinear(linear.weight)

    _replace_linears(model, convert, skip)
    return model


def bf16_supported(model: nn.Module) -> bool:
    """Whether bf16_twin can speed this model up: float32 on a CPU with bf16 matmuls."""
    weight = next(model.parameters())
    return weight.device.type == "cpu" and weight.dtype == torch.float32 and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def bf16_twin(model: nn.Module, skip: Sequence[str] = ()) -> nn.Module:
    """A shallow copy of model whose float32 linear layers (plain or packed; except names in skip) run in
    bfloat16; every other module, parameter and buffer is shared with model, which is left untouched.

    For prompt prefills, where the matmuls dominate: their rounding moves logits by ~1e-2, so decode steps,
    which pick each token, stay on the float32 model (or skip its head)."""
    def copy_of(module: nn.Module, prefix: str) -> nn.Module:
        weight = _float32_weight(module) if prefix not in skip else None
        if weight is not None:
            return PackedLinear(weight, dtype=torch.bfloat16, pack_for_rows=64)  # prefills have many rows
        if not module._modules:
            return module  # nothing inside changes: the very same module
        clone = copy.copy(module)  # shares parameters, buffers and attributes with the original
        clone._modules = {
            name: copy_of(child, f"{prefix}.{name}" if prefix else name) if child is not None else None
            for name, child in module._modules.items()
        }
        return clone

    return copy_of(model, "")


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K) float -> (N, K) int8 and (N,) float32 scales, symmetric per output channel."""
    w = weight.detach().float()
    scales = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (N,); the clamp keeps all-zero rows finite
    q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scales


class DynamicInt8Linear(nn.Module):
    """A bias-free CPU linear layer: int8 weights (per-output-channel scales) times activations quantized to
    uint8 per row on the fly, through fbgemm's int8 kernel; float32 in and out.

    fbgemm quantizes its input per tensor, over the tensor's min..max. One row (a decoding step) is quantized
    as it is. Several rows are first mapped each onto 0..1, so each row keeps its own range (one range for a
    512-token block cost 48% perplexity on SmolLM2): x = low + width x', so x W^T = width (x' W^T) + low (W 1).
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        if weight.device.type != "cpu" or weight.dim() != 2:
            raise ValueError("DynamicInt8Linear takes the weight of a bias-free linear layer on the CPU")
        self.out_features, self.in_features = weight.shape
        self.reduce_range = seven_bit_activations()  # fbgemm's name: activations in 0..127 instead of 0..255
        q, scales = quantize_weight(weight)
        zero_points = torch.zeros(self.out_features, dtype=torch.long)
        with warnings.catch_warnings():  # quantized tensors are deprecated, but they are how fbgemm takes weights
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
            qweight = torch._make_per_channel_quantized_tensor(q, scales.double(), zero_points, 0)
        self.packed = torch.ops.quantized.linear_prepack(qweight, None)
        self.register_buffer("row_sums", (q.float() * scales[:, None]).sum(dim=1), persistent=False)  # W 1, (N,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Ops are called by overload (.default) on the hot paths here: the overload packet's Python-side checks
        # cost ~6 us a call; over SmolLM2's ~120 matmuls per token, int8 decoding measured ~2% faster (paired).
        if x.numel() == self.in_features:
            return torch.ops.quantized.linear_dynamic.default(x, self.packed, self.reduce_range)
        low, high = torch.aminmax(x, dim=-1, keepdim=True)
        width = (high - low).clamp(min=1e-12)
        y = torch.ops.quantized.linear_dynamic.default((x - low) / width, self.packed, self.reduce_range)
        return torch.addcmul(low * self.row_sums, y, width)

    def extra_repr(self) -> str:
        bits = 7 if self.reduce_range else 8
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights, {bits}-bit activations"


class WeightInt8Linear(nn.Module):
    """A bias-free CPU linear layer with int8 weights (per-output-channel scales) and bf16 activations, through
    torch's `_weight_int8pack_mm`; float32 in and out. The activations keep bf16's 8-bit mantissa and their own
    exponent per value, so channel outliers cost nothing extra."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        if weight.device.type != "cpu" or weight.dim() != 2:
            raise ValueError("WeightInt8Linear takes the weight of a bias-free linear layer on the CPU")
        self.out_features, self.in_features = weight.shape
        q, scales = quantize_weight(weight)
        self.register_buffer("weight", q, persistent=False)
        self.register_buffer("scales", scales.to(torch.bfloat16), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2 = x.reshape(-1, self.in_features).to(torch.bfloat16)  # (..., K) -> (M, K)
        y = torch.ops.aten._weight_int8pack_mm.default(x2, self.weight, self.scales)
        return y.to(x.dtype).view(*x.shape[:-1], self.out_features)  # (M, N) -> (..., N)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights, bf16 activations"


def seven_bit_activations() -> bool:
    """Whether DynamicInt8Linear quantizes activations to 7 bits here rather than 8: without VNNI, fbgemm sums
    pairs of uint8 x int8 products in 16 bits (AVX2's vpmaddubsw), which full-range activations can saturate."""
    return not torch.cpu._is_vnni_supported()


def int8_activations_supported() -> bool:
    """Whether DynamicInt8Linear runs here: x86, where torch's quantized engine is fbgemm."""
    return torch.backends.quantized.engine in ("x86", "fbgemm")


class _Int4PackLinear(nn.Module):
    """A bias-free CPU linear layer whose weights are 4-bit codes for torch's int4pack kernel (bf16 compute).

    The kernel decodes code c of group g as (c - 8) * scale[g] + zero[g], groups of group_size along K.
    Subclasses choose the codes; `planes` copies of the input are laid side by side along K.
    """

    planes = 1

    def __init__(self, in_features: int, out_features: int, group_size: int):
        super().__init__()
        if in_features % group_size:
            raise ValueError(f"in_features {in_features} is not a multiple of group_size {group_size}")
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        self.register_buffer("weight", torch.empty(0, dtype=torch.uint8))  # torch's packed int4 layout
        self.register_buffer("scales_and_zeros", torch.empty(0, dtype=torch.bfloat16))  # (planes K / group, N, 2)

    def _pack(self, codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> None:
        """codes (N, planes * K) in 0..15; scale and zero (planes * K / group_size, N)."""
        pad = -self.out_features % 16  # the packed layout wants N in multiples of 16: zero rows, cut off later
        codes, scale, zero = F.pad(codes, (0, 0, 0, pad)), F.pad(scale, (0, pad)), F.pad(zero, (0, pad))
        self.weight = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes.to(torch.int32).contiguous(), 1)
        self.scales_and_zeros = torch.stack([scale, zero], dim=-1).to(torch.bfloat16).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The float32 kernel is ~20x slower than the bf16 one on AVX-512 CPUs: activations go through bf16.
        # Casts are skipped when not needed: at ~200 linear layers per token, every dispatched no-op shows.
        x2 = x.reshape(-1, self.in_features)  # (..., K) -> (M, K)
        if x2.dtype != torch.bfloat16:
            x2 = x2.to(torch.bfloat16)
        if self.planes > 1:
            x2 = torch.cat([x2] * self.planes, dim=1)  # (M, K) -> (M, planes * K)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu.default(x2, self.weight, self.group_size, self.scales_and_zeros)
        if y.size(-1) != self.out_features:
            y = y[:, : self.out_features]  # drop the padding rows
        if y.dtype != x.dtype:
            y = y.to(x.dtype)
        return y.reshape(*x.shape[:-1], self.out_features)  # (M, N) -> (..., N)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class Int8Linear(_Int4PackLinear):
    """int8 weights (N, K) with per-output-channel scales (N,), on the CPU.

    Stored as two 4-bit planes, w = 16 * high + low (high in -8..7, low in 0..15), side by side along K: one
    int4pack call over [x, x] computes x (16 high + low)^T s, which is exactly x w^T s. Why not torch's
    `_weight_int8pack_mm`: at one token the int4 kernel runs 1.1-1.5x faster on the same bytes (SmolLM2's
    shapes), and decoding is one token at a time; a 40-token prefill is ~1.5x slower, a few percent of a reply.
    """

    planes = 2

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features, group_size=32)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int8Linear":
        if linear.bias is not None or linear.weight.device.type != "cpu":
            raise ValueError("Int8Linear takes bias-free linear layers on the CPU")
        module = cls(linear.in_features, linear.out_features)
        q, scales = quantize_weight(linear.weight)
        high = torch.div(q.int(), 16, rounding_mode="floor")  # -8..7
        low = q.int() - 16 * high  # 0..15
        # High plane (code high + 8) decodes with (16 s, 0), low plane (code low) with (s, 8 s). Rounding s to
        # bf16 first keeps 16 s and 8 s exact (powers of two).
        s = scales.to(torch.bfloat16).float()[None, :].expand(linear.in_features // module.group_size, -1)
        module._pack(torch.cat([high + 8, low], dim=1), torch.cat([16 * s, s]), torch.cat([0 * s, 8 * s]))
        return module


def _replace_linears(model: nn.Module, convert: Callable[[str, nn.Linear], nn.Module], skip: Sequence[str]) -> None:
    """Swap each nn.Linear (by qualified name, except those in skip) for convert(name, linear), in place."""
    targets = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) and n not in skip]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, convert(name, linear))


@torch.no_grad()
def smooth_activations(model: Transformer, alpha: float = 0.5) -> None:
    """Move activation outliers into the weights before 8-bit activations (SmoothQuant, Xiao et al. 2023).

    A few input channels of SmolLM2's projections run 10-50x larger than the median, and a row's 8-bit range
    is spent on them. Each such channel c is divided by s_c = max|x_c|^alpha / max|W_c|^(1 - alpha) where the
    activation comes from (an RMSNorm weight, or up_proj's rows for down_proj) and multiplied back into the
    weight's column: the same float function, evener activations. The maxima come from one forward pass over
    random tokens (channel outliers do not depend on the text much). The head, tied to the embedding, becomes
    its own scaled copy. On SmolLM2 this halved the int8 model's KL divergence from the float model.
    """
    layers = model.layers
    inputs = [m for b in layers for m in (b.self_attn.q_proj, b.mlp.gate_proj, b.mlp.down_proj)] + [model.lm_head]
    maxima: dict[nn.Module, torch.Tensor] = {}

    def record(module: nn.Module, args: tuple[torch.Tensor]) -> None:
        x = args[0].abs().reshape(-1, args[0].size(-1)).amax(dim=0)  # (B, T, C) -> (C,)
        maxima[module] = torch.maximum(maxima[module], x) if module in maxima else x

    hooks = [m.register_forward_pre_hook(record) for m in inputs]
    try:
        model(torch.randint(0, model.config.vocab_size, (4, 64), generator=torch.Generator().manual_seed(0)))
    finally:
        for hook in hooks:
            hook.remove()

    def scales(module: nn.Module, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        weight_max = torch.cat([w.abs() for w in weights]).amax(dim=0)  # (C,)
        return (maxima[module].clamp(min=1e-5) ** alpha / weight_max.clamp(min=1e-5) ** (1 - alpha)).clamp(min=1e-5)

    for block in layers:
        attn, mlp = block.self_attn, block.mlp
        s = scales(attn.q_proj, [attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
        block.input_layernorm.weight.div_(s)
        for linear in (attn.q_proj, attn.k_proj, attn.v_proj):
            linear.weight.mul_(s)
        s = scales(mlp.gate_proj, [mlp.gate_proj.weight, mlp.up_proj.weight])
        block.post_attention_layernorm.weight.div_(s)
        for linear in (mlp.gate_proj, mlp.up_proj):
            linear.weight.mul_(s)
        s = scales(mlp.down_proj, [mlp.down_proj.weight])
        mlp.up_proj.weight.div_(s[:, None])  # silu(gate) * up: scaling up's outputs scales down_proj's inputs
        mlp.down_proj.weight.mul_(s)
    s = scales(model.lm_head, [model.lm_head.weight])
    model.norm.weight.div_(s)
    head = nn.Linear(model.config.n_embd, model.config.vocab_size, bias=False, device="meta")  # no init: set next
    head.weight = nn.Parameter(model.lm_head.weight * s)  # a copy: the embedding lookup stays as it was
    model.lm_head = head


def quantize_int8(model: Transformer) -> Transformer:
    """Give every linear layer int8 weights, in place; returns the model.

    On x86 (int8_activations_supported): activations smoothed first (smooth_activations), q/k/v and gate/up fused
    (one matmul per input instead of three or two: fewer calls per token), every layer a DynamicInt8Linear
    except, without VNNI, down_proj, a WeightInt8Linear (see the module docstring). Else Int8Linear. A head
    tied to the embedding gets its own quantized copy: the embedding lookup stays exact.
    """
    if not int8_activations_supported():
        _replace_linears(model, lambda name, linear: Int8Linear.from_linear(linear), skip=())
        return model
    smooth_activations(model)
    for module in model.modules():
        if isinstance(module, (Attention, MLP)):
            module.fuse_projections(DynamicInt8Linear)
    _replace_linears(model, lambda name, linear: int8_linear(name, linear.weight), skip=())
    return model


def int8_linear(name: str, weight: torch.Tensor) -> nn.Module:
    """The int8 layer quantize_int8 gives the (smoothed) linear layer called name, on x86."""
    if name.endswith("down_proj") and seven_bit_activations():
        return WeightInt8Linear(weight)
    return DynamicInt8Linear(weight)


def quantize_int4_weight(weight: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K) float -> 4-bit codes (N, K) int32 in 0..15 and (K / group_size, N, 2) [scale, zero] per group.

    Asymmetric min/max groups, decoded as (q - 8) * scale + zero (torch's int4pack layout). Weights that came
    from GGUF Q4_1 blocks of 32 (d * q + min) are recovered exactly: a block's min and max are its codes 0, 15.
    """
    n, k = weight.shape
    groups = weight.detach().float().reshape(n, k // group_size, group_size)  # (N, K) -> (N, G, group_size)
    low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
    scale = ((high - low) / 15).clamp(min=1e-12)
    codes = torch.round((groups - low) / scale).clamp(0, 15).to(torch.int32).reshape(n, k)
    zero = low + 8 * scale
    scales_and_zeros = torch.stack([scale[..., 0].t(), zero[..., 0].t()], dim=-1)  # (G, N, 2)
    return codes, scales_and_zeros.contiguous()


class Int4Linear(_Int4PackLinear):
    """4-bit weights in asymmetric groups of group_size along K, on the CPU.

    For draft models (speculative decoding): 8x less weight traffic than float32, and on SmolLM2 nearly
    exact, since its published weights are 4-bit already.
    """

    @classmethod
    def from_linear(cls, linear: nn.Linear, group_size: int = 32) -> "Int4Linear":
        if linear.bias is not None or linear.weight.device.type != "cpu":
            raise ValueError("Int4Linear takes bias-free linear layers on the CPU")
        module = cls(linear.in_features, linear.out_features, group_size)
        codes, scales_and_zeros = quantize_int4_weight(linear.weight, group_size)
        module._pack(codes, scales_and_zeros[..., 0], scales_and_zeros[..., 1])
        return module


def int4_drafts_help() -> bool:
    """Whether an int4_draft speeds float32 greedy decoding up here: on CPUs with AVX-512, where torch's int4pack
    kernel is fast (1.3-1.5x on the dev box). On an AVX2 EPYC the kernel ran 3.5x slower than fbgemm's int8 one
    and drafting made decoding 7% slower than without."""
    return torch.backends.cpu.get_cpu_capability() == "AVX512"


def int4_draft(model: Transformer, group_size: int = 32, *, inplace: bool = False) -> Transformer:
    """A cheap version of model to draft for speculative decoding: int4 blocks, an int8 head.

    The head keeps 8 bits because SmolLM2's embedding (which the head is tied to) was published as 8-bit.
    By default model is left alone (a copy shares its embedding: lookups are read-only); inplace converts
    model itself, for a throwaway copy. Either way model must be plain (not packed: pack_float32 after this).
    """
    draft = model
    if not inplace:
        draft = copy.deepcopy(model)
        draft.embed_tokens = model.embed_tokens

    def convert(name: str, linear: nn.Linear) -> nn.Module:
        return Int8Linear.from_linear(linear) if name == "lm_head" else Int4Linear.from_linear(linear, group_size)

    _replace_linears(draft, convert, skip=())
    return draft.eval()


@torch.inference_mode()
def perplexity(model: Transformer, token_ids: Sequence[int], *, block_size: int = 512) -> float:
    """exp(mean next-token loss) over token_ids, in non-overlapping blocks of block_size tokens."""
    if len(token_ids) < 2:
        raise ValueError("perplexity needs at least two tokens")
    device = model.embed_tokens.weight.device
    ids = torch.tensor(list(token_ids), dtype=torch.long, device=device)
    total_loss, total_tokens = 0.0, 0
    for start in range(0, len(ids) - 1, block_size):
        block = ids[start : start + block_size + 1]  # block_size inputs and their next tokens
        logits, _ = model(block[None, :-1])  # (1, T) -> (1, T, V)
        loss = F.cross_entropy(logits[0].float(), block[1:], reduction="sum")
        total_loss += loss.item()
        total_tokens += len(block) - 1
    return math.exp(total_loss / total_tokens)
