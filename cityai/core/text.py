"""Text input rules shared by every module: one Unicode form (NFC), no control characters."""

from __future__ import annotations

import unicodedata

from cityai.core.errors import invalid


def nfc(value: str | None) -> str | None:
    """Vietnamese text arrives composed and decomposed; store one form (NFC), trimmed."""
    if value is None:
        return None
    value = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        raise invalid(("Văn bản chứa ký tự điều khiển.", "The text contains control characters."))
    return value


def required_text(value: str | None, field: str, max_len: int) -> str:
    value = nfc(value)
    if not value:
        raise invalid((f"Trường '{field}' không được để trống.", f"'{field}' must not be empty."), field=field)
    if len(value) > max_len:
        raise invalid((f"Trường '{field}' dài quá {max_len} ký tự.", f"'{field}' exceeds {max_len} characters."),
                      field=field)
    return value
