"""One error boundary per command (``common.cli.command``): an error raised anywhere below a CLI's ``main`` ends it
with one line naming the file and what to do, exit code 2, no traceback; ``CSAT_DEBUG=1`` shows the traceback."""
import pytest
from cli_helpers import run_cli


def _one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_failures_of_files_and_libraries_are_one_line(tmp_path, data_root, capsys):
    from eval.router.__main__ import main as router_eval
    from knowledge_base.build import main as build
    from rag.data.__main__ import main as data_main
    from rag.predict import main as predict
    from retrievers.search import main as search

    train = str(data_root / "competition/train.csv")
    code, err = run_cli(data_main, ["stats", train, "--encoding", "bogus-enc"], capsys)
    assert code == 2 and "unknown encoding: bogus-enc" in _one_line(err)
    (tmp_path / "kb/manifest.json").mkdir(parents=True)
    code, err = run_cli(search, ["--kb", str(tmp_path / "kb"), "질문"], capsys)
    assert code == 2 and "manifest.json: is a directory" in _one_line(err)
    (tmp_path / "file").write_text("x")
    code, err = run_cli(predict, ["--data", train, "--out", str(tmp_path / "file"), "--limit", "2",
                                  "-o", "router.name=always-korean"], capsys)
    assert code != 0 and "--out names a file" in _one_line(err)
    (tmp_path / "x.jsonl.gz").write_text("not gzip")
    code, err = run_cli(build, ["--out", str(tmp_path / "kbx"), "--stages", "chunk", "-o",
                                f"kb.sources=[{{name: wiki, path: {tmp_path / 'x.jsonl.gz'}}}]"], capsys)
    assert code != 0 and "not gzip-compressed" in _one_line(err)
    code, err = run_cli(router_eval, ["eval", "--data", train, "--labels",
                                      str(data_root / "competition/train_sources.csv"), "--model",
                                      str(tmp_path / "file")], capsys)
    assert code == 2 and "no router directory there" in _one_line(err)


def test_debug_switch_shows_the_traceback(data_root, monkeypatch):
    from rag.data.__main__ import main as data_main

    monkeypatch.setenv("CSAT_DEBUG", "1")
    with pytest.raises(LookupError, match="bogus-enc"):
        data_main(["stats", str(data_root / "competition/train.csv"), "--encoding", "bogus-enc"])


def test_inputs_that_could_take_the_machine_down_are_refused(tmp_path, data_root, capsys, monkeypatch):
    """A device as data (``/dev/zero`` read until memory ran out), an input over the size limit, a huge config."""
    from rag.data.__main__ import main as data_main
    from rag.predict import main as predict

    code, err = run_cli(predict, ["--data", "/dev/zero", "-o", "data.format=jsonl", "--out", str(tmp_path / "o")],
                        capsys)
    assert code != 0 and "/dev/zero: not a regular file" in _one_line(err)
    monkeypatch.setenv("CSAT_MAX_INPUT_MB", "0.5")
    code, err = run_cli(data_main, ["stats", str(data_root / "competition/train.csv")], capsys)
    assert code != 0 and "over the 0.5 MiB input limit (raise it with $CSAT_MAX_INPUT_MB)" in _one_line(err)
    monkeypatch.delenv("CSAT_MAX_INPUT_MB")
    big = tmp_path / "big.yaml"
    big.write_text("retrieval: {top_k: 3}\n" + "#" * (2 << 20))
    code, err = run_cli(predict, ["--config", str(big), "--out", str(tmp_path / "o")], capsys)
    assert code != 0 and "a run config is under" in _one_line(err)
