import json
import math

import pytest
import torch
from torch import nn

from llm_core.data import BatchLoader, PackedDataset, collate, eval_batches
from llm_core.lora import LoRAConfig, apply_lora
from llm_core.model import ModelConfig, Transformer
from llm_core.train import Trainer, TrainConfig, lr_multiplier

TINY = ModelConfig(
    vocab_size=32, n_layer=2, n_embd=32, n_head=4, n_kv_head=2, intermediate_size=64, max_seq_len=16, dropout=0.1
)
SEQ_LEN = 8


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; on a busy machine several contending threads are many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def documents(n: int = 40) -> list[list[int]]:
    """Counting sequences: easy to learn, so a few steps visibly lower the loss."""
    return [[(start + i) % 30 + 2 for i in range(6)] for start in range(n)]


def make_model(seed: int = 0, config: ModelConfig = TINY) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(config)


def make_loader(batch_size: int = 4, seed: int = 0) -> BatchLoader:
    dataset = PackedDataset(documents(), SEQ_LEN, eos_id=1)
    return BatchLoader(dataset, batch_size, lambda ex: collate(ex, pad_id=0), seed=seed)


def make_config(tmp_path, name: str, **overrides) -> TrainConfig:
    values = dict(out_dir=str(tmp_path / name), max_steps=6, lr=3e-3, warmup_steps=2, log_every=1, progress=False)
    return TrainConfig(**{**values, **overrides})


def logged(config: TrainConfig, key: str = "loss") -> dict[int, float]:
    with open(f"{config.out_dir}/metrics.jsonl") as f:
        return {r["step"]: r[key] for r in map(json.loads, f) if key in r}


class CrashAfter:
    """A loader that dies when asked for batch n+1, as a killed process would."""

    def __init__(self, loader: BatchLoader, n: int):
        self.loader, self.left = loader, n

    def __next__(self):
        if self.left == 0:
            raise KeyboardInterrupt("simulated crash")
        self.left -= 1
        return next(self.loader)

    def state_dict(self):
        return self.loader.state_dict()

    def load_state_dict(self, state):
        self.loader.load_state_dict(state)


def test_training_lowers_the_loss_and_writes_the_run_files(tmp_path):
    config = make_config(tmp_path, "run", max_steps=30, eval_every=10)
    held_out = PackedDataset(documents(10), SEQ_LEN, eos_id=1)
    eval_data = eval_batches(held_out, 4, lambda ex: collate(ex, pad_id=0))

    result = Trainer(make_model(), config, make_loader(), eval_data=eval_data).fit()

    losses = logged(config)
    assert sorted(losses) == list(range(1, 31))
    assert losses[30] < losses[1] - 0.5
    assert sorted(logged(config, "eval_loss")) == [10, 20, 30]
    assert result.eval_perplexity == pytest.approx(math.exp(result.eval_loss))
    assert result.steps == 30 and result.tokens == 30 * 4 * SEQ_LEN
    out = tmp_path / "run"
    assert (out / "checkpoint.pt").is_file()
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resuming_after_a_crash_takes_exactly_the_same_steps(tmp_path):
    straight = make_config(tmp_path, "straight", checkpoint_every=3)
    straight_model = make_model()
    Trainer(straight_model, straight, make_loader()).fit()

    crashed = make_config(tmp_path, "crashed", checkpoint_every=3)
    with pytest.raises(KeyboardInterrupt):
        Trainer(make_model(), crashed, CrashAfter(make_loader(), n=4)).fit()  # checkpoint at 3, dies in step 5
    assert sorted(logged(crashed)) == [1, 2, 3, 4]
    # As a fresh process would: another initialisation, a new loader, other RNG states. All must come from
    # the checkpoint for the remaining steps to match.
    torch.manual_seed(123)
    resumed_model = make_model(seed=99)
    Trainer(resumed_model, crashed, make_loader()).fit()

    assert logged(crashed) == logged(straight)  # step 4 was dropped from the log and redone; 4..6 bit for bit
    for (name, a), (_, b) in zip(resumed_model.state_dict().items(), straight_model.state_dict().items()):
        assert torch.equal(a, b), name


def test_gradient_accumulation_matches_one_large_batch(tmp_path):
    big = make_model(config=ModelConfig(**{**TINY.to_dict(), "dropout": 0.0}))
    small = make_model(config=ModelConfig(**{**TINY.to_dict(), "dropout": 0.0}))

    Trainer(big, make_config(tmp_path, "big", max_steps=2), make_loader(batch_size=4)).fit()
    Trainer(small, make_config(tmp_path, "small", max_steps=2, grad_accum_steps=2), make_loader(batch_size=2)).fit()

    for (name, a), (_, b) in zip(big.named_parameters(), small.named_parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


def test_lora_fine_tuning_changes_only_the_adapters(tmp_path):
    model = make_model()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    apply_lora(model, LoRAConfig(rank=2, alpha=4))

    Trainer(model, make_config(tmp_path, "lora", max_steps=3), make_loader()).fit()

    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in base.items())
    assert any(not torch.equal(state[k], torch.zeros_like(state[k])) for k in state if k.endswith("lora_B"))
    saved = torch.load(tmp_path / "lora" / "checkpoint.pt", weights_only=False)["model"]
    assert saved and all(".lora_" in k for k in saved)


