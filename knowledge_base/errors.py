"""The one error a knowledge-base directory raises (``knowledge_base.manifest`` hands it on, where callers import
it from)."""


class KBError(RuntimeError):
    """A knowledge-base directory is missing, mismatched or corrupt."""
