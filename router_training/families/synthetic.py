"""Families built from the knowledge-base and retrieval data, so that each real family has a look-alike when
it is left out (training only; they are never the figure a user is shown for real questions).

``korquad-mc`` (korean): KorQuAD 1.0 dev questions made multiple-choice — the paragraph as passage, the gold
answer among answers to other questions on the same article. The answer is in the passage: what "국어
(reading)" means, on Wikipedia topics (history, politics, …) that a topic-word router would send to 사회.

``kobest-mc`` (korean): Korean-language items with little or no separate passage, from KoBEST — what comes
next (HellaSwag), cause or effect (COPA), a word's sense in context (WiC) — in 국어/TOPIK wording, the text
sometimes in the passage and sometimes quoted in the question. Without it the only 국어 families are
passage reading, and "no passage" alone would say 사회.

``statute-mc`` (social): KMMLU's law / social-welfare / taxation wording with no passage — 「law」 or an article
title of a Korean statute in the stem, clauses of that law and of others as choices. Without it, when KMMLU is
left out, no 사회 family speaks the administrative vocabulary of its professional subjects (수급자, 급여, 사업자).

The Korean-Wikipedia families (``wiki-jaryo``, ``wiki-gabeul``, ``wiki-terms``, ``wiki-grammar``,
``wiki-saryo``) are in ``synthetic_wiki.py``; they share the helpers below.

All are deterministic (seeded by id) and vary their choice count (4 or 5) so it carries no label.
"""
from __future__ import annotations

import csv
import gzip
import json
import random
import re
from pathlib import Path

from rag.data.question import Question

from .base import KOREAN, SOCIAL, _family

_SENT = re.compile(r"(?<=[다요음함됨임])\.\s+|\n+")


def _n_choices(rng: random.Random) -> int:
    return 5 if rng.random() < 0.5 else 4


def _with_count(rng: random.Random, gold: str, own: list[str], pool: list[str]) -> list[str]:
    """gold + own wrong choices, filled up (or cut) to 4 or 5 with choices of other items; shuffled."""
    k = _n_choices(rng) - 1
    wrong = [c for c in own if c != gold][:k]
    while len(wrong) < k:
        c = rng.choice(pool)
        if c != gold and c not in wrong:
            wrong.append(c)
    choices = [gold, *wrong]
    rng.shuffle(choices)
    return choices


@_family("korquad-mc", KOREAN, "KorQuAD 1.0 dev made multiple-choice (answer in the passage)", synthetic=True)
def _korquad_mc(root: Path, limit: int = 2000) -> list[Question]:
    data = json.loads((root / "retrieval/korquad_v1_dev.json").read_text(encoding="utf-8"))["data"]
    all_answers = sorted({qa["answers"][0]["text"] for art in data for p in art["paragraphs"] for qa in p["qas"]})
    out: list[Question] = []
    for art in data:
        art_answers = sorted({qa["answers"][0]["text"] for p in art["paragraphs"] for qa in p["qas"]})
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                rng = random.Random(qa["id"])
                gold = qa["answers"][0]["text"]
                pool = [a for a in art_answers if a != gold]
                rng.shuffle(pool)
                choices = _with_count(rng, gold, pool, all_answers)
                out.append(Question(id=f"korquad/{qa['id']}", paragraph=p["context"], question=qa["question"],
                                    choices=choices, answer=choices.index(gold) + 1, source="KorQuAD-MC",
                                    subject="reading", domain=KOREAN))
    out.sort(key=lambda q: random.Random(f"order/{q.id}").random())  # not the seed that drew its choice count
    return out[:limit]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if 20 <= len(s.strip()) <= 160]


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


_NEXT_STEMS = ("다음 글 뒤에 이어질 내용으로 가장 알맞은 것은?", "다음 글의 흐름으로 보아 이어질 내용으로 적절한 것은?",
               "다음을 읽고 이어질 내용으로 가장 알맞은 것을 고르십시오.")
_COPA_STEMS = {"원인": ("다음 문장의 원인으로 가장 알맞은 것은?", "다음 일이 일어난 까닭으로 적절한 것을 고르십시오."),
               "결과": ("다음 문장의 결과로 가장 알맞은 것은?", "다음 일로 인해 일어날 일로 적절한 것을 고르십시오.")}


def _place(rng: random.Random, stem: str, text: str) -> tuple[str, str]:
    """(paragraph, question): the text as the passage, or quoted inside the question (no passage)."""
    return ("", f"{stem}\n“{text}”") if rng.random() < 0.5 else (text, stem)


