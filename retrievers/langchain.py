"""A LangChain ``BaseRetriever`` over any of our retrievers."""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .base import Retriever


class LangChainRetriever(BaseRetriever):
    """``LangChainRetriever(retriever=get_retriever(...), k=5).invoke("질문")`` → ``list[Document]`` with the
    chunk text as ``page_content`` and chunk id, title, fused and per-stage scores in ``metadata``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    retriever: Any
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        r: Retriever = self.retriever
        return [Document(page_content=d.text, metadata={**d.to_dict(), **d.metadata}) for d in r.retrieve(query, self.k)]
