"""Versioned model artifacts on disk, with an ACTIVE pointer per task.

Layout under the registry root (settings.MODEL_DIR for the shop):

    <task>/<version>/config.json, model.safetensors, metrics.json, README.md (model card), [tokenizer.json, ...]
    <task>/ACTIVE     the live version's name, one line
    <task>/HISTORY    every activation, oldest first, one version per line: what `rollback` walks back through

Every write is atomic: files are written under a temporary name in the same directory and renamed over the
target with os.replace, and a version is assembled in a hidden `.staging-*` directory that is renamed into
place only once complete, so a crash never leaves a half-written version or pointer visible to readers.
"""
import fcntl
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_model
from torch import nn

REQUIRED_FILES = ("config.json", "model.safetensors", "metrics.json", "README.md")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RegistryError(Exception):
    """Base class of every registry failure."""


class VersionNotFound(RegistryError):
    pass


class NoActiveVersion(RegistryError):
    pass


class ArtifactError(RegistryError):
    """A file of a version is missing or unreadable; `path` names it."""

    def __init__(self, path: Path, problem: str):
        self.path = path
        super().__init__(f"{path}: {problem}")


class MissingArtifactFile(ArtifactError):
    pass


class CorruptArtifactFile(ArtifactError):
    pass


@dataclass
class Artifact:
    """A loaded version: parsed JSON files and the weights as a CPU state dict."""

    task: str
    version: str
    path: Path
    config: dict
    metrics: dict
    state_dict: dict[str, torch.Tensor]

    @property
    def tokenizer_file(self) -> Path | None:
        path = self.path / "tokenizer.json"
        return path if path.exists() else None

    @property
    def weights_file(self) -> Path:
        return self.path / "model.safetensors"


def atomic_write_text(path: Path, text: str) -> None:
    """Write text so that readers see the old content or the new one, never a mix."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_model_files(directory: str | Path, model: nn.Module, config: dict) -> Path:
    """Write config.json and model.safetensors (tied weights stored once) into a directory to register.

    The tokenizer, if any, goes next to them with `tokenizer.save(directory)`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_model(model, str(directory / "model.safetensors"))
    return directory


def load_weights(model: nn.Module, artifact: Artifact) -> nn.Module:
    """Load an artifact's weights into a model built from its config (strict; tied weights restored)."""
    try:
        load_model(model, str(artifact.weights_file), strict=True, device=str(next(model.parameters()).device))
    except RuntimeError as error:
        raise CorruptArtifactFile(artifact.weights_file, f"does not fit the model: {error}") from error
    return model


