"""Data parallelism: two CPU processes on gloo, launched by torchrun, train as one.

This file is also the per-rank program torchrun starts (see `__main__` below), so the test exercises the
same entry points an app's training command uses: init_distributed(), BatchLoader(rank=, world_size=), Trainer.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from llm_core import ddp
from llm_core.data import BatchLoader, PackedDataset, collate
from llm_core.model import ModelConfig, Transformer
from llm_core.train import Trainer, TrainConfig

TINY = ModelConfig(vocab_size=32, n_layer=2, n_embd=32, n_head=4, n_kv_head=2, intermediate_size=64, max_seq_len=16)
GLOBAL_BATCH = 4
STEPS = 4


def run(base: Path, rank: int = 0, world_size: int = 1) -> Transformer:
    """Train the tiny model for STEPS steps on GLOBAL_BATCH examples per step, split over the ranks."""
    torch.manual_seed(0)  # the same initial weights everywhere (DDP would broadcast rank 0's anyway)
    model = Transformer(TINY)
    documents = [[(start + i) % 30 + 2 for i in range(6)] for start in range(40)]
    loader = BatchLoader(
        PackedDataset(documents, seq_len=8, eos_id=1), GLOBAL_BATCH // world_size, lambda ex: collate(ex, pad_id=0),
        seed=0, rank=rank, world_size=world_size,
    )
    # One run directory per rank, so the test can see that rank 1 wrote nothing there.
    config = TrainConfig(out_dir=str(base / f"rank{rank}"), max_steps=STEPS, lr=3e-3, log_every=1, progress=False)
    Trainer(model, config, loader).fit()
    return model


def test_two_processes_end_with_identical_weights_equal_to_one_process_on_the_whole_batch(tmp_path):
    repo_root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo_root)}

    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"weights{r}.pt") for r in (0, 1))
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    torch.set_num_threads(1)
    single = run(tmp_path / "single").state_dict()
    for name in rank0:
        torch.testing.assert_close(rank0[name], single[name], atol=1e-5, rtol=1e-4, msg=name)
    run_dir = tmp_path / "rank0"
    assert {p.name for p in run_dir.iterdir()} == {"checkpoint.pt", "metrics.jsonl", "loss.png"}
    assert not (tmp_path / "rank1").exists()
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1))
    assert len(torch.load(run_dir / "checkpoint.pt", weights_only=False)["rng"]) == 2  # every rank's RNG state
    assert "on 2 processes" in done.stdout


if __name__ == "__main__":  # one rank, as started by torchrun
    info = ddp.init_distributed()
    base = Path(sys.argv[1])
    trained = run(base, info.rank, info.world_size)
    torch.save(trained.state_dict(), base / f"weights{info.rank}.pt")
    ddp.shutdown()
