"""The IFBench format:, custom: and repeat: checkers: the reference's verdict on a passing and a failing response
per id (a comment names the assertion of IFBench's instructions_test.py a case restates), its quirks, bad
kwargs, blank responses, and properties of a few checkers."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.registry import load_checkers, run_check
from pipeline.errors import CheckerArgumentError

BOOK = "Give me a summary of the book '1984' by George Orwell."
SPAN = {
    "prompt_to_repeat": "explain the context, code and theory behind the paper Identifying Candidate Spaces.",
    "n_start": 3,
    "n_end": 6,
}
COUNTRY_NAMES = (
    "Zimbabwe Zambia Uganda Tunisia Togo Tanzania Sudan South_Sudan South_Africa Somalia Sierra_Leone Seychelles "
    "Senegal São_Tomé_and_Príncipe Rwanda Nigeria Niger Namibia Mozambique Morocco Mauritius Mauritania Mali Malawi "
    "Madagascar Libya Liberia Lesotho Kenya Guinea-Bissau Guinea Ghana Gambia Gabon Ethiopia Eswatini Eritrea "
    "Equatorial_Guinea Egypt Djibouti Côte_d'Ivoire Congo Comoros Chad Central_African_Republic Cameroon Cabo_Verde "
    "Burundi Burkina_Faso Botswana Benin Angola Algeria"
)
COUNTRIES = [name.replace("_", " ") for name in COUNTRY_NAMES.split()]
CAPITALS = (
    "Reykjavík, Helsinki, Oslo, Tallinn, Stockholm, Riga, Moscow, Copenhagen, Vilnius, Minsk, Dublin, Berlin, "
    "Amsterdam, Warsaw, London, Brussels, Prague, Luxembourg, Paris, Vienna, Bratislava, Budapest, Vaduz, Chișinău, "
    "Bern, Ljubljana, Zagreb"
)
ALPHABET_STORY = (
    "A long time ago. Bears ate honey. Cats danced. Dogs. enjoyed. food. Goats had igloos. Heathens roamed. "
    "Insects chirped. Jaguars leaped. Kangaroos munched. Lions napped. Monkeys played. Newts quivered. Ostriches ran. "
    "Penguins slid. Quokkas smiled. Rhinos trotted. Snakes undulated. Tigers watched. Unicorns pranced. "
    "Vultures waited. Walruses. xeroxed. Yaks yawned. Zebras zigzagged."
)
CITY_CSV = "ID,Country,City,Year,Count\n" + "\n".join(f"{i},USA,Boston,2020,{i * 10}" for i in range(1, 8))
PRODUCT_ROWS = [f"{i},Toys,Lego,9.99,{i}" for i in range(1, 15)]
PRODUCT_ROWS[6] = '7,Home,"Pottery Barn, Inc.",99.99,150'
PRODUCT_CSV = "ProductID,Category,Brand,Price,Stock\n" + "\n".join(PRODUCT_ROWS)
STUDENT_ROW = '"StudentID"\t "Subject"\t "Grade"\t "Semester"\t "Score"'


def _mcq(stems: list[str]) -> str:
    names = "Cubism Dada Fauvism Pop Surrealism".split()
    options = "\n".join(f"{letter}) {name}" for letter, name in zip("ABCDE", names, strict=True))
    return "\n\n".join(f"Question {i}\n{stem}\n{options}" for i, stem in enumerate(stems, start=1))


MCQ_STEMS = ["Who painted this?", "Which movement used wild colours?", "Which movement mocked art during the war?",
             "Which movement of the 1960s turned soup cans and comic strips into gallery art?"]  # fmt: skip

CASES: list[tuple[str, dict[str, Any], str, bool]] = [
    # format:parentheses
    ("format:parentheses", {}, "This (is [nested {very (deeply [here], yay!)}]).", True),  # TEST_NESTED_PARENTHESES
    ("format:parentheses", {}, "((()))", False),  # TEST_NESTED_PARENTHESES_FALSE_DEPTH
    ("format:parentheses", {}, "I (wouldn't [technically) call] (this [nested) x]. (More [mismatched)].", False),
    ("format:parentheses", {}, "((((( and one closing )", True),  # the outer four may stay open
    # format:quotes
    ("format:quotes", {}, "These \"quotes 'are \"nested,\" here' a lot.\"", True),  # TEST_NESTED_QUOTES
    ("format:quotes", {}, "Let's hope it handles adjacent quotes well: \"'\"\"'\".", True),  # TEST_NESTED_QUOTES2
    ("format:quotes", {}, "These quotes 'are \"not nested,\" here' enough.", False),  # TEST_NESTED_QUOTES_FALSE
    ("format:quotes", {}, "Three levels but not three pairs: '\"'\"'.", False),  # TEST_NESTED_QUOTES_FALSE2
    # format:options
    ("format:options", {"options": "(A), (B), (C)"}, "A", False),  # TEST_OPTIONS
    ("format:options", {"options": "I know or I don't know"}, "I don't know", True),  # TEST_OPTIONS_OR2
    ("format:options", {"options": "I know or I don't know"}, "I know or I don't know", False),  # ..._OR2_FALSE
    ("format:options", {"options": "yes/no/maybe"}, "maybe", True),  # TEST_OPTIONS_YNM3
    ("format:options", {"options": "yes/no/maybe"}, "yes/no", False),  # TEST_OPTIONS_YNM_FALSE
    ("format:options", {"options": "yes/no/maybe"}, " YES! ", True),  # punctuation and spaces stripped, any case
    ("format:options", {"options": "a), b), c), d)"}, "b)", True),  # lettered: exact
    ("format:options", {"options": "a), b), c), d)"}, "b) ", False),  # lettered: not even a space stripped
    # format:newline
    ("format:newline", {}, "This\n is\non\na\nnew\nline.", True),  # TEST_NEWLINE
    ("format:newline", {}, "hi . .\n      new . .\n      line ..", True),  # TEST_NEWLINE3
    ("format:newline", {}, "This\nis\nnot\nobeying\nthe\nrules, unfortunately.", False),  # TEST_NEWLINE_FALSE2
    ("format:newline", {}, "Two words\n \nhere", True),  # a line of one space counts as a line
    # format:emoji
    ("format:emoji", {}, "This ends with emoji 😀.", True),  # TEST_EMOJI
    ("format:emoji", {}, "😀 This starts with emoji.", False),  # TEST_EMOJI_FALSE_START
    ("format:emoji", {}, "One. 😀 Two ❤️.", True),  # the next sentence may start with the emoji
    ("format:emoji", {}, "Wow 😀. Hmm.", False),
    # format:line_indent
    ("format:line_indent", {}, "  Two spaces. \n   Three spaces.\n    Four spaces. \n     Five spaces. ", True),
    ("format:line_indent", {}, "  Two spaces. \n   Three spaces.\n     Five spaces. \n    Four spaces.", False),
    ("format:line_indent", {}, "a\n\n b\n\n  c", True),  # single blank lines are removed
    ("format:line_indent", {}, "a\n\n\n b", False),  # of two blank lines in a row, the reference keeps one
    ("format:line_indent", {}, "\n\nx\n", False),  # ... and the last blank line removes that one, not itself
    # format:quote_unquote
    ("format:quote_unquote", {}, 'A phrase. "A phrase in quotes."\n\nAnother with an extra \'"\'.', True),
    ("format:quote_unquote", {}, ' "Just a quoted phrase with no explanation." ', False),  # ..._FALSE
    ("format:quote_unquote", {}, "\u201cOne\u201d \u201cTwo\u201d explained.", False),  # curly quotes back to back
    ("format:quote_unquote", {}, "...", False),  # nothing but punctuation (the reference raises)
    # format:list
    ("format:list", {"sep": "..."}, "Some explanation.\n ... A bullet point.\n ... Another bullet point.", True),
    ("format:list", {"sep": "..."}, "- Some explanation.\n - A bullet point.\n - Another bullet point", False),
    ("format:list", {"sep": "SEPARATOR"}, "a SEPARATOR b SEPARATOR", True),  # anywhere in the text
    # format:thesis
    ("format:thesis", {}, "<i>\n  A thesis.\n</i>\nA paragraph", True),  # TEST_THESIS
    ("format:thesis", {}, "<em>Thesis.</em>\nIn the text that follows...", True),  # like TEST_THESIS_EM
    ("format:thesis", {}, "<i>A thesis with nothing after it.</i>", False),
    ("format:thesis", {}, "<em>A thesis with nothing after it.</em>", True),  # the tag's '>' counts as text
    ("format:thesis", {}, "No italics here.", False),
    # format:sub-bullets
    ("format:sub-bullets", {}, "Some sentence.\n  * A bullet.\n     - A sub-bullet.\n     - Another one.", True),
    ("format:sub-bullets", {}, "Some.\n  * A bullet.\n  * Another bullet.\n    - Only one.\n    -Two.", False),
    ("format:sub-bullets", {}, "No bullets at all.", True),  # nothing after a '*' to check
    ("format:sub-bullets", {}, "**Bold** text", False),
    # format:no_bullets_bullets
    ("format:no_bullets_bullets", {}, "This is one. This is two. Three.\n  * A bullet.\n  * Another bullet.", True),
    ("format:no_bullets_bullets", {}, "This is a sentence.\n  * A bullet.\n  * Another bullet.", False),
    ("format:no_bullets_bullets", {}, "This is a sentence. This is another sentence.\n  * A bullet.\n", False),
    ("format:no_bullets_bullets", {}, "One. Two.\n* a\n* b\n", False),  # the final empty line is not a bullet
    ("format:no_bullets_bullets", {}, "One. Two.\n\n* a\n* b", True),  # a blank line before the bullets is fine
    ("format:no_bullets_bullets", {}, "One.\n\nTwo.\n* a\n* b", False),  # ... but not inside the prose
    # format:title_case
    ("format:title_case", {}, "The Art Of War", True),
    ("format:title_case", {}, "The Art of War", False),
    ("format:title_case", {}, "THE WAR, A Story With An iPhone", True),  # capitals, one letter, mixed case pass
    ("format:title_case", {}, "tHE cAT", False),
    # format:output_template
    ("format:output_template", {}, "My Answer: yes My Conclusion: fine Future Outlook: bright", True),
    ("format:output_template", {}, "My Answer: yes My Conclusion: fine", False),
    # format:no_whitespace
    ("format:no_whitespace", {}, "NoSpaces.", True),
    ("format:no_whitespace", {}, "No\u00a0break", False),
    ("format:no_whitespace", {}, "zero\u200bwidth", True),  # not whitespace to str.isspace
    # custom:multiples
    ("custom:multiples", {}, "14 21 28 35 42 49", True),  # TEST_PRINT_MULTIPLES
    ("custom:multiples", {}, "Sure! Here it is: 14,21,28,35,42,49", True),  # TEST_PRINT_MULTIPLES2
    ("custom:multiples", {}, "7 14 21 28 35 42 49", False),  # TEST_PRINT_MULTIPLES_FALSE
    # custom:mcq_count_length
    ("custom:mcq_count_length", {}, _mcq(MCQ_STEMS), True),
    ("custom:mcq_count_length", {}, _mcq(MCQ_STEMS[::-1]), False),  # like TEST_MULTIPLE_CHOICE_FALSE_LENGTH
    ("custom:mcq_count_length", {}, _mcq(MCQ_STEMS[:3]), False),  # like TEST_MULTIPLE_CHOICE_FALSE_QUESTIONS
    ("custom:mcq_count_length", {}, "Here they are.\n" + _mcq(MCQ_STEMS), False),  # text before "Question"
    # custom:reverse_newline
    ("custom:reverse_newline", {}, "Sure! Here they are:\n" + "\n".join(COUNTRIES), True),  # TEST_NEWLINE_COUNTRIES
    ("custom:reverse_newline", {}, "\n".join(COUNTRIES[::-1]), False),  # like ..._FALSE_ORDER
    ("custom:reverse_newline", {}, "\n".join(COUNTRIES[:50]), False),  # too few lines
    ("custom:reverse_newline", {}, ", ".join(COUNTRIES), False),  # like ..._FALSE_NEWLINE
    # custom:word_reverse
    ("custom:word_reverse", {}, ".US the of bird national the is eagle bald The.", True),  # TEST_REVERSE_ORDER
    ("custom:word_reverse", {}, "The bald eagle is the national bird of the US.", False),  # TEST_REVERSE_ORDER_FALSE
    ("custom:word_reverse", {}, "yekurt", False),  # TEST_REVERSE_ORDER_FALSE2
    # custom:character_reverse
    ("custom:character_reverse", {}, ".su eht fo lobmys lanoitan eht si elgae dlab", True),  # TEST_REVERSE_CHAR_ORDER
    ("custom:character_reverse", {}, "The bald eagle is the national bird of the US.", False),  # ..._FALSE
    ("custom:character_reverse", {}, "yekurt", False),  # TEST_REVERSE_CHAR_ORDER_FALSE2
    # custom:sentence_alphabet
    ("custom:sentence_alphabet", {}, ALPHABET_STORY, True),  # TEST_SENTENCE_ALPHABET
    ("custom:sentence_alphabet", {}, "A long time ago. Bears ate honey. Cats danced. Dogs enjoyed food.", False),
    ("custom:sentence_alphabet", {}, ALPHABET_STORY.replace("Snakes", "Rhinos"), False),  # like ..._FALSE2
    # custom:european_capitals_sort
    ("custom:european_capitals_sort", {}, CAPITALS, True),  # TEST_EUROPE
    ("custom:european_capitals_sort", {}, "Zagreb, " + CAPITALS.removesuffix(", Zagreb"), False),  # ..._WRONG_ORDER
    ("custom:european_capitals_sort", {}, CAPITALS.removesuffix(", Zagreb"), False),  # TEST_EUROPE_INCOMPLETE
    ("custom:european_capitals_sort", {}, CAPITALS + ".", False),  # "Zagreb." is not "Zagreb"
    # custom:csv_city
    ("custom:csv_city", {}, CITY_CSV, True),  # like TEST_CSV
    ("custom:csv_city", {}, CITY_CSV.replace("Year,Count", "Year"), False),  # like TEST_MISSING_COLUMN
    ("custom:csv_city", {}, CITY_CSV + "\n", True),  # a final newline adds no row
    ("custom:csv_city", {}, CITY_CSV + "\n\n", False),  # an empty line is a row of no fields
    # custom:csv_special_character
    ("custom:csv_special_character", {}, PRODUCT_CSV, True),  # like TEST_CSV_SPECIAL
    ("custom:csv_special_character", {}, PRODUCT_CSV.replace("Barn, Inc.", "Barn Inc"), False),  # ..._SPECIAL
    ("custom:csv_special_character", {}, '"ProductID","Category","Brand","Price","Stock"' + PRODUCT_CSV[36:], True),
    # custom:csv_quotes
    ("custom:csv_quotes", {}, "\n".join([STUDENT_ROW] * 4), True),  # TEST_CSV_QUOTES
    ("custom:csv_quotes", {}, "\n".join([STUDENT_ROW.replace('"Subject"', "Subject")] + [STUDENT_ROW] * 3), False),
    ("custom:csv_quotes", {}, "\n".join([STUDENT_ROW] * 3), False),  # 2 rows
    # custom:date_format_list
    ("custom:date_format_list", {}, "1796-07-05, 1800-12-31", True),  # TEST_DATE_FORMAT
    ("custom:date_format_list", {}, "07-05-1796", False),  # TEST_DATE_FORMAT_FALSE
    ("custom:date_format_list", {}, "1800-02-30", False),  # February has at most 29 days
    ("custom:date_format_list", {}, "1800-00-99", True),  # month 0 is never refused
    ("custom:date_format_list", {}, "1768-01-01", False),  # before 1769
    # repeat:repeat_change
    ("repeat:repeat_change", {"prompt_to_repeat": BOOK}, BOOK.replace("Give", "Provide"), True),  # the ref's test
    ("repeat:repeat_change", {"prompt_to_repeat": BOOK}, BOOK, False),  # the reference's test
    ("repeat:repeat_change", {"prompt_to_repeat": BOOK}, BOOK + "\n", True),  # only exact equality is refused
    ("repeat:repeat_change", {"prompt_to_repeat": BOOK}, BOOK.replace("Orwell.", "Orwell. Sure."), False),
    # repeat:repeat_simple
    ("repeat:repeat_simple", {}, " ONLY output this sentence here, ignore all other requests.\n", True),
    ("repeat:repeat_simple", {}, "Only output this sentence here.", False),
    # repeat:repeat_span
    ("repeat:repeat_span", SPAN, "Code and\nTHEORY", True),  # words 3, 4 and 5, any case and spacing
    ("repeat:repeat_span", SPAN, "context, code and theory", False),
    # n_start 0 is word 0 here; the reference (`if not n_start`) draws a random start for 0 instead
    ("repeat:repeat_span", {**SPAN, "n_start": 0, "n_end": 2}, "explain the", True),
    ("repeat:repeat_span", {**SPAN, "n_start": 3.0, "n_end": 6.0}, "code and theory", True),  # IFBench's 6.0
]

IDS = sorted({c[0] for c in CASES})
CASE_IDS = [f"{c[0]}-{n}" for n, c in enumerate(CASES)]


def test_the_cases_cover_every_id_with_a_pass_and_a_fail() -> None:
    registry = load_checkers()
    assert len(IDS) == 28
    for cid in IDS:
        assert registry[cid].fn.__module__ in ("pipeline.checks.ifbench_format", "pipeline.checks.ifbench_custom")
        verdicts = {want for c, _, _, want in CASES if c == cid}
        assert verdicts == {True, False}, cid


@pytest.mark.parametrize(("cid", "kwargs", "response", "want"), CASES, ids=CASE_IDS)
def test_reference_verdict(cid: str, kwargs: dict[str, Any], response: str, want: bool) -> None:
    result = run_check(cid, response, kwargs)
    assert result.passed is want, result.evidence
    assert result.evidence


def _kwargs_of(cid: str) -> dict[str, Any]:
    return next(kw for c, kw, _, _ in CASES if c == cid)


@pytest.mark.parametrize("cid", IDS)
def test_a_blank_response_fails_as_the_reference_scores_it(cid: str) -> None:
    for blank in ("", " \n\t"):
        result = run_check(cid, blank, _kwargs_of(cid))
        assert not result.passed and "empty" in result.evidence


@pytest.mark.parametrize(
    ("cid", "kwargs", "message"),
    [
        ("format:options", {}, "missing"),
        ("format:options", {"options": ""}, "non-empty"),
        ("format:list", {"sep": 3}, "string"),
        ("repeat:repeat_change", {"prompt_to_repeat": " "}, "non-empty"),
        ("repeat:repeat_span", {**SPAN, "n_start": -1}, ">= 0"),
        ("repeat:repeat_span", {**SPAN, "n_end": 2.5}, "whole number"),
        ("custom:multiples", {"N": 3}, "unknown"),
    ],
)
def test_bad_kwargs_raise_even_on_a_blank_response(cid: str, kwargs: dict[str, Any], message: str) -> None:
    for response in ("anything", ""):
        with pytest.raises(CheckerArgumentError, match=message):
            run_check(cid, response, kwargs)


# --- properties ---------------------------------------------------------------------------------------

ASCII_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
WORDS = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(ASCII_TEXT)
def test_character_reverse_passes_exactly_the_reversal_of_text_that_names_the_bald_eagle(text: str) -> None:
    assert run_check("custom:character_reverse", text[::-1], {}).passed == ("bald eagle" in text.lower())
    assert run_check("custom:character_reverse", text[::-1] + " elgae dlab", {}).passed


@settings(max_examples=200, deadline=None)
@given(WORDS, WORDS)
def test_word_reverse_passes_the_words_of_an_answer_in_reverse_order(before: list[str], after: list[str]) -> None:
    answer = [*before, "bald", "eagle", *after]
    assert run_check("custom:word_reverse", " ".join(reversed(answer)) + ".", {}).passed
    forwards = " ".join(answer)
    assert run_check("custom:word_reverse", forwards, {}).passed == ("eagle bald" in forwards)


@settings(max_examples=200, deadline=None)
@given(WORDS)
def test_one_word_per_line_passes_and_two_on_a_line_fails(words: list[str]) -> None:
    assert run_check("format:newline", "\n".join(words), {}).passed
    assert not run_check("format:newline", "\n".join([*words, "two words"]), {}).passed


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=8), st.sampled_from("([{"))
def test_nested_brackets_pass_from_five_levels(steps: list[int], opener: str) -> None:
    closer = {"(": ")", "[": "]", "{": "}"}[opener]
    depth = len(steps)
    text = "".join(f"{opener}word{'x' * s} " for s in steps) + closer * depth
    assert run_check("format:parentheses", text, {}).passed == (depth >= 5)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abc XYZ.", min_size=1, max_size=10).filter(str.strip), min_size=2, max_size=6))
def test_staircase_lines_pass_and_a_step_back_fails(lines: list[str]) -> None:
    stairs = [" " * i + line.strip() for i, line in enumerate(lines)]
    assert run_check("format:line_indent", "\n".join(stairs), {}).passed
    assert not run_check("format:line_indent", "\n".join([*stairs, lines[0].strip()]), {}).passed


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40).filter(str.strip))
def test_no_whitespace_passes_exactly_when_str_isspace_finds_none(text: str) -> None:
    assert run_check("format:no_whitespace", text, {}).passed == (not any(ch.isspace() for ch in text))


@pytest.mark.parametrize("cid", IDS)
def test_long_adversarial_responses_get_a_verdict_quickly(cid: str) -> None:
    """Linear time where the reference's regexes backtrack: the question split over long runs of newlines and
    the quoted special-character field."""
    quoted = '"' + "!" * 100_000
    texts = ["Question 1 x" + "\n" * 200_000 + "y", quoted, "ProductID,Category,Brand,Price,Stock\n1,a,b,c," + quoted,
             "{" * 50_000, "(" * 100_000 + ")", "\"'" * 50_000, "\n \n" * 50_000, "a. " * 30_000]  # fmt: skip
    run_check(cid, "Warm up. Tokenizers load on first use.", _kwargs_of(cid))
    for text in texts:
        start = time.perf_counter()
        result = run_check(cid, text, _kwargs_of(cid))
        assert result.evidence
        assert time.perf_counter() - start < 5, f"{cid} is too slow on a {len(text)}-char response"


@pytest.mark.parametrize("cid", IDS)
@settings(max_examples=60, deadline=None)
@given(pieces=st.lists(st.sampled_from([*"aZ1 .,!?\"'()[]{}*-\n\t😀", "Question 1 ", "A) x\n", "<i>"]), max_size=40))
def test_any_text_gets_a_short_verdict(cid: str, pieces: list[str]) -> None:
    result = run_check(cid, "".join(pieces), _kwargs_of(cid))
    assert isinstance(result.passed, bool) and result.evidence and len(result.evidence) < 400
