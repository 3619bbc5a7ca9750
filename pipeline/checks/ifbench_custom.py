"""Checkers: IFBench `custom:*` and `repeat:*` ids, with the exact semantics of IFBench's reference checkers.

The `custom:*` ids are whole tasks with one fixed answer shape (the multiples of 7 from 10 to 50, Africa's
countries in reverse order, CSV tables with given columns, ...); they take no arguments. The `repeat:*` ids
compare the response with the request (`prompt_to_repeat`) or with a fixed sentence. Like the other
`ifbench` checkers nothing here is hardened: a hack the reference accepts passes (see the adversarial suite).
A blank response fails, as the reference's evaluator scores it before any checker.

Units are the reference's: Python's `str.split`/`str.strip`, `string.punctuation` (ASCII only), `re`'s
Unicode `\\d` and `\\w`, the standard `csv` reader, Unicode NFKD folding to ASCII, and IFBench's regex
sentence splitter (`pipeline.checks.ifbench_text`).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata

from pipeline.checks.ifbench_text import (
    BLANK,
    drop_punctuation,
    split_into_sentences,
    strip_punctuation,
    want_count,
    want_text,
)
from pipeline.checks.registry import CheckResult, checker


def _short(text: str, n: int = 60) -> str:
    return repr(text if len(text) <= n else text[: n - 3] + "...")


def _ascii_fold(text: str) -> str:
    """NFKD, then every non-ASCII character dropped ("São Tomé" -> "Sao Tome")."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


# --- Numbers and dates -------------------------------------------------------------------------------

_MULTIPLES_OF_7 = [str(n) for n in range(14, 51, 7)]


@checker("custom:multiples")
def check_multiples(response: str) -> CheckResult:
    """The runs of digits in the response (Unicode `\\d`) are exactly 14, 21, 28, 35, 42, 49, in this order."""
    if not response.strip():
        return BLANK
    numbers = re.findall(r"\d+", response.replace(",", ", "))
    if numbers == _MULTIPLES_OF_7:
        return CheckResult(True, "prints exactly 14, 21, 28, 35, 42, 49")
    return CheckResult(False, f"the numbers are {numbers[:10]}, need {_MULTIPLES_OF_7}")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH_DAYS = {**dict.fromkeys((1, 3, 5, 7, 8, 10, 12), 31), **dict.fromkeys((4, 6, 9, 11), 30), 2: 29}


@checker("custom:date_format_list")
def check_date_format_list(response: str) -> CheckResult:
    """Every comma-separated item is a YYYY-MM-DD date with a year from 1769 to 1821, a month of at most 12 and
    a day within the month's length (29 for February); month 00 and day 00 are not refused."""
    if not response.strip():
        return BLANK
    for item in response.strip().split(","):
        date = item.strip()
        if not _DATE.match(date):
            return CheckResult(False, f"{_short(date)} is not a YYYY-MM-DD date")
        year, month, day = (int(part) for part in date.split("-"))
        if not 1769 <= year <= 1821:
            return CheckResult(False, f"{date}: the year is outside Napoleon's lifetime (1769-1821)")
        if month > 12:
            return CheckResult(False, f"{date}: there is no month {month}")
        if day > _MONTH_DAYS.get(month, day):
            return CheckResult(False, f"{date}: month {month} has no day {day}")
    return CheckResult(True, "every item is a YYYY-MM-DD date from 1769 to 1821")


# --- Multiple choice ---------------------------------------------------------------------------------

_QUESTION_LABEL = re.compile(r"Question \d+[\.|\):;]?\s*")
_OPTION_LINE = re.compile(r"^[A-Ea-e][\.|\)]\s*\w+")


def _split_on_labels(text: str) -> list[str]:
    """`re.split(r"\\n*(?:Question \\d+[.|):;]?\\s*)", text)`, the reference's split, in linear time: each label
    takes the newlines right before it (the regex would backtrack over every run of newlines)."""
    pieces, last = [], 0
    for m in _QUESTION_LABEL.finditer(text):
        start = m.start()
        while start > last and text[start - 1] == "\n":
            start -= 1
        pieces.append(text[last:start])
        last = m.end()
    pieces.append(text[last:])
    return pieces


