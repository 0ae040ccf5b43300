import numpy as np
import pytest
import torch
from torch import nn

import torch.nn.functional as F

from llm_core.model import (
    QUERY_BLOCK,
    ModelConfig,
    RMSNorm,
    Transformer,
    attention_mask_for,
    causal_attention,
    positions_for,
    rope_tables,
    split_qkv,
)
from llm_core.smollm2 import load_model, save_model, unpermute_rotary
from tests.llm_core.conftest import make_tiny_model, tiny_config


def test_forward_returns_logits_for_every_position_and_a_scalar_loss(tiny_model):
    ids = torch.randint(0, 259, (3, 10))
    targets = ids.roll(-1, dims=1)
    targets[:, -1] = -100

    logits, loss = tiny_model(ids, targets=targets)

    assert logits.shape == (3, 10, 259)
    assert loss.shape == () and torch.isfinite(loss)


def test_last_only_returns_the_final_position_of_the_full_forward(tiny_model):
    ids = torch.randint(0, 259, (2, 9))

    full, _ = tiny_model(ids)
    last, _ = tiny_model(ids, last_only=True)

    assert last.shape == (2, 1, 259)
    torch.testing.assert_close(last[:, 0], full[:, -1], atol=1e-5, rtol=0)


def test_tied_head_shares_the_embedding_and_is_counted_once():
    model = Transformer(tiny_config())
    untied = Transformer(tiny_config(tie_embeddings=False))

    assert model.lm_head.weight is model.embed_tokens.weight
    assert untied.num_parameters() - model.num_parameters() == 259 * 64


def test_cached_token_by_token_decoding_matches_the_full_forward(tiny_model):
    ids = torch.randint(0, 259, (2, 12))
    full, _ = tiny_model(ids)
    cache = tiny_model.new_cache(2, 12)

    prefix, _ = tiny_model(ids[:, :5], cache=cache)
    steps = [tiny_model(ids[:, t : t + 1], cache=cache, start_pos=t)[0] for t in range(5, 12)]

    torch.testing.assert_close(torch.cat([prefix, *steps], dim=1), full, atol=1e-4, rtol=0)


def _plain_linear(weight: torch.Tensor) -> nn.Linear:
    linear = nn.Linear(weight.size(1), weight.size(0), bias=False)
    linear.weight = nn.Parameter(weight)
    return linear


def test_fused_projections_give_the_unfused_logits_with_and_without_a_cache(tiny_model):
    ids = torch.randint(0, 259, (2, 12), generator=torch.Generator().manual_seed(0))
    expected, _ = tiny_model(ids)

    for block in tiny_model.layers:
        block.self_attn.fuse_projections(_plain_linear)
        block.mlp.fuse_projections(_plain_linear)
    full, _ = tiny_model(ids)
    cache = tiny_model.new_cache(2, 12)
    prefix, _ = tiny_model(ids[:, :5], cache=cache)
    steps = [tiny_model(ids[:, t : t + 1], cache=cache, start_pos=t)[0] for t in range(5, 12)]

    attn, mlp = tiny_model.layers[0].self_attn, tiny_model.layers[0].mlp
    assert attn.q_proj is None and attn.qkv_proj.weight.shape == (4 * 16 + 2 * 2 * 16, 64)
    assert mlp.gate_proj is None and mlp.gate_up_proj.weight.shape == (2 * 128, 64)
    torch.testing.assert_close(full, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat([prefix, *steps], dim=1), expected, atol=1e-4, rtol=0)


def test_chunked_prefill_after_cached_tokens_matches_the_full_forward(tiny_model):
    ids = torch.randint(0, 259, (1, 12))
    full, _ = tiny_model(ids)
    cache = tiny_model.new_cache(1, 12)

    first, _ = tiny_model(ids[:, :4], cache=cache)
    second, _ = tiny_model(ids[:, 4:], cache=cache, start_pos=4)

    torch.testing.assert_close(torch.cat([first, second], dim=1), full, atol=1e-4, rtol=0)


def test_left_padded_batch_gives_each_row_its_unpadded_logits(tiny_model):
    short, long = torch.randint(0, 259, (1, 5)), torch.randint(0, 259, (1, 9))
    batch = torch.cat([torch.cat([torch.zeros(1, 4, dtype=torch.long), short], dim=1), long])  # (2, 9)
    padding_mask = torch.tensor([[0] * 4 + [1] * 5, [1] * 9])

    logits, _ = tiny_model(batch, padding_mask=padding_mask)

    torch.testing.assert_close(logits[0, 4:], tiny_model(short)[0][0], atol=1e-4, rtol=0)
    torch.testing.assert_close(logits[1], tiny_model(long)[0][0], atol=1e-4, rtol=0)


