"""``python -m finetune.train --config C --out DIR [--resume] [-o ...]``

QLoRA/LoRA supervised fine-tuning with transformers ``Trainer``: training and dev prompts are built by the
prediction pipeline (``rag.assembly``'s router, retriever, gate, hints and prompt builder, as ``rag.predict``
builds them; ``finetune.data.finetune_config``); the target is the answer label + EOS and only those tokens carry loss; choice-
shuffled copies augment the data; ``llm.quantization: 4bit`` gives QLoRA (bitsandbytes NF4 +
``prepare_model_for_kbit_training``; runs on CPU too). Dev accuracy (logits scorer on competition-dev) is
measured before training and at every evaluation; the best checkpoint is kept and early stopping applies.

DIR gets the PEFT adapter + tokenizer + ``config.yaml`` (load it with ``-o llm.adapter=DIR``),
``train_log.jsonl``, ``train_curve.png``, ``train_summary.json`` and ``checkpoints/`` (``--resume``).
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from common.cli import add_config_args, command, config_from_args, fail, prepare_out_dir
from common.config import RunConfig
from common.rundir import run_lock


class Collator:
    """Right-pads input_ids (pad id), labels (-100) and builds the attention mask."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, feats):
        import torch

        L = max(len(f["input_ids"]) for f in feats)
        ids = torch.full((len(feats), L), self.pad_id, dtype=torch.long)
        labels = torch.full((len(feats), L), -100, dtype=torch.long)
        mask = torch.zeros((len(feats), L), dtype=torch.long)
        for i, f in enumerate(feats):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            labels[i, :n] = torch.tensor(f["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def lora_model(model, cfg: RunConfig):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    ft = cfg.finetune
    if cfg.llm.quantization in ("4bit", "8bit") or getattr(model, "is_quantized", False):  # bnb, GPTQ, AWQ
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=ft.gradient_checkpointing)
    elif ft.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in ft.target_modules if t in names]
    if not targets:
        raise ValueError(f"none of finetune.target_modules {ft.target_modules} exist in the model")
    lcfg = LoraConfig(r=ft.lora_r, lora_alpha=ft.lora_alpha, lora_dropout=ft.lora_dropout, target_modules=targets,
                      use_rslora=ft.use_rslora, task_type="CAUSAL_LM", bias="none")
    return get_peft_model(model, lcfg)


def make_dev_eval(pipe, dev_questions):
    """A function model → dev accuracy: the dev prompts as prediction builds them (``pipe``: the fine-tuning
    pipeline, whose LLM is the base model's ``HFCausalLM``), scored by the logits scorer with the model being
    trained in the same wrapper, averaged over ``scoring.permutations`` as prediction does."""
    from rag.scoring.logits import LogitsScorer

    built = pipe.prompted(dev_questions)

    def dev_eval(model) -> float:
        was_training = model.training
        model.eval()
        scorer = LogitsScorer(pipe.llm.with_model(model), batch_size=pipe.cfg.llm.batch_size)
        probs = pipe.score(dev_questions, built, scorer=scorer)
        if was_training:
            model.train()
        return sum(int(p.argmax()) + 1 == q.answer for p, q in zip(probs, dev_questions)) / max(len(dev_questions), 1)

    return dev_eval


def plot_curve(log: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    loss = [(r["step"], r["loss"]) for r in log if "loss" in r]
    if loss:
        ax.plot(*zip(*loss), label="train loss", color="#4C72B0")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    acc = [(r["step"], r["eval_dev_accuracy"]) for r in log if "eval_dev_accuracy" in r]
    if acc:
        ax2 = ax.twinx()
        ax2.plot(*zip(*acc), "o-", color="#DD8452", label="dev accuracy")
        ax2.set_ylabel("dev accuracy")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="upper right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train(cfg: RunConfig, out: Path, resume: bool = False, progress: bool = True, callbacks: list | None = None
          ) -> dict:
    """Fine-tune as configured into ``out``; ``callbacks`` are extra transformers TrainerCallbacks. One run at a
    time writes into ``out`` (``common.rundir.run_lock``)."""
    with run_lock(out):
        return _train(cfg, out, resume, progress, callbacks)


