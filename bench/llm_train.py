"""`python -m bench.llm_train`: training throughput, our Transformer + Trainer against transformers' Llama.

A fixed small config (6 layers, width 384, 6 heads, 2 KV heads, SwiGLU 1024, vocab 8192, sequence 256,
batch 8) in random initialisation, on the same random token batches. Ours is `Trainer.train_step` (forward,
backward, clipping, AdamW, schedule); the peer is `LlamaForCausalLM` (SDPA attention) in the loop a
transformers user writes, with the very same optimizer (build_optimizer: same groups, same AdamW settings)
and schedule. Repetitions of a few steps alternate ours/peer so drift (other load on the machine) hits both
alike; tok/s is the median over repetitions. On a shared CPU run with --threads 1 and read ratio_cpu_time
(tokens per CPU-second of the process): it leaves out the time spent waiting for a core.

Cases: cpu_fp32_seq256 (both float32), cpu_bf16_autocast_seq256 (both under CPU bf16 autocast; only on CPUs
with bf16 matmuls, AMX/AVX512-BF16), on CUDA cuda_bf16_seq256 (with MFU). With --compile: *_both_compiled (both models under
torch.compile) and *_ours_compiled_vs_eager_peer (transformers as it runs by default, ours as TrainConfig(compile=
True) runs it). Prints JSON lines; the last line is the summary.
"""
import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from llm_core.data import BatchLoader
from llm_core.model import ModelConfig, Transformer
from llm_core.train import Trainer, TrainConfig, build_optimizer, lr_multiplier

CONFIG = ModelConfig(
    vocab_size=8192, n_layer=6, n_embd=384, n_head=6, n_kv_head=2, intermediate_size=1024, max_seq_len=256,
)
SEQ_LEN = 256
BATCH = 8
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}  # dense, per GPU


@dataclass(frozen=True)
class Case:
    device: torch.device
    bf16: bool
    compile_ours: bool = False
    compile_peer: bool = False


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def llama_config() -> LlamaConfig:
    return LlamaConfig(
        vocab_size=CONFIG.vocab_size, hidden_size=CONFIG.n_embd, num_hidden_layers=CONFIG.n_layer,
        num_attention_heads=CONFIG.n_head, num_key_value_heads=CONFIG.n_kv_head,
        intermediate_size=CONFIG.intermediate_size, max_position_embeddings=CONFIG.max_seq_len,
        rope_theta=CONFIG.rope_theta, rms_norm_eps=CONFIG.norm_eps, tie_word_embeddings=CONFIG.tie_embeddings,
        attention_dropout=0.0, attn_implementation="sdpa",
    )


def random_windows(n: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, CONFIG.vocab_size, (n, SEQ_LEN + 1), generator=generator)
    return [{"input_ids": w[:-1], "targets": w[1:]} for w in tokens]


def stack(examples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([e[k] for e in examples]) for k in examples[0]}


def ours(device: torch.device, bf16: bool, compile: bool, workdir: str) -> Callable[[], None]:
    torch.manual_seed(0)
    config = TrainConfig(out_dir=workdir, max_steps=10_000, lr=3e-4, warmup_steps=10, device=str(device), bf16=bf16,
                         compile=compile, progress=False, resume=False)
    trainer = Trainer(Transformer(CONFIG), config, BatchLoader(random_windows(64), BATCH, stack))

    def step() -> None:
        loss, _, _ = trainer.train_step()
        loss.item()  # wait for the device, as the peer's loss.item() does

    return step