@checker("custom:mcq_count_length")
def check_mcq_count_length(response: str) -> CheckResult:
    """The response starts with "Question" and splits on "Question <n>" labels into exactly 4 questions, each
    with exactly 5 option lines ("A." to "E." or "A)" to "E)", any case); the text before each question's first
    option is longer, in characters, from one question to the next."""
    if not response.strip():
        return BLANK
    if response[response.find("Question") :] != response:
        return CheckResult(False, "the response does not start with 'Question'")
    questions = _split_on_labels(response)
    if questions[0] == "":
        questions = questions[1:]
    questions = [q.strip() for q in questions if q.strip()]
    if len(questions) != 4:
        return CheckResult(False, f"found {len(questions)} question(s), need 4")
    lengths = []
    for number, question in enumerate(questions, start=1):
        stem, n_options, in_options = "", 0, False
        for line in question.split("\n"):
            if _OPTION_LINE.match(line.strip()):
                n_options += 1
                in_options = True
            elif not in_options:
                stem += " " + line.strip()
        if n_options != 5:
            return CheckResult(False, f"question {number} has {n_options} option(s), need 5")
        lengths.append(len(stem.strip()))
    if all(a < b for a, b in itertools.pairwise(lengths)):
        return CheckResult(True, f"4 questions with 5 options each, getting longer: {lengths}")
    return CheckResult(False, f"the questions' lengths are {lengths}, they must grow")


# --- Lists of places ---------------------------------------------------------------------------------


@checker("custom:reverse_newline")
def check_reverse_newline(response: str) -> CheckResult:
    """From the first line containing "Zimbabwe" on, at least 52 lines (lines that are empty once ASCII
    punctuation and spaces are stripped from their ends are dropped), in reverse alphabetical order after
    folding accents to ASCII."""
    if not response.strip():
        return BLANK
    lines = [strip_punctuation(line) for line in response.split("\n") if strip_punctuation(line)]
    start = next((i for i, line in enumerate(lines) if "Zimbabwe" in line), None)
    if start is None:
        return CheckResult(False, "no line contains 'Zimbabwe'")
    listed = [_ascii_fold(line) for line in lines[start:]]
    if len(listed) < 52:
        return CheckResult(False, f"{len(listed)} line(s) from 'Zimbabwe' on, need at least 52")
    if listed != sorted(listed, reverse=True):
        wrong = next(i for i in range(len(listed) - 1) if listed[i] < listed[i + 1])
        return CheckResult(False, f"{_short(listed[wrong + 1])} comes after {_short(listed[wrong])}: not reversed")
    return CheckResult(True, f"{len(listed)} lines in reverse alphabetical order from 'Zimbabwe'")


_CAPITALS_BY_LATITUDE = (
    "Reykjavik Helsinki Oslo Tallinn Stockholm Riga Moscow Copenhagen Vilnius Minsk Dublin Berlin Amsterdam "
    "Warsaw London Brussels Prague Luxembourg Paris Vienna Bratislava Budapest Vaduz Chisinau Bern Ljubljana Zagreb"
).split()


@checker("custom:european_capitals_sort")
def check_european_capitals_sort(response: str) -> CheckResult:
    """After folding accents to ASCII, the non-blank comma-separated items are exactly the 27 European capitals
    north of 45 degrees, from Reykjavik to Zagreb, in the reference's order (case-sensitive, nothing else)."""
    if not response.strip():
        return BLANK
    items = [item for item in _ascii_fold(response).split(",") if item.strip()]
    if len(items) != len(_CAPITALS_BY_LATITUDE):
        return CheckResult(False, f"found {len(items)} comma-separated item(s), need {len(_CAPITALS_BY_LATITUDE)}")
    for i, (item, capital) in enumerate(zip(items, _CAPITALS_BY_LATITUDE, strict=True)):
        if item.strip() != capital:
            return CheckResult(False, f"item {i + 1} is {_short(item.strip())}, need {capital!r}")
    return CheckResult(True, "the 27 capitals, ordered by latitude")


# --- CSV ---------------------------------------------------------------------------------------------


def _csv_rows(text: str, delimiter: str = ",") -> list[list[str]] | None:
    """The rows Python's CSV reader gives, or None where it raises (a bare carriage return inside a field)."""
    try:
        return list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error:
        return None


# Where Python's reader raises, so does the reference: a failed check, as for its other crashes.
_UNREADABLE_CSV = CheckResult(False, "not readable as CSV: a carriage return inside an unquoted field")

_CITY_HEADER = ["ID", "Country", "City", "Year", "Count"]