def _train(cfg: RunConfig, out: Path, resume: bool, progress: bool, callbacks: list | None) -> dict:
    import torch
    from datasets import Dataset
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    from rag.assembly import Assembly
    from rag.data.splits import competition_dev
    from rag.questions import check_leakage

    from .data import build_examples, finetune_config, load_training_questions

    ft = cfg.finetune
    out = prepare_out_dir(out, cfg)
    ckpt_dir = out / "checkpoints"
    if resume and not any(ckpt_dir.glob("checkpoint-*")):
        raise FileNotFoundError(f"--resume: no checkpoint in {ckpt_dir}")
    t0 = time.time()
    run_cfg = finetune_config(cfg)
    parts = Assembly()
    dev_all = competition_dev(cfg) if (ft.exclude_dev or ft.dev_limit) else []
    questions, data_report = load_training_questions(cfg, dev_all)
    if not questions:
        raise ValueError("no training questions (check finetune.datasets)")
    dev_qs = dev_all[: ft.dev_limit] if ft.dev_limit else []
    # routed, retrieved, gated and built as prediction does (the same parts); dev questions checked for leakage
    if dev_qs:
        check_leakage(dev_qs, [parts.knowledge_base(run_cfg)])
    pipe = parts.pipeline(run_cfg)
    llm = pipe.llm
    tok = llm.tokenizer
    examples = build_examples(pipe, questions, progress=progress)
    train_ds = Dataset.from_list([{"input_ids": e.input_ids, "labels": e.labels} for e in examples])
    dev_eval = make_dev_eval(pipe, dev_qs) if dev_qs else None
    before = dev_eval(llm.model) if (dev_eval and not resume) else None

    model = lora_model(llm.model, cfg)
    model.train()
    strategy = "steps" if ft.eval_steps else "epoch"
    args = TrainingArguments(
        output_dir=str(ckpt_dir), per_device_train_batch_size=ft.batch_size,
        gradient_accumulation_steps=ft.grad_accum, learning_rate=ft.learning_rate, num_train_epochs=ft.epochs,
        max_steps=ft.max_steps, lr_scheduler_type=ft.scheduler, warmup_steps=ft.warmup_ratio,
        logging_steps=ft.logging_steps, eval_strategy=strategy if dev_eval else "no",
        eval_steps=ft.eval_steps or None, save_strategy="steps" if (ft.save_steps or ft.eval_steps) else "epoch",
        save_steps=ft.save_steps or ft.eval_steps or None,
        save_total_limit=2, load_best_model_at_end=bool(dev_eval), metric_for_best_model="dev_accuracy",
        greater_is_better=True, report_to="none", seed=ft.seed, use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False, disable_tqdm=not progress, gradient_checkpointing=False,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported())

    class DevTrainer(Trainer):
        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            metrics = {f"{metric_key_prefix}_dev_accuracy": dev_eval(self.model)}
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    callbacks = list(callbacks or [])
    if dev_eval and ft.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(ft.early_stopping_patience))
    trainer = DevTrainer(model=model, args=args, train_dataset=train_ds, data_collator=Collator(tok.pad_token_id),
                         eval_dataset=train_ds.select(range(1)) if dev_eval else None, callbacks=callbacks)
    t_train = time.time()
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    train_seconds = time.time() - t_train
    after = None
    if dev_eval:
        # the best checkpoint was loaded at the end and its dev accuracy is known; score only if none was taken
        best = trainer.state.best_metric if trainer.state.best_model_checkpoint else None
        after = best if best is not None else dev_eval(trainer.model)
    trainer.model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    log = trainer.state.log_history
    with open(out / "train_log.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(rec) + "\n" for rec in log)
    plot_curve(log, out / "train_curve.png")
    losses = [r["loss"] for r in log if "loss" in r]
    steps_run = trainer.state.global_step
    summary = {
        "examples": len(examples), "questions": len(questions), "data": data_report, "global_step": steps_run,
        "train_seconds": round(train_seconds, 1), "seconds_per_step": round(train_seconds / max(steps_run, 1), 3),
        "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
        "dev_accuracy_before": before, "dev_accuracy_after": after, "dev_questions": len(dev_qs),
        "best_checkpoint": trainer.state.best_model_checkpoint, "train_loss": result.training_loss,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
        "total_seconds": round(time.time() - t0, 1), "model": llm.model_id,
    }
    (out / "train_summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m finetune.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT/checkpoints")
    args = ap.parse_args(argv)
    cfg = config_from_args(args)
    try:
        s = train(cfg, args.out, args.resume)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    print(json.dumps(s, indent=1))
    print(f"RESULT steps={s['global_step']} seconds_per_step={s['seconds_per_step']} first_loss={s['first_loss']} "
          f"last_loss={s['last_loss']} dev_before={s['dev_accuracy_before']} dev_after={s['dev_accuracy_after']} "
          f"peak_rss_gib={s['peak_rss_gib']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
