import pytest
import yaml

import rag  # noqa: F401  (the stage packages declare the registries a config names)
from common.config import ConfigError, RunConfig, config_hash, load_config, save_config
from common.paths import DATA_ROOT_ENV, default_data_root


def test_defaults_and_overrides_are_typed():
    cfg = load_config(None, ["retrieval.top_k=3", "prompt.hints=true", "retrieval.min_score=null",
                             "kb.bm25.pos_tags=[NNG, NNP]", "llm.model=Qwen/Qwen2.5-7B-Instruct"])
    assert cfg.retrieval.top_k == 3 and cfg.prompt.hints is True and cfg.retrieval.min_score is None
    assert cfg.kb.bm25.pos_tags == ["NNG", "NNP"]
    assert cfg.llm.model == "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize("override,needle", [
    ("retrieval.topk=3", "'retrieval.topk'"),
    ("nosuch.key=1", "'nosuch'"),
    ("kb.bm25.nope=1", "'kb.bm25.nope'"),
])
def test_unknown_override_key_is_named(override, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_config(None, [override])


def test_invalid_value_names_key():
    with pytest.raises(ConfigError, match=r"retrieval\.top_k"):
        load_config(None, ["retrieval.top_k=zero"])
    with pytest.raises(ConfigError, match="must look like"):
        load_config(None, ["retrieval.top_k"])


def test_yaml_unknown_key_and_roundtrip(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("retrieval:\n  top_kk: 3\n")
    with pytest.raises(ConfigError, match=r"retrieval\.top_kk: unknown key"):
        load_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text("retrieval:\n  top_k: 7\nkb:\n  sources:\n    - {name: wiki, path: data:kb/x.jsonl.gz, limit: 5}\n")
    cfg = load_config(good, ["retrieval.fusion=convex"])
    assert cfg.retrieval.top_k == 7 and cfg.retrieval.fusion == "convex" and cfg.kb.sources[0].limit == 5
    saved = save_config(cfg, tmp_path / "out")
    again = load_config(saved)
    assert again == cfg and config_hash(again) == config_hash(cfg)
    assert yaml.safe_load(saved.read_text())["retrieval"]["top_k"] == 7


def test_data_root_env_and_data_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert default_data_root() == tmp_path
    cfg = RunConfig()
    assert cfg.data.root == tmp_path
    assert cfg.resolve_path("data:competition/train.csv") == tmp_path / "competition" / "train.csv"


def test_shipped_configs_load():
    from pathlib import Path

    for path in sorted(Path(__file__).resolve().parent.parent.joinpath("configs").rglob("*.yaml")):
        if "ablations" in path.parts:
            continue
        load_config(path)


@pytest.mark.parametrize("override,needle", [
    ("scoring.method=logit", r"scoring\.method: unknown scorer 'logit'; choose one of evidence, generate, logits"),
    ("router.name=clasifier", r"router\.name: unknown router 'clasifier'; choose one of always-korean, "),
    ("llm.backend=vlm", r"llm\.backend: unknown LLM backend 'vlm'; choose one of hf, openai, vllm"),
    ("kb.sources=[{name: wiki, path: a}, {name: wikii, path: b}]", r"kb\.sources\[1\]\.name: unknown knowledge-base"),
    ("data.format=csvv", r"data\.format: unknown question format 'csvv'; choose one of auto, "),
    ("prompt.template=defualt", r"prompt\.template: unknown prompt template 'defualt'"),
    ("kb.encoder.backend=st", r"kb\.encoder\.backend: unknown encoder backend 'st'"),
    ("retrieval.method=hybird", r"retrieval\.method: unknown retriever 'hybird'; choose one of bm25, dense, hybrid"),
    ("kb.bm25.tokenizer=kiwii", r"kb\.bm25\.tokenizer: unknown BM25 tokenizer 'kiwii'"),
    ("kb.dense.index=hnws", r"kb\.dense\.index: unknown FAISS index type 'hnws'"),
])
def test_component_names_are_checked_when_the_config_loads(override, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(None, [override])


def test_a_grid_variant_with_an_unknown_name_fails_before_any_model_loads(tmp_path, capsys):
    """The model path does not exist: had the run got as far as loading it, the error would be another one."""
    from eval.ablate import main as ablate

    grid = tmp_path / "grid.yaml"
    grid.write_text("variants:\n  base: []\n  typo: [scoring.method=generat]\n")
    data = tmp_path / "q.jsonl"
    data.write_text('{"id": "a", "paragraph": "", "question": "q?", "choices": ["1", "2"], "answer": 1}\n')
    with pytest.raises(SystemExit):
        ablate(["--data", str(data), "--grid", str(grid), "--out", str(tmp_path / "o"),
                "-o", f"llm.model={tmp_path / 'no-such-model'}"])
    err = capsys.readouterr().err
    assert "grid variant 'typo'" in err and "unknown scorer 'generat'; choose one of evidence, generate, logits" in err
    assert not (tmp_path / "o").exists()


def test_a_key_given_twice_in_a_yaml_config_is_refused(tmp_path):
    """YAML keeps the last of two equal keys without a word (``top_k: 3`` then ``top_k: 7`` ran with 7)."""
    p = tmp_path / "dup.yaml"
    p.write_text("retrieval:\n  top_k: 3\n  top_k: 7\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"dup\.yaml: line 3: key 'top_k' given twice \(first on line 2\)"):
        load_config(p)
    p.write_text("retrieval:\n  top_k: 3\nrouter:\n  top_k: 7\n", encoding="utf-8")  # the same name in two sections
    with pytest.raises(ConfigError, match="router.top_k"):
        load_config(p)


@pytest.mark.parametrize("options,match", [("{wieght: 2}", "unknown option.*'wieght'"),
                                           ("{weight: abc}", "weight 'abc' is not a finite number above 0"),
                                           ("{weight: -1}", "weight -1 is not"), ("{weight: .nan}", "weight nan")])
def test_finetune_dataset_options_are_checked_with_the_config(options, match):
    """Before any model loads: a misspelt option was ignored, a bad weight failed inside the training library."""
    with pytest.raises(ConfigError, match=match):
        load_config(None, [f"finetune.datasets=[{{name: auto, path: data:competition/train.csv, options: {options}}}]"])
