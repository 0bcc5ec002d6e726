"""Raw corpora → a persistent store: chunks, a Korean BM25 index, a FAISS dense index and a manifest.

Build with ``python -m knowledge_base.build``; open with ``KnowledgeBase.load(dir)``.
"""

# the registries whose names a config's kb.* fields take (``common.registry.FIELDS``)
from . import encoders, faiss_index, sources, tokenizers  # noqa: F401
