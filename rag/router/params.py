"""Every setting of the classifier router in one object, ``RouterParams``, saved inside the router's artifact and
read back on load: training (``router_training``), the leave-one-family-out folds (``eval.router_lofo``) and routing
all take their settings from it, so no setting is written twice.

``RouterLexicon`` holds the word lists and prototype descriptions that change what a saved model *sees* (which
morphemes are content, which are the exam's instruction words, the curriculum term lists behind two cue counts, the
topic prototypes): a router keeps the lists it was fitted with, so a later edit of the defaults below cannot make a
saved router read its features differently. Why each setting has its value is in docs/routing.md."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Kiwi tag prefixes of content morphemes (nouns, verbs, adjectives, roots, foreign words, numbers, adverbs)
CONTENT_TAGS = ("NN", "VV", "VA", "XR", "SL", "SH", "SN", "MA")
#: the words of the exam's *instructions*, shared by 수능 국어 and 사회탐구 stems ("다음 … 에 대한 설명으로 가장
#: 적절한 것은?", "옳은 것만을 <보기>에서 있는 대로 고른 것은?", "밑줄 친 ㉠"): never terms. Each training family words
#: its instructions its own way (KICE "적절한", KMMLU "옳은", CLIcK "고르십시오"), so as terms they separate the families
#: and the fit leans on them (``q:고르/VV`` alone sent real 수능 윤리·법 <보기> items to 국어)
INSTRUCTION_WORDS = ("다음", "대하", "설명", "옳", "적절", "않", "가장", "것", "고르", "보", "있", "대로", "밑줄", "치",
                     "이해", "해당", "무엇", "모두", "내용", "들어가")
#: terms of Korean grammar, literature, reading and writing (the 국어 curriculum's own vocabulary)
LANGUAGE_TERMS = (
    "품사", "명사", "동사", "형용사", "부사", "관형사", "조사", "어미", "어간", "어근", "접사", "음운", "음절", "자음", "모음",
    "받침", "발음", "표기", "맞춤법", "표준어", "띄어쓰기", "높임", "존대", "피동", "사동", "시제", "문장", "단어", "형태소",
    "합성어", "파생어", "외래어", "로마자", "주어", "서술어", "목적어", "부사어", "관형어", "안긴", "홑문장", "겹문장", "의미",
    "어휘", "사전", "문맥", "중세", "국어", "한글", "훈민정음", "화자", "서술자", "시어", "시구", "운율", "비유", "반어",
    "역설", "상징", "인물", "갈등", "시점", "독백", "묘사", "서술", "대화", "장면", "작품", "작가", "독자", "글쓴이", "필자",
    "표현", "어조", "정서", "발표", "토론", "협상", "면담", "청중", "초고", "글쓰기", "작문", "문단", "제목", "주제", "요약",
    "글", "문학", "소설", "시", "수필", "희곡", "속담", "관용")
#: terms of history, politics, law, economics, geography, society and ethics
SOCIAL_TERMS = (
    "국가", "정부", "왕", "왕조", "조선", "고려", "신라", "백제", "고구려", "일제", "독립", "전쟁", "혁명", "제도", "정책",
    "법", "헌법", "법률", "권리", "의무", "선거", "정당", "의회", "국회", "대통령", "경제", "시장", "가격", "수요", "공급",
    "소득", "물가", "금리", "무역", "환율", "세금", "기업", "노동", "인구", "도시", "지역", "기후", "지리", "산업", "농업",
    "종교", "사상", "윤리", "철학", "시대", "세기", "역사", "사회", "문화", "민주", "자유", "평등", "복지", "계층", "집단",
    "제국", "식민", "조약", "외교")
#: one line per area, 국어 first (the 수능 국어 areas), then 사회 (the subjects of the training sources): what the
#: sentence encoder compares a stem with (``topics.py``); written once from the curricula, never tuned on the folds
KOREAN_PROTOTYPES = (
    "국어 문법: 품사, 형태소, 단어의 짜임, 문장 성분, 음운 변동, 중세 국어",
    "맞춤법, 띄어쓰기, 표준 발음, 표준어 규정, 외래어 표기법",
    "어휘와 의미: 동의어, 반의어, 다의어, 관용 표현, 속담",
    "문학 작품 감상: 시의 화자, 소설의 서술자, 인물의 갈등, 표현 방법",
    "독서: 글의 내용 이해, 글의 구조와 전개 방식, 필자의 관점",
    "화법과 작문: 발표, 토론, 협상, 대화의 원리, 글쓰기 계획과 고쳐 쓰기",
    "언어와 매체: 매체 자료의 표현, 담화의 특성")
SOCIAL_PROTOTYPES = (
    "한국사: 고대 국가, 고려, 조선, 근현대사", "세계사와 동아시아사: 문명, 제국, 혁명, 전쟁",
    "경제: 수요와 공급, 시장, 물가, 금리, 국민 소득, 무역",
    "정치와 법: 헌법, 민법, 형법, 국가 기관, 선거, 국제 관계",
    "사회·문화: 사회 집단, 계층, 문화의 속성, 사회 조사 방법",
    "윤리와 사상: 동양 윤리, 서양 윤리, 사회 사상, 생활 윤리", "지리: 기후, 지형, 인구, 도시, 산업, 지역",
    "심리학: 학습, 기억, 발달, 성격, 동기, 정신 장애", "경영과 마케팅: 기업, 조직, 소비자, 회계, 재무",
    "사회복지와 교육: 복지 정책, 사회 조사, 통계")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouterLexicon(_Strict):
    """The word lists and prototypes a router reads its features with (saved in its artifact)."""
    content_tags: tuple[str, ...] = CONTENT_TAGS
    instruction_words: tuple[str, ...] = INSTRUCTION_WORDS
    language_terms: tuple[str, ...] = LANGUAGE_TERMS
    social_terms: tuple[str, ...] = SOCIAL_TERMS
    prototypes: tuple[str, ...] = Field(KOREAN_PROTOTYPES + SOCIAL_PROTOTYPES, min_length=1)


class RouterParams(_Strict):
    """The classifier router's settings: what its features read, how it is fitted, how its blocks are weighed."""
    # what the features read
    passage_chars: int = Field(1500, ge=1, description="Characters of the passage head read as bigrams.")
    n_anchors: int = Field(288, ge=0, description="Kiwi anchors of the morpheme vectors (0: no vector block).")
    # the fit
    C: float = Field(8.0, gt=0, description="Inverse regularisation strength of the logistic regression.")
    min_df: int = Field(2, ge=1, description="Documents a term needs to enter a vocabulary.")
    seed: int = 0
    balance_families: bool = Field(True, description="Each family weighs the same within its domain.")
    term_dropout: float = Field(0.5, ge=0, le=1, description="Share of q: terms dropped from a second copy of "
                                "every training row (0: fit on the rows alone).")
    train_cap: int | None = Field(1500, ge=1, description="Training rows kept per family (leave-one-family-out).")
    # the blocks
    passage_weight: float = Field(0.4, ge=0, description="Weight of the passage-bigram block.")
    gated_weight: float = Field(2.0, ge=0, description="Weight of the term block gated by 1 - overlap_max (0: off).")
    embedding_weight: float = Field(1.5, ge=0, description="Weight of the morpheme-vector block (0: off).")
    question_in_passage_scale: float = Field(0.15, gt=0, description="Scale of the question-restates-the-passage "
                                             "features before the fit (smaller: trusted less).")
    passage_prior: float | None = Field(0.25, ge=0, le=1, description="Has-a-passage value every question is "
                                        "routed with (the column is fitted, then held here; None: no column).")
    # the topic student and the second opinion
    topic_weight: float = Field(1.0, gt=0, description="Scale of the encoder's topic block.")
    topic_max_length: int = Field(64, ge=8, description="Tokens of a stem the encoder reads.")
    student_weight: float = Field(1.5, gt=0, description="Scale of the topic student's columns.")
    student_alpha: float = Field(1.0, gt=0, description="Ridge penalty of the topic student.")
    second_opinion_weight: float = Field(0.5, gt=0, le=1, description="Weight of the second model's logit where "
                                         "it is asked.")
    second_opinion_cap: int = Field(1500, ge=1, description="Training rows per family of the second model.")
    lexicon: RouterLexicon = Field(default_factory=RouterLexicon)
