"""Greedy generation speed: llm_core vs transformers' generate on the same SmolLM2-135M weights, on CPU.

    python -m bench.llm_generate [--repeats 3] [--new-tokens 128] [--threads N] [--cases int8_batch1 ...]

Both sides run in this process with the same thread count, greedy, EOS ignored so every run makes exactly
--new-tokens tokens per row. Runs are interleaved (ours, peer, ours, ...) with the order flipped every repeat,
and each case reports medians, because the machine is shared and noisy: ratio is the ratio of the medians,
ratio_paired the median of each repeat's own ratio (the two runs of a repeat share the machine's load), and
ratio_cpu_time the ratio of tokens per CPU-second of this process (time spent waiting for a core left out).
JSON lines; the last is the summary.

Cases (the peer is always transformers' float32 LlamaForCausalLM.generate). Ours in float32 is served as
llm_core.serving serves it: float32 weights pre-packed for oneDNN's matmul (quantize.pack_float32).
  fp32_batch1           ours: float32 with speculative decoding (an int4 copy drafts 4 tokens, the float32
                        model verifies them in one pass, so every token is the float32 model's argmax) where
                        serving drafts (quantize.int4_drafts_help: AVX-512 CPUs), else as fp32_batch1_no_draft
  fp32_batch1_no_draft  ours: plain float32 decoding, one token per pass
  int8_batch1           ours: int8 as quantize.quantize_int8 serves it (int8 weights; on x86 activations
                        quantized per row too: 8 bits with VNNI, 7 without), plain one-token decoding (speculating with the int4 draft
                        measured 12-20% slower with weight-only int8: the draft reads ~60% of the int8 model's
                        bytes per token; guessing by prompt lookup, tokens copied from the text so far,
                        measured 12% slower: few guesses hold and the int8 model's multi-row pass costs
                        more than a one-row pass), plus its perplexity cost on held-out text
  fp32_batch8           8 different prompts, left-padded; ratio_to_batch1 compares with fp32_batch1_no_draft
"""
import argparse
import csv
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from llm_core.device import configure_cpu_threads
from llm_core.generate import generate
from llm_core.model import Transformer
from llm_core.quantize import int4_draft, int4_drafts_help, pack_float32, perplexity, quantize_int8
from llm_core.smollm2 import gguf_path, load_smollm2

QUESTIONS = [
    "Write a short story about a dragon who learns to bake bread.",
    "Explain how a refrigerator works.",
    "Describe a red cotton kurta for an online store.",
    "What should I pack for a week-long beach holiday?",
    "Write a polite email asking for a refund on a damaged parcel.",
    "Give me five tips for better sleep.",
    "Explain the difference between a list and a tuple in Python.",
    "Tell me about the history of the bicycle.",
]
HELD_OUT = Path(__file__).resolve().parents[2] / (
    "shared/datasets/bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset_4.5K_responses.csv"
)
PERPLEXITY_TOKENS = 2048
# The runs each case compares (ours, then the peer); fp32_batch8 also compares with ours_fp32_b1_no_draft.
CASES = {
    "fp32_batch1": ("ours_fp32_b1", "peer_fp32_b1"),
    "fp32_batch1_no_draft": ("ours_fp32_b1_no_draft", "peer_fp32_b1"),
    "int8_batch1": ("ours_int8_b1", "peer_fp32_b1"),
    "fp32_batch8": ("ours_fp32_b8", "peer_fp32_b8", "ours_fp32_b1_no_draft"),
}


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def held_out_text(path: Path, rows: int = 60) -> str:
    """Support dialogues the model never saw from us: the dataset's last rows, instruction and response."""
    if not path.is_file():
        raise SystemExit(f"held-out text for the perplexity check is missing: {path}")
    with path.open(newline="") as f:
        records = list(csv.DictReader(f))[-rows:]
    return "\n\n".join(f"{r['instruction']}\n{r['response']}" for r in records)


def load_peer() -> torch.nn.Module:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()
    path = gguf_path()
    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()


def peer_generate(peer: torch.nn.Module, prompts: list[list[int]], new_tokens: int, pad_id: int) -> list[list[int]]:
    width = max(len(p) for p in prompts)
    input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts])
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.inference_mode():
        out = peer.generate(
            input_ids, attention_mask=attention_mask, max_new_tokens=new_tokens, do_sample=False,
            eos_token_id=None, pad_token_id=pad_id,
        )
    return out[:, width:].tolist()


