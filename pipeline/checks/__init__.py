"""The code checkers: small pure functions `check(response, **kwargs) -> CheckResult`, one module per
constraint family, registered by constraint id (`registry`), with the text tools they share (IFEval-exact
tokenizers, language identification, bounded patterns). Importing this package registers every checker.

The lowest wing above the records: the taxonomy validates its checker bindings against it, and verification
plans are scored with it."""

from pipeline.checks import (  # noqa: F401
    blocks,
    case,
    combination,
    counting,
    detectable,
    format,
    guards,
    guards_format,
    ifbench_counting,
    ifbench_custom,
    ifbench_format,
    ifbench_words,
    keywords,
    language,
    length,
    lexical_patterns,
    punctuation,
    rules,
    sentence_shapes,
    shapes,
    startend,
    structure,
    tables,
    words,
)
