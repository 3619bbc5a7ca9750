"""`pipeline.checks.langid` returns exactly what seeded `langdetect.detect` returns, and raises where it raises."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import langdetect
import pytest

from pipeline.checks import langid

SENTENCES = [
    "The quick brown fox jumps over the lazy dog while the children watch from the garden.",
    "El rápido zorro marrón salta sobre el perro perezoso mientras los niños miran.",
    "Le renard brun rapide saute par-dessus le chien paresseux pendant que les enfants regardent.",
    "Der schnelle braune Fuchs springt über den faulen Hund, während die Kinder zuschauen.",
    "Il veloce volpe marrone salta sopra il cane pigro mentre i bambini guardano.",
    "A rápida raposa marrom pula sobre o cão preguiçoso enquanto as crianças olham.",
    "Szybki brązowy lis przeskakuje nad leniwym psem, a dzieci patrzą z ogrodu.",
    "Nopea ruskea kettu hyppää laiskan koiran yli, kun lapset katsovat puutarhasta.",
    "Быстрая коричневая лиса прыгает через ленивую собаку, пока дети смотрят.",
    "Швидка коричнева лисиця стрибає через ледачого собаку, поки діти дивляться.",
    "Бързата кафява лисица прескача мързеливото куче, докато децата гледат.",
    "الثعلب البني السريع يقفز فوق الكلب الكسول بينما ينظر الأطفال.",
    "روباه قهوه ای سریع از روی سگ تنبل می پرد و بچه ها نگاه می کنند یکی",
    "השועל החום המהיר קופץ מעל הכלב העצלן בזמן שהילדים מסתכלים.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है जबकि बच्चे देखते हैं।",
    "দ্রুত বাদামী শিয়াল অলস কুকুরের উপর দিয়ে লাফ দেয়।",
    "விரைவான பழுப்பு நரி சோம்பேறி நாயின் மேல் குதிக்கிறது.",
    "వేగవంతమైన గోధుమ నక్క సోమరి కుక్కపై దూకుతుంది.",
    "ಚುರುಕಾದ ಕಂದು ನರಿ ಸೋಮಾರಿ ನಾಯಿಯ ಮೇಲೆ ಹಾರುತ್ತದೆ.",
    "വേഗതയുള്ള തവിട്ട് കുറുക്കൻ മടിയനായ നായയുടെ മുകളിലൂടെ ചാടുന്നു.",
    "ઝડપી ભૂરું શિયાળ આળસુ કૂતરા પર કૂદે છે.",
    "ਤੇਜ਼ ਭੂਰੀ ਲੂੰਬੜੀ ਆਲਸੀ ਕੁੱਤੇ ਉੱਤੇ ਛਾਲ ਮਾਰਦੀ ਹੈ।",
    "जलद तपकिरी कोल्हा आळशी कुत्र्यावर उडी मारतो.",
    "छिटो खैरो स्याल अल्छी कुकुरमाथि उफ्रन्छ।",
    "تیز بھوری لومڑی سست کتے کے اوپر چھلانگ لگاتی ہے۔",
    "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    "素早い茶色の狐はのろまな犬を飛び越える。子供たちは庭から見ている。",
    "カタカナだけのテキストです",
    "敏捷的棕色狐狸跳过了懒狗，孩子们在花园里看着。",
    "敏捷的棕色狐狸跳過了懶狗，孩子們在花園裡看著。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘고 아이들이 정원에서 지켜본다.",
    "Con cáo nâu nhanh nhẹn nhảy qua con chó lười trong khi bọn trẻ xem.",
    "Con ca\u0301o nâu nhanh nhe\u0323n nha\u0309y qua con cho\u0301 lươ\u0300i.",  # combining marks (normalize_vi)
    "Mbweha mwepesi wa kahawia anaruka juu ya mbwa mvivu huku watoto wakitazama.",
    "Ο γρήγορος καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.",
    "Den snabba bruna räven hoppar över den lata hunden medan barnen tittar.",
    "De snelle bruine vos springt over de luie hond terwijl de kinderen kijken.",
    "Rychlá hnědá liška skáče přes líného psa, zatímco děti se dívají.",
    "Hızlı kahverengi tilki tembel köpeğin üzerinden atlar, çocuklar izler.",
    "Vulpea maro rapidă sare peste câinele leneș în timp ce copiii se uită, ștergând țărmul.",
    "Ātrā brūnā lapsa lec pāri slinkajam sunim, kamēr bērni skatās.",
    "Greita ruda lapė peršoka tingų šunį, o vaikai žiūri.",
    "A gyors barna róka átugrik a lusta kutya felett, miközben a gyerekek néznek.",
]

EDGE = [
    "", " ", "   \n\t ", "12345", "3.14 + 2.71 = 5.85", "!!! ??? ...", "***", "-", "\u200b\u2028",
    "a", "A", "I", "ok", "OK", "Hi", "hello", "HELLO WORLD", "NASA AND THE ESA", "x y z", "中", "あ", "ア", "한",
    "http://example.com/path?q=1", "mail me at someone@example.org please", "see https://x.y and a@b.cd now",
    "🙂🙂🙂", "😀 smile 😀", "ß", "Ǆ ǅ ǆ", "ﬁ ﬂ", "\u0301\u0301", "e\u0301", "Ω", "Ωμέγα", "İstanbul", "ǅemal",
    "[\\]^_`", "ABC]^_`def", "ı", "a" * 20000, "word " * 3000, ("Ünïcödé " * 50).strip(),
]  # fmt: skip


def _reference(text: str) -> tuple[str, str | None]:
    langdetect.DetectorFactory.seed = 0
    try:
        return "ok", langdetect.detect(text)
    except langdetect.LangDetectException:
        return "raises", None


def _ours(text: str) -> tuple[str, str | None]:
    try:
        return "ok", langid.detect(text)
    except langid.LangIdError:
        return "raises", None


def _varied_texts(n: int, seed: int) -> Iterator[str]:
    """Edge cases, then random fragments, mixtures, case changes and noise built from SENTENCES."""
    rng = random.Random(seed)
    yield from EDGE
    yield from SENTENCES
    words = [w for s in SENTENCES for w in s.split()]
    noise = ["123", "2024", "—", "…", "!!", "http://a.b/c", "x@y.zz", "\n\n", "***", "•", "ÆØÅ", "ñ", "NATO", "ümlaut"]
    for _ in range(n):
        kind = rng.randrange(6)
        if kind == 0:  # a fragment of one sentence: short texts are where langdetect is least certain
            s = rng.choice(SENTENCES).split()
            a = rng.randrange(len(s))
            text = " ".join(s[a : a + rng.randint(1, 6)])
        elif kind == 1:  # words from several languages and scripts
            text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 25)))
        elif kind == 2:  # sentences glued together, sometimes long
            text = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 12)))
        elif kind == 3:  # case changes (all-capital runs are skipped by langdetect)
            text = rng.choice(SENTENCES)
            text = rng.choice([text.upper(), text.lower(), text.title(), text.swapcase()])
        elif kind == 4:  # noise mixed in
            parts = [rng.choice(words) if rng.random() < 0.6 else rng.choice(noise) for _ in range(rng.randint(1, 15))]
            text = rng.choice([" ", "  ", "\n", ""]).join(parts)
        else:  # random code points from a few blocks, digits and punctuation
            pools = [
                "abcxyzABC",
                "0123456789.,;",
                "äöüßéèçñ",
                "абвгдеж",
                "αβγδ",
                "ابتث",
                "अआइ",
                "あいう",
                "アイウ",
                "한국어",
                "中文字",
                " \t\n",
            ]
            text = "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(0, 40)))
        yield text


@pytest.mark.parametrize("seed", [1, 2])
def test_matches_langdetect_on_varied_texts(seed: int) -> None:
    texts = list(_varied_texts(1500, seed))
    pairs = [(t, _reference(t), _ours(t)) for t in texts]
    bad = [(t[:80], ref, ours) for t, ref, ours in pairs if ref != ours]
    assert not bad, f"{len(bad)} of {len(texts)} differ, e.g. {bad[:5]}"
    outcomes = {ref[1] for _, ref, _ in pairs}
    assert None in outcomes and len(outcomes) > 20  # raising cases and many languages were exercised


def test_numpy_fallback_matches_langdetect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(langid, "_kernel", lambda: None)
    texts = list(_varied_texts(250, 3))
    pairs = [(t, _reference(t), _ours(t)) for t in texts]
    bad = [(t[:80], ref, ours) for t, ref, ours in pairs if ref != ours]
    assert not bad, f"{len(bad)} of {len(texts)} differ, e.g. {bad[:5]}"


def test_random_stream_replays_python_random() -> None:
    rng = random.Random(langid.SEED)
    stream = langid._stream(1 << 16)
    assert [rng.getrandbits(32) for _ in range(1000)] == [int(x) for x in stream[:1000]]
    rng.seed(langid.SEED)
    assert rng.random() == langid._uniform(int(stream[0]), int(stream[1]))


def test_raises_exactly_where_langdetect_raises() -> None:
    for text in ["", "   ", "1234", "!!!", "http://example.com", "a@b.cd", "\u200b"]:
        assert _reference(text) == ("raises", None)
        with pytest.raises(langid.LangIdError):
            langid.detect(text)
    assert langid.detect_or_none("") is None


@pytest.mark.parametrize("pure", [False, True], ids=["c-kernel", "numpy"])
def test_first_calls_from_many_threads_agree(pure: bool) -> None:
    # A fresh process, so the lazy loading of langdetect's tables happens under the race (verification runs
    # in one thread per instruction); racing first calls used to get empty or wrong languages for good.
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from pipeline.checks.langid import detect_or_none\n"
        "with ThreadPoolExecutor(16) as pool:\n"
        "    print(sorted(set(pool.map(detect_or_none, ['Describe a walk through a city park in spring.'] * 32))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    if pure:
        env["COMPLEXIFY_LANGID_PURE"] = "1"
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == "['en']"