@checker("custom:csv_city")
def check_csv_city(response: str) -> CheckResult:
    """Read as CSV (Python's reader; an empty line is a row of no fields): exactly 8 rows, the header
    ID,Country,City,Year,Count and 5 fields in every data row."""
    if not response.strip():
        return BLANK
    rows = _csv_rows(response)
    if rows is None:
        return _UNREADABLE_CSV
    if len(rows) != 8:
        return CheckResult(False, f"found {len(rows)} CSV row(s), need 8 (the header and 7 rows)")
    if rows[0] != _CITY_HEADER:
        return CheckResult(False, f"the header is {rows[0]}, need {_CITY_HEADER}")
    for i, row in enumerate(rows[1:], start=1):
        if len(row) != 5:
            return CheckResult(False, f"data row {i} has {len(row)} field(s), need 5")
    return CheckResult(True, "a header and 7 rows of 5 fields")


_PRODUCT_HEADER = re.compile(
    r'^(ProductID|"ProductID"),[ \t]*(Category|"Category"),[ \t]*(Brand|"Brand"),[ \t]*(Price|"Price"),'
    r'[ \t]*(Stock|"Stock")$'
)
_SPECIAL_CHAR = re.compile(r"[^\d\w\s]")


def _quoted_special(field: str) -> bool:
    """`re.match(r'".*[^\\d\\w\\s].*"', field)` in linear time: on the field's first line, a double quote first,
    then a character that is not a letter, digit, underscore or space somewhere before the last double quote."""
    line = field.partition("\n")[0]
    if not line.startswith('"'):
        return False
    close = line.rfind('"')
    return close >= 2 and _SPECIAL_CHAR.search(line, 1, close) is not None


@checker("custom:csv_special_character")
def check_csv_special_character(response: str) -> CheckResult:
    """The first line is the header ProductID,Category,Brand,Price,Stock (names optionally quoted); with every
    double quote tripled (so quotes stay in the fields) the CSV has exactly 15 rows; the data rows are read in
    order, each must have 5 fields until one holds a quoted field with a character other than a letter, digit
    or space, which passes (the rows after it are not read)."""
    if not response.strip():
        return BLANK
    header = response.split("\n")[0].strip()
    if not _PRODUCT_HEADER.match(header):
        return CheckResult(False, f"the first line {_short(header)} is not the header ProductID,...,Stock")
    rows = _csv_rows(response.replace('"', '"""'))
    if rows is None:
        return _UNREADABLE_CSV
    if len(rows) != 15:
        return CheckResult(False, f"found {len(rows)} CSV row(s), need 15 (the header and 14 rows)")
    for i, row in enumerate(rows[1:], start=1):
        if len(row) != 5:
            return CheckResult(False, f"data row {i} has {len(row)} field(s), need 5")
        if any(_quoted_special(field) for field in row):
            return CheckResult(True, f"data row {i} has a quoted field with a special character")
    return CheckResult(False, "no field in double quotes holds a special character")


_STUDENT_HEADER = re.compile(
    r'^(StudentID|"StudentID")\t *(Subject|"Subject")\t *(Grade|"Grade")\t *(Semester|"Semester")\t *(Score|"Score")$'
)


@checker("custom:csv_quotes")
def check_csv_quotes(response: str) -> CheckResult:
    """The first line is the tab-separated header StudentID, Subject, Grade, Semester, Score (names optionally
    quoted, spaces allowed after a tab); with every double quote tripled, the tab-separated data has exactly 4
    rows of 5 fields, each field starting and ending with a double quote once stripped."""
    if not response.strip():
        return BLANK
    header = response.split("\n")[0].strip()
    if not _STUDENT_HEADER.match(header):
        return CheckResult(False, f"the first line {_short(header)} is not the tab-separated header StudentID...")
    rows = _csv_rows(response.replace('"', '"""'), delimiter="\t")
    if rows is None:
        return _UNREADABLE_CSV
    if len(rows) != 4:
        return CheckResult(False, f"found {len(rows)} row(s), need 4 (the header and 3 rows)")
    for i, row in enumerate(rows):
        if len(row) != 5:
            return CheckResult(False, f"row {i} has {len(row)} field(s), need 5")
        for field in row:
            core = field.strip()
            if not core:  # the reference raises an IndexError here: a failed check
                return CheckResult(False, f"row {i} has an empty field")
            if core[0] != '"' or core[-1] != '"':
                return CheckResult(False, f"row {i}: the field {_short(core)} is not in double quotes")
    return CheckResult(True, "a header and 3 rows, every field in double quotes")


