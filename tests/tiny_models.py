"""Tiny, random, locally built models for tests (no downloads).

* ``build_tiny_qwen(dir)``: a Qwen2-architecture causal LM with a real byte-level BPE tokenizer trained on
  Korean text from the shared data; digits are split individually so "1".."5" are single tokens; a
  Qwen-style chat template. Loadable with ``AutoTokenizer/AutoModelForCausalLM.from_pretrained(dir)``.
* ``build_tiny_gptq(src, dir, prompts, device_map)``: ``src`` (a tiny Qwen) quantized with GPTQ (4-bit, group 32,
  calibrated on ``prompts``) and saved with its tokenizer; needs optimum + gptqmodel.
* ``build_tiny_encoder(dir)``: a sentence-transformers model (tiny BERT + WordPiece + mean pooling +
  normalisation), loadable with ``SentenceTransformer(dir)``.
"""
from __future__ import annotations

import ast
import csv
from pathlib import Path

from common.paths import default_data_root

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def korean_texts(n: int = 300) -> list[str]:
    """Passages, questions and choices of the first ``n`` competition-train rows (+ digits and marks)."""
    path = default_data_root() / "competition" / "train.csv"
    texts: list[str] = []
    with open(path, encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= n:
                break
            prob = ast.literal_eval(row["problems"])
            texts += [row["paragraph"], prob["question"], *prob["choices"]]
    texts += ["정답: 1 2 3 4 5", "지문 질문 선택지 참고 자료 힌트 <보기> ①②③④⑤"] * 5
    return texts


def build_tiny_qwen(out_dir: str | Path, vocab_size: int = 1200, hidden: int = 64, layers: int = 2,
                    seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(korean_texts(), trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                     unk_token=None, model_max_length=4096)
    hf_tok.chat_template = QWEN_CHAT_TEMPLATE
    hf_tok.save_pretrained(out)
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(hf_tok), hidden_size=hidden, intermediate_size=hidden * 2,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=4096, tie_word_embeddings=True, initializer_range=0.15,
                      eos_token_id=hf_tok.eos_token_id, pad_token_id=hf_tok.pad_token_id, bos_token_id=None)
    model = Qwen2ForCausalLM(cfg)
    model.save_pretrained(out)
    return out


def build_tiny_encoder(out_dir: str | Path, vocab_size: int = 4000, hidden: int = 32, seed: int = 0) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:  # pragma: no cover - older releases
        from sentence_transformers import models
    from collections import Counter

    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(out_dir)
    raw = out / "_raw"
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    # The vocabulary is counted here, not trained by tokenizers' WordPieceTrainer, whose ties fall differently
    # from run to run (a different encoder each session made retrieval tests flaky): every character, alone
    # and as a "##" continuation, then the most frequent words (ties by spelling) up to ``vocab_size``.
    normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    pre = pre_tokenizers.BertPreTokenizer()
    words = Counter(w for t in korean_texts() for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(t)))
    chars = sorted({c for w in words for c in w})
    vocab = specials + chars + ["##" + c for c in chars]
    known = set(vocab)
    for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= vocab_size:
            break
        if w not in known:
            vocab.append(w)
            known.add(w)
    tok = Tokenizer(WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    hf_tok = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                               sep_token="[SEP]", mask_token="[MASK]", model_max_length=256,
                               do_lower_case=False, strip_accents=False)
    hf_tok.save_pretrained(raw)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(hf_tok), hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=hidden * 2, max_position_embeddings=256)
    BertModel(cfg).save_pretrained(raw)
    word = models.Transformer(str(raw), max_seq_length=256)
    pool = models.Pooling(hidden, pooling_mode="mean")
    SentenceTransformer(modules=[word, pool, models.Normalize()], device="cpu").save(str(out))
    return out


def build_tiny_gptq(src: str | Path, out_dir: str | Path, prompts: list[str], device_map: str = "cpu") -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPTQConfig

    out = Path(out_dir)
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(
        src, quantization_config=GPTQConfig(bits=4, group_size=32, dataset=prompts, tokenizer=tok),
        device_map=device_map, dtype=torch.float16)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
