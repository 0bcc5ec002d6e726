"""The synthetic families built from the Korean Wikipedia sample (``kb/kowiki_social_2020.jsonl.gz``): look-alikes
of 수능 사회 자료 items, 갑/을 dialogues, passage-less knowledge items and primary-source (사료) reading items on the
사회 side, and of passage-less language-knowledge items on the 국어 side (training only; see ``synthetic.py`` for
the others and what they are for).

``wiki-jaryo`` (social): 수능-사회-shaped items from the Korean Wikipedia sample — the opening sentences of
an article with its title masked as (가) as the 자료, a (가) question, and choices that are sentences from
later in the same article (the answer) and from other articles of the same field. The answer is *not* in
the 자료: knowledge is needed, as on the real exam.

``wiki-gabeul`` (social): the 갑/을 shape of 수능 윤리·사회·문화·정치와 법 items — two Wikipedia articles of one
field speak as 갑 and 을, choices (or a <보기> of ㄱ–ㄹ statements) are later sentences of theirs and of other
articles of the field; half from the ethics-and-philosophy articles. No training family had a 갑/을 item.

``wiki-terms`` (social): knowledge items with no passage in KMMLU/MMMLU wording — a definition with titles of
the same field as choices, or "X에 대한 설명으로 옳은 것은?" with sentences as choices. Without it, when KMMLU or
MMMLU is left out, the only passage-less 사회 items left are CLIcK's.

``wiki-grammar`` (korean): the same wording on language itself — statements from the Wikipedia articles on
phonology, grammar and spelling (``is_language_article``; kept out of the 사회 families), no passage. Without
it, a passage-less question in academic words (CLIcK's grammar items) reads as 사회.

``wiki-saryo`` (social): MMMLU's primary-source items — a quotation from a world-history or ethics article (a
speech, a decree, a philosopher's words; its title masked as (가)) as the 사료, an "이 글에서 추론할 수 있는 것"
stem, and as the answer a sentence of the same article that shares no 15-character run with the quotation
(knowledge about the source, not a line of it), among sentences of other articles of the field. Without it the
only 사회 items over a long passage are 자료 items whose answer never touches the passage, and a question that
asks what a source *implies* reads as 국어 reading.
"""
from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

from rag.data.question import Question

from .base import KOREAN, SOCIAL, _family
from .synthetic import _n_choices, _sentences, _with_count

JARYO_STEMS = ("(가)에 대한 설명으로 옳은 것은?", "(가)에 대한 설명으로 옳지 않은 것은?",
               "다음 자료의 (가)에 해당하는 내용으로 옳은 것은?", "(가)와 관련된 사실로 옳은 것은?",
               "밑줄 친 (가)에 대한 탐구 내용으로 적절한 것은?")


#: Wikipedia articles about language itself (phonology, grammar, spelling, romanisation, dialects …): the
#: sources of ``wiki-grammar`` (국어), kept out of the 사회 families (``_kowiki``) so that no article speaks for both
_LANGUAGE_TITLE = re.compile(r"(음운론|음성학|문법|형태론|통사론|의미론|화용론|언어학|맞춤법|철자법|표준어|표준말|표기법|방언|"
                             r"한국어|조선어|한글|훈민정음|외래어|어휘|품사|높임|경어|^이두$|^향찰$|^구결$|국어)")
_NOT_LANGUAGE_TITLE = re.compile(r"(불문법|성문법|각하|국어학자|언어학자|한국어문회|모국어의 날|역사적 문법적|대학|학교|학원|"
                                 r"위원회|신문|방송|협회|재단|학회|연구회|연대|박물관|사건|운동|교수법|탑|센터|공단|어린이|문집|"
                                 r"중개|신역|능엄경|어필|전도|한국어족|이두황)")
#: words of grammar and phonology; a ``wiki-grammar`` choice is a sentence with at least two distinct ones
_GRAMMAR_WORD = re.compile(r"(음운|음소|음절|자음|모음|받침|발음|표기|철자|맞춤법|형태소|어근|어간|어미|접사|접미사|접두사|조사|"
                           r"품사|명사|동사|형용사|부사|관형사|대명사|수사|용언|체언|주어|서술어|목적어|어순|문장|단어|낱말|"
                           r"어휘|의미|문법|높임|시제|피동|사동|활용|굴절|합성어|파생어|방언|표준어|구개음|비음|유음|경음|"
                           r"격음|된소리|탈락|첨가|축약|동화)")


def is_language_article(title: str) -> bool:
    """Whether a Wikipedia title is about language itself (한국어 음운론, 외래어 표기법, 라틴어 문법), not an
    institution or person named after it (한국어문회, 박용수 (국어학자)) or a law term (성문법)."""
    return bool(_LANGUAGE_TITLE.search(title)) and not _NOT_LANGUAGE_TITLE.search(title)


