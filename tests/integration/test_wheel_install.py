"""A normal install behaves as the checkout does: the built wheel, installed non-editable into a fresh venv
(no system site-packages; its extras from the package index), run from an empty folder, finds the shipped
router and recorded data, ``automix serve --local <shipped pair> --check`` names the shipped router, and
``automix demo --recorded-only`` prints what it prints from the checkout."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAIR = "qwen2.5-coder-0.5b,qwen2.5-coder-1.5b"

pytestmark = pytest.mark.wheel


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    said = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\n{said}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv's bin/ folder, with the wheel built from this checkout installed (``[server]`` extra)."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)], cwd=base)
    wheels = list(dist.glob("automix-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    bin_dir = env_dir / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          f"automix[server] @ {wheels[0].as_uri()}"], cwd=base)
    return bin_dir


@pytest.fixture()
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_installed_package_is_not_the_checkout(installed: Path, empty: Path) -> None:
    out = _run([str(installed / "python"), "-c", "import automix_core, sys; print(automix_core.__file__); "
                "print(sys.flags.no_site, any('site-packages' in p and '/venv/' not in p for p in sys.path))"],
               cwd=empty).stdout.split()
    assert "site-packages" in out[0] and not out[0].startswith(str(ROOT)), out
    assert out[2] == "False", "the venv must not see another environment's site-packages"


def test_shipped_router_and_records_are_package_data(installed: Path, empty: Path) -> None:
    code = (
        "from automix_core import Router, read_records, shipped_records\n"
        "r = Router.shipped('pubmedqa-qwen-pair')\n"
        "print(r.models, r.fitted, r.verification.describe())\n"
        "print(len(read_records(shipped_records('pubmedqa-qwen-pair-continue'))))\n"
        "print(len(read_records(shipped_records('pubmedqa-qwen-pair'))))\n"
        "from automix_core.shipped import shipped_path\n"
        "print('MIT License' in shipped_path('LICENSE-pubmedqa.txt').read_text())\n"
    )
    lines = _run([str(installed / "python"), "-c", code], cwd=empty).stdout.splitlines()
    assert lines[0] == "['qwen2.5-coder-0.5b', 'qwen2.5-coder-1.5b'] True logprob/continue", lines
    assert int(lines[1]) >= 100 and int(lines[2]) >= 300
    assert lines[3] == "True"  # the PubMedQA licence notice ships beside the records


def test_serve_local_check_finds_the_shipped_router(installed: Path, empty: Path) -> None:
    proc = _run([str(installed / "automix"), "serve", "--local", PAIR, "--check"], cwd=empty)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("route 'automix'"))
    assert "router_pubmedqa_qwen_pair.json (version 2, pomdp" in line and "site-packages" in line, line
    assert "qwen2.5-coder-0.5b logprob/continue" in line and "untrained" not in proc.stderr


def _figures(printed: str) -> str:
    """The demo's printout without what depends on where it ran: the run folder's paths, and the last step (the
    router's path and the report, which needs the `plot` extra this venv does not install)."""
    lines = printed.split("\n5. Router:")[0].splitlines()
    return "\n".join(line for line in lines if "traffic in " not in line)


def test_recorded_demo_reports_what_the_checkout_reports(installed: Path, empty: Path, tmp_path: Path) -> None:
    from automix_demo.run import main

    here = io.StringIO()
    with contextlib.redirect_stdout(here):
        assert main(["--recorded-only", "--workdir", str(tmp_path / "checkout-demo")]) == 0
    there = _run([str(installed / "automix"), "demo", "--recorded-only"], cwd=empty).stdout
    assert "AutoMix (shipped router)" in there and "In plain words" in there
    assert _figures(there) == _figures(here.getvalue()) and len(_figures(there).splitlines()) > 20
