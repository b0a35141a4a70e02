"""``automix serve``: run the server (one process, or a small supervisor over N worker processes).

``automix serve --config FILE [--port N] [--workers N] [--redis URL] [--api-key K]`` or
``automix serve --local SMALL,LARGE [--router FILE] [--port N] [--api-key K] [--workers N]``.

* One worker: uvicorn runs the app in this process; SIGHUP reloads the config file (all or nothing).
* N workers: this process binds the socket, starts N worker processes (each a uvicorn server on the
  shared socket, metrics aggregated through ``PROMETHEUS_MULTIPROC_DIR``) and restarts a worker that
  dies. On SIGHUP it validates the config file and builds it once; only when that succeeds does it pass
  SIGHUP on, and each worker swaps in its own complete new runtime (or keeps the old one). SIGINT and
  SIGTERM stop the workers gracefully (in-flight requests finish, up to ``graceful_timeout``).
* ``--local``: the named local models are served by the project's llama.cpp server (``LocalServer``) in
  this process, and the route ``automix`` is built over them; they stop after the workers. Its router is
  ``--router FILE``; else, for exactly the shipped pair (Qwen2.5-Coder 0.5B, 1.5B), the shipped router
  (``Router.shipped()``); else the untrained default, verified by one logprob call (llama.cpp returns
  logprobs) and announced by a warning.
* Every start logs, per route, its tiers, its router (file and version, or "untrained") and each tier's
  verification; ``--check`` prints the same lines (on stderr; the config JSON goes to stdout).

Client keys given with ``--api-key`` (or ``$AUTOMIX_API_KEY``) reach the workers through their
environment, never through a file or the command line of a child process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .config import ConfigError, ServerConfig, load_config, parse_config
from .service import ClientKey, Runtime

__all__ = ["add_cli", "build_parser", "main", "serve"]

log = logging.getLogger("automix_server")

KEYS_ENV = "AUTOMIX_SERVE_CLIENT_KEYS"  # JSON list of client keys, for worker processes
API_KEY_ENV = "AUTOMIX_API_KEY"
SHIPPED_PAIR = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``serve`` on an argparse subparsers object (``automix serve ...``); sets ``func``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="serve AutoMix as an OpenAI-compatible HTTP endpoint",
        description="Serve AutoMix as an OpenAI-compatible endpoint (POST /v1/chat/completions).")
    _add_args(p)
    p.set_defaults(func=serve)
    return p


def _add_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", default=None, metavar="FILE", help="server config (YAML, TOML or JSON)")
    src.add_argument("--local", default=None, metavar="SMALL,LARGE",
                     help="serve local models (automix models list) as the route 'automix', cheapest first")
    p.add_argument("--router", default=None, metavar="FILE",
                   help="with --local: the router JSON (default: the shipped router for the shipped pair "
                        f"{','.join(SHIPPED_PAIR)}, else the untrained default)")
    p.add_argument("--host", default=None, help="bind address (default: the config's, else 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: the config's, else 8000; 0 = any free)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default 1)")
    p.add_argument("--redis", default=None, metavar="URL", help="share state through Redis (redis://host:port/db)")
    p.add_argument("--api-key", action="append", default=[], metavar="KEY",
                   help=f"a client API key (repeatable; also ${API_KEY_ENV})")
    p.add_argument("--k", type=int, default=None,
                   help="self-verification samples in the sampling modes (with --local; default: the shipped "
                        "router's verification method for the shipped pair, else 4)")
    p.add_argument("--max-tokens", type=int, default=None, help="answer max tokens (with --local; default 256)")
    p.add_argument("--parallel", type=int, default=None,
                   help="llama.cpp slots per local model (default: max(k, 8): a verification's n=k is one request)")
    p.add_argument("--threads", type=int, default=2, help="llama.cpp threads per local model (default 2)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--traffic", default=None, metavar="DIR",
                   help="record every request under DIR (one file per worker; with --redis, a Redis stream "
                        "spooled to DIR while Redis is away)")
    p.add_argument("--shadow-rate", type=float, default=None, metavar="R",
                   help="share of requests also answered by every other tier after the response (default 0)")
    p.add_argument("--shadow-budget", type=float, default=None, metavar="USD",
                   help="USD the shadow calls of each worker may spend (default: unlimited)")
    p.add_argument("--learn", type=int, default=None, metavar="N",
                   help="routes without a router serve their last tier and shadow every request until N shadowed "
                        "records, then fit a router on them and switch to the cascade (needs --traffic)")
    p.add_argument("--check", action="store_true", help="validate the config (and its env vars, routers), then exit")
    p.add_argument("--port-file", default=None, help=argparse.SUPPRESS)  # tests: where the bound port is written


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="automix serve", description="Serve AutoMix as an OpenAI-compatible endpoint.")
    _add_args(p)
    p.set_defaults(func=serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m automix_server ...`` (the same as ``automix serve ...``)."""
    args = build_parser().parse_args(argv)
    rc: int = args.func(args)
    return rc


