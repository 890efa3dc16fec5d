"""Crash-safe file writing, JSONL with line-precise errors, and the CLI error convention."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


class A3TError(Exception):
    """A user-facing error: bad input, missing file, bad config. Printed without a traceback."""


def _remove_stale_temporaries(path: Path) -> None:
    """Drop what a killed writer of ``path`` left (``.<name>.<8 random>.tmp``): each output has one writer at a time."""
    for stale in path.parent.glob(f".{path.name}.????????.tmp"):  # tempfile's names: 8 random characters
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)


def save_figure(fig, path: Path) -> Path:
    """A matplotlib ``fig`` as PNG at ``path``, written under a temporary name and renamed (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    return path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private: give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def dumps(obj) -> str:
    """Canonical JSON (sorted keys) so that equal content gives equal bytes."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(dumps(r) + "\n" for r in records))


def read_json(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise A3TError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise A3TError(f"{path}: not valid JSON ({err})") from err


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Yield one dict per non-empty line; a bad line raises naming the file and line number."""
    for _, obj in read_jsonl_numbered(path):
        yield obj


def jsonl_path(path: str | Path) -> Path:
    """``path``, or its gzipped sibling ``<path>.gz`` where only that exists (an archived run: a3t.archive)."""
    path = Path(path)
    gz = path.with_name(path.name + ".gz")
    return gz if not path.is_file() and gz.is_file() else path


def round_number(name: str) -> int | None:
    """k of a results tree's ``round<k>`` folder name; None for any other name (``round0-float32``, ``games``)."""
    k = name.removeprefix("round")
    return int(k) if k != name and k.isdigit() else None


def read_jsonl_numbered(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Like :func:`read_jsonl`, with each object's line number; a ``.gz`` file is read through gzip."""
    path = Path(path)
    if not path.is_file():
        raise A3TError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lineno = 0
        try:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield lineno, _json_object(path, lineno, line)
        except (EOFError, gzip.BadGzipFile, UnicodeDecodeError) as err:
            raise A3TError(f"{path}: unreadable after line {lineno} ({err}); is the file truncated?") from err


def _json_object(path: Path, lineno: int, line: str) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise A3TError(f"{path}:{lineno}: not a JSON line ({err.msg}); is the file truncated?") from err
    if not isinstance(obj, dict):
        raise A3TError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
    return obj


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temporary name; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def run_cli(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a stage's ``main``; user errors print one line on stderr and exit 2."""
    try:
        main(argv)
    except A3TError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
