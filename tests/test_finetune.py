"""Fine-tuning on the tiny model: answer-only mask, shuffled copies, overfitting, resume, merging."""
import json
import random

import pytest
import torch

from common.config import load_config
from finetune.data import IGNORE, build_examples, encode_example, shuffled_copies
from rag.data import write_jsonl


@pytest.fixture(scope="module")
def tok(tiny_qwen_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen_dir)


def test_label_mask_covers_exactly_the_answer_tokens(tok, train_rows):
    from rag.prompts import PromptBuilder

    q = train_rows[0]
    ex = encode_example(tok, PromptBuilder(tok).build(q).text, q)
    answer = tok.encode(str(q.answer), add_special_tokens=False) + [tok.eos_token_id]
    trained = [i for i, lab in enumerate(ex.labels) if lab != IGNORE]
    assert trained == list(range(len(ex.input_ids) - len(answer), len(ex.input_ids)))
    assert [ex.input_ids[i] for i in trained] == answer == [ex.labels[i] for i in trained]
    assert tok.decode(ex.input_ids[: trained[0]]).endswith("<|im_start|>assistant\n")


def test_shuffled_copies_keep_answer_text(train_rows):
    rng = random.Random(0)
    for q in train_rows[:6]:
        copies = shuffled_copies(q, 3, rng)
        assert copies[0] == q and len(copies) == 4
        for c in copies[1:]:
            assert c.answer_text == q.answer_text and sorted(c.choices) == sorted(q.choices)
            assert c.choices != q.choices and c.id.startswith(q.id + "#perm")


def _pipe(cfg):
    from finetune.data import finetune_config
    from rag.assembly import Assembly

    return Assembly().pipeline(finetune_config(cfg))


def test_max_length_trims_passage_not_question_choices_answer(tiny_qwen_dir, tok, train_rows):
    cfg = load_config(None, [f"llm.model={tiny_qwen_dir}", "finetune.max_length=200", "finetune.shuffle_copies=1"])
    q = max(train_rows, key=lambda q: len(q.paragraph))
    exs = build_examples(_pipe(cfg), [q])
    assert len(exs) == 2
    for ex in exs:
        text = tok.decode(ex.input_ids)
        assert q.question.strip() in text and all(c in text for c in q.choices)
        assert len(ex.input_ids) <= 200 and ex.labels[-2] != IGNORE


def _cfg(tiny_qwen_dir, data, **extra):
    ov = [f"llm.model={tiny_qwen_dir}", f"finetune.datasets=[{{name: jsonl, path: '{data}'}}]",
          "finetune.exclude_dev=false", "finetune.dev_limit=0", "finetune.lora_r=16", "finetune.lora_alpha=32",
          "finetune.learning_rate=0.01", "finetune.batch_size=4", "finetune.grad_accum=1",
          "finetune.logging_steps=1", "finetune.gradient_checkpointing=false", "finetune.warmup_ratio=0.0",
          "finetune.scheduler=constant_with_warmup", "finetune.max_length=384", "llm.batch_size=4"]
    ov += [f"finetune.{k}={v}" for k, v in extra.items()]
    return load_config(None, ov)


@pytest.fixture(scope="module")
def overfit_set(tmp_path_factory, train_rows):
    return write_jsonl(train_rows[:8] + train_rows[-8:], tmp_path_factory.mktemp("ft") / "sixteen.jsonl")


def test_overfit_loss_halves_within_40_steps(tmp_path, tiny_qwen_dir, overfit_set):
    from finetune.train import train

    s = train(_cfg(tiny_qwen_dir, overfit_set, max_steps=40), tmp_path / "run", progress=False)
    assert s["global_step"] == 40 and s["questions"] == 16
    assert s["last_loss"] <= 0.5 * s["first_loss"], s
    assert (tmp_path / "run/adapter_config.json").exists() and (tmp_path / "run/train_curve.png").exists()
    log = [json.loads(x) for x in (tmp_path / "run/train_log.jsonl").read_text().splitlines()]
    assert sum("loss" in r for r in log) == 40
    # the adapter loads through the rag loader
    from rag.llm import load_llm

    llm = load_llm(load_config(None, [f"llm.model={tiny_qwen_dir}", f"llm.adapter={tmp_path / 'run'}"]).llm)
    assert type(llm.model).__name__ == "PeftModelForCausalLM"


