import pytest
import torch
from torch import nn

from llm_core.lora import DEFAULT_TARGETS, LoRAConfig, LoRALinear, apply_lora, load_lora, merge_lora, save_lora
from llm_core.model import ModelConfig, Transformer

TINY = ModelConfig(vocab_size=64, n_layer=2, n_embd=32, n_head=4, n_kv_head=2, intermediate_size=64, max_seq_len=32)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; on a busy machine several contending threads are many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_model(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(TINY)


def randomise_adapters(model: nn.Module) -> None:
    """B starts at zero (a no-op adapter); give it values so merging has something to fold."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoRALinear):
                module.lora_B.normal_(std=0.05)


def test_apply_lora_wraps_every_default_target_and_keeps_weight_names():
    model = tiny_model()
    base_keys = set(model.state_dict())

    wrapped = apply_lora(model, LoRAConfig(rank=4))

    assert len(wrapped) == TINY.n_layer * len(DEFAULT_TARGETS)
    lora_keys = {k for k in model.state_dict() if ".lora_" in k}
    assert set(model.state_dict()) - lora_keys == base_keys


def test_a_fresh_adapter_leaves_outputs_unchanged():
    model = tiny_model()
    ids = torch.randint(0, TINY.vocab_size, (2, 10))
    before, _ = model(ids)

    apply_lora(model, LoRAConfig(rank=4))
    after, _ = model(ids)

    assert torch.equal(before, after)


def test_only_lora_parameters_receive_gradients():
    model = tiny_model()
    apply_lora(model, LoRAConfig(rank=4, alpha=8, dropout=0.1))
    ids = torch.randint(0, TINY.vocab_size, (2, 10))

    _, loss = model(ids, targets=ids)
    loss.backward()

    with_grad = {name for name, p in model.named_parameters() if p.grad is not None}
    assert with_grad == {name for name, p in model.named_parameters() if ".lora_" in name}
    assert all(not p.requires_grad for name, p in model.named_parameters() if ".lora_" not in name)


def test_merged_model_gives_the_same_outputs_as_adapters():
    model = tiny_model()
    apply_lora(model, LoRAConfig(rank=4, alpha=8))
    randomise_adapters(model)
    model.eval()
    ids = torch.randint(0, TINY.vocab_size, (2, 12))
    unmerged, _ = model(ids)

    merge_lora(model)
    merged, _ = model(ids)

    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert all(type(m) is nn.Linear for name, m in model.named_modules() if name.endswith("q_proj"))
    torch.testing.assert_close(merged, unmerged, atol=1e-5, rtol=0)


def test_saved_adapters_load_into_a_fresh_base_model(tmp_path):
    model = tiny_model()
    apply_lora(model, LoRAConfig(rank=2, alpha=4, targets=("q_proj", "v_proj")))
    randomise_adapters(model)
    model.eval()
    ids = torch.randint(0, TINY.vocab_size, (1, 8))
    expected, _ = model(ids)
    save_lora(model, tmp_path / "adapter.safetensors")

    fresh = tiny_model()  # the same base weights, no adapters
    config = load_lora(fresh, tmp_path / "adapter.safetensors")
    fresh.eval()
    actual, _ = fresh(ids)

    assert config == LoRAConfig(rank=2, alpha=4, targets=("q_proj", "v_proj"))
    assert torch.equal(actual, expected)
    assert (tmp_path / "adapter.safetensors").stat().st_size < 20_000  # adapters only, not the base
