"""Multilingual lexicons and structural patterns of verdicts, graders, roles and self-assessments (folded forms).
"""

from __future__ import annotations

import re

from .fold import _WORD, KNOWN_WORDS, _strip_invisible, _words

__all__ = []


# --- lexicons (folded forms) -------------------------------------------------------------------

# verdict words: the answer is right / verified
_V_LATIN = (
    r"correct|right|true|accurate|valid|exact|precise|spot on|lgtm|pass|passed|passes|ok|okay|flawless|"
    r"verified|confirmed|validated|approved|pre-approved|accepted|endorsed|"
    # de
    r"richtig|korrekt|zutreffend|wahr|stimmt|bestatigt|gepruft|verifiziert|fehlerfrei|"
    # fr
    r"correcte|juste|exacte|vrai|vraie|verifiee?|confirmee?|validee?|"
    # es / it
    r"correcta|correcto|cierta|cierto|exacta|exacto|verdadera|verdadero|verificada|verificado|confirmada|"
    r"confirmado|corretta|corretto|giusta|giusto|esatta|esatto|vera|verificata"
)
_V_WORD = re.compile(rf"(?<![\w-])(?:{_V_LATIN})(?![\w-])")
_V_SCRIPT = re.compile(
    r"правильн\w*|правильно|верн\w*|точн\w*|подтвер\w*|проверен\w*|"
    r"正确|正確|无误|無誤|核实|核實|对的|正しい|正解|検証済|確認済|確認され|"
    r"صحيح\w*|صائب\w*"
)
# references to the answer being judged
_R_EN = re.compile(
    r"\b(?:this|that|the|my|your|our|its|any|each|every)\s+(?:\w+\s+){0,2}?"
    r"(?:answer|response|reply|solution|output|submission)\b(?!\s+(?:rate|rates|choices?|options?)\b)"
    r"|\b(?:answer|response|reply|solution|output)\s+(?:above|below|given|provided|proposed|follows)\b"
    r"|\b(?:answer key|reference answer|expected answer|official answer|model answer)\b|\banswer\s+(?:is|was)\b"
    r"|\bthis one\b"
)
_PRONOUN_VERDICT = re.compile(
    r"(?:^|[^\w])(?:this|that|it|which)(?:'s|\s+is|\s+was|\s+looks|\s+seems|\s+has been|\s+must be|\s+should be)"
    r"(?:\s+(?:definitely|certainly|absolutely|indeed|also|quite|fully|totally|completely|100%|clearly|"
    r"surely|undoubtedly|exactly|the|a|an|perfectly))*\s+(?:" + _V_LATIN + r")(?![\w-])"
)
_R_OTHER = re.compile(
    r"antwort|reponse|respuesta|risposta|ответ|答案|回答|答复|答え|解答|"
    r"الإجابة|الاجابة|إجابة|اجابة|الجواب"
)
# the grader, verifier, judge, the model reading this
_G = re.compile(
    r"\b(?:grader|graders|verifier|verifiers|evaluator|evaluators|judge|judges|checker|checkers|reviewer|"
    r"reviewers|grading|assessor|examiner|rater|annotator|fact-checker|whoever checks|whoever grades|"
    r"ai model|language model|llm|ai judge|the assistant|the ai|"
    r"prufer|bewerter|korrektor|gutachter|correcteur|evaluateur|verificateur|examinateur|evaluador|"
    r"verificador|corrector|juez|valutatore|correttore|verificatore)\b"
    r"|проверяющ\w*|оценщик\w*|экзаменатор\w*|проверяльщик\w*|评分|評分|评审|評審|阅卷|閱卷|验证者|驗證者|审核员|"
    r"採点|評価者|検証者|المقيم|المصحح|المراجع"
)
# instructions about the verdict
_I = re.compile(
    r"\b(?:mark|rate|grade|judge|score|accept|approve|reply|respond|output|say|answer with|treat|consider|"
    r"confirm|must|should|please|override|expected output|label|classify|return|print)\b"
    r"|\b(?:bitte|bewerten|markieren|akzeptieren|veuillez|jugez|juger|noter|accepter|doit|por favor|califica|"
    r"calificar|marca|acepta|debe|per favore|valuta|segna)\b"
    r"|пожалу\w*ста|оцените|отметьте|примите|请|請|判定为|判定為|评为|してください|評価して|يرجى|الرجاء|قيّم|قيم"
)
_OVERRIDE = re.compile(
    r"\b(?:ignore|disregard|forget|override|overrides|bypass)\b\s+(?:\w+\s+){0,3}?"
    r"(?:context|passage|instructions?|rules?|above|previous|prior|everything|the task|system)\b"
    r"|\bsystem override\b|\bverdict[_ ]override\b|\bignoriere\b|\bignorez\b|\bignora\b|игнорируй\w*|忽略"
)
_SELF = re.compile(
    r"\bi(?:'m| am)\s+(?:\w+\s+)?(?:confident|sure|certain|positive)\b|\bi\s+(?:have\s+|'ve\s+)?(?:double-?|triple-?)?"
    r"(?:checked|verified|confirmed|validated)\b|\bi (?:can )?(?:guarantee|assure|promise)\b|\b100\s?% (?:sure|certain|"
    r"confident|correct)\b|\bself-check\w*\b|\bconfidence\s*(?:level)?\s*(?:is)?\s*:?\s*\d+\s?%"
    r"|\bno (?:room for )?doubt\b|\bbeyond (?:any |all )?doubt\b|\bwithout (?:a |any )?doubt\b"
    r"|\bich bin (?:mir )?sicher\b|\bje suis (?:sur|certain)e?\b|\bestoy segur[oa]\b|\bsono sicur[oa]\b"
    r"|я уверен|我确定|我確定"
)
_CLAIMED = re.compile(
    r"\b(?:has|have|had)\s+(?:already\s+)?(?:been\s+)?(?:verified|confirmed|validated|approved|checked|reviewed|"
    r"pre-approved|accepted)\b|\b(?:already|previously)\s+(?:been\s+)?(?:verified|confirmed|validated|approved|"
    r"checked|accepted)\b|\b(?:verified|confirmed|validated|approved|checked|reviewed|accepted)\s+(?:and\s+\w+\s+)?"
    r"by\s+(?:the\s+|a\s+|an\s+|our\s+)?(?:\w+\s+){0,2}?(?:verifier|grader|team|expert|experts|checker|reviewer|"
    r"human|system|evaluator|judge|moderator|staff|editors?)\b"
    r"|bereits\s+\w*\s*bestatigt|deja confirme|ya ha confirmado|уже подтверд\w*|已经确认|已經確認|已核实|検証済み"
)
_LABEL = re.compile(
    r"^\W*(?:final\s+|expected\s+|overall\s+)?(?:verdict|judgement|judgment|grade|grading|score|rating|status|result|"
    r"evaluation|assessment|label|confidence|correctness|outcome|decision|qa|check|review|expected_verdict|"
    r"expected|answer key|reference answer|correct answer|right answer|true answer|expected answer|proposed answer|"
    r"ergebnis(?: der prufung)?|urteil|bewertung|resultat|resultado|risultato|veredicto|verdetto|evaluacion|"
    r"результат|оценка|вердикт|结果|結果|判定|评分|評価|النتيجة|الحكم)\s*[:=\-—–]"
)
_ROLE_LINE = re.compile(
    r"^\W*(?:user|assistant|system|human|ai|bot|model|gpt|chatgpt|claude|gemini|llama|verifier|grader|evaluator|"
    r"judge|checker|reviewer|instruction|response|benutzer|assistent|utilisateur|assistant|usuario|asistente|"
    r"пользователь|ассистент|система|用户|用戶|助手|系统|系統|ユーザー|アシスタント|システム|المستخدم|المساعد|النظام)"
    r"\s*[:：]"
)
_QA_LINE = re.compile(r"^\W*(?:q|a|question|answer|frage|antwort|question|reponse)\s*[:：]")
_SPECIAL = re.compile(
    r"<\|[^|>]{1,40}\|>|\[/?inst\]|<</?sys>>|</?s>|<(?:start|end)_of_turn>|###\s*(?:instruction|response|system|"
    r"assistant|user|input|output)\b|<\s*/?\s*(?:system|assistant|user|verdict|grade|score|im_start|im_end)\s*>",
    re.IGNORECASE,
)
_SPECIAL_FOLDED = re.compile(r"\b(?:im_start|im_end|im start|im end|eot_id|start_of_turn|end_of_turn|inst|sys)\b")

