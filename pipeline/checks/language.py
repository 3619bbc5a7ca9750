"""Checkers: language family (IFEval `language:response_language`, exact strict semantics)."""

from __future__ import annotations

from pipeline.checks.ifeval_args import fail
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.text import detect_language

# The ISO 639-1 codes IFEval can ask for; its reference fails on any other code.
IFEVAL_LANGUAGES = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "ar": "Arabic", "hi": "Hindi", "fr": "French",
    "ru": "Russian", "de": "German", "ja": "Japanese", "it": "Italian", "bn": "Bengali", "uk": "Ukrainian",
    "th": "Thai", "ur": "Urdu", "ta": "Tamil", "te": "Telugu", "bg": "Bulgarian", "ko": "Korean",
    "pl": "Polish", "he": "Hebrew", "fa": "Persian", "vi": "Vietnamese", "ne": "Nepali", "sw": "Swahili",
    "kn": "Kannada", "mr": "Marathi", "gu": "Gujarati", "pa": "Punjabi", "ml": "Malayalam", "fi": "Finnish",
}  # fmt: skip


@checker("language:response_language")
def check_response_language(response: str, *, language: str) -> CheckResult:
    """langdetect (seeded) says `language`; like IFEval, text langdetect cannot classify passes."""
    if not isinstance(language, str) or language not in IFEVAL_LANGUAGES:
        raise fail(
            "language:response_language", f"'language' must be one of {sorted(IFEVAL_LANGUAGES)}, got {language!r}"
        )
    found = detect_language(response)
    if found is None:
        return CheckResult(True, "language could not be detected (counts as followed, as in IFEval)")
    name = IFEVAL_LANGUAGES[language]
    if found == language:
        return CheckResult(True, f"detected {name} ({language})")
    return CheckResult(False, f"detected language {found!r}, need {name} ({language})")