# -- config ---------------------------------------------------------------------------------------


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.host is not None:
        out["host"] = args.host
    if args.port is not None:
        out["port"] = args.port
    if args.workers is not None:
        out["workers"] = args.workers
    if args.redis is not None:
        out["state"] = args.redis
    traffic = {"dir": os.path.abspath(args.traffic) if args.traffic else None, "shadow_rate": args.shadow_rate,
               "shadow_budget_usd": args.shadow_budget}
    traffic = {k: v for k, v in traffic.items() if v is not None}
    if traffic:
        out["traffic"] = traffic
    if args.learn is not None:
        out["learn"] = {"records": args.learn}
    return out


def _client_keys(args: argparse.Namespace) -> list[ClientKey]:
    secrets = list(args.api_key)
    env = os.environ.get(API_KEY_ENV)
    if env:
        secrets.append(env)
    for s in secrets:
        if len(s) < 8:
            raise ConfigError("--api-key: a client key must be at least 8 characters")
    return [ClientKey(f"cli-{i}", s) for i, s in enumerate(secrets)]


def local_config(small: str, large: str, urls: dict[str, str], windows: dict[str, int], parallel: int,
                 args: argparse.Namespace) -> dict[str, Any]:
    """The config of ``--local``: route ``automix`` over two served local models."""
    from automix_core import local_price
    from automix_core.local import MODELS

    tiers = []
    for name in (small, large):
        price = MODELS[name].price if name in MODELS else local_price(1.0)
        tiers.append({"name": name, "base_url": urls[name], "model": name, "context_window": windows[name],
                      "supports_n": True, "max_n": parallel, "usage_scope": "first_choice", "timeout": 600.0,
                      "price": {"input_per_million": price.input_per_million,
                                "output_per_million": price.output_per_million}})
    cascade: dict[str, Any] = {"answer_max_tokens": args.max_tokens or 256, "timeout": 600.0}
    route: dict[str, Any] = {"tiers": tiers, "cascade": cascade}
    router = getattr(args, "router", None)
    if router is None and (small, large) == SHIPPED_PAIR:
        router = shipped_router()
        log.info("--local %s,%s is the shipped pair: using the shipped router %s (Router.shipped()); "
                 "--router FILE to use another", small, large, router)
    if router is not None:
        route["router"] = str(Path(router).resolve())
    if args.k:  # else the router's verification method (and k when it samples)
        cascade["k"] = args.k
    elif router is None:  # untrained: llama.cpp returns logprobs, so one call per verification
        cascade["verify_mode"] = "logprob"
    return {"routes": {"automix": route}, "request_timeout": 1800.0, **_overrides(args)}


def shipped_router() -> Path:
    """The shipped router of the shipped pair (``Router.shipped("pubmedqa-qwen-pair")``'s file)."""
    from automix_core.local import shipped_router_path

    return shipped_router_path("pubmedqa-qwen-pair")


# -- serving --------------------------------------------------------------------------------------


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def serve(args: argparse.Namespace) -> int:
    _setup_logging(args.log_level)
    try:
        keys = _client_keys(args)
        if args.router is not None and args.local is None:
            raise ConfigError("--router goes with --local (with --config, name the router in the route: router: FILE)")
        if args.local is not None:
            names = [x.strip() for x in args.local.split(",") if x.strip()]
            if len(names) != 2 or names[0] == names[1]:
                raise ConfigError(f"--local: expected two different local models SMALL,LARGE; got {args.local!r}")
            return _serve_local(names[0], names[1], args, keys)
        assert args.config is not None
        cfg = load_config(args.config, _overrides(args))
        if args.check:
            asyncio.run(_check(cfg, keys))
            print(json.dumps(cfg.redacted(), indent=2))
            return 0
        return _run(cfg, args, keys, reload_path=args.config, overrides=_overrides(args))
    except ConfigError as exc:
        print(f"automix serve: {exc}", file=sys.stderr)
        return 2


