"""Where traffic records go: :class:`TrafficWriter`, one append-only file per process, size-bounded.

Each record is one line written by :func:`~automix_core.calibration.records.append_record` (one ``write``
of the whole line, then ``fsync``), so a killed process loses at most the records it had not written
yet. Files are named ``traffic-<pid>-<seq>.jsonl``: several processes (server workers) never share a
file; past ``max_bytes`` a process starts its next file and keeps ``keep`` earlier ones.
:func:`read_traffic` reads a folder back (tolerating a torn last line and an id written twice).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from ..calibration.records import append_record
from ..integration import scrub_secrets

__all__ = ["FILE_PATTERN", "Sink", "TrafficWriter", "read_traffic", "scrub_record", "secret_scrubber", "traffic_files"]

FILE_PATTERN = re.compile(r"^traffic-(\d+)-(\d{5,})\.jsonl$")


class Sink(Protocol):
    """Takes one finished record (a JSON-ready dict); blocking (called off the event loop)."""

    def write(self, record: dict[str, Any]) -> None: ...


def scrub_record(obj: Any, scrub: Callable[[str], str]) -> Any:
    """``obj`` with ``scrub`` applied to every string in it (keys included)."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, dict):
        return {scrub(str(k)): scrub_record(v, scrub) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub_record(v, scrub) for v in obj]
    return obj


def secret_scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    """A scrub function replacing each of ``secrets`` by ``***`` (the core's :func:`scrub_secrets`)."""
    known = [s for s in secrets if s]
    return lambda text: scrub_secrets(text, known) if known else text


class TrafficWriter:
    """Appends records to ``dir/traffic-<pid>-<seq>.jsonl`` (thread-safe), rotating past ``max_bytes``."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int = 64 * 1024 * 1024, keep: int = 20,
                 secrets: Iterable[str] = (), scrub: Callable[[str], str] | None = None) -> None:
        if max_bytes < 1 or keep < 1:
            raise ValueError("max_bytes and keep must be positive")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.keep = keep
        self.scrub = scrub if scrub is not None else secret_scrubber(secrets)
        self.written = 0
        self._lock = threading.Lock()
        self._pid = -1
        self._seq = 0

    def _mine(self) -> list[tuple[int, Path]]:
        out = []
        for p in self.dir.iterdir():
            m = FILE_PATTERN.match(p.name)
            if m and int(m.group(1)) == self._pid:
                out.append((int(m.group(2)), p))
        return sorted(out)

    @property
    def path(self) -> Path:
        """The file the next record goes to (after a fork, the new process's own)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            mine = self._mine()
            self._seq = mine[-1][0] if mine else 0
        return self.dir / f"traffic-{self._pid}-{self._seq:05d}.jsonl"

    def _rotate_if_full(self, incoming: int) -> None:
        path = self.path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size and size + incoming > self.max_bytes:
            self._seq += 1

    def write(self, record: dict[str, Any]) -> None:
        clean = scrub_record(record, self.scrub)
        size = len(json.dumps(clean, ensure_ascii=False, allow_nan=False).encode()) + 1
        with self._lock:
            self._rotate_if_full(size)
            append_record(self.path, clean)
            mine = self._mine()
            for _, old in mine[:max(0, len(mine) - self.keep - 1)]:
                old.unlink(missing_ok=True)
            self.written += 1


def traffic_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The record files in ``directory`` (``traffic-*.jsonl``, ``spool-*.jsonl``), oldest sequence first."""
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"traffic folder not found: {d}")
    return sorted(p for p in d.iterdir() if p.suffix == ".jsonl" and p.name.startswith(("traffic-", "spool-")))


def read_traffic(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record in ``directory``: a last line without its newline (a process killed mid-write) is
    skipped, and an id seen twice (a spool replayed to a stream and also kept) is kept once."""
    out: dict[str, dict[str, Any]] = {}
    for path in traffic_files(directory):
        data = path.read_bytes()
        lines = data.split(b"\n")
        for raw in lines[:-1]:  # the part after the last newline is torn or empty
            if raw.strip():
                rec = json.loads(raw)
                out.setdefault(str(rec.get("id")), rec)
    return list(out.values())