def test_any_model_trains_through_a_loss_function(tmp_path):
    torch.manual_seed(0)
    true_weight = torch.randn(3, 1)
    rows = [{"x": x, "y": x @ true_weight} for x in torch.randn(64, 3)]
    loader = BatchLoader(rows, 8, lambda ex: {k: torch.stack([e[k] for e in ex]) for k in ex[0]})
    model = nn.Linear(3, 1, bias=False)

    def mse(m: nn.Module, batch) -> torch.Tensor:
        return nn.functional.mse_loss(m(batch["x"]), batch["y"])

    config = make_config(tmp_path, "regression", max_steps=200, lr=0.05, weight_decay=0.0, log_every=50)
    result = Trainer(model, config, loader, loss_fn=mse).fit()

    assert result.train_loss < 1e-3
    torch.testing.assert_close(model.weight.T, true_weight, atol=0.05, rtol=0)


def test_bf16_autocast_on_cpu_trains(tmp_path):
    config = make_config(tmp_path, "bf16", max_steps=2, bf16=True)

    result = Trainer(make_model(), config, make_loader()).fit()

    assert math.isfinite(result.train_loss)


def test_schedule_warms_up_linearly_then_decays_to_the_floor():
    multipliers = [lr_multiplier(s, warmup_steps=4, max_steps=14, min_ratio=0.1) for s in range(15)]

    assert multipliers[:4] == [0.25, 0.5, 0.75, 1.0]
    assert multipliers[4] == 1.0
    assert multipliers[9] == pytest.approx(0.55)
    assert multipliers[14] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(multipliers[4:], multipliers[5:]))


def test_command_line_trains_from_scratch_and_registers_the_model(tmp_path):
    from llm_core.registry import Registry, load_weights
    from llm_core.tokenizer import Tokenizer
    from llm_core.train import main

    lines = ["Red cotton kurta, regular fit.", "Blue denim jeans, slim fit.", "Black leather belt, brass buckle."]
    data = tmp_path / "catalog.txt"
    data.write_text("\n\n".join(lines * 12))

    result = main([
        "--data", str(data), "--out", str(tmp_path / "run"), "--vocab-size", "300", "--n-layer", "1",
        "--n-embd", "32", "--n-head", "2", "--n-kv-head", "1", "--intermediate-size", "64", "--seq-len", "16",
        "--batch-size", "4", "--max-steps", "3", "--warmup-steps", "1", "--eval-fraction", "0.2", "--no-progress",
        "--model-dir", str(tmp_path / "models"), "--register", "demo-lm", "--activate",
    ])

    registry = Registry(tmp_path / "models")
    artifact = registry.load_artifact("demo-lm")
    model = load_weights(Transformer(ModelConfig(**artifact.config)), artifact)
    tokenizer = Tokenizer.from_dir(artifact.path)
    assert result.steps == 3 and result.eval_loss is not None
    assert artifact.metrics["steps"] == 3 and artifact.metrics["eval_loss"] == result.eval_loss
    assert tokenizer.decode(tokenizer.encode(lines[0])) == lines[0]
    assert model(torch.tensor([tokenizer.encode(lines[0])]))[0].shape[-1] == tokenizer.vocab_size
    assert "trained from scratch" in (artifact.path / "README.md").read_text()


def test_command_line_fine_tunes_chat_replies_with_lora(tmp_path):
    from llm_core.bpe import train_bpe
    from safetensors.torch import load_model

    from llm_core.lora import load_lora
    from llm_core.train import main

    rows = [{"prompt": f"price of item {i}?", "response": f"Item {i} costs {i * 10} rupees."} for i in range(20)]
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "tok").mkdir()
    train_bpe([r["prompt"] + r["response"] for r in rows], vocab_size=300).save(tmp_path / "tok")

    main([
        "--data", str(data), "--out", str(tmp_path / "run"), "--tokenizer", str(tmp_path / "tok"),
        "--lora", "--lora-rank", "2", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--n-kv-head", "1",
        "--intermediate-size", "64", "--seq-len", "48", "--batch-size", "4", "--max-steps", "2", "--lr", "1e-2",
        "--warmup-steps", "1", "--eval-fraction", "0.1", "--no-progress",
    ])

    run = tmp_path / "run"
    config = ModelConfig(**json.loads((run / "final" / "config.json").read_text()))
    merged = Transformer(config)
    load_model(merged, str(run / "final" / "model.safetensors"))
    torch.manual_seed(0)  # main() seeds 0 right before building the model: this rebuilds its base
    base_with_adapter = Transformer(config)
    ids = torch.randint(0, config.vocab_size, (1, 12))
    base_logits = base_with_adapter.eval()(ids)[0]
    load_lora(base_with_adapter, run / "adapter.safetensors")
    torch.testing.assert_close(merged.eval()(ids)[0], base_with_adapter.eval()(ids)[0], atol=1e-5, rtol=0)
    assert not torch.allclose(merged(ids)[0], base_logits, atol=1e-4)  # the adapters did learn something
