"""Pure parsers: one module per source format. See README.md for the rule."""


class ParseError(ValueError):
    """The input is not in the expected format; the message says where (line or key)."""