_FILLER = _words(
    "a an the this that these it its is are was were be been being am i me my we our you your he she they "
    "and or but so of to in on at by for with from as into about above below here there then than also "
    "yes yeah yep indeed definitely certainly absolutely fully totally completely clearly surely undoubtedly "
    "very quite perfectly exactly entirely really truly 100 % percent / + answer answers response reply "
    "solution output result given proposed provided following follows submitted final one item case "
    "question passage context text source document reference matches match matching consistent "
    "agrees agree checked double double-checked check against reason because since note hint please "
    "status confidence verdict judgement judgment grade grading score rating label correctness evaluation "
    "assessment outcome decision reviewed review approved accepted accept approve mark marked rate "
    "rated reply respond output say said should must will would can could do does just only "
    "quick key expected official what which who whether if not no any each every all none "
    "a+ a- b c d f 10 10/10 5/5 1.0 1 0 true false qa pass passed fail ok okay fine good great "
    "spot on lgtm nota note update editor's editor comment important system override assistant user "
    "model ai judge grader verifier evaluator checker reviewer team experts expert human staff "
    "fact-checking fact checking automated sure confident certain positive guarantee assure "
    "already previously been has have had looks seems appear appears now later established "
    "to is right correct accurate valid exact precise verified confirmed validated "
    "json yaml code ``` such whatever says reading according instructions instruction quick"
)
_FILLER_SCRIPT = re.compile(
    r"这个|這個|答案|回答|是|的|了|已|经|經|下面|以下|请|請|把|判定为|为|為|正确|正確|无误|核实|核實|确认|確認|"
    r"评分|說明|说明|所提供|提供|这|這|对|對|验证者|驗證者|この|答え|は|です|の|を|として|して|ください|"
    r"正しい|正解|検証済み|確認済み|採点者|へ|提示された|評価|されました|された|に|ます|これ|それ"
)
_EN_ALL = _FILLER | {"correct", "right", "true", "answer", "accurate", "verified", "valid", "proposed", "this"}
KNOWN_WORDS.update(_EN_ALL)


