"""Reading server answers: reasoning split, choices, YES/NO log-probabilities."""

from __future__ import annotations

import math

import pytest

from pipeline.llm.parsing import parse_choice, split_reasoning, yes_no_from_choice, yes_no_from_top_logprobs


@pytest.mark.parametrize(
    ("text", "reasoning", "answer"),
    [
        ("<think>add 2 and 2</think>4", "add 2 and 2", "4"),
        ("  <think>\nstep 1\nstep 2\n</think>\n\nThe answer is 4.", "step 1\nstep 2", "The answer is 4."),
        ("<think>cut off by max_tokens", "cut off by max_tokens", ""),
        ("The answer is 4.", None, "The answer is 4."),
        # the same split the verifier scores by: an unclosed block (here the outer one) ends the answer
        ("Use <think> tags like <think>x</think>", "tags like x", "Use"),
        ("<think></think>done", "", "done"),
    ],
    ids=["simple", "whitespace", "unclosed", "none", "not-leading", "empty-block"],
)
def test_split_reasoning(text: str, reasoning: str | None, answer: str) -> None:
    assert split_reasoning(text) == (reasoning, answer)


def test_parse_choice_prefers_the_servers_reasoning_field() -> None:
    choice = {"message": {"content": "4", "reasoning_content": "2+2"}, "finish_reason": "stop"}
    c = parse_choice(choice)
    assert (c.text, c.reasoning, c.finish_reason) == ("4", "2+2", "stop")


def test_parse_choice_reads_vllm_reasoning_field_and_think_blocks() -> None:
    assert parse_choice({"message": {"content": "4", "reasoning": "r"}}).reasoning == "r"
    c = parse_choice({"message": {"content": "<think>r</think>4", "reasoning": None}, "finish_reason": "length"})
    assert (c.text, c.reasoning, c.finish_reason) == ("4", "r", "length")
    assert parse_choice({"message": {"content": None}}).text == ""


def test_yes_no_sums_every_spelling() -> None:
    cands = [
        {"token": "Yes", "logprob": math.log(0.3)},
        {"token": " yes", "logprob": math.log(0.1)},
        {"token": "YES.", "logprob": math.log(0.1)},
        {"token": "No", "logprob": math.log(0.2)},
        {"token": "Maybe", "logprob": math.log(0.25)},
        {"token": "Yesterday", "logprob": math.log(0.05)},
    ]
    got = yes_no_from_top_logprobs(cands)
    assert math.exp(got.logprob_yes) == pytest.approx(0.5)
    assert math.exp(got.logprob_no) == pytest.approx(0.2)


def test_yes_no_counts_the_sampled_token_once() -> None:
    choice = {
        "logprobs": {
            "content": [
                {
                    "token": "NO",
                    "logprob": math.log(0.6),
                    "top_logprobs": [
                        {"token": "NO", "logprob": math.log(0.6)},
                        {"token": "Yes", "logprob": math.log(0.3)},
                    ],
                }
            ]
        }
    }
    got = yes_no_from_choice(choice)
    assert math.exp(got.logprob_no) == pytest.approx(0.6)
    assert math.exp(got.logprob_yes) == pytest.approx(0.3)


def test_yes_no_without_answer_tokens_is_minus_infinity() -> None:
    got = yes_no_from_top_logprobs([{"token": "Paris", "logprob": -0.1}])
    assert got.logprob_yes == -math.inf and got.logprob_no == -math.inf
    assert yes_no_from_choice({"logprobs": None}).logprob_yes == -math.inf
