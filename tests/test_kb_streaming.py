"""Knowledge bases read in place and built in bounded memory: the streamed BM25 index equals bm25s's own, the
offline dedup equals a streaming LSH index, chunk records are read (and checked) one at a time, a quick load hashes
what it parses and not the large arrays, and a store of the older format converts with one command."""
import itertools
import json
import shutil
from pathlib import Path

import bm25s
import numpy as np
import pytest

from common.config import BM25Config
from knowledge_base import bm25_build
from knowledge_base.chunk_store import BLOCK, CHUNK_FILES, OFFSETS_FILE, ChunkTable
from knowledge_base.dedup import Deduper, MinHasher, _body
from knowledge_base.documents import Chunk
from knowledge_base.manifest import KBError, manifest_stamp
from knowledge_base.manifest import main as manifest_main
from knowledge_base.store import KnowledgeBase, read_chunks
from knowledge_base.tokenizers import KiwiTokenizer, tokenizer_for


@pytest.fixture
def kb_copy(tmp_path, small_kb) -> Path:
    out = tmp_path / "kb"
    shutil.copytree(small_kb[0], out)
    return out


def _texts(small_kb) -> list[str]:
    return [c.text for c in read_chunks(small_kb[0] / "chunks.jsonl")] + ["", "   "]


@pytest.mark.parametrize("method", ["lucene", "bm25+"])
def test_streamed_bm25_equals_bm25s_index(small_kb, monkeypatch, method):
    """Built batch by batch (7 documents a batch here, so postings of one term come from many batches) and from a
    scratch file, the index holds exactly the arrays bm25s's own ``index()`` computes from the same ids."""
    monkeypatch.setattr(bm25_build, "BATCH_DOCS", 7)
    texts = _texts(small_kb)
    cfg = BM25Config(method=method)
    tok = tokenizer_for(cfg)
    new, built = bm25_build.build_bm25(iter(texts), cfg, tok, progress=False)
    tokens = tok.tokenize_batch(texts)
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in tokens]
    ref = bm25s.BM25(k1=cfg.k1, b=cfg.b, method=method)
    ref.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    for key in ("data", "indices", "indptr"):
        assert new.scores[key].dtype == ref.scores[key].dtype
        np.testing.assert_array_equal(new.scores[key], ref.scores[key])
    assert new.scores["num_docs"] == ref.scores["num_docs"] == len(texts)
    assert new.vocab_dict == ref.vocab_dict
    if method == "bm25+":
        np.testing.assert_array_equal(new.nonoccurrence_array, ref.nonoccurrence_array)
    assert built.empty == 2 and len(ref.scores["data"]) > 1000


def test_tokenizer_cache_bound_changes_no_term():
    texts = ["대한민국의 수도는 서울특별시이다. 서울은 한강을 끼고 있다.", "조선의 수도는 한양이었다.",
             "한양은 지금의 서울이다.", "전현희의 발표"] * 3
    bounded = KiwiTokenizer(max_cache_words=4, num_workers=1)
    free = KiwiTokenizer(num_workers=1)
    assert [bounded.tokenize_batch([t]) for t in texts] == [free.tokenize_batch([t]) for t in texts]
    assert len(bounded.cache) <= 8 and len(bounded.previous) <= 8 and len(free.cache) > 8
    # past the bound the cache becomes the previous generation; a word found there moves back, unanalysed
    calls = []
    analyse = bounded._analyse
    bounded._analyse = lambda words, progress: (calls.append(list(words)), analyse(words, progress))
    bounded.cache, bounded.previous = {}, {}
    bounded.tokenize_batch(["조선의 수도는 한양이었다."])
    bounded.tokenize_batch(["서울은 한강을"])
    assert set(bounded.previous) == {"조선의", "수도는", "한양이었다."} and set(bounded.cache) == {"서울은", "한강을"}
    calls.clear()
    assert bounded.tokenize_batch(["수도는 서울은"]) == free.tokenize_batch(["수도는 서울은"])
    assert calls == [] and "수도는" in bounded.cache


class _StreamingLSH:
    """The reference: a streaming LSH index with a Python table per band (what the dedup stage used to hold)."""

    def __init__(self, threshold, bands=16):
        self.h, self.t, self.bands, self.tables, self.sigs = MinHasher(), threshold, bands, [{} for _ in
                                                                                              range(bands)], []

    def add_if_new(self, text):
        sig = self.h.signature(text)
        rows = len(sig) // self.bands
        keys = [sig[b * rows:(b + 1) * rows].tobytes() for b in range(self.bands)]
        for table, key in zip(self.tables, keys):
            if any(np.mean(self.sigs[j] == sig) >= self.t for j in table.get(key, ())):
                return False
        for table, key in zip(self.tables, keys):
            table.setdefault(key, []).append(len(self.sigs))
        self.sigs.append(sig)
        return True


