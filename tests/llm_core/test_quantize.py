import pytest
import torch
from torch import nn

from llm_core import quantize
from llm_core.quantize import (
    DynamicInt8Linear,
    Int4Linear,
    Int8Linear,
    PackedLinear,
    WeightInt8Linear,
    _replace_linears,
    bf16_twin,
    int4_draft,
    int8_activations_supported,
    int8_linear,
    pack_float32,
    perplexity,
    quantize_int4_weight,
    quantize_int8,
    quantize_weight,
    seven_bit_activations,
    smooth_activations,
)


def test_quantized_weight_is_within_half_a_step_of_the_original():
    weight = torch.randn(32, 48)

    q, scales = quantize_weight(weight)

    assert q.dtype == torch.int8 and scales.shape == (32,)
    assert q.abs().max() == 127  # each row's largest weight uses the full range
    assert ((q.float() * scales[:, None] - weight).abs() <= scales[:, None] / 2 + 1e-6).all()


def test_int8_linear_is_close_to_the_float_linear():
    torch.manual_seed(0)
    linear = nn.Linear(64, 96, bias=False)
    x = torch.randn(2, 5, 64)

    y = Int8Linear.from_linear(linear)(x)

    expected = linear(x)
    assert y.shape == (2, 5, 96) and y.dtype == torch.float32
    assert ((y - expected).norm() / expected.norm()) < 0.01


def test_int8_linear_computes_exactly_the_int8_weights_product():
    torch.manual_seed(0)
    linear = nn.Linear(96, 40, bias=False)
    x = torch.randn(4, 96)
    q, scales = quantize_weight(linear.weight)

    y = Int8Linear.from_linear(linear)(x)

    # the same int8 weights through torch's int8 kernel: only bf16 output rounding may differ
    reference = torch.ops.aten._weight_int8pack_mm(x.bfloat16(), q, scales.bfloat16()).float()
    torch.testing.assert_close(y, reference, atol=0, rtol=1e-2)
    assert ((y - reference).norm() / reference.norm()) < 3e-3


def test_quantize_int8_replaces_every_linear_and_keeps_the_embedding_float(tiny_model):
    embedding = tiny_model.embed_tokens.weight.clone()

    quantize_int8(tiny_model)

    assert not any(isinstance(m, nn.Linear) for m in tiny_model.modules())
    assert isinstance(tiny_model.lm_head, DynamicInt8Linear if int8_activations_supported() else Int8Linear)
    assert torch.equal(tiny_model.embed_tokens.weight, embedding)  # the tied head was quantized as a copy


def test_quantize_int8_without_vnni_gives_weight_only_int8_layers(tiny_model, monkeypatch):
    monkeypatch.setattr(quantize, "int8_activations_supported", lambda: False)

    quantize_int8(tiny_model)

    assert isinstance(tiny_model.lm_head, Int8Linear) and isinstance(tiny_model.layers[0].mlp.up_proj, Int8Linear)
    assert tiny_model.layers[0].self_attn.qkv_proj is None  # int4pack layers are not fused


# The tiny model's large random weights amplify rounding: a relative logit error this size or less. 7-bit
# activations (x86 without VNNI, see DynamicInt8Linear) round twice as coarsely as 8-bit ones.
SEVEN_BIT = int8_activations_supported() and seven_bit_activations()
INT8_LOGIT_ERROR, INT8_SAME_ARGMAX = (0.12, 0.85) if SEVEN_BIT else (0.08, 0.9)
needs_fbgemm = pytest.mark.skipif(not int8_activations_supported(), reason="not x86: DynamicInt8Linear is not used")


