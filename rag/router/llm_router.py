"""Zero-shot router with the configured LLM: a two-choice question scored by the logits scorer."""
from __future__ import annotations

from common.config import PromptConfig, ScoringConfig

from ..data.question import Question
from ..llm.base import LLMRequestError
from .base import Router

ROUTER_QUESTION = ("위 문제를 풀려면 무엇이 필요한가? 지문만 읽고 풀 수 있으면 1, 지문 밖의 배경 지식(역사, 사회, 경제, "
                   "정치, 지리 등)이 필요하면 2.")


class LLMRouter(Router):
    name = "llm"
    needs_llm = True

    def __init__(self, cfg=None, llm=None, **_):
        super().__init__(cfg)
        if llm is None:
            raise ValueError("router.name=llm needs the loaded LLM (make_router(cfg, llm=...))")
        from ..prompts import PromptBuilder
        from ..scoring import make_scorer

        self.builder = PromptBuilder(llm.tokenizer, PromptConfig(max_tokens=1536))
        self.scorer = make_scorer(llm, ScoringConfig())

    def p_social(self, questions):
        prompts = []
        for q in questions:
            shown = "\n".join([q.question, *(f"{i} - {c}" for i, c in enumerate(q.choices, 1))])
            meta = Question(id=q.id, paragraph=q.paragraph, question=f"[문제]\n{shown}\n\n{ROUTER_QUESTION}",
                            choices=["지문만으로 풀 수 있다 (국어)", "배경 지식이 필요하다 (사회)"])
            prompts.append(self.builder.build(meta).text)
        try:
            scored = self.scorer.score(prompts, [2] * len(prompts))
        except LLMRequestError as e:  # a served model's request failed: say for which question
            raise e.naming(prompts, [q.id for q in questions]) from e
        return [float(p[1]) for p in scored]
