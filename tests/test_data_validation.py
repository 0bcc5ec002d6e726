"""Every validation error, raised from a real malformed file, names file, row, id and field."""
import csv

import pytest

from rag.data import (
    DataError,
    Question,
    from_dataset,
    load_questions,
    load_with_report,
    to_dataset,
    write_jsonl,
    write_submission,
)
from rag.data.__main__ import main as data_cli


def _real_rows(data_root, n=5):
    with open(data_root / "competition/train.csv", encoding="utf-8") as f:
        return [r for _, r in zip(range(n), csv.DictReader(f))]


def _write(path, rows, encoding="utf-8"):
    with open(path, "w", encoding=encoding, errors="replace", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "paragraph", "problems", "question_plus"])
        w.writeheader()
        w.writerows(rows)
    return path


CASES = {
    "unparsable_problems": (lambda p: "{'question': '무엇인가', 'choices': [", "problems", "cannot parse problems"),
    "missing_question": (lambda p: repr({"choices": p["choices"], "answer": 1}), "question", "missing or empty"),
    "empty_question": (lambda p: repr({**p, "question": "   "}), "question", "missing or empty"),
    "one_choice": (lambda p: repr({**p, "choices": ["하나"], "answer": 1}), "choices", "at least 2 choices"),
    "answer_out_of_range": (lambda p: repr({**p, "answer": len(p["choices"]) + 1}), "answer", "outside 1.."),
    "answer_zero": (lambda p: repr({**p, "answer": 0}), "answer", "outside 1.."),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_strict_error_names_file_row_id_field(tmp_path, data_root, case):
    import ast

    make, field, msg = CASES[case]
    rows = _real_rows(data_root)
    bad = dict(rows[2])
    bad["problems"] = make(ast.literal_eval(bad["problems"]))
    path = _write(tmp_path / f"{case}.csv", rows[:2] + [bad] + rows[3:])
    with pytest.raises(DataError) as ei:
        load_questions(path)
    e = ei.value
    assert (e.path, e.row, e.qid, e.field) == (str(path), 3, bad["id"], field)
    s = str(e)
    assert str(path) in s and "row 3" in s and bad["id"] in s and f"field '{field}'" in s and msg in s


def test_duplicate_ids(tmp_path, data_root):
    rows = _real_rows(data_root)
    path = _write(tmp_path / "dup.csv", rows + [rows[1]])
    with pytest.raises(DataError, match=r"row 6, id '.+', field 'id': duplicate id \(first seen at row 2\)"):
        load_questions(path)


def test_non_utf8_file_names_encoding(tmp_path, data_root):
    path = _write(tmp_path / "cp949.csv", _real_rows(data_root), encoding="cp949")
    with pytest.raises(DataError, match=r"cp949\.csv: not valid utf-8 .*decodes as cp949.*iconv -f cp949"):
        load_questions(path)
    assert len(load_questions(path, encoding="cp949")) == 5


def test_lenient_report_lists_every_skipped_row(tmp_path, data_root):
    import ast

    rows = _real_rows(data_root, 8)
    rows[1] = {**rows[1], "problems": "not a literal ("}
    p = ast.literal_eval(rows[4]["problems"])
    rows[4] = {**rows[4], "problems": repr({**p, "answer": 9})}
    rows.append(dict(rows[0]))
    path = _write(tmp_path / "mixed.csv", rows)
    qs, report = load_with_report(path, strict=False)
    assert len(qs) == 6 and report.n_rows == 9 and report.n_loaded == 6
    assert [(s.row, s.field) for s in report.skipped] == [(2, "problems"), (5, "answer"), (9, "id")]
    summary = report.summary()
    assert "6 of 9 rows loaded, 3 skipped" in summary and summary.count("skipped:") == 3


def test_malformed_json_formats(tmp_path):
    click = tmp_path / "click.json"
    click.write_text('[{"id": "a", "paragraph": "", "question": "q?", "choices": ["x", "y"], "answer": "z"}]',
                     encoding="utf-8")
    with pytest.raises(DataError, match=r"row 1, id 'click/a', field 'answer': answer 'z' is not one of"):
        load_questions(click, format="click")
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    with pytest.raises(DataError, match="invalid JSON at line 1"):
        load_questions(broken, format="kice")
    jl = tmp_path / "q.jsonl"
    jl.write_text('{"id": "1", "question": "q", "choices": ["a", "b"], "answer": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"row 1, id '1', field 'answer'"):
        load_questions(jl)


def test_missing_column_and_missing_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("id,paragraph\n1,abc\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing column 'problems'"):
        load_questions(p, format="competition")
    with pytest.raises(DataError, match="file not found"):
        load_questions(tmp_path / "nope.csv")


def test_writers_and_dataset_roundtrip(tmp_path, train_rows):
    path = write_jsonl(train_rows, tmp_path / "q.jsonl")
    back = load_questions(path)
    assert back == train_rows
    ds = to_dataset(train_rows)
    assert len(ds) == len(train_rows) and "domain" in ds.column_names
    assert from_dataset(ds) == train_rows
    sub = write_submission({q.id: q.answer for q in train_rows}, tmp_path / "sub.csv")
    lines = sub.read_text().splitlines()
    assert lines[0] == "id,answer" and lines[1] == f"{train_rows[0].id},{train_rows[0].answer}"


def test_flat_csv(tmp_path):
    p = tmp_path / "flat.csv"
    with open(p, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "question", "choices", "answer", "domain"])
        w.writerow(["a", "수도는?", '["서울", "부산"]', "1", "social"])
        w.writerow(["b", "수도는?", "['서울', '부산', '대구']", "", ""])
    qs = load_questions(p)
    assert qs[0] == Question(id="a", question="수도는?", choices=["서울", "부산"], answer=1, domain="social")
    assert qs[1].answer is None and qs[1].n_choices == 3


def test_cli_validate_and_stats(tmp_path, data_root, capsys):
    assert data_cli(["validate", str(data_root / "exams/kice")]) == 0
    assert "OK: 450 questions" in capsys.readouterr().out
    rows = _real_rows(data_root)
    rows[3] = {**rows[3], "problems": "{"}
    bad = _write(tmp_path / "bad.csv", rows)
    assert data_cli(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "row 4" in err and "field 'problems'" in err
    assert data_cli(["stats", str(data_root / "competition/train.csv"), "--labels",
                     str(data_root / "competition/train_sources.csv"), "--json"]) == 0
    import json

    st = json.loads(capsys.readouterr().out)
    assert st["n"] == 2030 and st["by_domain"]["korean"] + st["by_domain"]["social"] == 2030
    assert sum(st["answer_position"].values()) == 2030
    with pytest.raises(SystemExit) as refused:  # stats refuses a file it cannot read (validate reports it)
        data_cli(["stats", str(bad)])
    assert refused.value.code == 2 and "row 4" in capsys.readouterr().err
    assert data_cli(["stats", str(bad), "--lenient", "--json"]) == 0
