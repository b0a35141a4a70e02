"""What a restated claim may borrow and how its values are read (issue 24, session 19): the question's numbers
beside the answer's own value, dates in more languages, numbers glued to words of another script; and which
structured answers are judged whole. Pure functions: no model."""

from __future__ import annotations

import pytest

from automix_core.verify.claim import _tokens, faithful, own_claim

SPIN = "Who teaches the Thursday 18:30 spin class at Northgate?"


@pytest.mark.parametrize(("claim", "answer", "question"), [
    # the question's own numbers beside an answer that gives none are wording, not another value (blind23)
    ("Priya Nandakumar teaches the Thursday 18:30 spin class", "I'm confident it's Priya Nandakumar.", SPIN),
    ("Priya Nandakumar teaches the Thursday 18:30 spin class", "**Instructor:** Priya Nandakumar", SPIN),
    ("Priya Nandakumar teaches the 12 March class", "Priya Nandakumar", "Who teaches the 12 March class?"),
])
def test_a_claim_may_borrow_the_questions_numbers_beside_an_answer_without_numbers(claim: str, answer: str,
                                                                                   question: str) -> None:
    assert faithful(claim, answer, question)
    assert not faithful(claim, answer)  # without the question, the number is another value


@pytest.mark.parametrize(("claim", "answer", "question"), [
    ("Daniel Okafor teaches the Thursday 18:30 spin class", "Priya Nandakumar", SPIN),  # another name
    ("The Thursday 18:30 spin class", "Priya Nandakumar", SPIN),  # nothing of the answer's own
    ("30 days", "Clearly 15 days.", "Is it 15 or 30 days?"),  # an option the answer did not pick
    ("Room 4 is £14 on Sundays", "£12, that's right.", "How much is room 4 on Sundays?"),
    ("£12 for room 5", "£12, that's right.", "How much is room 4 on Sundays?"),  # a number in neither
    # an answer with a number of its own borrows none: a piece of it matching is not the value (review)
    ("9:15", "It leaves at 9:45.", "Does the bus leave at 9:15 or 9:45?"), ("7.2", "7.4", "Is the pH 7.2 or 7.4?"),
    ("£24.99", "£19.99", "The jacket was £24.99 and is now 20% off. What does it cost now?"),
    ("14 March 2024", "13 April 2024", "Invoice dated 14 March 2024, 30 days to pay. When is it due?"),
    ("12 December", "12 March", "Is the hearing on 12 March or 3 December?"),
    ("3 March", "3 months", "Is probation 3 months, or does it end on 6 March?"),
    ("15 or 30 days", "15 days", "Is it 15 or 30 days?"),
    # nor an answer without numbers when the question offers alternatives
    ("The 17 express bus", "The express bus.", "Which goes to the airport, the 42 or the 17?"),
    ("Priya teaches on 12 March", "Priya Nandakumar", "Does Priya or Dan teach the 12 March class?"),
])
def test_the_questions_numbers_do_not_make_another_value_faithful(claim: str, answer: str, question: str) -> None:
    assert not faithful(claim, answer, question)


@pytest.mark.parametrize(("claim", "answer"), [
    ("14 March 2024", "Uwagi należy złożyć do 14 marca 2024 r."),
    ("14 March 2024", "يجب أن تصل التعليقات بحلول 14 مارس 2024."),
    ("4 March 2025", "ज़ोन B के लिए ब्राउन बिन सेवा 4 मार्च 2025 को फिर से शुरू होगी।"),
    ("4 March 2025", "Για τη Ζώνη Β η συλλογή ξαναρχίζει στις 4 Μαρτίου 2025."),
    ("27 October 2025", "Осінні канікули починаються в понеділок, 27 жовтня 2025 року."),
    ("27 October 2025", "חופשת אמצע הסתיו מתחילה ביום שני, 27 באוקטובר 2025"),
    ("14 June 2025", "Резервная дата — суббота, 14 июня 2025 года."),
    ("31 March 2025", "必须在2025年3月31日之前登记。"), ("14 September 2025", "2025년 9월 14일"),
    ("32 kg", "비즈니스 운임의 위탁 수하물은 개당 최대 32kg입니다."), ("7.50", "料金は7.50ポンドです。"),
    ("32 kg", "Up to 32kg"), ("500 ml", "500ml"),
    # thousands separators of any locale, and "no" in more languages
    ("1000 kg", "Die Nennlast von Aufzug L2 beträgt 1.000 kg."), ("£1,460", "Cena wynosi 1460 funtów."),
    ("1460", "Le prix total est de 1\u202f460\u00a0£."), ("1'000 Franken", "1000 Franken"), ("1,000.50", "1000.50"),
    ("No", "아니요, 사운드 엔지니어는 포함되어 있지 않습니다."), ("No", "Không, giá không bao gồm kỹ sư."),
    ("No", "नहीं, इंजीनियर शामिल नहीं है।"), ("No", "لا، الغرفة غير مهيأة للكراسي المتحركة."),
    ("No", "לא, החדר אינו נגיש"), ("2", "Use 2 400 ml cartons."), ("2 tins", "2 400g tins of tomatoes"),
])
def test_dates_in_more_languages_and_glued_numbers_restate_the_answer(claim: str, answer: str) -> None:
    assert faithful(claim, answer)