@_family("kobest-mc", KOREAN, "KoBEST HellaSwag/COPA/WiC as 국어 items, often without a passage", synthetic=True)
def _kobest_mc(root: Path, limit: int = 2000) -> list[Question]:
    base = root / "kb/kobest"
    out: list[Question] = []
    hs = _tsv(base / "HellaSwag/train.tsv")
    pool = [r[f"choice{i}"] for r in hs for i in range(1, 5)]
    for n, r in enumerate(hs):
        rng = random.Random(f"kobest-hs/{n}")
        ch = [r[f"choice{i}"] for i in range(1, 5)]
        gold = ch[int(r["label"])]
        choices = _with_count(rng, gold, ch, pool)
        para, question = _place(rng, rng.choice(_NEXT_STEMS), r["context"])
        out.append(Question(id=f"kobest-hs/{n}", paragraph=para, question=question, choices=choices,
                            answer=choices.index(gold) + 1, source="kobest-mc", subject="textual", domain=KOREAN))
    copa = _tsv(base / "COPA/train.tsv")
    pool = [r[k] for r in copa for k in ("1", "2")]
    for r in copa:
        rng = random.Random(f"kobest-copa/{r['ID']}")
        kind = r["question"].strip()
        gold = r[r["Answer"].strip()]
        choices = _with_count(rng, gold, [r["1"], r["2"]], pool)
        para, question = _place(rng, rng.choice(_COPA_STEMS[kind]), r["sentence"])
        out.append(Question(id=f"kobest-copa/{r['ID']}", paragraph=para, question=question, choices=choices,
                            answer=choices.index(gold) + 1, source="kobest-mc", subject="functional", domain=KOREAN))
    wic = _tsv(base / "WiC/train.tsv")
    pool = [r["SENTENCE2"].replace("[", "").replace("]", "") for r in wic]
    for r in wic:
        if r["ANSWER"].strip().lower() != "true":
            continue
        rng = random.Random(f"kobest-wic/{r['ID']}")
        word = r["Target"].strip()
        gold = r["SENTENCE2"].replace("[", "").replace("]", "")
        choices = _with_count(rng, gold, [], pool)
        sent = r["SENTENCE1"].replace("[", "‘").replace("]", "’")
        out.append(Question(id=f"kobest-wic/{r['ID']}", paragraph="",
                            question=f"다음 문장의 ‘{word}’와 같은 의미로 ‘{word}’가 쓰인 것은?\n{sent}",
                            choices=choices, answer=choices.index(gold) + 1, source="kobest-mc", subject="grammar",
                            domain=KOREAN))
    out.sort(key=lambda q: random.Random(f"order/{q.id}").random())  # not the seed that drew its choice count
    return out[:limit]


STATUTE_STEMS = ("「{law}」에 대한 설명으로 옳은 것은?", "다음 중 「{law}」의 내용으로 옳지 않은 것은?",
                 "「{law}」상 {title}에 관한 설명으로 옳은 것은?", "다음 중 {title}에 대한 설명으로 틀린 것은?",
                 "{law}에 따른 {title}의 내용으로 가장 적절한 것은?")
_ARTICLE_HEAD = re.compile(r"^제\d+조(의\d+)?\([^)]*\)\s*")
_AMENDED = re.compile(r"<[^>]*>|\[[^\]]*\]")
_CLAUSE = re.compile(r"\s*[①-⑳]\s*|\n+")


@_family("statute-mc", SOCIAL, "professional-exam-shaped items on Korean statutes, no passage", synthetic=True)
def _statute_mc(root: Path, limit: int = 2000) -> list[Question]:
    """Knowledge questions with no passage on what a statute says, as KMMLU's law, social-welfare, taxation and
    real-estate items ask them: 「law」 or an article title in the stem, clauses of that law and of others as
    choices. The answer is nowhere in front of the reader."""
    laws: dict[str, list[tuple[str, list[str]]]] = {}
    with gzip.open(root / "kb/kr_statutes_2024.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            body = _AMENDED.sub("", _ARTICLE_HEAD.sub("", r["text"].strip()))
            clauses = [c.strip() for c in _CLAUSE.split(body) if 20 <= len(c.strip()) <= 160]
            title = (r.get("article_title") or "").strip()
            if clauses and 2 <= len(title) <= 20 and title not in ("목적", "정의", "삭제"):
                laws.setdefault(r["law"], []).append((title, clauses))
    names = sorted(n for n, arts in laws.items() if len(arts) >= 6)
    out: list[Question] = []
    for n in range(limit):
        rng = random.Random(f"statute-mc/{n}")
        law = rng.choice(names)
        title, clauses = rng.choice(laws[law])
        gold = rng.choice(clauses)
        own = list(dict.fromkeys(c for t, cs in rng.sample(laws[law], min(6, len(laws[law]))) if t != title
                                 for c in cs[:1] if c != gold))  # boilerplate clauses recur across articles
        pool = [c for other in rng.sample(names, 8) for _, cs in laws[other][:3] for c in cs[:1]]
        choices = _with_count(rng, gold, own, pool)
        question = rng.choice(STATUTE_STEMS).format(law=law, title=title)
        out.append(Question(id=f"statute-mc/{n}", paragraph="", question=question, choices=choices,
                            answer=choices.index(gold) + 1, source="statute-mc", subject=law, domain=SOCIAL))
    return out