@needs_fbgemm
def test_dynamic_int8_linear_is_close_to_the_float_linear_for_one_row_and_for_many():
    torch.manual_seed(0)
    linear = nn.Linear(96, 40, bias=False)
    x = torch.randn(2, 5, 96)

    with torch.inference_mode():
        layer = DynamicInt8Linear(linear.weight)
        many, one = layer(x), layer(x[:1, :1])
        expected = linear(x)

    assert many.shape == (2, 5, 40) and one.shape == (1, 1, 40)
    # 8-bit weights and 8-bit activations (7-bit without VNNI)
    assert ((many - expected).norm() / expected.norm()) < 0.03
    assert ((one - expected[:1, :1]).norm() / expected[:1, :1].norm()) < 0.03


@needs_fbgemm
def test_dynamic_int8_linear_quantizes_each_row_in_its_own_range():
    torch.manual_seed(0)
    linear = nn.Linear(64, 32, bias=False)
    x = torch.randn(3, 64)
    loud = torch.cat([x[:1] * 1000, x[1:]])  # one row 1000x larger than the others

    with torch.inference_mode():
        layer = DynamicInt8Linear(linear.weight)
        alone = torch.cat([layer(row[None]) for row in x[1:]])
        beside_a_loud_row = layer(loud)[1:]

    # One range for the tensor would round the quiet rows to almost nothing; per row, they keep 8 (or 7) bits.
    assert ((beside_a_loud_row - alone).norm() / alone.norm()) < 0.03


def test_weight_int8_linear_is_close_to_the_float_linear():
    torch.manual_seed(0)
    linear = nn.Linear(96, 40, bias=False)
    x = torch.randn(2, 5, 96)

    with torch.inference_mode():
        y, expected = WeightInt8Linear(linear.weight)(x), linear(x)

    assert y.shape == (2, 5, 40) and y.dtype == torch.float32
    assert ((y - expected).norm() / expected.norm()) < 0.01  # 8-bit weights, bf16 activations


@needs_fbgemm
@pytest.mark.parametrize("vnni", [True, False])
def test_without_vnni_down_proj_keeps_its_activations_out_of_seven_bits(tiny_model, monkeypatch, vnni):
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: vnni)

    quantize_int8(tiny_model)

    mlp = tiny_model.layers[0].mlp
    assert isinstance(mlp.down_proj, DynamicInt8Linear if vnni else WeightInt8Linear)
    assert isinstance(mlp.gate_up_proj, DynamicInt8Linear) and isinstance(tiny_model.lm_head, DynamicInt8Linear)
    assert tiny_model.lm_head.reduce_range is not vnni  # 8-bit activations with VNNI, 7 without


@needs_fbgemm
def test_fused_int8_projections_give_the_unfused_int8_logits():
    from tests.llm_core.conftest import make_tiny_model

    fused, unfused = quantize_int8(make_tiny_model()), make_tiny_model()
    smooth_activations(unfused)
    _replace_linears(unfused, lambda name, linear: int8_linear(name, linear.weight), skip=())
    ids = torch.randint(0, 259, (2, 20), generator=torch.Generator().manual_seed(0))

    with torch.inference_mode():
        got, expected = fused(ids)[0], unfused(ids)[0]
        got_one, expected_one = fused(ids[:1, :1])[0], unfused(ids[:1, :1])[0]

    assert isinstance(fused.layers[0].self_attn.qkv_proj, DynamicInt8Linear) and fused.layers[0].mlp.up_proj is None
    # Per-row activation scales and per-channel weight scales are the same fused or not: int32 sums agree.
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got_one, expected_one, atol=1e-4, rtol=1e-4)


def test_cached_decoding_of_the_int8_model_stays_close_to_the_float_model():
    from llm_core.generate import decode_one_token, prefill
    from tests.llm_core.conftest import make_tiny_model

    model, quantized = make_tiny_model(), quantize_int8(make_tiny_model())
    ids = torch.randint(0, 259, (1, 16), generator=torch.Generator().manual_seed(0))
    expected = model(ids)[0][0, 7:15]  # (8, V): the logits after positions 7..14
    cache = quantized.new_cache(1, 16)

    steps = [prefill(quantized, ids[:, :8], cache)]
    steps += [decode_one_token(quantized, ids[:, t], cache, t) for t in range(8, 15)]

    # One row (decoding) and a block of rows (prefill) are quantized by different code paths; both stay as
    # close to the float model as the full forward does (test_int8_model_stays_close_to_the_float_model).
    assert ((torch.cat(steps) - expected).norm() / expected.norm()) < INT8_LOGIT_ERROR


