"""The training loop every model of the shop uses: language models here, the recommender and the chatbot's
models in their apps.

`Trainer(model, TrainConfig(...), loader, eval_data=..., loss_fn=...)` then `.fit()`. The model is any
nn.Module; `loss_fn(model, batch) -> scalar loss` adapts it (the default suits `Transformer`, which returns
(logits, loss)). The loop: fused AdamW, linear warmup then cosine decay, gradient accumulation and
clipping, bf16 autocast (CUDA by default, CPU on request), optional torch.compile, DDP when launched by
torchrun, periodic eval loss/perplexity, and checkpoints that resume exactly: a resumed run takes the very
same next step (same batch, same dropout masks, same update) as one that never stopped.

Each run directory gets checkpoint.pt, metrics.jsonl (one JSON record per log/eval step) and loss.png.
"""
import argparse
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from llm_core import ddp
from llm_core.data import Batch
from llm_core.device import resolve_device
from llm_core.plots import plot_loss_curve

CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss.png"

LossFn = Callable[[nn.Module, Batch], torch.Tensor]


class ResumableBatches(Protocol):
    """An endless iterator of batches whose position can be saved (llm_core.data.BatchLoader is one)."""

    def __next__(self) -> Batch: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: Mapping) -> None: ...


def causal_lm_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Next-token cross-entropy of a Transformer on {"input_ids", "targets"} batches."""
    return model(batch["input_ids"], targets=batch["targets"], return_logits=False)[1]


@dataclass
class TrainConfig:
    out_dir: str
    max_steps: int  # optimizer steps; each consumes grad_accum_steps batches per rank
    lr: float = 3e-4
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio rather than 0, as in Chinchilla/Llama
    warmup_steps: int = 0
    weight_decay: float = 0.1  # applied to matrices and embeddings only, never to norms and biases
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    grad_accum_steps: int = 1
    log_every: int = 10
    eval_every: int = 0  # 0: evaluate at the end only
    checkpoint_every: int = 0  # 0: checkpoint at the end only
    seed: int = 0
    device: str | None = None  # auto|cpu|cuda|cuda:N; None reads LLM_DEVICE. Under torchrun "cuda" is the rank's GPU
    bf16: bool | None = None  # autocast to bfloat16; None: on CUDA only (CPU stays float32 unless asked)
    compile: bool = False
    progress: bool = True
    resume: bool = True  # continue from out_dir/checkpoint.pt when it exists

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.grad_accum_steps < 1 or self.log_every < 1:
            raise ValueError("max_steps, grad_accum_steps and log_every must be >= 1")


@dataclass
class TrainResult:
    steps: int
    train_loss: float | None
    eval_loss: float | None
    eval_perplexity: float | None
    tokens: int
    seconds: float
    out_dir: str

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def metrics(self) -> dict[str, Any]:
        """The record a registered model keeps as metrics.json."""
        return {
            "steps": self.steps, "train_loss": self.train_loss, "eval_loss": self.eval_loss,
            "eval_perplexity": self.eval_perplexity, "tokens": self.tokens,
        }


def lr_multiplier(step: int, warmup_steps: int, max_steps: int, min_ratio: float) -> float:
    """Factor on the peak lr for optimizer step `step` (0-based): linear warmup, then cosine to min_ratio."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; weight decay on >= 2-D tensors only."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # The fused kernel updates every tensor of a group in one pass (one launch on CUDA) instead of a Python loop
    # of small ops per parameter; transformers' Trainer makes the same choice by default since torch 2.8.
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=device.type in ("cuda", "cpu"))


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _batch_tokens(batch: Batch) -> int:
    ids = batch.get("input_ids")
    return ids.numel() if isinstance(ids, torch.Tensor) else 0