def _check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise RegistryError(f"invalid {kind} name {name!r}: use letters, digits, '.', '_' and '-'")
    return name


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise MissingArtifactFile(path, "missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptArtifactFile(path, f"is not valid JSON ({error})") from error


def _validate_version_dir(path: Path) -> tuple[dict, dict]:
    """Check that the required files exist and the JSON ones parse; returns (config, metrics).

    The weights are only checked by load_artifact, which reads them anyway.
    """
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            raise MissingArtifactFile(path / name, "missing")
    if (path / "tokenizer.json").exists():
        _read_json(path / "tokenizer.json")
    return _read_json(path / "config.json"), _read_json(path / "metrics.json")


def _seal_tree(path: Path) -> None:
    """Flush every file to disk and make it readable by all: safetensors writes 0600 files, and the web
    server or a Celery worker may run as another user than the training command."""
    path.chmod(0o755)
    for file in path.rglob("*"):
        file.chmod(0o755 if file.is_dir() else 0o644)
        if file.is_file():
            with open(file, "rb") as f:
                os.fsync(f.fileno())


class Registry:
    """Model versions for every task under one root directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def task_dir(self, task: str) -> Path:
        return self.root / _check_name("task", task)

    @contextmanager
    def _locked(self, task: str) -> Iterator[Path]:
        """Serialise pointer updates of one task across processes (web workers, Celery, manage.py)."""
        task_dir = self.task_dir(task)
        task_dir.mkdir(parents=True, exist_ok=True)
        with open(task_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield task_dir

    def list_versions(self, task: str) -> list[str]:
        """Complete versions of a task, oldest name first (auto names are timestamps, so this is time order)."""
        task_dir = self.task_dir(task)
        if not task_dir.is_dir():
            return []
        return sorted(p.name for p in task_dir.iterdir() if p.is_dir() and not p.name.startswith("."))

    def tasks(self) -> list[str]:
        """Task folders: those with an ACTIVE pointer or a complete version (MODEL_DIR also holds caches)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if p.is_dir() and _NAME.match(p.name) and ((p / "ACTIVE").is_file() or any(
                all((v / name).is_file() for name in REQUIRED_FILES) for v in p.iterdir() if v.is_dir()
            ))
        )

    def register(
        self,
        task: str,
        source_dir: str | Path,
        *,
        version: str | None = None,
        metrics: dict | None = None,
        card: str | None = None,
        activate: bool = False,
        move: bool = False,
    ) -> str:
        """Add the files of `source_dir` as a new version; returns its name.

        version: defaults to a UTC timestamp. metrics/card: written as metrics.json / README.md, replacing any
        in source_dir (a card is generated when neither exists). move: rename files instead of copying
        (same filesystem). The version appears all at once or not at all.
        """
        source_dir = Path(source_dir)
        if not source_dir.is_dir():
            raise RegistryError(f"{source_dir}: not a directory")
        task_dir = self.task_dir(task)
        task_dir.mkdir(parents=True, exist_ok=True)
        version = _check_name("version", version or self._new_version_name(task_dir))
        target = task_dir / version
        if target.exists():
            raise RegistryError(f"{task}/{version} already exists")
        staging = task_dir / f".staging-{version}-{uuid.uuid4().hex[:8]}"
        try:
            if move:
                shutil.move(str(source_dir), str(staging))
            else:
                shutil.copytree(source_dir, staging)
            if metrics is not None:
                (staging / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
            if card is not None or not (staging / "README.md").exists():
                (staging / "README.md").write_text(card or _default_card(task, version, staging), encoding="utf-8")
            _validate_version_dir(staging)
            _seal_tree(staging)
            os.rename(staging, target)  # atomic; fails rather than merging if the target appeared meanwhile
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if activate:
            self.activate(task, version)
        return version

    @staticmethod
    def _new_version_name(task_dir: Path) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        name, n = stamp, 1
        while (task_dir / name).exists():
            n += 1
            name = f"{stamp}-{n}"
        return name

    def active_version(self, task: str) -> str | None:
        """The live version's name, or None when the task has none."""
        pointer = self.task_dir(task) / "ACTIVE"
        if not pointer.is_file():
            return None
        return pointer.read_text(encoding="utf-8").strip() or None

    def active_path(self, task: str) -> Path:
        """Directory of the live version; NoActiveVersion when there is none."""
        version = self.active_version(task)
        if version is None:
            raise NoActiveVersion(f"task {task!r} has no active version under {self.root}")
        return self.task_dir(task) / version

    def history(self, task: str) -> list[str]:
        path = self.task_dir(task) / "HISTORY"
        return path.read_text(encoding="utf-8").split() if path.is_file() else []

    def activate(self, task: str, version: str) -> None:
        """Make `version` live (after checking its files) and append it to the history."""
        path = self.task_dir(task) / _check_name("version", version)
        if not path.is_dir():
            raise VersionNotFound(f"{task}/{version} does not exist under {self.root}")
        _validate_version_dir(path)
        with self._locked(task) as task_dir:
            # ACTIVE first: if we die before HISTORY is written, rollback still finds the previous version last.
            atomic_write_text(task_dir / "ACTIVE", version + "\n")
            atomic_write_text(task_dir / "HISTORY", "".join(f"{v}\n" for v in [*self.history(task), version]))

    def rollback(self, task: str) -> str:
        """Re-activate the version that was live before the current one; returns its name."""
        with self._locked(task) as task_dir:
            current = self.active_version(task)
            history = self.history(task)
            while history and history[-1] == current:
                history.pop()
            if not history:
                raise RegistryError(f"task {task!r} has no earlier version to roll back to")
            previous = history[-1]
            if not (task_dir / previous).is_dir():
                raise VersionNotFound(f"{task}/{previous} (the previous version) no longer exists")
            atomic_write_text(task_dir / "ACTIVE", previous + "\n")
            atomic_write_text(task_dir / "HISTORY", "".join(f"{v}\n" for v in history))
        return previous

    def load_artifact(self, task: str, version: str | None = None) -> Artifact:
        """Load a version (the active one by default), checking every file; errors name the bad file."""
        version = version or self.active_version(task)
        if version is None:
            raise NoActiveVersion(f"task {task!r} has no active version under {self.root}")
        path = self.task_dir(task) / _check_name("version", version)
        if not path.is_dir():
            raise VersionNotFound(f"{task}/{version} does not exist under {self.root}")
        config, metrics = _validate_version_dir(path)
        weights = path / "model.safetensors"
        try:
            state_dict = load_file(str(weights))
        except (SafetensorError, OSError) as error:
            raise CorruptArtifactFile(weights, f"is not a readable safetensors file ({error})") from error
        return Artifact(task, version, path, config, metrics, state_dict)


def _default_card(task: str, version: str, directory: Path) -> str:
    metrics_path = directory / "metrics.json"
    metrics = metrics_path.read_text(encoding="utf-8").strip() if metrics_path.exists() else "{}"
    return f"# {task} {version}\n\nTrained in-house by Aisle.\n\n## Metrics\n\n```json\n{metrics}\n```\n"
