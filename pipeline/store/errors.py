"""The store's errors: which ones are the user's to fix (exit 2) and which the files' (exit 1)."""

from __future__ import annotations

from pipeline.errors import ComplexifyError, UserInputError


class StoreError(ComplexifyError):
    """The output folder is missing, inconsistent or not writable; the message names the file."""


class CatalogBusyError(StoreError):
    """Another process is rebuilding the catalog and did not finish within the timeout."""


class RunNotFoundError(UserInputError):
    """No run matches the requested output root or fingerprint."""


class DamagedBatchError(StoreError):
    """A done batch's shard is missing or no longer matches its manifest; the message names batch and file.

    Exit code 1, not 2: the command line was valid and nothing in it can fix the files; the cure is to
    resume the run (`complexify run` with the same config), which sets the batch aside and redoes it.
    """