def test_attention_mask_is_causal_hides_padding_and_never_leaves_a_row_empty():
    padding_mask = torch.tensor([[0, 0, 1, 1]])

    mask = attention_mask_for(padding_mask, query_len=4, start_pos=0, device=torch.device("cpu"))

    assert mask.shape == (1, 1, 4, 4)
    assert mask[0, 0].int().tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]


def test_positions_start_at_zero_on_the_first_real_token():
    padding_mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])

    positions = positions_for(padding_mask, 2, 1, 4, torch.device("cpu"))

    assert positions.tolist() == [[2], [4]]


def test_sequence_longer_than_the_context_is_rejected(tiny_model):
    with pytest.raises(ValueError, match="exceeds the context of 128"):
        tiny_model(torch.zeros(1, 129, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds the context of 128"):
        tiny_model.new_cache(1, 129)


def test_config_rejects_heads_that_do_not_divide():
    with pytest.raises(ValueError, match="divide"):
        ModelConfig(n_embd=64, n_head=3)


def test_saved_model_loads_back_tied_and_identical(tmp_path, tiny_model):
    ids = torch.randint(0, 259, (1, 7))

    save_model(tiny_model, tmp_path)
    loaded = load_model(tmp_path)

    assert loaded.lm_head.weight is loaded.embed_tokens.weight
    torch.testing.assert_close(loaded(ids)[0], tiny_model(ids)[0], atol=0, rtol=0)


def test_load_model_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_model(tmp_path)


def test_unpermute_rotary_inverts_llama_cpp_permutation():
    # convert_hf_to_gguf.py's LlamaModel.permute, which the GGUF weights went through
    def permute(weights: np.ndarray, n_head: int) -> np.ndarray:
        return (
            weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape)
        )

    weight = np.random.default_rng(0).standard_normal((3 * 8, 5)).astype(np.float32)

    assert np.array_equal(unpermute_rotary(permute(weight, 3), 3), weight)


def test_model_built_on_meta_gets_real_rope_tables():
    with torch.device("meta"):
        model = Transformer(tiny_config())

    model.init_rope_buffers("cpu")

    reference = make_tiny_model()
    torch.testing.assert_close(model.rope_cos, reference.rope_cos)
    torch.testing.assert_close(model.rope_sin, reference.rope_sin)


@pytest.mark.slow
def test_smollm2_is_converted_once_to_an_atomic_cache_that_loads_in_seconds(smollm2):
    import time

    from llm_core.smollm2 import cache_dir, convert, load_smollm2

    model, _ = smollm2  # the fixture converted (or found) the cache
    directory = cache_dir()
    weights_mtime = (directory / "model.safetensors").stat().st_mtime

    started = time.perf_counter()
    assert convert() == directory
    reloaded, tokenizer = load_smollm2()
    elapsed = time.perf_counter() - started

    assert elapsed < 10  # typically ~1 s; generous for a busy CI machine
    assert (directory / "model.safetensors").stat().st_mtime == weights_mtime  # not rewritten
    assert sorted(p.name for p in directory.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    ]
    config = reloaded.config
    assert (config.n_layer, config.n_embd, config.n_head, config.n_kv_head, config.intermediate_size) == (
        30, 576, 9, 3, 1536,
    )
    assert (config.vocab_size, config.max_seq_len, config.rope_theta, config.tie_embeddings) == (
        49152, 8192, 100000.0, True,
    )
    assert config.norm_eps == pytest.approx(1e-5)
    assert model.num_parameters() == 134_515_008


def _loss_and_grads(model, ids, targets, **kwargs):
    model.zero_grad(set_to_none=True)
    logits, loss = model(ids, targets=targets, **kwargs)
    (2.5 * loss).backward()  # a scale other than 1 reaches the fused gradients too
    return logits, loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


def test_onednn_training_matmuls_and_the_fused_loss_give_plain_pytorchs_gradients(monkeypatch):
    import llm_core.model as model_module

    model = make_tiny_model()
    ids = torch.randint(0, 259, (3, 16), generator=torch.Generator().manual_seed(0))
    targets = ids.roll(-1, dims=1)
    targets[:, -1] = -100
    targets[0, :5] = -100  # a masked prompt

    logits, fused_loss, fused = _loss_and_grads(model, ids, targets, return_logits=False)
    _, onednn_loss, onednn = _loss_and_grads(model, ids, targets)
    monkeypatch.setattr(model_module, "_HAS_ONEDNN", False)  # F.linear, log_softmax and nll_loss throughout
    plain_logits, plain_loss, plain = _loss_and_grads(model, ids, targets)

    assert logits is None and plain_logits.shape == (3, 16, 259)
    for loss, grads in ((fused_loss, fused), (onednn_loss, onednn)):
        torch.testing.assert_close(loss, plain_loss, atol=1e-5, rtol=0)
        for name, grad in plain.items():
            torch.testing.assert_close(grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_return_logits_false_still_returns_logits_where_the_loss_cannot_be_fused(tiny_model):
    ids = torch.randint(0, 259, (2, 8))
    targets = ids.roll(-1, dims=1)

    with torch.no_grad():  # evaluation: nothing to fuse the backward with
        logits, loss = tiny_model(ids, targets=targets, return_logits=False)
    expected_logits, expected_loss = tiny_model(ids, targets=targets)

    torch.testing.assert_close(logits, expected_logits.detach())
    torch.testing.assert_close(loss, expected_loss.detach())


def _grads(output: torch.Tensor, upstream: torch.Tensor, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(output, inputs, upstream)


@pytest.mark.parametrize("seq_len", [QUERY_BLOCK + 1, 75])
def test_block_causal_attention_gives_sdpas_outputs_and_gradients(seq_len):
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, heads, seq_len, 16, generator=generator, requires_grad=True) for heads in (4, 2, 2))
    upstream = torch.randn(2, 4, seq_len, 16, generator=generator)

    ours = causal_attention(q, k, v)
    reference = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    assert "BlockCausalAttention" in ours.grad_fn.name()  # the block path, not SDPA's own
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    for got, expected in zip(_grads(ours, upstream, q, k, v), _grads(reference, upstream, q, k, v)):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_rms_norm_training_backward_gives_autograds_gradients():
    generator = torch.Generator().manual_seed(0)
    norm = RMSNorm(24)
    with torch.no_grad():
        norm.weight.normal_(generator=generator)
    x = (3 * torch.randn(2, 5, 24, generator=generator)).requires_grad_()
    upstream = torch.randn(2, 5, 24, generator=generator)

    ours = norm(x)
    reference = F.rms_norm(x, (24,), norm.weight, norm.eps)

    assert "RMSNorm" in ours.grad_fn.name()
    torch.testing.assert_close(ours, reference)
    for got, expected in zip(_grads(ours, upstream, x, norm.weight), _grads(reference, upstream, x, norm.weight)):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_rotary_split_gives_autograds_rotation_and_gradients():
    B, T, H, Hkv, D = 2, 6, 4, 2, 8
    generator = torch.Generator().manual_seed(0)
    qkv = torch.randn(B, T, H + 2 * Hkv, D, generator=generator, requires_grad=True)
    cos, sin = (table[:T][None, None] for table in rope_tables(D, T, 10000.0))
    upstream = [torch.randn(B, heads, T, D, generator=generator) for heads in (H, Hkv, Hkv)]

    def rotate_half_reference(x):  # transformers' formulation
        first, second = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-second, first], dim=-1) * sin

    heads_first = qkv.transpose(1, 2)
    expected = (rotate_half_reference(heads_first[:, :H]), rotate_half_reference(heads_first[:, H : H + Hkv]),
                heads_first[:, H + Hkv :])
    ours = split_qkv(qkv, cos, sin, H)  # with grad enabled and qkv requiring it: the autograd.Function

    assert "SplitQKV" in ours[0].grad_fn.name()
    for got, want in zip(ours, expected):
        torch.testing.assert_close(got, want)
    (got_grad,) = torch.autograd.grad(ours, qkv, upstream)
    (expected_grad,) = torch.autograd.grad(expected, qkv, upstream)
    torch.testing.assert_close(got_grad, expected_grad)