async def _check(cfg: ServerConfig, keys: list[ClientKey]) -> None:
    """Build the runtime once (every route's tiers and router), print each route's line on stderr."""
    rt = Runtime.build(cfg, keys, announce=False)
    for route in rt.routes.values():
        print(route.describe(), file=sys.stderr)
    await rt.aclose()


def _serve_local(small: str, large: str, args: argparse.Namespace, keys: list[ClientKey]) -> int:
    from automix_core import LocalServer
    from automix_core.integration import DEFAULT_K

    parallel = args.parallel or max(args.k or DEFAULT_K, DEFAULT_K)
    if args.check:
        data = local_config(small, large, {small: "http://127.0.0.1:1/v1", large: "http://127.0.0.1:2/v1"},
                            {small: 4096, large: 4096}, parallel, args)
        asyncio.run(_check(parse_config(data, source="--local"), keys))
        print(json.dumps(data, indent=2))
        return 0
    log.info("starting the llama.cpp server for %s and %s (%d slots, %d threads each) ...", small, large,
             parallel, args.threads)
    try:
        srv = LocalServer([small, large], parallel=parallel, threads=args.threads)
        srv.start()
    except Exception as exc:  # ModelNotInstalledError, LocalServerError, UnknownModelError (not exported)
        print(f"automix serve: {exc}", file=sys.stderr)
        return 1
    try:
        urls, windows = {}, {}
        for name in (small, large):
            m = srv.model(name)
            urls[name] = m.base_url
            windows[name] = m.context_window or 4096
        cfg = parse_config(local_config(small, large, urls, windows, parallel, args), source="--local")
        return _run(cfg, args, keys, reload_path=None, overrides={})
    finally:
        log.info("stopping the local models")
        srv.stop()


def _run(cfg: ServerConfig, args: argparse.Namespace, keys: list[ClientKey], *, reload_path: str | None,
         overrides: dict[str, Any]) -> int:
    if cfg.workers == 1:
        return _run_single(cfg, args, keys, reload_path, overrides)
    return _Supervisor(cfg, args, keys, reload_path, overrides).run()


def _uvicorn_config(app: Any, cfg: ServerConfig, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level=log_level, lifespan="on",
                          timeout_graceful_shutdown=int(cfg.graceful_timeout), timeout_keep_alive=30,
                          access_log=log_level == "debug", server_header=False)


