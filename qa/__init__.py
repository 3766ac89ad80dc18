"""Verbatim: cited, word-for-word answers from a folder of documents, offline."""

__version__ = "0.1.0"
