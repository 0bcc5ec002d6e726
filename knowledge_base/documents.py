"""Documents read from sources and the chunks cut from them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Document:
    doc_id: str
    title: str
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    chunk_id: str  # "<source>:<doc id>:<n>", stable across rebuilds of the same input
    doc_id: str
    source: str
    title: str
    text: str  # what is indexed and shown: "title\nbody" when titles are prefixed
    n: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        return cls(**d)