def test_int8_model_stays_close_to_the_float_model():
    from tests.llm_core.conftest import make_tiny_model

    model, quantized = make_tiny_model(), quantize_int8(make_tiny_model())
    ids = torch.randint(0, 259, (2, 40), generator=torch.Generator().manual_seed(0))

    logits, q_logits = model(ids)[0], quantized(ids)[0]

    # Int8 weights and 8-bit activations each round at ~0.4% per layer; the tiny model's large random
    # weights amplify that to a few percent at the logits (the real model loses < 3% perplexity: slow test).
    assert ((q_logits - logits).norm() / logits.norm()) < INT8_LOGIT_ERROR
    assert (q_logits.argmax(-1) == logits.argmax(-1)).float().mean() >= INT8_SAME_ARGMAX


def test_packed_float32_model_gives_the_same_logits(tiny_model):
    ids = torch.randint(0, 259, (3, 20), generator=torch.Generator().manual_seed(0))
    expected = tiny_model(ids)[0]

    pack_float32(tiny_model)

    assert isinstance(tiny_model.lm_head, PackedLinear) and isinstance(tiny_model.layers[1].mlp.down_proj, PackedLinear)
    torch.testing.assert_close(tiny_model(ids)[0], expected, atol=1e-4, rtol=1e-5)  # float32 rounding only
    torch.testing.assert_close(tiny_model(ids[:1, :1])[0], expected[:1, :1], atol=1e-4, rtol=1e-5)


@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="no bf16 matmuls on this CPU")
def test_bf16_twin_of_a_packed_model_shares_everything_but_its_linear_layers(tiny_model):
    ids = torch.randint(0, 259, (1, 20), generator=torch.Generator().manual_seed(0))
    pack_float32(tiny_model)
    with torch.inference_mode():
        expected = tiny_model(ids)[0]
        twin = bf16_twin(tiny_model, skip=["lm_head"])
        got = twin(ids)[0]

    q_proj = twin.layers[0].self_attn.q_proj
    assert q_proj.compute_dtype == torch.bfloat16 and tiny_model.layers[0].self_attn.q_proj.compute_dtype == torch.float32
    assert twin.lm_head is tiny_model.lm_head and twin.embed_tokens is tiny_model.embed_tokens
    assert ((got - expected).norm() / expected.norm()).item() < 0.02  # bf16 rounding of the matmuls only


def test_smoothing_activations_keeps_the_float_model_and_evens_out_the_norm_outputs(tiny_model):
    ids = torch.randint(0, 259, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tiny_model.layers[0].input_layernorm.weight[3] = 40.0  # an outlier channel into q/k/v
        expected = tiny_model(ids)[0]
        embedding = tiny_model.embed_tokens.weight.clone()

        smooth_activations(tiny_model)
        got = tiny_model(ids)[0]

    norm = tiny_model.layers[0].input_layernorm.weight
    assert norm[3].abs() < 40.0 / 3  # the outlier moved (in part) into q/k/v's weights
    assert tiny_model.lm_head.weight is not tiny_model.embed_tokens.weight
    assert torch.equal(tiny_model.embed_tokens.weight, embedding)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)  # float rounding only


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(tiny_model):
    with torch.no_grad():
        tiny_model.norm.weight.zero_()  # zero hidden state -> equal logits for all 259 ids

    assert perplexity(tiny_model, list(range(50)), block_size=16) == pytest.approx(259, rel=1e-4)