class Trainer:
    """Trains `model` on `train_batches` for config.max_steps optimizer steps. See the module docstring."""

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        train_batches: ResumableBatches,
        *,
        eval_data: Iterable[Batch] | None = None,
        loss_fn: LossFn = causal_lm_loss,
    ):
        self.config, self.train_batches, self.eval_data, self.loss_fn = config, train_batches, eval_data, loss_fn
        self.dist = ddp.current()
        self.device = resolve_device(config.device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.out_dir = Path(config.out_dir)
        self.model = model.to(self.device)
        self.use_bf16 = self.device.type == "cuda" if config.bf16 is None else config.bf16
        self.optimizer = build_optimizer(self.model, config, self.device)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_multiplier(s, config.warmup_steps, config.max_steps, config.min_lr_ratio)
        )
        # Eval runs on the plain (possibly compiled) module: DDP's forward would wait for the other ranks,
        # which may hold a different number of eval batches.
        self.forward_model = torch.compile(self.model) if config.compile else self.model
        self.train_model = (
            DistributedDataParallel(
                self.forward_model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                forward_sync_buffers=False,  # our buffers (rope tables) never change: skip a broadcast per step
            )
            if self.dist.enabled else self.forward_model
        )
        self.step = 0
        self.tokens_seen = 0
        # Different dropout masks per rank: each rank sees different data, identical masks would be a bias.
        seed = config.seed + self.dist.rank
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = self.out_dir / CHECKPOINT_FILE
        if config.resume and checkpoint.is_file():
            self.load_checkpoint(checkpoint)
        elif self.dist.is_main:
            (self.out_dir / METRICS_FILE).write_text("")  # a fresh run starts a fresh log

    # ---- checkpoints --------------------------------------------------------------------------------------
    def _trainable_state(self) -> dict[str, torch.Tensor]:
        """Trainable parameters and persistent buffers; frozen weights (a LoRA base) are rebuilt by the caller."""
        # remove_duplicate=False: a tied head must count as trainable too, under both of its names.
        trainable = {name for name, p in self.model.named_parameters(remove_duplicate=False) if p.requires_grad}
        buffers = {name for name, _ in self.model.named_buffers()}
        return {k: v for k, v in self.model.state_dict().items() if k in trainable or k in buffers}

    def save_checkpoint(self) -> None:
        """Everything the next step depends on, written atomically by rank 0 (every rank's RNG included)."""
        rng_states = ddp.all_gather_objects(_rng_state())
        if not self.dist.is_main:
            return
        state = {
            "step": self.step,
            "tokens_seen": self.tokens_seen,
            "model": self._trainable_state(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "data": self.train_batches.state_dict(),
            "rng": rng_states,
            "config": asdict(self.config),
        }
        path = self.out_dir / CHECKPOINT_FILE
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def load_checkpoint(self, path: Path) -> None:
        # weights_only=False: our own file, and the python/numpy RNG states are not plain tensors.
        state = torch.load(path, map_location="cpu", weights_only=False)
        missing, unexpected = self.model.load_state_dict(state["model"], strict=False)
        frozen = {name for name, p in self.model.named_parameters(remove_duplicate=False) if not p.requires_grad}
        if unexpected or set(missing) - frozen:
            raise ValueError(f"{path} does not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.train_batches.load_state_dict(state["data"])
        self.step, self.tokens_seen = state["step"], state["tokens_seen"]
        if len(state["rng"]) == self.dist.world_size:
            _set_rng_state(state["rng"][self.dist.rank])
        if self.dist.is_main:  # drop records logged after this checkpoint by the run that stopped
            metrics = self.out_dir / METRICS_FILE
            kept = [line for line in metrics.read_text().splitlines() if json.loads(line)["step"] <= self.step] \
                if metrics.exists() else []
            metrics.write_text("".join(line + "\n" for line in kept))

    # ---- steps --------------------------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.use_bf16 else nullcontext()

    def train_step(self) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        """One optimizer step over grad_accum_steps batches: (summed loss, grad norm or None, tokens)."""
        accum = self.config.grad_accum_steps
        total = torch.zeros((), device=self.device)
        tokens = 0
        for micro in range(accum):
            batch = _to_device(next(self.train_batches), self.device)
            tokens += _batch_tokens(batch)
            # Gradients are all-reduced on the last micro-batch only; the others accumulate locally.
            sync = self.dist.enabled and micro < accum - 1
            with (self.train_model.no_sync() if sync else nullcontext()), self._autocast():
                loss = self.loss_fn(self.train_model, batch) / accum
            loss.backward()
            total += loss.detach()
        grad_norm = None
        if self.config.grad_clip > 0:
            grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, grad_norm, tokens

    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Mean loss over eval_data (each rank its own share, averaged); None without eval data."""
        if self.eval_data is None:
            return None
        self.model.eval()
        total, count = 0.0, 0
        with self._autocast():
            for batch in self.eval_data:
                total += self.loss_fn(self.forward_model, _to_device(batch, self.device)).item()
                count += 1
        self.model.train()
        total, count = ddp.all_reduce_mean([total, float(count)], self.device)
        return total / count if count else None

    def _log(self, record: dict[str, Any]) -> None:
        if self.dist.is_main:
            with open(self.out_dir / METRICS_FILE, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def fit(self) -> TrainResult:
        """Train until config.max_steps, then evaluate, checkpoint, plot and summarise."""
        config = self.config
        self.model.train()
        progress = tqdm(total=config.max_steps, initial=self.step, desc=self.out_dir.name,
                        disable=not (config.progress and self.dist.is_main), dynamic_ncols=True)
        start = interval_start = time.perf_counter()
        start_tokens = interval_tokens = self.tokens_seen
        window_loss = torch.zeros((), device=self.device)
        window_steps = 0
        train_loss = eval_loss = None
        while self.step < config.max_steps:
            lr = self.optimizer.param_groups[0]["lr"]
            loss, grad_norm, tokens = self.train_step()
            self.step += 1
            self.tokens_seen += tokens * self.dist.world_size
            window_loss += loss
            window_steps += 1
            progress.update(1)
            if self.step % config.log_every == 0 or self.step == config.max_steps:
                # .item() syncs with the device, so it happens once per log interval rather than every step.
                train_loss, norm = ddp.all_reduce_mean(
                    [window_loss.item() / window_steps, float(grad_norm) if grad_norm is not None else 0.0], self.device
                )
                now = time.perf_counter()
                record = {"step": self.step, "loss": train_loss, "lr": lr,
                          "tokens_per_s": (self.tokens_seen - interval_tokens) / (now - interval_start)}
                if grad_norm is not None:
                    record["grad_norm"] = norm
                self._log(record)
                progress.set_postfix(loss=f"{train_loss:.4f}", lr=f"{lr:.2e}")
                window_loss.zero_()
                window_steps, interval_start, interval_tokens = 0, now, self.tokens_seen
            if config.eval_every and self.step % config.eval_every == 0 and self.step < config.max_steps:
                eval_loss = self._evaluate_and_log()
            if config.checkpoint_every and self.step % config.checkpoint_every == 0 and self.step < config.max_steps:
                self.save_checkpoint()
        progress.close()
        seconds = time.perf_counter() - start
        eval_loss = self._evaluate_and_log() if self.eval_data is not None else eval_loss
        self.save_checkpoint()
        result = TrainResult(
            steps=self.step, train_loss=train_loss, eval_loss=eval_loss,
            eval_perplexity=math.exp(eval_loss) if eval_loss is not None else None,
            tokens=self.tokens_seen - start_tokens, seconds=seconds, out_dir=str(self.out_dir),
        )
        if self.dist.is_main:
            plot_loss_curve(self.out_dir / METRICS_FILE, self.out_dir / PLOT_FILE)
            print(summary(result, self.model, self.dist.world_size), flush=True)
        return result

    def _evaluate_and_log(self) -> float | None:
        eval_loss = self.evaluate()
        if eval_loss is not None:
            self._log({"step": self.step, "eval_loss": eval_loss, "eval_perplexity": math.exp(eval_loss)})
        return eval_loss


def summary(result: TrainResult, model: nn.Module, world_size: int = 1) -> str:
    """A few human-readable lines about a finished run."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    lines = [
        f"trained {result.steps} steps, {result.tokens:,} tokens in {result.seconds:.1f}s "
        f"({result.tokens_per_second:,.0f} tok/s on {world_size} process{'es' if world_size > 1 else ''})",
        f"parameters: {trainable:,} trainable of {total:,}",
    ]
    if result.train_loss is not None:
        lines.append(f"final train loss {result.train_loss:.4f}")
    if result.eval_loss is not None:
        lines.append(f"eval loss {result.eval_loss:.4f}, perplexity {result.eval_perplexity:.2f}")
    lines.append(f"run directory: {result.out_dir} ({CHECKPOINT_FILE}, {METRICS_FILE}, {PLOT_FILE})")
    return "\n".join(lines)



# ---- command line: language-model training from a file, also under torchrun ----------------------------------
def _read_training_file(path: Path) -> tuple[str, list]:
    """("text", documents) from .txt (documents separated by blank lines) or ("chat", conversations) from
    .jsonl ({"messages": [...]} or {"prompt": ..., "response": ...} per line)."""
    if path.suffix == ".jsonl":
        conversations = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                conversations.append(row["messages"] if "messages" in row else [
                    {"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["response"]},
                ])
        return "chat", conversations
    documents = [doc.strip() for doc in path.read_text(encoding="utf-8").split("\n\n") if doc.strip()]
    return "text", documents


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m llm_core.train",
        description="Train a language model from a .txt (pretraining) or .jsonl (chat, loss on replies) file: "
                    "from scratch, or fine-tune SmolLM2-135M-Instruct fully or with LoRA. Works under torchrun.",
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="run directory (checkpoint, metrics, plot, final/)")
    parser.add_argument("--init", choices=("scratch", "smollm2"), default="scratch")
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters only (then merged into final/)")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-alpha", type=float, default=16.0)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--tokenizer", type=Path, help="folder with tokenizer.json (scratch: trained when absent)")
    parser.add_argument("--vocab-size", type=int, default=8192, help="BPE vocabulary trained for --init scratch")
    parser.add_argument("--n-layer", type=int, default=6)
    parser.add_argument("--n-embd", type=int, default=384)
    parser.add_argument("--n-head", type=int, default=6)
    parser.add_argument("--n-kv-head", type=int, default=2)
    parser.add_argument("--intermediate-size", type=int, default=1024)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8, help="per process")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--eval-fraction", type=float, default=0.05)
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: LLM_DEVICE, else auto)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast (default: on CUDA only)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("MODEL_DIR") or "var/models"))
    parser.add_argument("--register", metavar="TASK", help="register final/ as a new version of TASK")
    parser.add_argument("--activate", action="store_true", help="with --register: make the new version live")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> TrainResult:
    """The `python -m llm_core.train` entry point; returns the run's result (on every rank)."""
    from llm_core.bpe import train_bpe
    from llm_core.data import BatchLoader, PackedDataset, chat_example, collate, eval_batches, train_eval_split
    from llm_core.lora import LoRAConfig, apply_lora, merge_lora, save_lora
    from llm_core.model import ModelConfig, Transformer
    from llm_core.registry import Registry, write_model_files
    from llm_core.tokenizer import Tokenizer

    args = _parse_args(argv)
    info = ddp.init_distributed()
    kind, rows = _read_training_file(args.data)
    train_rows, eval_rows = train_eval_split(rows, args.eval_fraction, seed=args.seed)
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    if args.init == "smollm2":
        from llm_core.smollm2 import load_smollm2

        model, tokenizer = load_smollm2(args.model_dir)
    else:
        tokenizer_dir = args.tokenizer or args.out / "tokenizer"
        if args.tokenizer is None and info.is_main:  # one rank trains it, the others read the saved copy
            tokenizer_dir.mkdir(parents=True, exist_ok=True)
            texts = train_rows if kind == "text" else [m["content"] for conv in train_rows for m in conv]
            train_bpe(texts, args.vocab_size).save(tokenizer_dir)
        ddp.barrier()
        tokenizer = Tokenizer.from_dir(tokenizer_dir)
        model = Transformer(ModelConfig(
            vocab_size=tokenizer.vocab_size, n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head,
            n_kv_head=args.n_kv_head, intermediate_size=args.intermediate_size, max_seq_len=args.seq_len,
            dropout=args.dropout,
        ))
    if args.lora:
        apply_lora(model, LoRAConfig(rank=args.lora_rank, alpha=args.lora_alpha, dropout=args.lora_dropout))

    def dataset(rows_: list):
        if kind == "text":
            return PackedDataset((tokenizer.encode(doc) for doc in rows_), args.seq_len, tokenizer.eos_id)
        examples = (chat_example(conv, tokenizer.encode, args.seq_len) for conv in rows_)
        return [ex for ex in examples if ex is not None]

    def batch_fn(examples: list) -> Batch:
        return collate(examples, tokenizer.pad_id)

    loader = BatchLoader(dataset(train_rows), args.batch_size, batch_fn, seed=args.seed,
                         rank=info.rank, world_size=info.world_size)
    eval_data = None
    if eval_rows:
        try:
            eval_data = eval_batches(dataset(eval_rows), args.batch_size, batch_fn, rank=info.rank,
                                     world_size=info.world_size)
        except ValueError as error:
            raise SystemExit(f"held-out data: {error}; raise --eval-fraction or lower --seq-len") from error
    config = TrainConfig(
        out_dir=str(args.out), max_steps=args.max_steps, lr=args.lr, warmup_steps=args.warmup_steps,
        grad_accum_steps=args.grad_accum, log_every=args.log_every, eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device, bf16=args.bf16,
        compile=args.compile, progress=not args.no_progress,
    )
    result = Trainer(model, config, loader, eval_data=eval_data).fit()
    if info.is_main:
        final = args.out / "final"
        if args.lora:
            save_lora(model, args.out / "adapter.safetensors")
            merge_lora(model)
        write_model_files(final, model, model.config.to_dict())
        tokenizer.save(final)
        if args.register:
            origin = "trained from scratch" if args.init == "scratch" else "SmolLM2-135M-Instruct, fine-tuned"
            card = (f"# {args.register}\n\nA language model {origin}{' with LoRA' if args.lora else ''} on "
                    f"{args.data.name}: {result.steps} steps, {result.tokens:,} tokens.\n\n"
                    f"```json\n{json.dumps(result.metrics(), indent=2)}\n```\n")
            version = Registry(args.model_dir).register(
                args.register, final, metrics=result.metrics(), card=card, activate=args.activate
            )
            print(f"registered {args.register}/{version}", flush=True)
    ddp.shutdown()
    return result


if __name__ == "__main__":
    main()
