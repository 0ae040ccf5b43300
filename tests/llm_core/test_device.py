import contextlib
import os

import pytest
import torch

from llm_core.device import autocast, configure_cpu_threads, resolve_device, serving_dtype


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_auto_is_cpu_without_cuda(no_cuda, monkeypatch):
    monkeypatch.delenv("LLM_DEVICE", raising=False)

    assert resolve_device() == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_is_cuda_when_present(one_gpu):
    assert resolve_device("auto") == torch.device("cuda")


def test_env_names_the_device_when_none_is_passed(no_cuda, monkeypatch):
    monkeypatch.setenv("LLM_DEVICE", "CPU")

    assert resolve_device() == torch.device("cpu")


def test_explicit_gpu_index_resolves_when_it_exists(one_gpu):
    assert resolve_device("cuda:0") == torch.device("cuda:0")


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", "cpu:0", "mps"])
def test_unknown_device_is_a_clear_error(name):
    with pytest.raises(ValueError, match=f"unknown device '{name}'"):
        resolve_device(name)


def test_unknown_device_from_the_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LLM_DEVICE", "quantum")

    with pytest.raises(ValueError, match="unknown device 'quantum'.*LLM_DEVICE"):
        resolve_device()


def test_cuda_without_a_gpu_is_an_error_not_a_silent_fallback(no_cuda):
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_missing_gpu_index_is_an_error(one_gpu):
    with pytest.raises(ValueError, match="does not exist: 1 CUDA device"):
        resolve_device("cuda:3")


def test_threads_default_to_the_cpus_this_process_may_use_on_an_idle_machine(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))

    assert configure_cpu_threads() == len(os.sched_getaffinity(0))


def test_threads_leave_out_cpus_that_other_processes_keep_busy(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(os, "getloadavg", lambda: (2.8, 2.0, 1.0))

    assert configure_cpu_threads() == 1


def test_threads_never_drop_below_one_on_an_overloaded_machine(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (40.0, 40.0, 40.0))

    assert configure_cpu_threads() == 1


def test_threads_honour_omp_num_threads_and_an_explicit_count(monkeypatch, restore_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    assert configure_cpu_threads() == 1
    assert configure_cpu_threads(2) == 2


def test_autocast_and_dtype_leave_cpu_in_float32():
    cpu = torch.device("cpu")

    assert isinstance(autocast(cpu), contextlib.nullcontext)
    assert serving_dtype(cpu) == torch.float32
