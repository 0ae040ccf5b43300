import pytest
import torch

from llm_core.data import (
    IGNORE_INDEX,
    BatchLoader,
    PackedDataset,
    chat_example,
    collate,
    eval_batches,
    masked_example,
    shuffled_indices,
    train_eval_split,
)


def char_encode(text: str) -> list[int]:
    """A stand-in tokenizer: <|im_start|> -> 1, <|im_end|> -> 2, other characters -> their code point."""
    text = text.replace("<|im_start|>", "\x01").replace("<|im_end|>", "\x02")
    return [ord(c) for c in text]


def test_packed_windows_cover_the_stream_with_eos_between_documents():
    dataset = PackedDataset([[10, 11, 12], [20, 21], [30, 31, 32, 33]], seq_len=4, eos_id=0)

    # stream: 10 11 12 0 20 21 0 30 31 32 33 0 (12 tokens) -> windows start at 0, 4; 8 lacks a 5th token
    assert len(dataset) == 2
    assert dataset[0]["input_ids"].tolist() == [10, 11, 12, 0]
    assert dataset[0]["targets"].tolist() == [11, 12, 0, 20]
    assert dataset[1]["input_ids"].tolist() == [20, 21, 0, 30]
    assert dataset[1]["targets"].tolist() == [21, 0, 30, 31]


def test_too_little_text_for_one_window_is_refused():
    with pytest.raises(ValueError, match="one window"):
        PackedDataset([[1, 2]], seq_len=8, eos_id=0)


def test_chat_example_trains_only_on_the_assistant_reply_and_its_end_marker():
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]

    example = chat_example(messages, char_encode, max_len=64)

    tokens = char_encode("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n")
    assert example["input_ids"].tolist() == tokens[:-1]
    trained = [t for t in example["targets"].tolist() if t != IGNORE_INDEX]
    assert trained == char_encode("yo<|im_end|>")
    first_trained = example["targets"].tolist().index(ord("y"))
    assert example["input_ids"][first_trained].item() == ord("\n")  # predicted right after "assistant\n"


def test_an_example_whose_reply_is_cut_off_entirely_is_dropped():
    messages = [{"role": "user", "content": "a long question " * 10}, {"role": "assistant", "content": "ok"}]

    assert chat_example(messages, char_encode, max_len=20) is None


def test_masked_example_is_truncated_to_max_len_inputs():
    example = masked_example([([1, 2, 3], False), ([4, 5, 6, 7], True)], max_len=4)

    assert example["input_ids"].tolist() == [1, 2, 3, 4]
    assert example["targets"].tolist() == [IGNORE_INDEX, IGNORE_INDEX, 4, 5]


def test_collate_right_pads_inputs_and_masks_padded_targets():
    a = {"input_ids": torch.tensor([5, 6, 7]), "targets": torch.tensor([6, 7, 8])}
    b = {"input_ids": torch.tensor([9]), "targets": torch.tensor([IGNORE_INDEX])}

    batch = collate([a, b], pad_id=3)

    assert batch["input_ids"].tolist() == [[5, 6, 7], [9, 3, 3]]
    assert batch["targets"].tolist() == [[6, 7, 8], [IGNORE_INDEX] * 3]


def test_shuffling_depends_only_on_seed_and_epoch():
    assert shuffled_indices(50, seed=1, epoch=2) == shuffled_indices(50, seed=1, epoch=2)
    assert shuffled_indices(50, seed=1, epoch=2) != shuffled_indices(50, seed=1, epoch=3)
    assert sorted(shuffled_indices(50, seed=1)) == list(range(50))


def test_train_eval_split_is_deterministic_and_disjoint():
    items = list(range(100))

    train, held_out = train_eval_split(items, 0.1, seed=3)

    assert len(held_out) == 10 and sorted(train + held_out) == items
    assert train_eval_split(items, 0.1, seed=3) == (train, held_out)


def numbers(n: int) -> list[dict[str, torch.Tensor]]:
    return [{"input_ids": torch.tensor([i]), "targets": torch.tensor([i])} for i in range(n)]


def ids_of(batch) -> list[int]:
    return batch["input_ids"].flatten().tolist()


def test_loader_resumes_at_the_same_batch_across_an_epoch_boundary():
    loader = BatchLoader(numbers(10), 3, lambda ex: collate(ex, pad_id=0), seed=7)
    for _ in range(4):  # 3 batches per epoch: this crosses into epoch 1
        next(loader)
    state = loader.state_dict()
    expected = [ids_of(next(loader)) for _ in range(3)]

    resumed = BatchLoader(numbers(10), 3, lambda ex: collate(ex, pad_id=0), seed=7)
    resumed.load_state_dict(state)

    assert state == {"epoch": 1, "position": 1}
    assert [ids_of(next(resumed)) for _ in range(3)] == expected


def test_ranks_take_disjoint_slices_of_each_global_batch():
    rank_batches = [
        [ids_of(next(BatchLoader(numbers(8), 2, lambda ex: collate(ex, 0), seed=1, rank=r, world_size=2)))]
        for r in (0, 1)
    ]

    seen = rank_batches[0][0] + rank_batches[1][0]
    assert len(set(seen)) == 4
    assert seen == shuffled_indices(8, seed=1)[:4]


def test_eval_batches_cover_every_example_once_across_ranks():
    per_rank = [eval_batches(numbers(7), 2, lambda ex: collate(ex, 0), rank=r, world_size=2) for r in (0, 1)]

    assert sorted(i for batches in per_rank for b in batches for i in ids_of(b)) == list(range(7))
