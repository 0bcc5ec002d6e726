"""Hints: generated with the configured backend, cached by (id, model, template hash), used in prompts."""
import json

from common.config import LLMConfig, PromptConfig
from rag.hints import generate_hints
from rag.llm import load_llm
from rag.prompts import PromptBuilder
from rag.prompts.hints_file import load_hints


def test_hints_cache_and_prompt(tmp_path, tiny_qwen_dir, train_rows):
    llm = load_llm(LLMConfig(model=str(tiny_qwen_dir), dtype="float32", batch_size=2))
    out = tmp_path / "hints.jsonl"
    assert generate_hints(llm, train_rows[:3], out, batch_size=2, max_new_tokens=5) == 3
    assert generate_hints(llm, train_rows[:4], out, batch_size=2, max_new_tokens=5) == 1  # 3 cached
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 4 and {x["model"] for x in lines} == {llm.model_id} and len({x["template"] for x in lines}) == 1
    hints = load_hints(out)
    q = train_rows[0]
    text = PromptBuilder(llm.tokenizer, PromptConfig(hints=True)).build(q, hint=hints[q.id] or "빈 힌트").text
    assert "힌트:\n" in text


def test_hints_cli(tmp_path, tiny_qwen_dir, train_rows, capsys):
    from rag.data import write_jsonl
    from rag.hints import main

    data = write_jsonl(train_rows[:2], tmp_path / "q.jsonl")
    out = tmp_path / "h.jsonl"
    argv = ["--data", str(data), "--out", str(out), "--max-new-tokens", "4", "-o", f"llm.model={tiny_qwen_dir}"]
    assert main(argv) == 0 and "generated 2 hints (0 cached)" in capsys.readouterr().out
    assert main(argv) == 0 and "generated 0 hints (2 cached)" in capsys.readouterr().out
    assert len(load_hints(out)) == 2