def peer(device: torch.device, bf16: bool, compile: bool) -> Callable[[], None]:
    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config()).to(device).train()
    forward = torch.compile(model) if compile else model
    config = TrainConfig(out_dir="", max_steps=10_000, lr=3e-4, warmup_steps=10)
    optimizer = build_optimizer(model, config, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, config.warmup_steps, config.max_steps, config.min_lr_ratio)
    )
    batches = BatchLoader(random_windows(64), BATCH, stack)

    def step() -> None:
        batch = {k: v.to(device) for k, v in next(batches).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            # shift_labels: the same (already shifted) targets as ours, every one of the 256 positions.
            loss = forward(input_ids=batch["input_ids"], labels=batch["targets"], shift_labels=batch["targets"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()

    return step


def tokens_per_second(step: Callable[[], None], steps: int, device: torch.device) -> tuple[float, float]:
    """(tokens per wall-clock second, tokens per CPU second of this process).

    The CPU-time rate ignores time spent waiting for a core, so on a shared machine with --threads 1 it
    measures the work itself; the wall-clock rate is what a user sees.
    """
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    tokens = steps * BATCH * SEQ_LEN
    return tokens / (time.perf_counter() - wall), tokens / (time.process_time() - cpu)


def flops_per_token() -> float:
    """Training FLOPs per token: 6 x parameters (matmuls, forward + backward) + attention scores and values."""
    params = Transformer(CONFIG).num_parameters()
    return 6 * params + 12 * CONFIG.n_layer * CONFIG.n_embd * SEQ_LEN // 2  # causal: half the score matrix


def run_case(name: str, case: Case, reps: int, steps: int, warmup: int) -> dict:
    device = case.device
    with tempfile.TemporaryDirectory() as workdir:
        contenders = {
            "ours": ours(device, case.bf16, case.compile_ours, workdir),
            "peer": peer(device, case.bf16, case.compile_peer),
        }
        for step in contenders.values():
            for _ in range(warmup):
                step()
        samples: dict[str, list[float]] = {k: [] for k in contenders}
        cpu_samples: dict[str, list[float]] = {k: [] for k in contenders}
        for rep in range(reps):
            # Alternate who goes first so neither always runs on the warmer (or more contended) machine.
            for key in (("ours", "peer") if rep % 2 == 0 else ("peer", "ours")):
                wall_rate, cpu_rate = tokens_per_second(contenders[key], steps, device)
                samples[key].append(wall_rate)
                cpu_samples[key].append(cpu_rate)
            emit({"case": name, "rep": rep, **{k: round(v[-1], 1) for k, v in samples.items()}})
    ours_tps, peer_tps = statistics.median(samples["ours"]), statistics.median(samples["peer"])
    # The median of each repetition's own ratio: steadier than the ratio of medians when the load drifts.
    paired = statistics.median(o / p for o, p in zip(samples["ours"], samples["peer"]))
    case = {"case": name, "unit": "tok/s", "ours": round(ours_tps, 1), "peer": round(peer_tps, 1),
            "ratio": round(ours_tps / peer_tps, 3), "ratio_paired": round(paired, 3), "reps": reps,
            "steps_per_rep": steps}
    if device.type == "cpu":
        ours_cpu, peer_cpu = statistics.median(cpu_samples["ours"]), statistics.median(cpu_samples["peer"])
        case["ratio_cpu_time"] = round(ours_cpu / peer_cpu, 3)
    if device.type == "cuda":
        peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in torch.cuda.get_device_name()), None)
        if peak:
            case["mfu_ours"] = round(ours_tps * flops_per_token() / peak, 4)
            case["mfu_peer"] = round(peer_tps * flops_per_token() / peak, 4)
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per repetition")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice); on a shared "
                        "machine fewer threads than cores avoids OpenMP threads spinning against other load")
    parser.add_argument("--compile", action="store_true", help="add the torch.compile cases")
    parser.add_argument("--cases", default="all", help="comma-separated case names, or all")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    cases = {"cpu_fp32_seq256": Case(cpu, bf16=False)}
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():  # elsewhere bf16 matmuls are emulated, many times slower
        cases["cpu_bf16_autocast_seq256"] = Case(cpu, bf16=True)
    if torch.cuda.is_available():
        cases["cuda_bf16_seq256"] = Case(cuda, bf16=True)
    if args.compile:  # compiling takes minutes on a small CPU, so these cases are asked for
        cases["cpu_fp32_seq256_both_compiled"] = Case(cpu, bf16=False, compile_ours=True, compile_peer=True)
        cases["cpu_fp32_seq256_ours_compiled_vs_eager_peer"] = Case(cpu, bf16=False, compile_ours=True)
        if torch.cuda.is_available():
            cases["cuda_bf16_seq256_both_compiled"] = Case(cuda, bf16=True, compile_ours=True, compile_peer=True)
    selected = cases if args.cases == "all" else {k: cases[k] for k in args.cases.split(",")}
    emit({"bench": "llm_train", "config": CONFIG.to_dict(), "seq_len": SEQ_LEN, "batch": BATCH,
          "threads": torch.get_num_threads(), "torch": torch.__version__})
    results = [run_case(name, case, args.reps, args.steps, args.warmup) for name, case in selected.items()]
    emit({"bench": "llm_train", "cases": results})


if __name__ == "__main__":
    main()