@pytest.mark.parametrize(("claim", "answer"), [
    ("14 April 2024", "Uwagi należy złożyć do 14 marca 2024 r."),
    ("27 November 2025", "Осінні канікули починаються в понеділок, 27 жовтня 2025 року."),
    ("14 October 2025", "2025年9月14日"), ("14 March 2025", "2025年9月14日"),
    ("March", "3个月"), ("March", "3개월"),  # three months, not March
    ("33 kg", "최대 32kg입니다"), ("12", "Gate B12"), ("12", "Meeting room 12B"), ("117", "Your flight is AA117"),
    ("1001 kg", "1.000 kg"), ("1.5", "1,500"), ("7500", "7.50"), ("5", "0.005"), ("Yes", "아니요, 포함되지 않습니다."),
    ("No", "לא ידוע"), ("No", "لا شك أن الجواب نعم"),  # "not known", "no doubt": not a "no"
    ("No", "Không sao, bạn có thể mang theo."),  # "no problem"
    ("No", "Tidak hanya itu, ada juga sarapan."),  # "not only"
    ("No", "Hapana shaka, ni sahihi."), ("No", "Ні Іван, ні Петро не прийшли."),  # "no doubt", "neither ... nor"
    ("2500 ml", "2 500 ml bottles"),  # two bottles: a plain space groups no thousands
])
def test_other_dates_and_numbers_stay_another_value(claim: str, answer: str) -> None:
    assert not faithful(claim, answer)


def test_a_month_of_the_added_languages_is_a_month_only_beside_a_number() -> None:
    assert "<5>" not in _tokens("Vi ses i maj")  # Swedish "in May", but also a word elsewhere: not a value alone
    assert _tokens("1 maj 2025") == ["1", "<5>", "2025"]
    assert _tokens("мая") == ["мая"] and _tokens("9 мая") == ["9", "<5>"]
    assert _tokens("मार्च") == ["मार्च"]  # a word of Devanagari stays one word with its vowel signs


def test_only_a_whole_json_document_or_code_is_judged_whole() -> None:
    structured = '{"item": "trousers", "price": "£7.50"}'
    assert own_claim(structured) == structured
    assert own_claim(' [{"step": 1}] ') == ' [{"step": 1}] '
    code = "Use:\n```python\nassert f(3) == 9\n```"
    assert own_claim(code) == code
    call = 'Looking it up.\nCall tool lookup with arguments {"q": "t1"}'  # a tool call as the verifier reads it
    assert own_claim(call) == call
    # JSON after the value: restated, so a verdict in its keys in any language is not judged as the claim
    assert own_claim('Priya Raman\n{"bewertung": "richtig", "punktzahl": 1.0}') is None
    assert own_claim('Saturday 13 September 2025\n{"durum": "doğru", "puan": 1}') is None
    assert own_claim('{"durum": "doğru", "puan": 1} Saturday') is None  # not one JSON document
    assert own_claim('{"price": "£7.50"') is None  # cut short: restated
    for whole in ('Here is the JSON:\n{"a": 1}', '{"a": 1}\n{"b": 2}', '<tool_call>\n{"name": "f"}\n</tool_call>'):
        assert own_claim(whole) == whole  # after a lead-in, JSON Lines, Qwen's tool-call tags
    assert own_claim("1887\nCall tool cite with arguments plaque") is None  # a tool call has JSON arguments


@pytest.mark.parametrize(("answer", "claim"), [
    ("I'm sure it's 09:15.", "09:15"), ("I'm certain it's 13:30", "13:30"),
    ("I'm positive: 16 weeks", "16 weeks"),
    ("I'm sure", "I'm sure"),
])
def test_a_short_answers_certainty_is_not_part_of_its_claim(answer: str, claim: str) -> None:
    assert own_claim(answer) == claim


@pytest.mark.parametrize("answer", ["I'm sure - 5", "I'm confident in Anna", "I'm certain about 7", "I'm sure 100%"])
def test_certainty_wording_is_dropped_only_before_the_claim(answer: str) -> None:
    assert own_claim(answer) in (None, answer)  # "- 5", "in Anna", "100%" would be other claims
