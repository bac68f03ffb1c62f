"""The documents module: intake, OCR, ND30 structure, classification, personal data, archive and search."""
