"""Reading: photo files in, card text out (files, decode, preprocess, OCR, QR) and the per-photo pipeline.

Imports neither the store nor follow-ups nor outputs.
"""