def test_offline_dedup_equals_a_streaming_index(small_kb):
    """Exact copies, near copies (a few characters changed) and copies of copies among real chunks: the offline
    Deduper keeps exactly the chunks a streaming LSH index keeps, and counts them alike."""
    rng = np.random.default_rng(0)
    base = read_chunks(small_kb[0] / "chunks.jsonl")
    chunks = list(base)
    for k, i in enumerate(rng.choice(len(base), 60, replace=False)):
        text = list(base[i].text)
        for _ in range(int(rng.integers(0, 30))):
            text[int(rng.integers(len(text)))] = "가"
        chunks.append(Chunk(f"x{k}", "d", "wiki", base[i].title, "".join(text), 0))
    chunks += [Chunk(f"e{k}", "d", "wiki", c.title, c.text, 0) for k, c in enumerate(chunks[-20:])]
    order = rng.permutation(len(chunks))
    chunks = [chunks[i] for i in order]
    for threshold in (0.9, 0.6):
        d = Deduper(exact=True, near_threshold=threshold)
        for c in chunks:
            d.add(c)
        keep, removed = d.finish()
        ref, seen, want = _StreamingLSH(threshold), set(), []
        for c in chunks:
            body = _body(c)
            if body in seen:
                want.append(False)
                continue
            seen.add(body)
            want.append(ref.add_if_new(body))
        assert keep.tolist() == want
        assert removed["exact"] >= 20 and removed["near"] >= 3
        assert removed["exact"] + removed["near"] == len(chunks) - sum(want)


def test_chunk_table_reads_records_in_place(small_kb):
    kb = KnowledgeBase.load(small_kb[0])
    every = read_chunks(small_kb[0] / "chunks.jsonl")
    assert len(kb.chunks) == len(every) and list(kb.chunks) == every
    assert kb.chunks[-1] == every[-1] and kb.chunks[3:6] == every[3:6]
    assert kb.chunks.texts()[2] == every[2].text and kb.chunks.texts()[:2] == [c.text for c in every[:2]]
    with pytest.raises(IndexError):
        kb.chunks[len(every)]
    assert kb.id_to_index[every[5].chunk_id] == 5
    boolq = [c for c in every if c.source == "kobest_boolq"]
    assert list(kb.chunks.of_source("kobest_boolq")) == boolq and 0 < len(boolq) < len(every)


def test_offsets_that_do_not_fit_are_refused(kb_copy):
    off = np.load(kb_copy / OFFSETS_FILE)
    np.save(kb_copy / OFFSETS_FILE, off[:-1])
    man = json.loads((kb_copy / "manifest.json").read_text())
    with pytest.raises(KBError, match="do not describe"):
        ChunkTable(kb_copy, man["counts"]["chunks"])


