"""Hostile and careless input to knowledge bases (issue 16): a store never decides to run code, its manifest
is checked (stamp, paths, stages) before any model loads; clear errors naming what is wrong, never a traceback.
The cases of loaders, flags, configs and runs: test_reliability.py (docs/reliability.md counts both)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import run_cli

from common.config import load_config
from knowledge_base.manifest import KBError, read_manifest, restamp
from knowledge_base.store import KnowledgeBase


def edit_manifest(kb: Path, change, stamp: bool = True) -> None:
    man = json.loads((kb / "manifest.json").read_text())
    change(man)
    (kb / "manifest.json").write_text(json.dumps(man))
    if stamp:  # an attacker can re-stamp too: the stamp guards against edits, the checks below against intent
        from knowledge_base.manifest import manifest_stamp

        man["stamp"] = manifest_stamp(man)
        (kb / "manifest.json").write_text(json.dumps(man))


@pytest.fixture
def kb_copy(tmp_path, small_kb) -> Path:
    out = tmp_path / "kb"
    shutil.copytree(small_kb[0], out)
    return out


def _drop_stage(man, stage, prefix):
    man.pop(stage, None)
    for rel in [r for r in man["files"] if r.startswith(prefix)]:
        del man["files"][rel]

# --------------------------------------------------------------------------- 1. a KB never decides to run code
def test_manifest_cannot_turn_on_remote_code(kb_copy, capsys):
    from knowledge_base.search import main

    edit_manifest(kb_copy, lambda m: m["dense"]["encoder_config"].update(trust_remote_code=True))
    code, err = run_cli(main, ["--kb", str(kb_copy), "--stage", "dense", "세종"], capsys)
    assert code == 2 and "trust_remote_code" in err and "--trust-remote-code" in err
    kb = KnowledgeBase.load(kb_copy)
    with pytest.raises(KBError, match="trust_remote_code"):
        _ = kb.encoder
    # the caller may allow it; a manifest that does not ask gets no remote code even when the caller allows it
    assert KnowledgeBase.load(kb_copy, trust_remote_code=True).encoder_config.trust_remote_code is True


def test_remote_code_flag_needs_both_caller_and_manifest(small_kb):
    kb = KnowledgeBase.load(small_kb[0], trust_remote_code=True)
    assert kb.encoder_config.trust_remote_code is False


def test_retrieval_config_gates_remote_code(kb_copy):
    from retrievers import get_retriever

    edit_manifest(kb_copy, lambda m: m["dense"]["encoder_config"].update(trust_remote_code=True))
    cfg = load_config(None, [f"retrieval.kb={kb_copy}", "retrieval.method=dense"])
    with pytest.raises(KBError, match="retrieval.trust_remote_code=true"):
        get_retriever(cfg.retrieval).retrieve("세종", 2)


@pytest.mark.parametrize("case", ["edited", "unstamped"])
def test_manifest_stamp(kb_copy, case):
    if case == "edited":
        edit_manifest(kb_copy, lambda m: m["counts"].update(chunks=1), stamp=False)
        match = "changed after it was written"
    else:
        edit_manifest(kb_copy, lambda m: m.pop("stamp"), stamp=False)
        match = "no stamp.*--restamp"
    with pytest.raises(KBError, match=match):
        KnowledgeBase.load(kb_copy)


@pytest.mark.parametrize("rel", ["../outside.txt", "/etc/hostname", "bm25/../../outside.txt"])
def test_manifest_paths_outside_the_store_are_refused(kb_copy, rel):
    (kb_copy.parent / "outside.txt").write_text("x")
    edit_manifest(kb_copy, lambda m: m["files"].update({rel: {"size": 1, "sha256": "0" * 64}}))
    with pytest.raises(KBError, match="outside the knowledge base"):
        KnowledgeBase.load(kb_copy)


@pytest.mark.parametrize("change,match", [
    (lambda m: m.pop("counts"), "counts.chunks"),
    (lambda m: m.update(files=[]), "'files' must map"),
    (lambda m: m["files"]["chunks.jsonl"].pop("sha256"), "sha256"),
    (lambda m: m["dense"].pop("encoder_config"), "'dense' entry needs"),
])
def test_malformed_manifests_are_clear_errors(kb_copy, change, match, capsys):
    from knowledge_base.search import main

    edit_manifest(kb_copy, change)
    code, err = run_cli(main, ["--kb", str(kb_copy), "세종"], capsys)
    assert code == 2 and match in err


def test_restamp_checks_files_first(kb_copy):
    with open(kb_copy / "chunks.jsonl", "r+b") as f:  # same size, other bytes
        f.write(b"X")
    edit_manifest(kb_copy, lambda m: m.pop("stamp"), stamp=False)
    with pytest.raises(KBError, match="does not match its sha256"):
        restamp(kb_copy)


# --------------------------------------------------------------------------- 3. stages checked before models load
@pytest.fixture
def bm25_only_kb(kb_copy) -> Path:
    edit_manifest(kb_copy, lambda m: _drop_stage(m, "dense", "dense.faiss") or _drop_stage(m, "x", "embeddings"))
    return kb_copy


def test_default_hybrid_on_a_bm25_only_kb_says_what_to_do(bm25_only_kb, capsys):
    from retrievers.search import main

    code, err = run_cli(main, ["--kb", str(bm25_only_kb), "세종대왕"], capsys)
    assert code == 2 and "needs the dense stage" in err and "-o retrieval.method=bm25" in err
    code, err = run_cli(main, ["--kb", str(bm25_only_kb), "-o", "retrieval.method=bm25", "세종대왕"], capsys)
    assert code == 0


def test_predict_checks_the_kb_before_the_model(bm25_only_kb, tmp_path, data_root, capsys, monkeypatch):
    import rag.llm.base as llm_base
    from rag.predict import main

    def no_model(cfg):
        raise AssertionError("the LLM was loaded before the KB was checked")

    monkeypatch.setattr(llm_base, "load_llm", no_model)
    out = tmp_path / "run"
    code, err = run_cli(main, ["--data", str(data_root / "competition/train.csv"), "--limit", "2", "--out", str(out),
                               "-o", f"retrieval.kb={bm25_only_kb}", "-o", "router.name=always-social"], capsys)
    assert code == 2 and "needs the dense stage" in err
    assert not (out / "details.jsonl").exists()  # nothing left that would block a plain rerun


def test_search_on_a_kb_without_an_index_fails(kb_copy, capsys):
    from knowledge_base.search import main

    edit_manifest(kb_copy, lambda m: (_drop_stage(m, "dense", "dense.faiss"), _drop_stage(m, "bm25", "bm25/")))
    code, err = run_cli(main, ["--kb", str(kb_copy), "세종"], capsys)
    assert code == 2 and "has no BM25 or dense index to search" in err


@pytest.mark.parametrize("what", ["kb", "llm"])
def test_missing_kb_or_model_is_a_message(tmp_path, data_root, capsys, what):
    from rag.predict import main

    ov = (["-o", f"retrieval.kb={tmp_path / 'nope'}", "-o", "router.name=always-social"] if what == "kb"
          else ["-o", f"llm.model={tmp_path / 'no_model'}", "-o", "router.name=always-korean"])
    code, err = run_cli(main, ["--data", str(data_root / "competition/train.csv"), "--limit", "1",
                               "--out", str(tmp_path / "run"), *ov], capsys)
    assert code == 2 and ("not found" in err if what == "kb" else "neither an existing local path" in err)


def test_read_manifest_is_used_when_updating_a_store(kb_copy):
    edit_manifest(kb_copy, lambda m: m["files"].update({"../x": {"size": 1, "sha256": "0" * 64}}))
    with pytest.raises(KBError, match="outside"):
        read_manifest(kb_copy)


def test_the_stamp_covers_every_files_entry(kb_copy):
    """An edit of any file's entry (its sha256, its size), or a new one, is an edit of the manifest: with the files
    map outside the stamp, a swapped chunks.jsonl and its new sha256 would load as if built."""
    import json

    from knowledge_base.manifest import STAMP, manifest_stamp

    man = json.loads((kb_copy / "manifest.json").read_text(encoding="utf-8"))
    base = manifest_stamp(man)
    assert man[STAMP] == base
    for name in man["files"]:
        for key, value in (("sha256", "0" * 64), ("size", 1)):
            edited = json.loads(json.dumps(man))
            edited["files"][name][key] = value
            assert manifest_stamp(edited) != base, (name, key)
    added = json.loads(json.dumps(man))
    added["files"]["extra.txt"] = {"size": 1, "sha256": "0" * 64}
    assert manifest_stamp(added) != base
    edit_manifest(kb_copy, lambda m: m["files"]["chunks.jsonl"].update(sha256="0" * 64), stamp=False)
    with pytest.raises(KBError, match="changed after it was written"):
        KnowledgeBase.load(kb_copy)


def test_restamp_command_vouches_for_an_edited_store(kb_copy, capsys):
    """``python -m knowledge_base.manifest --restamp DIR``: an edited manifest is refused until you stamp it; the
    command checks every file's sha256 first, so a changed file is still refused."""
    from knowledge_base.manifest import main as manifest_main

    edit_manifest(kb_copy, lambda m: m.update(note="built by hand"), stamp=False)
    with pytest.raises(KBError, match="changed after it was written"):
        KnowledgeBase.load(kb_copy)
    assert manifest_main(["--restamp", str(kb_copy)]) == 0
    assert "files checked, stamped" in capsys.readouterr().out
    assert len(KnowledgeBase.load(kb_copy)) > 0
    with open(kb_copy / "chunks.jsonl", "a", encoding="utf-8") as f:
        f.write("\n")
    with pytest.raises(SystemExit):
        manifest_main(["--restamp", str(kb_copy)])
    assert "chunks.jsonl" in capsys.readouterr().err
