import pytest
import yaml

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