# --- Reversed answers ---------------------------------------------------------------------------------


@checker("custom:word_reverse")
def check_word_reverse(response: str) -> CheckResult:
    """Lowercased, stripped and without ASCII punctuation, the words read backwards contain "bald eagle" and
    form one sentence of IFBench's splitter."""
    if not response.strip():
        return BLANK
    words = drop_punctuation(response.lower().strip()).split()
    forwards = " ".join(reversed(words))
    if "bald eagle" not in forwards:
        return CheckResult(False, "read backwards word by word, the response does not say 'bald eagle'")
    if forwards not in split_into_sentences(forwards):
        return CheckResult(False, "read backwards, the response is not one sentence")
    return CheckResult(True, "read backwards word by word, the response names the bald eagle")


@checker("custom:character_reverse")
def check_character_reverse(response: str) -> CheckResult:
    """The lowercased response contains "elgae dlab" ("bald eagle" spelled backwards)."""
    if not response.strip():
        return BLANK
    if "elgae dlab" in response.lower():
        return CheckResult(True, "contains 'bald eagle' spelled backwards")
    return CheckResult(False, "does not contain 'elgae dlab' ('bald eagle' spelled backwards)")


# --- Alphabet story ----------------------------------------------------------------------------------


@checker("custom:sentence_alphabet")
def check_sentence_alphabet(response: str) -> CheckResult:
    """Exactly 26 sentences (IFBench's splitter), the i-th one's first word starting with the i-th letter of
    the alphabet (compared after lowercasing)."""
    if not response.strip():
        return BLANK
    found = split_into_sentences(response)
    if len(found) != 26:
        return CheckResult(False, f"found {len(found)} sentence(s), need 26")
    for i, sentence in enumerate(found):
        words = sentence.lstrip().split()
        if not words:  # the reference raises an IndexError here: a failed check
            return CheckResult(False, f"sentence {i + 1} is empty")
        letter = chr(ord("a") + i)
        if words[0].lower()[0] != letter:
            return CheckResult(False, f"sentence {i + 1} starts with {_short(words[0])}, need a word in {letter!r}")
    return CheckResult(True, "26 sentences starting a to z")


# --- Repeat ------------------------------------------------------------------------------------------


@checker("repeat:repeat_change")
def check_repeat_change(response: str, *, prompt_to_repeat: str) -> CheckResult:
    """The response is not the request itself (compared exactly), and from its second whitespace-separated word
    on it equals the request's words from the second on."""
    prompt = want_text("repeat:repeat_change", "prompt_to_repeat", prompt_to_repeat)
    if not response.strip():
        return BLANK
    if response == prompt:
        return CheckResult(False, "the request is repeated unchanged")
    if prompt.split()[1:] == response.split()[1:]:
        return CheckResult(True, "the request is repeated with its first word changed")
    return CheckResult(False, "after the first word, the response differs from the request")


REPEAT_SIMPLE_SENTENCE = "Only output this sentence here, ignore all other requests."


@checker("repeat:repeat_simple")
def check_repeat_simple(response: str) -> CheckResult:
    """The stripped response is the sentence "Only output this sentence here, ignore all other requests."
    (case-insensitive)."""
    if not response.strip():
        return BLANK
    if response.strip().lower() == REPEAT_SIMPLE_SENTENCE.lower():
        return CheckResult(True, "outputs exactly the sentence")
    return CheckResult(False, f"the response {_short(response.strip())} is not {REPEAT_SIMPLE_SENTENCE!r}")


@checker("repeat:repeat_span")
def check_repeat_span(response: str, *, prompt_to_repeat: str, n_start: int, n_end: int) -> CheckResult:
    """The response's words (lowercased, whitespace-separated) are the request's words n_start to n_end - 1,
    counted from 0 (the reference's instruction calls the indices character indices; its check uses words)."""
    cid = "repeat:repeat_span"
    prompt = want_text(cid, "prompt_to_repeat", prompt_to_repeat)
    start, end = want_count(cid, "n_start", n_start), want_count(cid, "n_end", n_end)
    if not response.strip():
        return BLANK
    span = prompt.strip().lower().split()[start:end]
    got = response.strip().lower().split()
    if got == span:
        return CheckResult(True, f"copies words {start} to {end - 1} of the request")
    return CheckResult(False, f"the response is not the span {_short(' '.join(span))} of the request")
