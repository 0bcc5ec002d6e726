"""Loaders read the full shared files: every row of a file becomes one question (counted in the raw file by other
means, so a corrected data file changes no test), and known rows read as the data README describes them."""
import csv
import json

import pytest

from rag.data import LOADERS, Question, detect_format, load_questions, load_with_report


def _csv_rows(*paths) -> int:
    total = 0
    for path in paths:
        with open(path, encoding="utf-8", newline="") as f:
            total += sum(1 for _ in csv.DictReader(f))
    return total


def test_competition_train_and_labels(data_root):
    qs = load_questions(data_root / "competition/train.csv", labels=data_root / "competition/train_sources.csv")
    assert len(qs) == _csv_rows(data_root / "competition/train.csv") > 2000
    assert all(q.domain in ("korean", "social") for q in qs)
    q = next(q for q in qs if q.id == "generation-for-nlp-425")
    assert q.answer == 2 and q.choices[1] == "ㄱ, ㄷ" and q.source == "KMMLU" and q.subject == "korean_history"
    assert "좌참 찬 송준길" in q.paragraph  # PDF spacing is kept as is


def test_competition_test_has_no_answers_and_question_plus_in_problems(data_root):
    qs, rep = load_with_report(data_root / "competition/test.csv", labels=data_root / "competition/test_sources.csv")
    assert len(qs) == _csv_rows(data_root / "competition/test.csv") > 800 and rep.ok
    assert all(q.answer is None for q in qs)
    assert sum(bool(q.question_plus) for q in qs) == 44
    # every row labelled (test_sources.csv as corrected: the 237 수능 사회탐구 rows are KCSAT-social/social)
    assert all(q.domain in ("korean", "social") for q in qs)
    kcsat_social = [q for q in qs if q.source == "KCSAT-social"]
    assert kcsat_social and {q.domain for q in kcsat_social} == {"social"} and {q.n_choices for q in kcsat_social} == {5}


def test_kice(data_root):
    qs = load_questions(data_root / "exams/kice")
    sets = [s for f in sorted((data_root / "exams/kice").glob("*.json")) for s in json.loads(f.read_text())]
    assert len(qs) == sum(len(s["problems"]) for s in sets) > 400
    assert all(q.n_choices == 5 and 1 <= q.answer <= 5 and q.domain == "korean" for q in qs)
    assert sum(bool(q.question_plus) for q in qs) == 159  # 150 strings + 9 lists joined
    assert len({q.id for q in qs}) == len(qs)
    one = load_questions(data_root / "exams/kice/2020_11_KICE.json")
    assert one[0].id == "2020_11_KICE_1-3#1" and one[0].metadata["score"] == 2 and one[0].answer == 4


def test_click_answer_string_to_index_and_categories(data_root):
    qs = load_questions(data_root / "exams/click")
    assert len(qs) == sum(len(json.loads(f.read_text())) for f in (data_root / "exams/click").rglob("*.json")) > 1900
    subjects = {q.subject for q in qs}
    assert {"History", "Law", "Politics", "Economy", "Geography", "Grammar", "Functional", "Textual"} <= subjects
    assert all(q.domain == ("korean" if q.metadata["group"] == "Language" else "social") for q in qs)
    raw = json.loads((data_root / "exams/click/Culture/Korean Economy/Economy_KIIP.json").read_text())[0]
    q = next(q for q in qs if q.id == f"Economy_KIIP/{raw['id']}")
    assert q.choices[q.answer - 1] == raw["answer"]


def test_kmmlu_test_splits(data_root):
    qs = load_questions(data_root / "exams/kmmlu", split="test")
    files = sorted((data_root / "exams/kmmlu").glob("*-test.csv"))
    assert len(files) == 14
    assert {q.subject for q in qs} == {f.stem.rsplit("-", 1)[0] for f in files}
    assert len(qs) == _csv_rows(*files) > 6000
    law = load_questions(data_root / "exams/kmmlu/Law-test.csv")
    assert law[0].answer == 3 and law[0].n_choices == 4 and law[0].subject == "Law"


def test_augment_files(data_root):
    hints = load_questions(data_root / "augment/train_hints.csv")
    assert len(hints) == _csv_rows(data_root / "augment/train_hints.csv") and all(q.hint for q in hints)
    para = load_questions(data_root / "augment/paraphrased_with_hints.csv")
    assert len(para) == _csv_rows(data_root / "augment/paraphrased_with_hints.csv") and para[0].metadata.get("origin")
    sat, report = load_with_report(data_root / "augment/sat_us_history_ko.csv", strict=False)
    assert len(sat) + 2 == _csv_rows(data_root / "augment/sat_us_history_ko.csv") and all(q.domain == "social" for q in sat)
    assert [(s.qid, s.field) for s in report.skipped] == [("901", "question"), ("1082", "answer")]
    assert len(str(report.skipped[1])) < 250


@pytest.mark.parametrize("rel,fmt", [
    ("competition/train.csv", "competition"), ("exams/kice", "kice"), ("exams/click", "click"),
    ("exams/kmmlu", "kmmlu"), ("exams/kice/2015_11_KICE.json", "kice"),
    ("exams/click/Language/Grammar/Grammar_CSAT.json", "click"), ("augment/sat_us_history_ko.csv", "sat_ko"),
])
def test_detect_format(data_root, rel, fmt):
    assert detect_format(data_root / rel) == fmt


def test_registry_lists_all_formats():
    assert {"competition", "flat", "kice", "click", "kmmlu", "jsonl"} <= set(LOADERS.names())
    with pytest.raises(KeyError, match="available"):
        LOADERS.get("nope")


def test_with_choices_remaps_answer():
    q = Question(id="x", question="q", choices=["a", "b", "c", "d"], answer=2)
    p = q.with_choices([3, 1, 0, 2])
    assert p.choices == ["d", "b", "a", "c"] and p.answer_text == "b" and p.answer == 2
    p = q.with_choices([1, 2, 3, 0])
    assert p.answer == 1 and p.answer_text == "b"
