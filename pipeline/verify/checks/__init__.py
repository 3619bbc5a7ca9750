"""Code checkers, one module per constraint family; importing this package registers all of them."""

from pipeline.verify.checks import (  # noqa: F401
    case,
    combination,
    counting,
    detectable,
    format,
    guards,
    guards_format,
    keywords,
    language,
    length,
    punctuation,
    rules,
    startend,
    structure,
    words,
)
