"""OCR engines: the engine protocol, Tesseract (tesserocr / pytesseract) and RapidOCR, and the look plan."""
