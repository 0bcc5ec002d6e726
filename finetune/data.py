"""Training data: questions from any loader, mixed with weights, competition-dev excluded, choice-shuffled
copies, and their prompts built by the prediction pipeline itself (``rag.pipeline.Pipeline.prompted``: the same
router, retriever, gate, hints and prompt builder as ``rag.predict``), tokenized with an answer-only label mask.
What the model is trained on is what it will be asked."""
from __future__ import annotations

import random
from dataclasses import dataclass

from tqdm.auto import tqdm

from common.config import RunConfig
from rag.data import Question, load_questions
from rag.data.splits import competition_dev

IGNORE = -100
#: tokens kept free for the answer label and EOS after the prompt
ANSWER_ROOM = 8


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


def finetune_config(cfg: RunConfig) -> RunConfig:
    """The run config fine-tuning builds its pipeline from: the base model (no adapter), no retrieval unless
    ``finetune.context``, and a prompt budget that leaves room for the answer within ``finetune.max_length``
    (``prompt.max_tokens`` when it already does: then training prompts equal prediction's)."""
    ft = cfg.finetune
    if cfg.llm.backend != "hf":
        raise ValueError(f"fine-tuning trains the model in this process: llm.backend must be hf (the config names "
                         f"{cfg.llm.backend!r}); serve the merged model afterwards for llm.backend=openai")
    update: dict = {"llm": cfg.llm.model_copy(update={"adapter": None}),
                    "prompt": cfg.prompt.model_copy(update={"max_tokens": min(cfg.prompt.max_tokens,
                                                                               ft.max_length - ANSWER_ROOM)})}
    if not ft.context:
        update["retrieval"] = cfg.retrieval.model_copy(update={"kb": None})
    elif not cfg.retrieval.kb:
        raise ValueError("finetune.context needs retrieval.kb (a built knowledge base)")
    return cfg.model_copy(update=update)


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    qid: str


def encode_example(tok, prompt: str, q: Question) -> Example:
    """Prompt tokens (masked with -100) + the answer label tokens + EOS (trained on)."""
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    target = tok.encode(str(q.answer), add_special_tokens=False) + [tok.eos_token_id]
    return Example(p_ids + target, [IGNORE] * len(p_ids) + target, q.id)


def training_prompts(pipe, questions: list[Question], batch: int = 64, progress: bool = False) -> list[str]:
    """The prompt prediction would score for each question (its first choice order), built by ``pipe`` (a
    ``rag.pipeline.Pipeline`` of ``finetune_config``)."""
    out: list[str] = []
    for b in tqdm(range(0, len(questions), batch), desc="training prompts", unit="batch", disable=not progress):
        out += [variants[0][1].text for variants in pipe.prompted(questions[b:b + batch])]
    return out


def build_examples(pipe, questions: list[Question], progress: bool = False) -> list[Example]:
    """Tokenized examples, ``finetune.shuffle_copies`` permuted copies of each question included; a copy keeps
    its question's hint (the hints file is keyed by the original id)."""
    ft = pipe.cfg.finetune
    rng = random.Random(ft.seed)
    copies = [v for q in questions
              for v in shuffled_copies(q.model_copy(update={"hint": pipe.hint(q)}), ft.shuffle_copies, rng)]
    prompts = training_prompts(pipe, copies, progress=progress)
    return [encode_example(pipe.llm.tokenizer, p, v) for p, v in zip(prompts, copies)]
