"""Seeded generator of (instruction id, kwargs, response) cases for comparing IFEval checkers.

Responses are built per instruction so that verdicts are mixed, then perturbed with the edge cases
where implementations drift: lines starting with "-", *** dividers with odd spacing, empty pieces,
P.S. in mid-text, code fences around JSON, nested JSON, titles across lines, unicode whitespace,
combining marks, full-width punctuation, CRLF, abbreviations, other languages, blank responses.
kwargs avoid values lm-eval would drop as falsy (0, "") because it then picks random ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

IDS = [
    "keywords:existence", "keywords:frequency", "keywords:forbidden_words", "keywords:letter_frequency",
    "language:response_language", "length_constraints:number_sentences", "length_constraints:number_paragraphs",
    "length_constraints:number_words", "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders", "detectable_content:postscript",
    "detectable_format:number_bullet_lists", "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections", "detectable_format:multiple_sections",
    "detectable_format:json_format", "detectable_format:title", "combination:two_responses",
    "combination:repeat_prompt", "startend:end_checker", "change_case:capital_word_frequency",
    "change_case:english_capital", "change_case:english_lowercase", "punctuation:no_comma", "startend:quotation",
]  # fmt: skip
RELATIONS = ["less than", "at least"]
WORDS = (
    "the river carried small boats past the old mill while children watched from the bridge and a dog "
    "barked at gulls over the harbor lantern orchard compass glacier meadow ledger canyon violin festival "
    "satellite thunder blueprint migration telescope archive workshop horizon pebble lighthouse bakery"
).split()
KEYWORDS = ["harbor", "lantern", "orchard", "Compass", "glacier", "ink", "art", "c.t", "the", "ship", "rain"]
SENTENCES_ABBREV = [
    "Mr. Smith arrived at 3 p.m. and left early.", "Dr. Jones works at Acme Inc. in the U.S. office.",
    "The value of pi is about 3.14 and e is about 2.72.", "Wait... what happened next?", "She said \"stop!\" and ran.",
    "It costs $5.50, i.e. not much.", "See e.g. chapter 4, vol. 2 for details.", "WOW! That is AMAZING.",
    "He lived in St. Louis for years.", "They met on Jan. 5th at the U.N.",
]  # fmt: skip
FOREIGN = {
    "fr": "Le petit chat dort sur le canapé pendant que la pluie tombe doucement sur la ville endormie.",
    "es": "El perro corre por el parque mientras los niños juegan con una pelota roja bajo el sol.",
    "de": "Der alte Mann geht jeden Morgen mit seinem Hund durch den Wald und genießt die Ruhe.",
    "ru": "Маленький мальчик читает интересную книгу о далёких путешествиях и приключениях.",
    "ja": "今日はとても良い天気なので、公園を散歩してから友達と昼ご飯を食べました。",
    "ar": "ذهب الولد إلى المدرسة في الصباح الباكر وقرأ كتابا جميلا عن التاريخ.",
    "hi": "आज मौसम बहुत अच्छा है और बच्चे बगीचे में खेल रहे हैं।",
    "it": "La ragazza mangia una pizza deliziosa con i suoi amici nella piazza del paese.",
    "pt": "O menino brinca com o cachorro no quintal enquanto a mãe prepara o almoço.",
    "ko": "오늘은 날씨가 좋아서 친구들과 함께 공원에서 산책을 했습니다.",
    "fi": "Pieni tyttö lukee kirjaa ikkunan vieressä ja kuuntelee sateen ääntä.",
    "pl": "Mały chłopiec bawi się z psem w ogrodzie, a mama gotuje obiad w kuchni.",
    "vi": "Hôm nay trời rất đẹp nên chúng tôi đã đi dạo trong công viên cùng bạn bè.",
    "th": "วันนี้อากาศดีมากเราจึงไปเดินเล่นที่สวนสาธารณะกับเพื่อน",
    "he": "הילד הקטן קורא ספר מעניין על מסעות והרפתקאות רחוקות.",
    "uk": "Маленька дівчинка читає цікаву книжку про далекі подорожі та пригоди.",
    "en": "The quick brown fox jumps over the lazy dog near the quiet river bank.",
}  # fmt: skip
LANGS = [
    "en", "es", "pt", "ar", "hi", "fr", "ru", "de", "ja", "it", "bn", "uk", "th", "ur", "ta", "te", "bg", "ko",
    "pl", "he", "fa", "vi", "ne", "sw", "kn", "mr", "gu", "pa", "ml", "fi",
]  # fmt: skip
ODD = [
    "\u00a0",
    "\u2028",
    "\u200b",
    "\r\n",
    "\t",
    "e\u0301",
    "İ",
    "ß",
    "ς",
    "Σ",
    "😀",
    "，",
    "＊",
    "\x0c",
    "\u3000",
    "ǅ",
]
END_PHRASES = ["Any other questions?", "Is there anything else I can help with?", "Hope this helps!", "That is all."]
FIRST_WORDS = ["first", "today", "however", "next", "finally", "the"]


def _sentence(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(SENTENCES_ABBREV)
    words = rng.choices(WORDS, k=rng.randint(3, 12))
    return " ".join(words).capitalize() + rng.choice([".", ".", "!", "?", ""])


def _text(rng: random.Random, lo: int = 1, hi: int = 6) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(lo, hi)))


def _paragraphs(rng: random.Random, n: int, sep: str) -> str:
    return sep.join(_text(rng, 1, 3) for _ in range(n))


def _perturb(rng: random.Random, text: str) -> str:
    """Random small edits that stress the edges of the checkers."""
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        op = rng.randrange(9)
        if op == 0:
            text = "  \n" + text
        elif op == 1:
            text = text + rng.choice(["\n", "  ", "\n\n", " \n ", '"'])
        elif op == 2 and text:
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice(ODD) + text[i:]
        elif op == 3:
            text = text.upper()
        elif op == 4:
            text = text.lower()
        elif op == 5:
            text = rng.choice(["- ", "* ", "** ", "---\n", "Note:\n", "# Heading\n"]) + text
        elif op == 6:
            text = text.replace(" ", "\n", rng.randint(1, 3))
        elif op == 7:
            text = text + "\n" + rng.choice(["- end", "*done*", "P.S. bye", "***", "******", "[x]", "<<t>>"])
        else:
            text = text.replace("\n", "\r\n")
    return text


# --- per-instruction builders: (kwargs, response) -----------------------------------------------

Builder = Callable[[random.Random], tuple[dict[str, Any], str]]


def _existence(rng: random.Random) -> tuple[dict[str, Any], str]:
    kws = rng.sample(KEYWORDS, rng.randint(1, 3))
    text = _text(rng)
    for k in kws:
        if rng.random() < 0.7:
            text += " " + rng.choice([k, k.upper(), k + "s", "x" + k])
    return {"keywords": kws}, text


def _frequency(rng: random.Random) -> tuple[dict[str, Any], str]:
    kw = rng.choice(KEYWORDS)
    text = _text(rng) + (" " + kw) * rng.randint(0, 4)
    return {
        "keyword": rng.choice([kw, " " + kw + " "]),
        "frequency": rng.randint(1, 4),
        "relation": rng.choice(RELATIONS),
    }, text


def _forbidden(rng: random.Random) -> tuple[dict[str, Any], str]:
    kws = rng.sample(KEYWORDS, 2)
    text = _text(rng)
    if rng.random() < 0.5:
        text += " " + rng.choice([kws[0], kws[0] + "s", kws[1].upper(), "_" + kws[1], kws[0] + "-x"])
    return {"forbidden_words": kws}, text


def _letter(rng: random.Random) -> tuple[dict[str, Any], str]:
    letter = rng.choice("abcdefghijklmnopqrstuvwxyzAEZ")
    return {"letter": letter, "let_frequency": rng.randint(1, 12), "let_relation": rng.choice(RELATIONS)}, _text(rng)


def _language(rng: random.Random) -> tuple[dict[str, Any], str]:
    lang = rng.choice([*FOREIGN, *rng.sample(LANGS, 3)])
    parts = [FOREIGN.get(lang, FOREIGN["en"])]
    if rng.random() < 0.3:
        parts.append(rng.choice(list(FOREIGN.values())))
    if rng.random() < 0.15:
        parts = [rng.choice(["12345", "...", "😀😀", "!!!", "[]", "ok"])]
    target = lang if lang in LANGS else rng.choice(LANGS)
    return {"language": target if rng.random() < 0.7 else rng.choice(LANGS)}, " ".join(parts)


def _sentences(rng: random.Random) -> tuple[dict[str, Any], str]:
    return {"num_sentences": rng.randint(1, 10), "relation": rng.choice(RELATIONS)}, _text(rng, 1, 10)


def _paragraph_count(rng: random.Random) -> tuple[dict[str, Any], str]:
    n = rng.randint(1, 5)
    sep = rng.choice(["\n***\n", "\n\n***\n\n", " *** ", "***", "\n* * *\n", "\n****\n", "\n***\n\n***\n"])
    text = _paragraphs(rng, rng.choice([n, n, n + 1, max(1, n - 1)]), sep)
    if rng.random() < 0.2:
        text = rng.choice(["***\n", "\n***"]) + text
    return {"num_paragraphs": n}, text


def _words(rng: random.Random) -> tuple[dict[str, Any], str]:
    return {"num_words": rng.randint(5, 120), "relation": rng.choice(RELATIONS)}, _text(rng, 1, 12)


def _nth_first(rng: random.Random) -> tuple[dict[str, Any], str]:
    n = rng.randint(1, 5)
    nth = rng.randint(1, n)
    word = rng.choice(FIRST_WORDS)
    paras = [_text(rng, 1, 2) for _ in range(rng.choice([n, n, n + 1]))]
    if nth <= len(paras) and rng.random() < 0.7:
        lead = rng.choice([word, word.capitalize(), f'"{word}', f"'{word}", f"{word},", f"**{word}**", f"{word}'s"])
        paras[nth - 1] = lead + " " + paras[nth - 1]
    sep = rng.choice(["\n\n", "\n\n", "\n\n\n", "\n \n", "\n"])
    return {"num_paragraphs": n, "nth_paragraph": nth, "first_word": word}, sep.join(paras)


def _placeholders(rng: random.Random) -> tuple[dict[str, Any], str]:
    bits = [_sentence(rng)]
    for _ in range(rng.randint(0, 5)):
        bits.append(rng.choice(["[name]", "[ADDRESS]", "[]", "[a\nb]", "[[x]]", "[", "]", "[date] [time]"]))
    return {"num_placeholders": rng.randint(1, 4)}, " ".join(bits)


def _postscript(rng: random.Random) -> tuple[dict[str, Any], str]:
    marker = rng.choice(["P.S.", "P.P.S", "P.S.", "NOTE", "p.s"])
    tail = rng.choice(
        ["P.S. see you", "p.s. bye", "P. S. later", "PS: no", "P.P.S more", "p. p. s x", "P.S no dot", ""]
    )
    text = _text(rng)
    text = text + "\n\n" + tail if rng.random() < 0.7 else tail + " " + text
    return {"postscript_marker": marker}, text


def _bullets(rng: random.Random) -> tuple[dict[str, Any], str]:
    n = rng.randint(1, 5)
    lines = [_sentence(rng)]
    for _ in range(rng.choice([n, n, n + 1, max(0, n - 1)])):
        lines.append(rng.choice(["* ", "- ", "  * ", "-", "*", "**", "1. ", "• ", "\t- "]) + _sentence(rng))
    if rng.random() < 0.3:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["---", "***", "", "   ", "*\n", "* \n* "]))
    return {"num_bullets": n}, "\n".join(lines)


def _constrained(rng: random.Random) -> tuple[dict[str, Any], str]:
    ans = rng.choice(
        ["My answer is yes.", "My answer is no.", "My answer is maybe.", "My answer is Yes.", "my answer is no."]
    )
    return {}, rng.choice([ans, _text(rng) + " " + ans, ans[:-1], f'"{ans}"'])


def _highlights(rng: random.Random) -> tuple[dict[str, Any], str]:
    bits = [_sentence(rng)]
    for _ in range(rng.randint(0, 5)):
        bits.append(rng.choice(["*key*", "**bold**", "* *", "**", "*a\nb*", "***x***", "*one* and *two*", "** **"]))
    return {"num_highlights": rng.randint(1, 4)}, " ".join(bits)


def _sections(rng: random.Random) -> tuple[dict[str, Any], str]:
    spl = rng.choice(["Section", "SECTION", "Part"])
    n = rng.randint(1, 5)
    heads = [
        rng.choice([f"{spl} {i}", f"{spl}{i}", f"{spl.lower()} {i}", f"{spl} X", f"## {spl} {i}"])
        for i in range(1, n + 1)
    ]
    return {"section_spliter": spl, "num_sections": n}, "\n".join(h + "\n" + _text(rng, 1, 2) for h in heads)


def _json(rng: random.Random) -> tuple[dict[str, Any], str]:
    body = rng.choice(
        [
            '{"a": 1, "b": [1, 2]}',
            "[1, 2, 3]",
            '"just a string"',
            "42",
            "{'a': 1}",
            '{"a": }',
            "null",
            "[" * 30 + "]" * 30,
        ]
    )
    fence = rng.choice(
        [
            "",
            "```json\n{}\n```",
            "```Json\n{}\n```",
            "```JSON\n{}```",
            "```\n{}\n```",
            "```python\n{}\n```",
            "Here:\n{}",
        ]
    )
    return {}, fence.replace("{}", body) if fence else body


def _title(rng: random.Random) -> tuple[dict[str, Any], str]:
    t = rng.choice(
        ["<<My Title>>", "<< >>", "<<>>", "<<a\nb>>", "<<<x>>>", "<<one>> and <<two>>", "<title>", "<< <<x>> >>"]
    )
    return {}, rng.choice([t + "\n" + _text(rng), _text(rng) + " " + t, t])


def _two(rng: random.Random) -> tuple[dict[str, Any], str]:
    a, b = _text(rng, 1, 2), _text(rng, 1, 2)
    return {}, rng.choice(
        [
            f"{a}\n******\n{b}",
            f"{a}******{a}",
            f"******{a}******{b}******",
            f"{a}\n******\n\n******\n{b}",
            a,
            f"{a}*******{b}",
        ]
    )


def _repeat(rng: random.Random) -> tuple[dict[str, Any], str]:
    prompt = _text(rng, 1, 2)
    head = rng.choice([prompt, prompt.upper(), "  " + prompt, prompt[:-3], '"' + prompt])
    return {"prompt_to_repeat": prompt}, head + " " + _text(rng, 1, 2)


def _end(rng: random.Random) -> tuple[dict[str, Any], str]:
    phrase = rng.choice(END_PHRASES)
    tail = rng.choice([phrase, phrase.lower(), phrase + '"', phrase + " Thanks.", phrase[:-1], ""])
    return {"end_phrase": rng.choice([phrase, " " + phrase])}, _text(rng) + " " + tail


def _capital_words(rng: random.Random) -> tuple[dict[str, Any], str]:
    words = [w.upper() if rng.random() < 0.4 else w for w in _text(rng, 2, 6).split()]
    text = " ".join(words) + rng.choice(["", " DON'T STOP", " U.S.A.", " HELLO-WORLD", " I"])
    return {"capital_frequency": rng.randint(1, 12), "capital_relation": rng.choice(RELATIONS)}, text


def _upper(rng: random.Random) -> tuple[dict[str, Any], str]:
    text = rng.choice([_text(rng), FOREIGN[rng.choice(list(FOREIGN))], "123 !!!"])
    return {}, text.upper() if rng.random() < 0.7 else text


def _lower(rng: random.Random) -> tuple[dict[str, Any], str]:
    text = rng.choice([_text(rng), FOREIGN[rng.choice(list(FOREIGN))], "123 ..."])
    return {}, text.lower() if rng.random() < 0.7 else text


def _comma(rng: random.Random) -> tuple[dict[str, Any], str]:
    return {}, _text(rng) + rng.choice(["", ",", "，", " a, b", "、"])


def _quotation(rng: random.Random) -> tuple[dict[str, Any], str]:
    t = _text(rng)
    return {}, rng.choice([f'"{t}"', f'  "{t}"\n', f"“{t}”", f'"{t}', '"', '""', f"'{t}'"])


BUILDERS: dict[str, Builder] = dict(
    zip(
        IDS,
        [
            _existence,
            _frequency,
            _forbidden,
            _letter,
            _language,
            _sentences,
            _paragraph_count,
            _words,
            _nth_first,
            _placeholders,
            _postscript,
            _bullets,
            _constrained,
            _highlights,
            _sections,
            _json,
            _title,
            _two,
            _repeat,
            _end,
            _capital_words,
            _upper,
            _lower,
            _comma,
            _quotation,
        ],
        strict=True,
    )
)


def generate_cases(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """`n` cases, cycling over the 25 ids: {"id", "instruction_id", "kwargs", "response"}."""
    rng = random.Random(seed)
    for i in range(n):
        iid = IDS[i % len(IDS)]
        kwargs, response = BUILDERS[iid](rng)
        roll = rng.random()
        if roll < 0.04:
            response = rng.choice(["", " ", "\n\n", "\t \u00a0", "*", "***", "******", "-", "\n-\n"])
        elif roll < 0.6:
            response = _perturb(rng, response)
        yield {"id": i, "instruction_id": iid, "kwargs": kwargs, "response": response}
