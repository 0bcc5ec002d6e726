"""Transparent rule router: cue words for reading a passage (국어) versus outside knowledge (사회)."""
from __future__ import annotations

import re

from .base import Router

KOREAN_CUES = ("윗글", "위 글", "위의 글", "이 글", "글쓴이", "필자", "화자", "서술자", "시적 대상", "작품", "시어",
               "㉠", "㉡", "ⓐ", "ⓑ", "[A]", "[B]", "밑줄 친", "문맥", "서술상", "표현상", "발음", "음운", "품사",
               "문장 성분", "높임", "중세 국어", "형태소", "어휘", "사전", "발표", "토론", "대화", "초고", "고쳐 쓰",
               "기사", "내용과 일치", "내용으로 적절", "추론", "이해한 내용")
SOCIAL_CUES = ("왕", "조선", "고려", "신라", "백제", "고구려", "삼국", "독립", "일제", "정부", "헌법", "법률", "국회",
               "대통령", "선거", "정당", "경제", "시장", "수요", "공급", "가격", "물가", "금리", "GDP", "인플레이션",
               "무역", "환율", "세금", "지리", "기후", "인구", "도시", "산업", "혁명", "전쟁", "제국", "식민",
               "사회", "문화", "심리", "정책", "민주", "권리", "시대", "역사", "세기")
_TOKEN = re.compile(r"\s+")


class KeywordRouter(Router):
    """p(social) = (s + 1) / (s + k + 2), where k and s count distinct cues of each kind in the question,
    choices and <보기> (passage cues count half)."""

    name = "keywords"

    def p_social(self, questions):
        out = []
        for q in questions:
            text = " ".join([q.question, q.question_plus or "", *q.choices])
            k = sum(c in text for c in KOREAN_CUES) + 0.5 * sum(c in q.paragraph[:1500] for c in KOREAN_CUES[:12])
            s = sum(c in text for c in SOCIAL_CUES) + 0.5 * sum(c in q.paragraph[:1500] for c in SOCIAL_CUES)
            out.append((s + 1) / (s + k + 2))
        return out
