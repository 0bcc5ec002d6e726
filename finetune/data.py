"""Training data: questions from any loader, mixed with weights, competition-dev excluded, choice-shuffled
copies, tokenized with the inference prompt builder and an answer-only label mask."""
from __future__ import annotations

import random
from dataclasses import dataclass

from common.config import RunConfig
from rag.data import Question, load_questions
from rag.data.splits import competition_dev
from rag.prompts import PromptBuilder

IGNORE = -100


def load_training_questions(cfg: RunConfig, dev: list[Question] | None = None) -> tuple[list[Question], dict]:
    """Mix the configured datasets: ``weight`` w keeps round(w·n) questions (w < 1 subsamples, w > 1 repeats),
    seeded; the competition-dev questions (``dev``, loaded when not given) are removed when
    ``finetune.exclude_dev``."""
    ft = cfg.finetune
    rng = random.Random(ft.seed)
    if ft.exclude_dev:
        excluded = {q.id for q in (dev if dev is not None else competition_dev(cfg))}
    else:
        excluded = set()
    out: list[Question] = []
    report: dict = {"excluded_dev": 0, "datasets": []}
    for src in ft.datasets:
        opts = dict(src.options)
        weight = float(opts.pop("weight", 1.0))
        labels = opts.pop("labels", None)
        qs = load_questions(cfg.resolve_path(src.path), format=src.name,
                            labels=cfg.resolve_path(labels) if labels else None, **opts)
        if src.limit:
            qs = qs[: src.limit]
        before = len(qs)
        qs = [q for q in qs if q.id not in excluded and q.answer is not None]
        report["excluded_dev"] += before - len(qs)
        n = round(weight * len(qs))
        picked = (qs * (n // len(qs) + 1))[:n] if n > len(qs) else rng.sample(qs, n)
        report["datasets"].append({"path": src.path, "loaded": before, "used": len(picked), "weight": weight})
        out.extend(picked)
    return out, report


def shuffled_copies(q: Question, k: int, rng: random.Random) -> list[Question]:
    """The original plus k copies with permuted choices (answer remapped to the same text)."""
    out = [q]
    n = q.n_choices
    for c in range(k):
        order = list(range(n))
        for _ in range(10):
            rng.shuffle(order)
            if order != list(range(n)):
                break
        out.append(q.with_choices(order).model_copy(update={"id": f"{q.id}#perm{c + 1}"}))
    return out


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    qid: str


def encode_example(builder: PromptBuilder, q: Question, context: list[dict] | None = None,
                   hint: str | None = None) -> Example:
    """Prompt tokens (masked with -100) + the answer label tokens + EOS (trained on)."""
    tok = builder.tok
    prompt = builder.build(q, context, hint).text
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    target = tok.encode(str(q.answer), add_special_tokens=False) + [tok.eos_token_id]
    return Example(p_ids + target, [IGNORE] * len(p_ids) + target, q.id)


def retrieve_contexts(cfg: RunConfig, questions: list[Question]) -> dict[str, list[dict]]:
    """Retrieved chunks (``retrieval.*`` settings, gated by ``retrieval.min_score``) for the social questions,
    as prediction would give them, so the model learns to use or ignore 참고 자료."""
    from rag.pipeline import retrieval_query
    from retrievers import get_retriever

    r = cfg.retrieval
    retriever = get_retriever(r)
    social = [q for q in questions if q.domain == "social"]
    docs = retriever.batch_retrieve([retrieval_query(q, r.query) for q in social], r.top_k) if social else []
    return {q.id: [{"title": d.title, "text": d.text} for d in ds if r.min_score is None or d.score >= r.min_score]
            for q, ds in zip(social, docs)}


def build_examples(cfg: RunConfig, tokenizer, questions: list[Question], contexts: dict[str, list[dict]] | None = None
                   ) -> list[Example]:
    """Tokenized examples (with ``finetune.shuffle_copies`` permuted copies); with ``finetune.context`` and no
    ``contexts`` given, social questions get retrieved context from ``retrieval.kb``."""
    from common.config import PromptConfig

    ft = cfg.finetune
    pcfg = PromptConfig.model_validate({**cfg.prompt.model_dump(), "max_tokens": ft.max_length - 8})
    builder = PromptBuilder(tokenizer, pcfg)
    if contexts is None and ft.context:
        if not cfg.retrieval.kb:
            raise ValueError("finetune.context needs retrieval.kb (a built knowledge base)")
        contexts = retrieve_contexts(cfg, questions)
    rng = random.Random(ft.seed)
    out = []
    for q in questions:
        for v in shuffled_copies(q, ft.shuffle_copies, rng):
            hint = q.hint if cfg.prompt.hints else None
            out.append(encode_example(builder, v, (contexts or {}).get(q.id), hint))
    return out
