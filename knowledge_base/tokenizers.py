"""BM25 tokenizers chosen by name: ``kiwi`` (Korean morphology) and ``whitespace`` (for comparison).

The Kiwi tokenizer analyses each distinct 어절 (whitespace word) once, on its own, and caches its terms:
Korean text repeats words heavily, so a corpus is analysed several times faster than sentence by sentence,
and a word in a query gets exactly the terms it gets in the documents. New words are analysed on all cores.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

from tqdm.auto import tqdm

from common.config import DEFAULT_POS_TAGS, BM25Config
from common.registry import Registry

TOKENIZERS: Registry[type] = Registry("BM25 tokenizer", field="kb.bm25.tokenizer")
# recorded in the manifest: an index must be queried with the analysis that built it
KIWI_ANALYSIS = "per-word, spaced forms split"


def current_analysis(tokenizer: str) -> str | None:
    """The word analysis the named tokenizer uses now (what a manifest's ``tokenizer.analysis`` must say)."""
    return KIWI_ANALYSIS if tokenizer == "kiwi" else None


class Tokenizer:
    name = "base"

    def tokenize(self, text: str) -> list[str]:
        return self.tokenize_batch([text], show_progress=False)[0]

    def tokenize_batch(self, texts: Sequence[str], show_progress: bool = False) -> list[list[str]]:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name}


@TOKENIZERS.register("whitespace")
class WhitespaceTokenizer(Tokenizer):
    """Lower-cased whitespace split (what rank-bm25 / LangChain's BM25Retriever do by default)."""

    name = "whitespace"

    def __init__(self, **_):
        pass

    def tokenize_batch(self, texts, show_progress=False):
        return [t.lower().split() for t in texts]


@TOKENIZERS.register("kiwi")
class KiwiTokenizer(Tokenizer):
    name = "kiwi"

    def __init__(self, pos_tags: Sequence[str] = tuple(DEFAULT_POS_TAGS), num_workers: int = 0,
                 progress_step: int = 16384, oov_handling: str = BM25Config().oov_handling,
                 max_cache_words: int | None = None, **_):
        from kiwipiepy import Kiwi

        self.pos_tags = tuple(pos_tags)
        # Kiwi reads some unknown names with their particle as one noun ("전현희의"/NNG, never matching "전현희");
        # its 'rule' OOV handling splits them off. "none" is Kiwi's own default (None).
        self.oov_handling = None if oov_handling in (None, "none") else oov_handling
        self.num_workers = num_workers or os.cpu_count() or 1
        self.kiwi = Kiwi(num_workers=self.num_workers)
        # Kiwi loads its model on first use (~1.5 s): pay it here, not on the first query
        self.kiwi.tokenize("가", oov_handling=self.oov_handling)
        self.progress_step = progress_step
        #: analysed words kept per generation (None: all). A corpus of millions of chunks has millions of distinct
        #: 어절; when ``cache`` reaches the bound it becomes ``previous`` and a new one starts, holding the words of the
        #: batch at hand; a word found in ``previous`` moves back, so frequent words are never analysed again and
        #: at most two generations are held. Analysis is per word: the terms are the same whatever the bound.
        self.max_cache_words = max_cache_words
        self.cache: dict[str, tuple[str, ...]] = {}
        self.previous: dict[str, tuple[str, ...]] = {}

    def describe(self) -> dict:
        import kiwipiepy

        return {"name": self.name, "pos_tags": list(self.pos_tags), "analysis": KIWI_ANALYSIS,
                "oov_handling": self.oov_handling or "none", "kiwipiepy": kiwipiepy.__version__}

    def _keep(self, tag: str) -> bool:
        return tag.startswith(self.pos_tags)

    def _analyse(self, words: list[str], show_progress: bool) -> None:
        """Analyse each word on its own (Kiwi runs the list on all cores). Words are never analysed inside a
        batch of unrelated neighbours: Kiwi's language model would then read them in a random context and
        could split the same 어절 differently in the corpus and in a query (measured: Recall@1 −6 points)."""
        bar = tqdm(total=len(words), desc="kiwi: new words", unit="word", disable=not show_progress,
                   mininterval=1.0)
        step = max(1, self.progress_step)
        for i in range(0, len(words), step):
            group = words[i:i + step]
            for w, tokens in zip(group, self.kiwi.tokenize(group, oov_handling=self.oov_handling)):
                # A dictionary entry may hold a space ("테드번디가" → "테드 번디"/NNP): such a term could only
                # match the same unspaced spelling, while "테드 번디" written apart gives two terms.
                self.cache[w] = tuple(part for tk in tokens if self._keep(tk.tag)
                                      for part in (tk.form.lower() if tk.tag == "SL" else tk.form).split())
            bar.update(len(group))
        bar.close()

    def tokenize_batch(self, texts, show_progress=False):
        split = [t.split() for t in texts]
        new: dict[str, None] = {}
        cache, previous = self.cache, self.previous
        for words in split:
            for w in words:
                if w not in cache:
                    known = previous.get(w)
                    if known is None:
                        new[w] = None
                    else:
                        cache[w] = known
        if self.max_cache_words is not None and new and len(cache) + len(new) > self.max_cache_words:
            self.previous = cache
            self.cache = {w: cache[w] for words in split for w in words if w in cache}
        if new:
            self._analyse(list(new), show_progress and len(new) > 10_000)
        cache = self.cache
        out = []
        for words in split:
            terms: list[str] = []
            for w in words:
                terms.extend(cache[w])
            out.append(terms)
        return out


def make_tokenizer(name: str, **options) -> Tokenizer:
    return TOKENIZERS.get(name)(**options)


def tokenizer_for(bm25_config, num_workers: int | None = None, max_cache_words: int | None = None) -> Tokenizer:
    """The tokenizer a ``BM25Config`` describes (``num_workers`` overrides the config's thread count;
    ``max_cache_words`` bounds the Kiwi tokenizer's word cache)."""
    c = bm25_config
    return make_tokenizer(c.tokenizer, pos_tags=c.pos_tags, oov_handling=c.oov_handling,
                          num_workers=c.num_workers if num_workers is None else num_workers,
                          max_cache_words=max_cache_words)
