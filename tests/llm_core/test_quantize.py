import pytest
import torch
from torch import nn

from llm_core.quantize import (
    Int4Linear,
    Int8Linear,
    PackedLinear,
    bf16_twin,
    int4_draft,
    pack_float32,
    perplexity,
    quantize_int4_weight,
    quantize_int8,
    quantize_weight,
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
    assert isinstance(tiny_model.lm_head, Int8Linear)
    assert torch.equal(tiny_model.embed_tokens.weight, embedding)  # the tied head was quantized as a copy


def test_int8_model_stays_close_to_the_float_model():
    from tests.llm_core.conftest import make_tiny_model

    model, quantized = make_tiny_model(), quantize_int8(make_tiny_model())
    ids = torch.randint(0, 259, (2, 40), generator=torch.Generator().manual_seed(0))

    logits, q_logits = model(ids)[0], quantized(ids)[0]

    # Int8 weights and bf16 activations each round at ~0.4% per layer; the tiny model's large random
    # weights amplify that to a few percent at the logits (the real model loses < 3% perplexity: slow test).
    assert ((q_logits - logits).norm() / logits.norm()) < 0.08
    assert (q_logits.argmax(-1) == logits.argmax(-1)).float().mean() >= 0.9


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


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(tiny_model):
    with torch.no_grad():
        tiny_model.norm.weight.zero_()  # zero hidden state -> equal logits for all 259 ids

    assert perplexity(tiny_model, list(range(50)), block_size=16) == pytest.approx(259, rel=1e-4)


def test_perplexity_needs_two_tokens(tiny_model):
    with pytest.raises(ValueError, match="two tokens"):
        perplexity(tiny_model, [3])


@pytest.mark.slow
def test_int8_smollm2_costs_under_three_percent_perplexity(smollm2):
    from llm_core.smollm2 import load_smollm2

    model, tokenizer = smollm2
    quantized, _ = load_smollm2()
    quantize_int8(quantized)
    text = (
        "Thank you for reaching out. I understand that you would like to cancel your order. To do so, please log "
        "in to your account, open Order History, select the order and click Cancel Order. If the order has already "
        "shipped, you can return it within 30 days of delivery for a full refund. Refunds are credited to the "
        "original payment method within five to seven business days. If you need any further help, our customer "
        "support team is available around the clock by chat, email or phone."
    )
    ids = tokenizer.encode(text)

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
