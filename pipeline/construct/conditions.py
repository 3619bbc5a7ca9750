"""Selection conditions whose truth is computed when the instruction is made, so the correct branch is known."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.models import Condition, JsonScalar

WORDS = [
    "river", "lantern", "orchard", "violet", "harbor", "meadow", "quartz", "saddle", "thimble", "compass",
    "glacier", "pepper", "falcon", "ribbon", "canyon", "marble", "biscuit", "tundra", "anchor", "walnut",
    "cobalt", "pillow", "summit", "jasmine", "beetle", "cradle", "dolphin", "ember", "fossil", "gravel",
]  # fmt: skip


@dataclass(frozen=True)
class ConditionDraw:
    """A sampled condition plus every value it could take (one Selection branch each)."""

    condition: Condition
    outcomes: list[str]


def _yes_no(kind: str, claim: str, truth: bool, facts: dict[str, JsonScalar]) -> ConditionDraw:
    return ConditionDraw(
        Condition(kind=kind, text=f"check whether {claim}", value="yes" if truth else "no", facts=facts),
        ["yes", "no"],
    )


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def parity(rng: random.Random) -> ConditionDraw:
    n = rng.randint(11, 999)
    return _yes_no("parity", f"the number {n} is even", n % 2 == 0, {"n": n})


def divisibility(rng: random.Random) -> ConditionDraw:
    d = rng.choice([3, 4, 6, 7, 9])
    # Bias toward divisible numbers so both outcomes are common.
    n = d * rng.randint(3, 120) + (0 if rng.random() < 0.5 else rng.randint(1, d - 1))
    return _yes_no("divisibility", f"{n} is divisible by {d}", n % d == 0, {"n": n, "d": d})


def primality(rng: random.Random) -> ConditionDraw:
    n = rng.randint(20, 200)
    return _yes_no("primality", f"{n} is a prime number", _is_prime(n), {"n": n})


def comparison(rng: random.Random) -> ConditionDraw:
    a, b = rng.sample(range(100, 9999), 2)
    x, y = a * 7, b * 3
    return _yes_no("comparison", f"7 times {a} is greater than 3 times {b}", x > y, {"a": a, "b": b})


def letter_in_word(rng: random.Random) -> ConditionDraw:
    word = rng.choice(WORDS)
    letter = rng.choice("aeiorstnlm")
    return _yes_no(
        "letter_in_word",
        f"the word '{word}' contains the letter '{letter}'",
        letter in word,
        {"word": word, "letter": letter},
    )


def alphabetical(rng: random.Random) -> ConditionDraw:
    w1, w2 = rng.sample(WORDS, 2)
    return _yes_no(
        "alphabetical", f"'{w1}' comes before '{w2}' in alphabetical order", w1 < w2, {"first": w1, "second": w2}
    )


def weekend(rng: random.Random) -> ConditionDraw:
    day = dt.date(2001, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 30))
    text = f"{day.strftime('%B')} {day.day}, {day.year} is a Saturday or a Sunday"
    return _yes_no("weekend", text, day.weekday() >= 5, {"date": day.isoformat()})


def remainder(rng: random.Random) -> ConditionDraw:
    n = rng.randint(20, 999)
    r = n % 3
    return ConditionDraw(
        Condition(
            kind="remainder", text=f"work out the remainder when {n} is divided by 3", value=str(r), facts={"n": n}
        ),
        ["0", "1", "2"],
    )


BINARY: list[Callable[[random.Random], ConditionDraw]] = [
    parity, divisibility, primality, comparison, letter_in_word, alphabetical, weekend,
]  # fmt: skip
MULTIWAY: list[Callable[[random.Random], ConditionDraw]] = [remainder]


def outcome_intros(condition: Condition, branches: int) -> list[tuple[str, str]]:
    """How the instruction introduces each outcome of a condition ("If so", "Otherwise", ...)."""
    if branches == 2:
        return [("yes", "If so"), ("no", "Otherwise")]
    return [(str(r), f"If it is {r}" if r else "If the remainder is 0") for r in range(branches)]


def draw_condition(rng: random.Random, branches: int) -> ConditionDraw:
    """Sample a condition with `branches` possible outcomes (2 or 3)."""
    pool = BINARY if branches == 2 else MULTIWAY
    return rng.choice(pool)(rng)