def timed(fn: Callable[[], list[list[int]]]) -> tuple[float, float, list[list[int]]]:
    """(wall seconds, CPU seconds of this process, tokens)."""
    start, cpu = time.perf_counter(), time.process_time()
    tokens = fn()
    return time.perf_counter() - start, time.process_time() - cpu, tokens


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="default: llm_core.device.configure_cpu_threads")
    parser.add_argument("--num-draft", type=int, default=4)
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES), help="default: all")
    args = parser.parse_args(argv)
    wanted = {run for name in args.cases for run in CASES[name]}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    threads = configure_cpu_threads(args.threads)
    emit({"setup": {"threads": threads, "torch": torch.__version__, "cpus": os.cpu_count(),
                    "loadavg": os.getloadavg()[0], "new_tokens": args.new_tokens, "repeats": args.repeats,
                    "cases": args.cases}})

    model, tokenizer = load_smollm2(args.model_dir)
    if not int4_drafts_help():  # fp32_batch1 is then plain decoding: the very run fp32_batch1_no_draft times
        wanted = {"ours_fp32_b1_no_draft" if run == "ours_fp32_b1" else run for run in wanted}
    draft = int4_draft(model) if "ours_fp32_b1" in wanted else None  # before packing: packed models cannot be copied
    pack_float32(model)
    int8_model = None
    if "ours_int8_b1" in wanted:
        int8_model, _ = load_smollm2(args.model_dir)
        quantize_int8(int8_model)
    peer = load_peer()
    n, pad = args.new_tokens, tokenizer.pad_id
    prompts = [tokenizer.encode(tokenizer.apply_chat_template([{"role": "user", "content": q}])) for q in QUESTIONS]
    single = prompts[:1]

    def ours(m: Transformer, batch: list[list[int]], **kwargs: Any) -> Callable[[], list[list[int]]]:
        def run() -> list[list[int]]:
            results = generate(m, tokenizer, batch, max_new_tokens=n, eos_token_ids=(), **kwargs)
            return [r.token_ids for r in results]

        return run

    runs: dict[str, Callable[[], list[list[int]]]] = {
        "ours_fp32_b1": ours(model, single, draft=draft, num_draft=args.num_draft),
        "ours_fp32_b1_no_draft": ours(model, single),
        "ours_int8_b1": ours(int8_model, single),
        "peer_fp32_b1": lambda: peer_generate(peer, single, n, pad),
        "ours_fp32_b8": ours(model, prompts),
        "peer_fp32_b8": lambda: peer_generate(peer, prompts, n, pad),
    }
    runs = {name: run for name, run in runs.items() if name in wanted}
    # Warm-up (allocator, kernel caches, lazy imports), untimed.
    warm_ups: list[tuple[Transformer, dict]] = [(model, {})]
    if draft is not None:
        warm_ups.append((model, {"draft": draft}))
    if int8_model is not None:
        warm_ups.append((int8_model, {}))
    for m, kwargs in warm_ups:
        generate(m, tokenizer, single, max_new_tokens=8, eos_token_ids=(), **kwargs)
    peer_generate(peer, single, 8, pad)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in runs}
    tokens: dict[str, list[list[int]]] = {}
    for repeat in range(args.repeats):
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for name in order:
            elapsed, cpu, tokens[name] = timed(runs[name])
            seconds[name].append(elapsed)
            cpu_seconds[name].append(cpu)
        emit({"repeat": repeat, "tok_per_s": {k: round(len(tokens[k]) * n / v[-1], 2) for k, v in seconds.items()},
              "loadavg": os.getloadavg()[0]})

    def rates(name: str, times: dict[str, list[float]] = seconds) -> list[float]:
        return [len(tokens[name]) * n / s for s in times[name]]

    def tok_s(name: str) -> float:
        return round(statistics.median(rates(name)), 2)

    def paired(a: str, b: str) -> float:
        return round(statistics.median(x / y for x, y in zip(rates(a), rates(b))), 2)

    def cpu_ratio(a: str, b: str) -> float:
        return round(statistics.median(rates(a, cpu_seconds)) / statistics.median(rates(b, cpu_seconds)), 2)

    def case(name: str, ours_run: str, peer_run: str, **extra: Any) -> dict:
        identical_rows = sum(a == b for a, b in zip(tokens[ours_run], tokens[peer_run]))
        return {
            "case": name, "unit": "tok/s", "ours": tok_s(ours_run), "peer": tok_s(peer_run),
            "ratio": round(tok_s(ours_run) / tok_s(peer_run), 2), "ratio_paired": paired(ours_run, peer_run),
            "ratio_cpu_time": cpu_ratio(ours_run, peer_run), "identical": identical_rows == len(tokens[peer_run]),
            **extra,
        }

    def common_prefix(a: list[int], b: list[int]) -> int:
        return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))

    def int8_case() -> dict:
        text_ids = tokenizer.encode(held_out_text(HELD_OUT))[:PERPLEXITY_TOKENS]
        ppl_fp32, ppl_int8 = perplexity(model, text_ids), perplexity(int8_model, text_ids)
        return case("int8_batch1", "ours_int8_b1", "peer_fp32_b1",
                    same_tokens_as_peer_until=common_prefix(tokens["ours_int8_b1"][0], tokens["peer_fp32_b1"][0]),
                    perplexity_fp32=round(ppl_fp32, 4), perplexity_int8=round(ppl_int8, 4),
                    perplexity_increase=round(ppl_int8 / ppl_fp32 - 1, 4), perplexity_tokens=len(text_ids))

    def batch8_case() -> dict:
        b8_rows = sum(a == b for a, b in zip(tokens["ours_fp32_b8"], tokens["peer_fp32_b8"]))
        return case("fp32_batch8", "ours_fp32_b8", "peer_fp32_b8", identical_rows=f"{b8_rows}/8",
                    ratio_to_batch1=round(tok_s("ours_fp32_b8") / tok_s("ours_fp32_b1_no_draft"), 2),
                    ratio_to_batch1_paired=paired("ours_fp32_b8", "ours_fp32_b1_no_draft"),
                    ratio_to_batch1_cpu_time=cpu_ratio("ours_fp32_b8", "ours_fp32_b1_no_draft"))

    builders: dict[str, Callable[[], dict]] = {
        "fp32_batch1": lambda: case(
            "fp32_batch1", "ours_fp32_b1" if draft is not None else "ours_fp32_b1_no_draft", "peer_fp32_b1",
            method=f"speculative: an int4 copy drafts {args.num_draft} tokens, the float32 model verifies them"
            if draft is not None else "one token per pass: int4 drafts do not help on this CPU"),
        "fp32_batch1_no_draft": lambda: case("fp32_batch1_no_draft", "ours_fp32_b1_no_draft", "peer_fp32_b1"),
        "int8_batch1": int8_case,
        "fp32_batch8": batch8_case,
    }
    cases = [builders[name]() for name in CASES if name in args.cases]
    for case in cases:
        emit(case)
    summary = {"bench": "llm_generate", "cases": cases}
    emit(summary)
    return summary


if __name__ == "__main__":
    main()