def test_training_loss_and_gradients_match_transformers_llama():
    """The whole float32 CPU training path (oneDNN matmuls, fused loss, block attention, hand-written backwards)
    against transformers' LlamaForCausalLM holding the same weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    model = make_tiny_model().train()
    config = model.config
    reference = LlamaForCausalLM(LlamaConfig(
        vocab_size=config.vocab_size, hidden_size=config.n_embd, num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head, num_key_value_heads=config.n_kv_head,
        intermediate_size=config.intermediate_size, max_position_embeddings=config.max_seq_len,
        rope_theta=config.rope_theta, rms_norm_eps=config.norm_eps, tie_word_embeddings=True,
        attn_implementation="eager",
    )).train()
    ours_by_reference_name = {
        ("" if name == "lm_head.weight" else "model.") + name: p for name, p in model.named_parameters()
    }
    reference.load_state_dict({name: ours_by_reference_name[name].detach() for name, _ in reference.named_parameters()},
                              strict=False)
    ids = torch.randint(0, config.vocab_size, (2, 3 * QUERY_BLOCK // 2 + 5), generator=torch.Generator().manual_seed(0))
    targets = ids.roll(-1, dims=1)
    targets[:, -1] = -100

    _, loss = model(ids, targets=targets, return_logits=False)
    loss.backward()
    reference_loss = reference(input_ids=ids, labels=targets, shift_labels=targets).loss
    reference_loss.backward()

    torch.testing.assert_close(loss, reference_loss, atol=1e-5, rtol=1e-5)
    for name, param in reference.named_parameters():
        torch.testing.assert_close(ours_by_reference_name[name].grad, param.grad, atol=1e-5, rtol=1e-4, msg=name)