def test_resume_continues_the_step_count(tmp_path, tiny_qwen_dir, overfit_set):
    from transformers import TrainerCallback

    from finetune.train import train

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 4:
                control.should_training_stop = True

    cfg = _cfg(tiny_qwen_dir, overfit_set, max_steps=8, save_steps=2)
    s1 = train(cfg, tmp_path / "run", progress=False, callbacks=[StopAt()])
    assert s1["global_step"] == 4 and (tmp_path / "run/checkpoints/checkpoint-4").exists()
    s2 = train(cfg, tmp_path / "run", resume=True, progress=False)
    assert s2["global_step"] == 8
    log = [json.loads(x) for x in (tmp_path / "run/train_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in log if "loss" in r]
    assert steps == list(range(1, 9))


def test_dev_accuracy_and_best_checkpoint(tmp_path, tiny_qwen_dir, overfit_set):
    from finetune.train import train

    """Dev accuracy before training is prediction's own on the dev questions with the base model; after training it is
    the best evaluation's, whose checkpoint is the one kept."""
    from rag.data.splits import competition_dev

    cfg = _cfg(tiny_qwen_dir, overfit_set, max_steps=6, eval_steps=3, dev_limit=6, early_stopping_patience=2)
    dev = competition_dev(cfg)[:6]
    records = _pipe(cfg).run(dev)
    s = train(cfg, tmp_path / "run", progress=False)
    assert s["dev_questions"] == 6
    assert s["dev_accuracy_before"] == pytest.approx(sum(bool(r.correct) for r in records) / 6)
    log = [json.loads(x) for x in (tmp_path / "run/train_log.jsonl").read_text().splitlines()]
    evals = [(r["step"], r["eval_dev_accuracy"]) for r in log if "eval_dev_accuracy" in r]
    assert [step for step, _ in evals] == [3, 6]
    best_step, best = max(evals, key=lambda e: (e[1], -e[0]))  # the first of the best
    assert s["dev_accuracy_after"] == pytest.approx(best)
    assert s["best_checkpoint"].endswith(f"checkpoint-{best_step}")


def test_merge_ties_and_full(tmp_path, tiny_qwen_dir, overfit_set):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune.merge import merge
    from finetune.train import train

    a = tmp_path / "a"
    b = tmp_path / "b"
    train(_cfg(tiny_qwen_dir, overfit_set, max_steps=5, seed=1), a, progress=False)
    train(_cfg(tiny_qwen_dir, overfit_set, max_steps=5, seed=2, learning_rate=0.02), b, progress=False)
    m = merge(str(tiny_qwen_dir), [str(a), str(b)], "ties", [0.6, 0.4], 0.5, tmp_path / "m")
    x = torch.tensor([[5, 17, 42, 99, 7]])

    def logits(adapter):
        base = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir)
        with torch.no_grad():
            return PeftModel.from_pretrained(base, str(adapter)).eval()(x).logits

    lm, la, lb = logits(m), logits(a), logits(b)
    assert not torch.allclose(lm, la, atol=1e-4) and not torch.allclose(lm, lb, atol=1e-4)
    full = merge(str(tiny_qwen_dir), [str(a), str(b)], "dare_ties", [0.5, 0.5], 0.7, tmp_path / "full", full=True)
    assert not (full / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(full)
    assert type(model).__name__ == "Qwen2ForCausalLM" and not any("lora" in n for n, _ in model.named_modules())


def test_qlora_4bit_runs_on_cpu(tmp_path, tiny_qwen_dir, overfit_set):
    pytest.importorskip("bitsandbytes")
    from finetune.train import train

    cfg = _cfg(tiny_qwen_dir, overfit_set, max_steps=3)
    cfg.llm.quantization = "4bit"
    cfg.llm.dtype = "float32"
    s = train(cfg, tmp_path / "q", progress=False)
    assert s["global_step"] == 3 and s["first_loss"] > 0 and (tmp_path / "q/adapter_model.safetensors").exists()


def test_training_prompts_are_the_prediction_prompts(tmp_path, tok, train_rows, small_kb, tiny_qwen_dir):
    """For the same question and config, the fine-tuning prompt is the one prediction scores (routed by the
    router, not the gold label; retrieved per choice, gated, with the hints file's hint), answer aside."""
    from finetune.data import training_prompts
    from rag.assembly import Assembly

    social = next(q for q in train_rows if q.domain == "social")
    korean = next(q for q in train_rows if q.domain == "korean")
    hints = tmp_path / "hints.jsonl"
    hints.write_text(json.dumps({"id": social.id, "hint": "핵심: 시대 순서"}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    cfg = load_config(None, [f"llm.model={tiny_qwen_dir}", f"retrieval.kb={small_kb[0]}", "finetune.context=true",
                             "retrieval.top_k=2", "retrieval.query=per_choice", "finetune.max_length=4096",
                             "prompt.max_tokens=2048", "retrieval.candidates=20", "prompt.hints=true",
                             f"prompt.hints_path={hints}", "finetune.shuffle_copies=0"])
    pipe = _pipe(cfg)
    trained = training_prompts(pipe, [social, korean])
    predicted = Assembly().pipeline(cfg).prompted([social, korean])
    assert trained == [variants[0][1].text for variants in predicted]
    assert "참고 자료" in trained[0] and "핵심: 시대 순서" in trained[0] and "참고 자료" not in trained[1]
    ex_s, _ = build_examples(pipe, [social, korean])
    assert tok.decode(ex_s.input_ids).startswith(trained[0])
    # routed by the router: a social question the router sends to 국어 gets no context, whatever its label
    as_korean = _pipe(cfg.model_copy(update={"router": cfg.router.model_copy(update={"name": "always-korean"})}))
    assert "참고 자료" not in training_prompts(as_korean, [social])[0]
    with pytest.raises(ValueError, match="retrieval.kb"):
        _pipe(load_config(None, [f"llm.model={tiny_qwen_dir}", "finetune.context=true"]))


def test_training_data_leaves_competition_dev_out_by_default():
    """The default (finetune.exclude_dev) removes every competition-dev question from the training mix, so dev
    accuracy is measured on questions the adapter never saw; switched off, they are all there."""
    from common.config import load_config
    from finetune.data import load_training_questions
    from rag.data.splits import competition_dev

    cfg = load_config(None)
    assert cfg.finetune.exclude_dev
    dev = {q.id for q in competition_dev(cfg)}
    qs, report = load_training_questions(cfg)
    assert dev and not dev & {q.id for q in qs}
    assert report["excluded_dev"] == len(dev)
    kept, report = load_training_questions(load_config(None, ["finetune.exclude_dev=false"]))
    assert dev <= {q.id for q in kept} and report["excluded_dev"] == 0


def test_train_and_merge_commands_with_a_linear_merge(tmp_path, tiny_qwen_dir, overfit_set, capsys):
    """``python -m finetune.train`` and ``python -m finetune.merge --method linear``: one adapter merged linearly
    with weight 1 gives the adapter's own logits; two different ones give neither's."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from common.config import save_config
    from finetune.merge import main as merge_main
    from finetune.train import main as train_main

    cfg = _cfg(tiny_qwen_dir, overfit_set, max_steps=4)
    save_config(cfg, tmp_path)  # config.yaml
    for name, seed in (("a", 1), ("b", 2)):
        assert train_main(["--config", str(tmp_path / "config.yaml"), "--out", str(tmp_path / name),
                           "-o", f"finetune.seed={seed}", "-o", f"finetune.learning_rate={0.01 * seed}"]) == 0
    x = torch.tensor([[5, 17, 42, 99, 7]])

    def logits(adapter):
        base = AutoModelForCausalLM.from_pretrained(tiny_qwen_dir)
        with torch.no_grad():
            return PeftModel.from_pretrained(base, str(adapter)).eval()(x).logits

    assert merge_main(["--base", str(tiny_qwen_dir), "--adapters", str(tmp_path / "a"), "--method", "linear",
                       "--weights", "1.0", "--out", str(tmp_path / "one")]) == 0
    torch.testing.assert_close(logits(tmp_path / "one"), logits(tmp_path / "a"), atol=1e-4, rtol=1e-4)
    assert merge_main(["--base", str(tiny_qwen_dir), "--adapters", str(tmp_path / "a"), str(tmp_path / "b"),
                       "--method", "linear", "--weights", "0.5", "0.5", "--out", str(tmp_path / "two")]) == 0
    two = logits(tmp_path / "two")
    assert not torch.allclose(two, logits(tmp_path / "a"), atol=1e-4)
    assert not torch.allclose(two, logits(tmp_path / "b"), atol=1e-4)