def _bind(cfg: ServerConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it every
    # response waits ~40 ms for the client's delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((cfg.host, cfg.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _write_port(args: argparse.Namespace, sock: socket.socket) -> None:
    port = sock.getsockname()[1]
    log.info("listening on http://%s:%d", sock.getsockname()[0], port)
    if args.port_file:
        tmp = f"{args.port_file}.tmp"
        Path(tmp).write_text(str(port))
        os.replace(tmp, args.port_file)


def _run_single(cfg: ServerConfig, args: argparse.Namespace, keys: list[ClientKey], reload_path: str | None,
                overrides: dict[str, Any]) -> int:
    import uvicorn

    from .app import create_app

    app = create_app(cfg, reload_path=reload_path, extra_keys=keys, overrides=overrides)
    sock = _bind(cfg)
    _write_port(args, sock)
    server = uvicorn.Server(_uvicorn_config(app, cfg, args.log_level))
    # uvicorn re-raises the SIGTERM it handled once it has shut down: make that a clean exit, so the caller's
    # cleanup (stopping the local models) still runs
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _worker(config_path: str | None, config_json: str, overrides: dict[str, Any], sock: socket.socket,
            log_level: str) -> None:
    """One worker process: build the app from the config file (or the generated config) and serve ``sock``."""
    import uvicorn

    from .app import create_app

    _setup_logging(log_level)
    keys = [ClientKey(k["name"], k["secret"]) for k in json.loads(os.environ.get(KEYS_ENV, "[]"))]
    cfg = load_config(config_path, overrides) if config_path else parse_config(json.loads(config_json))
    app = create_app(cfg, reload_path=config_path, extra_keys=keys, overrides=overrides)
    server = uvicorn.Server(_uvicorn_config(app, cfg, log_level))
    server.run(sockets=[sock])


class _Supervisor:
    """N worker processes on one socket; SIGHUP validated here, then passed on; SIGTERM/SIGINT graceful."""

    def __init__(self, cfg: ServerConfig, args: argparse.Namespace, keys: list[ClientKey], reload_path: str | None,
                 overrides: dict[str, Any]) -> None:
        self.cfg = cfg
        self.args = args
        self.keys = keys
        self.reload_path = reload_path
        self.overrides = overrides
        self.stop = False
        self.hup = False
        self.procs: list[Any] = []

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stop = True

    def _on_hup(self, signum: int, frame: object) -> None:
        self.hup = True

    @contextlib.contextmanager
    def _env(self) -> Iterator[str]:
        mp_dir = tempfile.mkdtemp(prefix="automix-metrics-")
        saved = {k: os.environ.get(k) for k in ("PROMETHEUS_MULTIPROC_DIR", KEYS_ENV)}
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = mp_dir
        os.environ[KEYS_ENV] = json.dumps([{"name": k.name, "secret": k.secret} for k in self.keys])
        try:
            yield mp_dir
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            shutil.rmtree(mp_dir, ignore_errors=True)

    def _spawn(self, ctx: Any, sock: socket.socket) -> Any:
        config_json = "" if self.reload_path else json.dumps(self.cfg.model_dump(mode="json"))
        p = ctx.Process(target=_worker, name="automix-worker", daemon=False,
                        args=(self.reload_path, config_json, self.overrides, sock, self.args.log_level))
        # a SIGHUP passed on while the worker is still starting must not kill it (the default action):
        # an ignored signal stays ignored across the exec, until the worker's own handler is installed
        previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            p.start()
        finally:
            signal.signal(signal.SIGHUP, previous)
        return p

    def _reload(self) -> None:
        if not self.reload_path:
            log.warning("SIGHUP: no config file to reload (started with --local)")
            return
        try:
            cfg = load_config(self.reload_path, self.overrides)
            for name in ("state", "state_prefix", "host", "port", "workers"):
                if getattr(cfg, name) != getattr(self.cfg, name):
                    raise ConfigError(f"{name}: changing it needs a restart")
            asyncio.run(_check(cfg, self.keys))
        except ConfigError as exc:
            log.error("config reload rejected, the workers keep the running config: %s", exc)
            return
        for p in self.procs:
            if p.is_alive() and p.pid:
                os.kill(p.pid, signal.SIGHUP)
        log.info("config %s validated; reload passed to %d workers", self.reload_path, len(self.procs))

    def run(self) -> int:
        import multiprocessing

        from prometheus_client import multiprocess as prom_multiprocess

        ctx = multiprocessing.get_context("spawn")
        sock = _bind(self.cfg)
        _write_port(self.args, sock)
        with self._env():
            signal.signal(signal.SIGTERM, self._on_stop)
            signal.signal(signal.SIGINT, self._on_stop)
            signal.signal(signal.SIGHUP, self._on_hup)
            self.procs = [self._spawn(ctx, sock) for _ in range(self.cfg.workers)]
            log.info("started %d workers: %s", len(self.procs), ", ".join(str(p.pid) for p in self.procs))
            while not self.stop:
                time.sleep(0.2)
                if self.hup:
                    self.hup = False
                    self._reload()
                for i, p in enumerate(self.procs):
                    if not p.is_alive() and not self.stop:
                        log.error("worker %s exited (code %s); starting a new one", p.pid, p.exitcode)
                        prom_multiprocess.mark_process_dead(p.pid)  # type: ignore[no-untyped-call]
                        time.sleep(0.5)
                        self.procs[i] = self._spawn(ctx, sock)
            log.info("stopping %d workers (in-flight requests finish first)", len(self.procs))
            for p in self.procs:
                if p.is_alive() and p.pid:
                    os.kill(p.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.cfg.graceful_timeout + 10
            for p in self.procs:
                p.join(max(0.1, deadline - time.monotonic()))
                if p.is_alive():
                    p.kill()
                    p.join(5)
                prom_multiprocess.mark_process_dead(p.pid)  # type: ignore[no-untyped-call]
        sock.close()
        return 0