def _flip(path: Path, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(b"0" if byte != b"0" else b"1")


def test_quick_load_hashes_what_it_parses_and_not_the_postings(kb_copy):
    """A quick load refuses a changed vocabulary (parsed whole) but opens a store whose postings array changed at
    the same size (memory-mapped, checked by size); ``verify=full`` and ``--verify`` refuse both."""
    data = kb_copy / "bm25" / "data.csc.index.npy"
    _flip(data, data.stat().st_size - 3)
    KnowledgeBase.load(kb_copy)
    with pytest.raises(KBError, match=r"bm25/data\.csc\.index\.npy does not match its sha256"):
        KnowledgeBase.load(kb_copy, verify="full")
    with pytest.raises(SystemExit, match="2"):
        manifest_main(["--verify", str(kb_copy)])
    vocab = kb_copy / "bm25" / "vocab.index.json"
    text = vocab.read_bytes()
    vocab.write_bytes(text.replace(b'"', b"'", 1)[:len(text)])
    with pytest.raises(KBError, match=r"vocab\.index\.json does not match its sha256"):
        KnowledgeBase.load(kb_copy)
    with pytest.raises(ValueError, match="verify must be one of"):
        KnowledgeBase.load(kb_copy, verify="fast")


def test_verify_command_passes_a_sound_store(kb_copy, capsys):
    assert manifest_main(["--verify", str(kb_copy)]) == 0
    assert "match manifest.json" in capsys.readouterr().out


def _as_format_1(kb_dir: Path) -> None:
    for name in CHUNK_FILES[1:]:
        (kb_dir / name).unlink()
    man = json.loads((kb_dir / "manifest.json").read_text())
    for name in CHUNK_FILES[1:]:
        man["files"].pop(name)
    man["format_version"] = 1
    man["stamp"] = manifest_stamp(man)
    (kb_dir / "manifest.json").write_text(json.dumps(man))


def test_ensure_built_converts_a_format_1_cache(kb_copy, small_kb):
    from knowledge_base.build import ensure_built

    _as_format_1(kb_copy)
    assert ensure_built(small_kb[1], kb_copy, ["chunk", "bm25"], progress=False) == []  # converted, not rebuilt
    assert len(KnowledgeBase.load(kb_copy, verify="full").chunks) == len(read_chunks(small_kb[0] / "chunks.jsonl"))


def test_a_format_1_store_is_refused_then_upgraded(kb_copy, capsys):
    """A store of the older format (chunks loaded whole: no offsets or block digests) is refused with the command
    that converts it; the command checks every file first, and the converted store searches as before."""
    before = KnowledgeBase.load(kb_copy).search_bm25(["대통령 선거"], 5)
    _as_format_1(kb_copy)
    with pytest.raises(KBError, match=r"format version 1 .*--upgrade"):
        KnowledgeBase.load(kb_copy)
    original = (kb_copy / "chunks.jsonl").read_bytes()
    _flip(kb_copy / "chunks.jsonl", 10)
    with pytest.raises(SystemExit, match="2"):
        manifest_main(["--upgrade", str(kb_copy)])
    assert "does not match its sha256" in capsys.readouterr().err
    (kb_copy / "chunks.jsonl").write_bytes(original)
    assert manifest_main(["--upgrade", str(kb_copy)]) == 0
    assert "converted to format 2" in capsys.readouterr().out
    kb = KnowledgeBase.load(kb_copy, verify="full")
    assert [(h.index, h.score) for h in kb.search_bm25(["대통령 선거"], 5)[0]] == [(h.index, h.score) for h in
                                                                                 before[0]]
    blocks = -(-(kb_copy / "chunks.jsonl").stat().st_size // BLOCK)
    assert (kb_copy / CHUNK_FILES[2]).stat().st_size == 32 * blocks > 32


def test_bm25_search_equals_bm25s_retrieve(small_kb):
    """The store's BM25 search returns bm25s's own scores and hits (its selection differs only in order among
    exactly equal scores, where it takes chunk order), repeated query terms included."""
    kb = KnowledgeBase.load(small_kb[0])
    queries = [c.text[:k] for c, k in zip(read_chunks(small_kb[0] / "chunks.jsonl")[::7], itertools.cycle(
        (15, 40, 120)))] + ["대통령 대통령 선거", "세종"]
    ours = kb.search_bm25(queries, 12)
    vocab = kb.bm25.vocab_dict
    ids = [[vocab[t] for t in toks if t in vocab] for toks in kb.tokenizer.tokenize_batch(queries)]
    _, scores = kb.bm25.retrieve(ids, k=12, show_progress=False)
    for row, hits in enumerate(ours):
        assert [h.score for h in hits] == [float(s) for s in scores[row] if s > 0]  # bm25s's own top scores
        full = kb.bm25.get_scores_from_ids(ids[row])
        want = sorted((-float(full[i]), i) for i in np.flatnonzero(full > 0))[:12]
        assert [(h.index, h.score) for h in hits] == [(i, -s) for s, i in want]  # ties by chunk order
    assert len(queries) > 10 and all(ours)


def test_bm25_top_skips_the_chunks_without_a_query_term():
    """Most chunks of a large store score 0 for a query: they are never hits, and the top k come from the rest."""
    from knowledge_base.store import bm25_top

    class Index:
        def get_scores_from_ids(self, ids):
            s = np.zeros(1000, np.float32)
            s[[5, 17, 300, 999]] = [1.0, 3.0, 3.0, 2.0]
            return s

    idx, scores = bm25_top(Index(), [0], 3)
    assert idx.tolist() == [17, 300, 999] and scores.tolist() == [3.0, 3.0, 2.0]
    idx, scores = bm25_top(Index(), [0], 10)
    assert idx.tolist() == [17, 300, 999, 5]
