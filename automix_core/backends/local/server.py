"""Serving local models (:class:`LocalServer`).

xllamacpp (extra ``local``) embeds llama.cpp's OpenAI-compatible HTTP server in this process. Its
router (multi-model) mode is compiled out ("xllamacpp disabled the router server feature"), so a
:class:`LocalServer` runs one embedded server per model, each on a free 127.0.0.1 port, with a
readiness check, llama.cpp's own error lines in the exception when a model fails to load, and a
clean shutdown on exit, on errors and on Ctrl-C.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ...errors import (
    LocalServerError,
    ModelNotInstalledError,
    UnknownModelError,
)
from ...verify.method import DEFAULT_K
from ..openai_compat import OpenAICompatibleModel
from .catalog import MODELS, LocalModel, cache_dir, is_installed, model_path

__all__ = ["DEFAULT_SERVE_CTX", "LocalServer", "ServedModel"]

DEFAULT_SERVE_CTX = 8192
"""Context (tokens) a :class:`LocalServer` allocates per model unless told otherwise (capped by the model's)."""



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
            Default :data:`~automix_core.verify.method.DEFAULT_K` (8, the samples of one verification
            in the sampling modes), so a verification's ``n=k`` is one request through any client; the
            KV cache is unified, so more slots cost no more context memory.
        threads: CPU threads for prompt processing and generation, per model.
        cache: the model cache (default :func:`cache_dir`).
        ready_timeout: seconds to wait for each server's readiness check.
        default_max_tokens: generation cap for requests that give no ``max_tokens``.
        verbosity: llama.cpp's log threshold (1: errors only; 3: info).
        jinja: apply the model's own chat template with llama.cpp's Jinja engine (its ``--jinja``), as
            the model's tuning expects: needed for ``tools``/``tool_choice`` and tool turns (without it
            llama.cpp refuses them) and for parsing the model's tool calls into ``tool_calls`` (the
            template's format, e.g. Hermes' ``<tool_call>`` blocks). On by default (xllamacpp's own
            default too); False: llama.cpp's built-in templates only, no tools.

    Shutdown stops each server's main loop and HTTP listener and joins their threads; it runs on
    ``__exit__`` (also after an exception or Ctrl-C), on :meth:`stop`, and at interpreter exit.
    Start-up blocks in llama.cpp (with the GIL held) while each model loads.
    """

    def __init__(
        self,
        models: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        n_ctx: int | None = None,
        parallel: int = DEFAULT_K,
        threads: int = 2,
        cache: Path | None = None,
        ready_timeout: float = 120.0,
        default_max_tokens: int = 1024,
        verbosity: int = 1,
        jinja: bool = True,
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
        self.jinja = jinja
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
        """The root URL (``http://127.0.0.1:PORT``) of the only model's server; "" when stopped.

        Each model has its own server and port, so with several models there is no one base URL: this
        raises :class:`LocalServerError` pointing to :meth:`url` / :meth:`api_base` (a client pointed at
        the first model's URL would be answered by that model whatever ``model`` it asks for).
        """
        if len(self.names) > 1:
            raise LocalServerError(
                f"this LocalServer serves {len(self.names)} models ({', '.join(self.names)}), each on its own port: "
                "use server.url(name) for a model's root URL, server.api_base(name) for its OpenAI base URL "
                "(root + '/v1'), or server.model(name) for a ready client")
        first = self.served.get(self.names[0])
        return first.base_url if first else ""

    def url(self, name: str | None = None) -> str:
        """The root URL (``http://127.0.0.1:PORT``) of model ``name``'s server (default: the only model;
        with several models the name is required)."""
        return self._served(name).base_url

    def api_base(self, name: str | None = None) -> str:
        """Model ``name``'s OpenAI-compatible base URL (``url(name) + "/v1"``), for ``ChatOpenAI(base_url=...)``,
        ``OpenAILike(api_base=...)`` or ``openai.OpenAI(base_url=...)``."""
        return self._served(name).api_base

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
                f"automix models install {name}   (or: python -m automix_core.backends.local install {name})"
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
        p.use_jinja = self.jinja
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
        if name is None and len(self.names) > 1:
            raise LocalServerError(f"this LocalServer serves {', '.join(self.names)}: name the model")
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
        (llama.cpp reports only the first choice's completion tokens), ``supports_logprobs=True``,
        ``timeout=600``.
        """
        info = self._served(served)
        opts: dict[str, Any] = {
            "context_window": info.n_ctx,
            "supports_n": True,
            "max_n": info.parallel,
            "usage_scope": "first_choice",
            "supports_logprobs": True,
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
