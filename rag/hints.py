"""``python -m rag.hints --config C --data CSV --out hints.jsonl [--limit N] [-o ...]``

Generates a short background hint per question with the configured LLM backend. Hints are cached in the
output file by (question id, model id, template hash): re-running skips what is already there, and a
changed model or template generates anew. ``prompt.hints: true`` + ``prompt.hints_path`` put them in prompts.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm.auto import tqdm

from common.cli import add_config_args, command, config_from_args, fail, positive_int
from common.hashing import short_hash

from .llm.base import LLMRequestError

HINT_TEMPLATE = ("다음 문제를 푸는 데 필요한 배경 지식을 두세 문장으로 설명하세요. 정답 번호는 말하지 마세요.\n\n"
                 "{paragraph}\n\n질문: {question}\n선택지:\n{choices}")


def template_hash() -> str:
    return short_hash(HINT_TEMPLATE)


def generate_hints(llm, questions, out: Path, batch_size: int = 4, max_new_tokens: int = 96) -> int:
    tok = llm.tokenizer
    key = (llm.model_id, template_hash())
    done = set()
    if out.exists():
        for line in out.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                if (r.get("model"), r.get("template")) == key:
                    done.add(r["id"])
    todo = [q for q in questions if q.id not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as f:
        for b in tqdm(range(0, len(todo), batch_size), desc="hints", unit="batch"):
            batch = todo[b:b + batch_size]
            prompts = []
            for q in batch:
                body = HINT_TEMPLATE.format(paragraph=q.paragraph[:1500], question=q.question,
                                            choices="\n".join(f"{i} - {c}" for i, c in enumerate(q.choices, 1)))
                msgs = [{"role": "user", "content": body}]
                prompts.append(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
                               if getattr(tok, "chat_template", None) else body + "\n힌트:")
            try:
                gens = llm.generate(prompts, max_new_tokens, batch_size)
            except LLMRequestError as e:  # a served model's request failed: say for which question
                raise e.naming(prompts, [q.id for q in batch]) from e
            for q, g in zip(batch, gens):
                hint = g.text.strip()
                f.write(json.dumps({"id": q.id, "hint": hint, "model": key[0], "template": key[1]},
                                   ensure_ascii=False) + "\n")
            f.flush()
    return len(todo)


@command
def main(argv: list[str] | None = None) -> int:
    from .assembly import Assembly
    from .data import DataError, load_questions

    ap = argparse.ArgumentParser(prog="python -m rag.hints", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--limit", type=positive_int, default=None)
    ap.add_argument("--max-new-tokens", type=positive_int, default=96)
    args = ap.parse_args(argv)
    cfg = config_from_args(args)
    try:
        qs = load_questions(args.data)[: args.limit]
    except DataError as e:
        fail(str(e))
    n = generate_hints(Assembly().llm(cfg), qs, args.out, cfg.llm.batch_size, args.max_new_tokens)
    print(f"generated {n} hints ({len(qs) - n} cached) → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
