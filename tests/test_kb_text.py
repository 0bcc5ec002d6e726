"""Knowledge-base text: sentence splitting, chunk packing and ids, dedup, the source readers on the shared files,
and the Kiwi tokenizer's analysis."""
import itertools
import json

from common.config import ChunkingConfig
from knowledge_base.chunking import chunk_document, pack, split_sentences
from knowledge_base.dedup import dedup_chunks
from knowledge_base.documents import Chunk, Document
from knowledge_base.sources import read_source
from knowledge_base.tokenizers import KiwiTokenizer


def test_split_sentences_korean():
    s = split_sentences("조선은 1392년에 건국되었다. 수도는 한양이었다!\n세종은 한글을 만들었다? 끝")
    assert s == ["조선은 1392년에 건국되었다.", "수도는 한양이었다!", "세종은 한글을 만들었다?", "끝"]


def test_pack_size_and_overlap():
    sents = [f"문장{i:02d}은 열 글자다." for i in range(10)]  # 12 characters each
    chunks = pack(sents, size=40, overlap=12, measure=len, unit="chars")
    parts = [c.split(". ") for c in chunks]
    assert [len(p) for p in parts] == [3, 3, 3, 3, 2]  # 3 sentences fit in 40; 1 sentence of overlap
    for a, b in itertools.pairwise(parts):
        assert a[-1].rstrip(".") == b[0].rstrip(".")
    no_overlap = pack(sents, size=40, overlap=0, measure=len, unit="chars")
    assert len(no_overlap) == 4 and " ".join(no_overlap) == " ".join(sents)
    assert pack(["가" * 100], size=40, overlap=0, measure=len, unit="chars") == ["가" * 40, "가" * 40, "가" * 20]


def test_chunk_ids_title_prefix_and_stability():
    doc = Document("42", "세종", "세종은 조선의 제4대 왕이다. " * 60, "wiki")
    cfg = ChunkingConfig(size=200, overlap=40, min_size=20)
    a, b = chunk_document(doc, cfg), chunk_document(doc, cfg)
    assert [c.chunk_id for c in a] == [f"wiki:42:{i}" for i in range(len(a))] and len(a) > 3
    assert [c.text for c in a] == [c.text for c in b]
    assert all(c.text.startswith("세종\n") for c in a)
    tok = ChunkingConfig(unit="tokens", size=30, overlap=5, min_size=5, prefix_title=False)
    assert all(len(c.text.split()) <= 30 for c in chunk_document(doc, tok))


def test_exact_and_near_dedup():
    base = "대한민국의 수도는 서울이며 인구는 약 천만 명이다. 한강이 도시를 가로지른다. " * 4
    near = base.replace("천만", "구백만")
    other = "부산은 대한민국 제2의 도시이며 항구 도시로 유명하다. " * 5
    mk = lambda i, t: Chunk(f"s:{i}:0", str(i), "s", "", t, 0)
    kept, removed = dedup_chunks([mk(1, base), mk(2, base), mk(3, near), mk(4, other)], near_threshold=0.8)
    assert [c.chunk_id for c in kept] == ["s:1:0", "s:4:0"] and removed == {"exact": 1, "near": 1}
    kept, removed = dedup_chunks([mk(1, base), mk(3, near)], near_threshold=None)
    assert len(kept) == 2


def test_sources_read_real_files(data_root):
    wiki = list(read_source("wiki", data_root / "kb/kowiki_social_2020.jsonl.gz", limit=3))
    assert len(wiki) == 3 and wiki[0].title == "지미 카터"
    boolq = list(read_source("kobest_boolq", data_root / "kb/kobest/BoolQ", limit=50))
    assert len({d.text for d in boolq}) == 50
    laws = list(read_source("statutes", data_root / "kb/kr_statutes_2024.jsonl.gz", limit=5,
                            laws=["10ㆍ27법난 피해자의 명예회복 등에 관한 법률"]))
    assert laws and all(d.metadata["law"].startswith("10ㆍ27") for d in laws)
    kq = list(read_source("korquad", data_root / "retrieval/korquad_v1_dev.json"))
    raw = json.loads((data_root / "retrieval/korquad_v1_dev.json").read_text(encoding="utf-8"))["data"]
    assert len(kq) == sum(len(a["paragraphs"]) for a in raw) > 900 and kq[0].doc_id == "0-0"
    assert "테드 번디" in {d.title for d in kq} and not any("_" in d.title for d in kq)  # slugs → names
    first = [d.title for d in read_source("wiki", data_root / "kb/kowiki_social_2020.jsonl.gz", limit=5)]
    kept = list(read_source("wiki", data_root / "kb/kowiki_social_2020.jsonl.gz", limit=5,
                            exclude_titles=first[:2]))
    assert [d.title for d in kept][:3] == first[2:] and len(kept) == 5  # limit counts the articles kept


def test_kiwi_tokenizer_matches_between_batch_and_single():
    tok = KiwiTokenizer(num_workers=1)
    texts = ["임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배되었다.", "Apple과 삼성전자의 경쟁"]
    batch = tok.tokenize_batch(texts)
    assert batch[0][:4] == ["임종석", "여의도", "농민", "폭력"] and "주도" in batch[0]
    assert "apple" in batch[1] and "삼성전자" in batch[1] or "삼성" in batch[1]
    assert [tok.tokenize(t) for t in texts] == batch


def test_kiwi_tokenizer_analyses_a_word_alike_whatever_its_neighbours():
    """A query word gets the terms it got in the corpus, whichever words were analysed with it (words used to
    be analysed in batches of unrelated neighbours, which split some names differently)."""
    words = ["김이수가", "전현희의", "테드번디가", "포켓몬스터", "금은이", "승진한", "대학교는", "졸업후"]
    corpus = KiwiTokenizer(num_workers=1)
    corpus.tokenize_batch([" ".join(words), "서울 남부 지방 법원장 " * 20 + " ".join(reversed(words))])
    for w in words:
        assert KiwiTokenizer(num_workers=1).tokenize(w) == list(corpus.cache[w]), w
    assert corpus.describe()["analysis"] == "per-word, spaced forms split"


def test_kiwi_rule_oov_handling_splits_particles_off_unknown_names():
    """Kiwi reads the unknown name "전현희" with its particle as one noun, which never matches "전현희" in a
    document; its 'rule' OOV handling (the default) splits the particle off."""
    assert KiwiTokenizer(num_workers=1, oov_handling="none").tokenize("전현희의 발언") == ["전현희의", "발언"]
    tok = KiwiTokenizer(num_workers=1)
    assert tok.describe()["oov_handling"] == "rule"
    assert tok.tokenize("전현희의 발언") == ["전현희", "발언"] == tok.tokenize("전현희 발언")
    assert tok.tokenize("고려대학교의 베토벤") == ["고려대학교", "베토벤"]  # known words keep their analysis


def test_kiwi_terms_never_hold_a_space():
    """Kiwi reads "테드번디가" as the one dictionary noun "테드 번디"; the index gets the terms the spaced
    spelling gives, so both spellings meet."""
    tok = KiwiTokenizer(num_workers=1)
    assert tok.tokenize("테드번디가") == tok.tokenize("테드 번디") == ["테드", "번디"]  # the title spelling
    assert not any(" " in t for t in tok.tokenize_batch(["테드번디가 뉴욕타임스에 실렸다"])[0])