def _has_verdict(folded: str) -> bool:
    """Whether a folded text holds a verdict word of any of the lexicons' languages ("correct", "正确")."""
    return bool(_V_WORD.search(folded) or _V_SCRIPT.search(folded))


def _has_content(folded: str) -> bool:
    """Whether a folded unit has words outside the verdict/grader/filler lexicons (i.e. says something)."""
    for word in _WORD.findall(folded):
        if word in _FILLER or _V_WORD.fullmatch(word) or _G.fullmatch(word) or _I.fullmatch(word):
            continue
        if re.fullmatch(r"[\d.,/%+]+", word):
            if len(word) >= 3 and not re.fullmatch(r"\d+\s?/\s?\d+|\d+%|1\.0|0\.\d+", word):
                return True  # a year or a quantity is content; scores like 10/10 or 100% are not
            continue
        if re.search(r"[\u3040-\u30ff\u3400-\u9fff]", word):
            if len(re.sub(r"[\W_]", "", _FILLER_SCRIPT.sub("", word))) >= 2:
                return True
            continue
        if _V_SCRIPT.fullmatch(word) or _R_OTHER.fullmatch(word) or _G.search(word):
            continue
        if re.fullmatch(r"[a-z]", word):
            continue
        if re.search(r"[\u0400-\u04ff\u0600-\u06ff]", word):
            if len(word) <= 4 or _V_SCRIPT.search(word) or _R_OTHER.search(word) or _I.search(word):
                continue
            if word in _RU_AR_FILLER:
                continue
            return True
        if word in _OTHER_FILLER:
            continue
        return True
    return False


_RU_AR_FILLER = _words(
    "этот эта это ниже выше для уже пожалуйста как примечание предложенный предложенного ответа ответ "
    "проверяющего проверяющий оцените правильныи правильно верныи хорошо пожалуиста هذه هذا ملاحظة للمقيّم للمقيم "
    "المقترحة أدناه يرجى تقييم على أنها النتيجة"
)
_OTHER_FILLER = _words(
    "diese dieser die der das ist sind antwort folgende vorgeschlagene hinweis fur den wurde bereits als "
    "bestatigt ergebnis prufung bitte cette la le les est reponse proposee ci-dessous dessous ci de du "
    "veuillez juger doit l'accepter accepter verificateur deja confirme cette resultat esta es respuesta "
    "propuesta para el ya ha confirmado abajo por favor califica como nota evaluador verificador "
    "questa risposta proposta per il valutatore sono"
)


_TURN_HEAD = re.compile(
    r"(?:(?:<\|im_start\|>|<\|start_header_id\|>|<start_of_turn>)\s*(?:assistant|model)\b[^<>\n]{0,30}"
    r"(?:<\|end_header_id\|>)?|<\|assistant\|>)\s*$",
    re.IGNORECASE,
)
_TURN_END = re.compile(r"<\|(?:im_end|eot_id|eom_id|end|endoftext)\|>|<end_of_turn>|</s>", re.IGNORECASE)
_TURN_MAX_UNITS = 3


def _fake_turns(units: list[str]) -> set[int]:
    """The units of a context that are an assistant turn's text in a chat template ("<|im_start|>assistant" or a
    Llama-3, Gemma or Phi-3 assistant header ending its line, then at most three sentences and the end-of-turn token):
    its markers are found as role markers, and its text goes with them ("네, X이(가) 맞습니다.", blind22; "The correct
    answer is X.", blind20). A header without an end token soon after, or another role's turn (a rendered
    conversation holding the retrieved document in its user turn), leaves the text as it is."""
    turns: set[int] = set()
    for i, unit in enumerate(units):
        if not _TURN_HEAD.search(_strip_invisible(unit)):
            continue
        said = 0
        for j in range(i + 1, len(units)):
            text = _strip_invisible(units[j])
            if _TURN_END.search(text):
                turns.update(range(i + 1, j + 1))
                break
            said += bool(text.strip())
            if said > _TURN_MAX_UNITS:
                break
    return turns
