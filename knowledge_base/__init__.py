"""Raw corpora → a persistent store: chunks, a Korean BM25 index, a FAISS dense index and a manifest.

Build with ``python -m knowledge_base.build``; open with ``KnowledgeBase.load(dir)``.
"""