def _kowiki(root: Path, language: bool = False):
    """The Korean Wikipedia sample's articles (dicts), one pass over the file: the articles about language
    itself when ``language`` (``wiki-grammar``), else all the others (what the 사회 families read)."""
    with gzip.open(root / "kb/kowiki_social_2020.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if is_language_article(r["title"]) == language:
                yield r


@_family("wiki-jaryo", SOCIAL, "수능-사회-shaped items from Korean Wikipedia (title masked as (가))",
         synthetic=True)
def _wiki_jaryo(root: Path, limit: int = 2000) -> list[Question]:
    arts: list[tuple[str, str, list[str]]] = []
    for r in _kowiki(root):
        if not r.get("core") or len(r["title"]) < 2:
            continue
        sents = _sentences(r["text"])
        if len(sents) >= 5:
            arts.append((r["domain"], r["title"], sents))
    by_domain: dict[str, list[int]] = {}
    for i, (dom, _, _) in enumerate(arts):
        by_domain.setdefault(dom, []).append(i)
    rng = random.Random(0)
    picks = sorted(rng.sample(range(len(arts)), min(limit, len(arts))))
    out: list[Question] = []
    for i in picks:
        dom, title, sents = arts[i]
        r = random.Random(f"wiki-jaryo/{i}")
        mask = lambda s, t=title: s.replace(t, "(가)")
        jaryo = " ".join(mask(s) for s in sents[:3])
        gold = mask(r.choice(sents[3:]))
        distract: list[str] = []
        k = _n_choices(r) - 1
        for _ in range(50):
            if len(distract) == k:
                break
            j = r.choice(by_domain[dom])
            if j != i:
                s = r.choice(arts[j][2])
                if s not in distract:
                    distract.append(s)
        choices = [gold, *distract]
        r.shuffle(choices)
        out.append(Question(id=f"wiki-jaryo/{i}", paragraph=jaryo, question=r.choice(JARYO_STEMS), choices=choices,
                            answer=choices.index(gold) + 1, source="wiki-jaryo", subject=dom, domain=SOCIAL))
    return out


GABEUL_STEMS = ("갑, 을의 입장에 대한 설명으로 옳은 것은?", "갑의 입장에서 을에게 제기할 수 있는 비판으로 가장 적절한 것은?",
                "갑, 을의 공통된 입장으로 가장 적절한 것은?", "을과 비교한 갑의 입장으로 가장 적절한 것은?",
                "갑, 을 사상가의 입장으로 옳지 않은 것은?", "다음 대화에서 갑, 을의 주장에 대한 설명으로 옳은 것은?")
GABEUL_BOGI_STEMS = ("갑, 을의 입장에 대한 옳은 설명만을 <보기>에서 있는 대로 고른 것은?",
                     "갑의 입장에서 을에게 할 수 있는 비판으로 적절한 것만을 <보기>에서 고른 것은?")
_LETTERS = "ㄱㄴㄷㄹ"
_COMBOS = ("ㄱ, ㄴ", "ㄱ, ㄷ", "ㄴ, ㄷ", "ㄴ, ㄹ", "ㄷ, ㄹ", "ㄱ, ㄴ, ㄷ", "ㄱ, ㄷ, ㄹ", "ㄴ, ㄷ, ㄹ")


@_family("wiki-gabeul", SOCIAL, "갑/을 two-position items from Korean Wikipedia (ethics, society, politics, economics)",
         synthetic=True)
def _wiki_gabeul(root: Path, limit: int = 2000) -> list[Question]:
    """Two articles of one field speak as 갑 and 을 (their opening sentences, titles masked), and the choices
    (or a <보기> of ㄱ–ㄹ statements) are later sentences of theirs and of other articles of the field:
    the 갑/을 shape of 수능 윤리·사회·문화·정치와 법 items, whose answer needs knowledge, not the passage.
    Half of the items come from the ethics-and-philosophy articles."""
    fields = ("ethics_philosophy", "society", "politics_law", "economics")
    arts: dict[str, list[tuple[str, list[str]]]] = {f: [] for f in fields}
    for r in _kowiki(root):
        if r["domain"] in arts and len(r["title"]) >= 2:
            sents = _sentences(r["text"])
            if len(sents) >= 6:
                arts[r["domain"]].append((r["title"], sents))
    out: list[Question] = []
    for n in range(limit):
        rng = random.Random(f"wiki-gabeul/{n}")
        field = "ethics_philosophy" if rng.random() < 0.5 else rng.choice(fields[1:])
        (ta, sa), (tb, sb) = rng.sample(arts[field], 2)
        a = [s.replace(ta, "갑") for s in sa]
        b = [s.replace(tb, "을") for s in sb]
        passage = f"갑: {a[0]} {a[1]}\n을: {b[0]} {b[1]}"
        pool = [s for _, ss in rng.sample(arts[field], min(20, len(arts[field]))) for s in ss[2:6]]
        gold = rng.choice(a[2:])
        if rng.random() < 0.3:  # a <보기> of four statements, choices are letter combinations
            statements = [gold, rng.choice(b[2:]), *rng.sample(pool, 2)]
            rng.shuffle(statements)
            bogi = "\n".join(f"{_LETTERS[i]}. {s}" for i, s in enumerate(statements))
            right = _LETTERS[statements.index(gold)]
            combos = [c for c in _COMBOS if right in c]
            answer_text = rng.choice(combos)
            choices = _with_count(rng, answer_text, [c for c in _COMBOS if c != answer_text], list(_COMBOS))
            q = Question(id=f"wiki-gabeul/{n}", paragraph=passage, question=rng.choice(GABEUL_BOGI_STEMS),
                         question_plus=bogi, choices=choices, answer=choices.index(answer_text) + 1,
                         source="wiki-gabeul", subject=field, domain=SOCIAL)
        else:
            choices = _with_count(rng, gold, [rng.choice(b[2:])], pool)
            q = Question(id=f"wiki-gabeul/{n}", paragraph=passage, question=rng.choice(GABEUL_STEMS),
                         choices=choices, answer=choices.index(gold) + 1, source="wiki-gabeul", subject=field,
                         domain=SOCIAL)
        out.append(q)
    return out


TERM_STEMS = ("다음 설명에 해당하는 것은?", "다음에서 설명하는 개념으로 옳은 것은?", "다음 내용과 관련 있는 것은?",
              "다음 글이 설명하는 대상으로 가장 적절한 것은?")
STATEMENT_STEMS = ("다음 중 {t}에 대한 설명으로 옳은 것은?", "{t}에 관한 설명으로 옳지 않은 것은?",
                   "{t}에 대한 설명으로 가장 적절한 것은?", "다음 중 {t}의 특징으로 옳은 것은?")


@_family("wiki-terms", SOCIAL, "KMMLU/MMMLU-shaped knowledge items from Korean Wikipedia, without a passage",
         synthetic=True)
def _wiki_terms(root: Path, limit: int = 2000) -> list[Question]:
    """Knowledge questions with no passage, as KMMLU's professional subjects and translated MMLU ask them: a
    definition (the article's first sentence, title masked) with titles of the same field as choices, or a
    statement question about a title with sentences of it and of other articles of the field as choices.
    Every field of the Wikipedia sample, weighted towards society, politics/law and economics."""
    arts: dict[str, list[tuple[str, list[str]]]] = {}
    for r in _kowiki(root):
        title = r["title"]
        if 2 <= len(title) <= 20 and "(" not in title:
            sents = _sentences(r["text"])
            if len(sents) >= 4 and title in sents[0]:
                arts.setdefault(r["domain"], []).append((title, sents))
    fields = sorted(arts)
    weights = [3 if f in ("society", "politics_law", "economics") else 1 for f in fields]
    out: list[Question] = []
    for n in range(limit):
        rng = random.Random(f"wiki-terms/{n}")
        field = rng.choices(fields, weights)[0]
        title, sents = rng.choice(arts[field])
        others = rng.sample(arts[field], min(12, len(arts[field])))
        if rng.random() < 0.5:
            desc = sents[0].replace(title, "이것" if rng.random() < 0.5 else "(가)")
            gold = title
            choices = _with_count(rng, gold, [t for t, _ in others if t != title], [t for t, _ in others])
            question = f"{rng.choice(TERM_STEMS)}\n{desc}"
        else:
            gold = rng.choice(sents[1:])
            pool = [s for t, ss in others if t != title for s in ss[1:4]]
            choices = _with_count(rng, gold, [], pool)
            question = rng.choice(STATEMENT_STEMS).format(t=title)
        out.append(Question(id=f"wiki-terms/{n}", paragraph="", question=question, choices=choices,
                            answer=choices.index(gold) + 1, source="wiki-terms",
                            subject=field, domain=SOCIAL))
    return out


GRAMMAR_STEMS = ("다음 중 {t}에 대한 설명으로 옳은 것은?", "{t}에 관한 설명으로 옳지 않은 것은?",
                 "{t}에 대한 설명으로 가장 적절한 것은?", "다음 중 {t}의 특징으로 옳은 것은?",
                 "{t}에 대해 이해한 내용으로 적절한 것은?")


@_family("wiki-grammar", KOREAN, "passage-less statements on phonology, grammar and spelling from Korean Wikipedia",
         synthetic=True)
def _wiki_grammar(root: Path, limit: int = 1000) -> list[Question]:
    """Language-knowledge items with no passage, in the very wording of ``wiki-terms`` — "X에 대한 설명으로 옳은
    것은?" over sentences, or a definition with titles as choices — but about language (한국어 음운론, 외래어
    표기법, 한국어 문법, 영어 음운론 …; every sentence names at least two grammar words). CLIcK's grammar items
    ask this way: without this family, the only passage-less 국어 items are KoBEST's everyday scenes, and any
    passage-less question in academic words reads as 사회."""
    arts: list[tuple[str, list[str]]] = []
    for r in _kowiki(root, language=True):
        sents = [s for s in _sentences(r["text"]) if len(set(_GRAMMAR_WORD.findall(s))) >= 2]
        if len(sents) >= 3:
            arts.append((r["title"], sents))
    out: list[Question] = []
    for n in range(limit):
        rng = random.Random(f"wiki-grammar/{n}")
        title, sents = rng.choice(arts)
        others = [a for a in rng.sample(arts, min(12, len(arts))) if a[0] != title]
        if rng.random() < 0.3 and title in sents[0]:
            desc = sents[0].replace(title, "이것" if rng.random() < 0.5 else "(가)")
            gold = title
            choices = _with_count(rng, gold, [t for t, _ in others], [t for t, _ in arts])
            question = f"{rng.choice(TERM_STEMS)}\n{desc}"
        else:
            gold = rng.choice(sents)
            choices = _with_count(rng, gold, [], [s for _, ss in others for s in ss])
            question = rng.choice(GRAMMAR_STEMS).format(t=title)
        out.append(Question(id=f"wiki-grammar/{n}", paragraph="", question=question, choices=choices,
                            answer=choices.index(gold) + 1, source="wiki-grammar", subject="grammar", domain=KOREAN))
    return out


SARYO_STEMS = ("이 글에서 추론할 수 있는 것으로 가장 적절한 것은?", "위 글이 쓰인 시기의 상황으로 옳은 것은?",
               "위 구절의 저자가 지지했을 주장으로 가장 적절한 것은?", "다음 글과 관련된 사실로 옳은 것은?",
               "이 구절에서 알 수 있는 당시의 모습으로 적절한 것은?", "위 글의 내용과 관련된 역사적 사실로 옳은 것은?")
#: a quotation long enough to be a source, in Korean typographic quotes, that is a sentence (ends 다. / 라.)
_QUOTE = re.compile(r"“([^”]{80,500})”")
SARYO_FIELDS = ("world_history", "ethics_philosophy")


def _apart(sentence: str, quote: str) -> bool:
    """A sentence that quotes nothing and shares no 15-character run with the quotation (a choice that is not a
    line of the 사료)."""
    return ("“" not in sentence and "”" not in sentence
            and not any(sentence[i:i + 15] in quote for i in range(0, max(1, len(sentence) - 15), 5)))


@_family("wiki-saryo", SOCIAL, "primary-source (사료) items from quotations in world-history and ethics articles",
         synthetic=True)
def _wiki_saryo(root: Path, limit: int = 1000) -> list[Question]:
    """A quotation of an article as the 사료 (title masked as (가)), an inference stem, the answer a sentence of
    the same article sharing no 15-character run with the quotation, wrong choices from other articles of the
    field (never of the quoted article: a wrong choice must not be a line of the 사료). Items whose article has
    no such sentence are skipped, so there are at most ``limit``."""
    arts: dict[str, list[tuple[str, list[str], list[str]]]] = {f: [] for f in SARYO_FIELDS}
    for r in _kowiki(root):
        if r["domain"] not in arts:
            continue
        quotes = [q.strip() for q in _QUOTE.findall(r["text"]) if "다." in q or "라." in q]
        sents = _sentences(r["text"])
        if quotes and len(sents) >= 5:
            arts[r["domain"]].append((r["title"], quotes, sents))
    fields = [f for f in SARYO_FIELDS if len(arts[f]) >= 5]
    if not fields:
        raise ValueError(f"{root / 'kb/kowiki_social_2020.jsonl.gz'}: fewer than 5 articles with a quotation in "
                         f"each of {SARYO_FIELDS}; wiki-saryo cannot be built")
    out: list[Question] = []
    for n in range(limit):
        rng = random.Random(f"wiki-saryo/{n}")
        field = rng.choice(fields)
        title, quotes, sents = rng.choice(arts[field])
        quote = rng.choice(quotes)
        own = [s for s in sents if _apart(s, quote)]
        if not own:
            continue
        gold = rng.choice(own)
        pool = [s for t, _, ss in rng.sample(arts[field], min(10, len(arts[field]))) if t != title
                for s in ss[1:5] if _apart(s, quote)]
        choices = _with_count(rng, gold, [], pool)
        out.append(Question(id=f"wiki-saryo/{n}", paragraph=quote.replace(title, "(가)"),
                            question=rng.choice(SARYO_STEMS), choices=choices, answer=choices.index(gold) + 1,
                            source="wiki-saryo", subject=field, domain=SOCIAL))
    return out