def test_perplexity_needs_two_tokens(tiny_model):
    with pytest.raises(ValueError, match="two tokens"):
        perplexity(tiny_model, [3])


@pytest.mark.slow
def test_int8_smollm2_costs_under_three_percent_perplexity(smollm2):
    from bench.llm_generate import HELD_OUT, PERPLEXITY_TOKENS, held_out_text
    from llm_core.smollm2 import load_smollm2

    if not HELD_OUT.is_file():
        pytest.skip(f"the held-out text is missing: {HELD_OUT}")
    model, tokenizer = smollm2
    quantized, _ = load_smollm2()
    quantize_int8(quantized)
    # The benchmark's 2048 held-out tokens: with 8-bit activations, rounding moves a short text's figure by
    # about a point from one equally good model to the next (a 90-token reply measured 2.5-3%).
    ids = tokenizer.encode(held_out_text(HELD_OUT))[:PERPLEXITY_TOKENS]

    increase = perplexity(quantized, ids) / perplexity(model, ids) - 1

    assert increase < 0.03


def test_int4_recovers_weights_that_were_4_bit_blocks_exactly():
    # GGUF Q4_1: each block of 32 weights is d * q + m with q in 0..15; every block uses codes 0 and 15
    codes = torch.randint(0, 16, (8, 64))
    codes[:, ::32], codes[:, 1::32] = 0, 15
    d, m = torch.rand(8, 2, 1) + 0.1, torch.randn(8, 2, 1)
    weight = (codes.view(8, 2, 32) * d + m).view(8, 64)

    q, scales_and_zeros = quantize_int4_weight(weight, 32)

    scale = scales_and_zeros[..., 0].t().repeat_interleave(32, dim=1)  # (G, N) -> (N, K)
    zero = scales_and_zeros[..., 1].t().repeat_interleave(32, dim=1)
    torch.testing.assert_close((q - 8) * scale + zero, weight, atol=1e-5, rtol=0)


def test_int4_linear_is_close_to_the_float_linear():
    torch.manual_seed(0)
    linear = nn.Linear(64, 96, bias=False)
    x = torch.randn(3, 64)

    y = Int4Linear.from_linear(linear)(x)

    expected = linear(x)
    assert y.shape == (3, 96) and y.dtype == torch.float32
    assert ((y - expected).norm() / expected.norm()) < 0.1  # 4-bit codes of gaussian weights: ~8% rms error


def test_int4_draft_quantizes_blocks_to_4_bits_and_the_head_to_8_sharing_the_embedding(tiny_model):
    draft = int4_draft(tiny_model)

    assert isinstance(draft.lm_head, Int8Linear)
    assert isinstance(draft.layers[0].mlp.up_proj, Int4Linear)
    assert draft.embed_tokens is tiny_model.embed_tokens
    assert isinstance(tiny_model.layers[0].mlp.up_proj, nn.Linear)  # the model itself is untouched


@pytest.mark.slow
def test_packed_smollm2_matches_the_plain_model(smollm2):
    from llm_core.generate import generate
    from llm_core.smollm2 import load_smollm2

    model, tokenizer = smollm2
    packed, _ = load_smollm2()
    pack_float32(packed)
    prompts = [
        tokenizer.encode(tokenizer.apply_chat_template([{"role": "user", "content": q}]))
        for q in ("Where is my order?", "Describe a blue denim jacket.")
    ]

    with torch.inference_mode():
        ids = torch.tensor([prompts[0]])
        diff = (packed(ids)[0].log_softmax(-1) - model(ids)[0].log_softmax(-1)).abs().max().item()
    plain = generate(model, tokenizer, prompts, max_new_tokens=32, eos_token_ids=())
    fast = generate(packed, tokenizer, prompts, max_new_tokens=32, eos_token_ids=())

    assert diff < 1e-3
    assert [r.token_ids for r in fast] == [r.token_ids for r in plain]
