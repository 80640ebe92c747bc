"""Parsing: card text and layout in, a Contact out (one module per field family, vocabularies in data/).

Imports neither the store nor follow-ups nor outputs.
"""
