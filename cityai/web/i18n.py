"""Translations: gettext catalogs (``<locale>.po``) read with Babel; Vietnamese first, English second.

Template text is written in English as the message id and translated in ``vi.po``; English needs
no catalog. Catalogs are compiled in memory when the app starts, so there is no build step and the
``.po`` files are the single source of truth. Service-layer messages are (vi, en) pairs instead.
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
LOCALE_NAMES = {"vi": "Tiếng Việt", "en": "English"}

_current: ContextVar[str] = ContextVar("cityai_locale", default=DEFAULT_LOCALE)
_catalogs: dict[str, gettext.NullTranslations] = {"en": gettext.NullTranslations()}


def load_catalogs(dirs: list[str]) -> None:
    merged: dict[str, gettext.NullTranslations] = {"en": gettext.NullTranslations()}
    for locale in LOCALES:
        if locale == "en":
            continue
        trans: gettext.NullTranslations | None = None
        for d in dirs:
            po = Path(d) / f"{locale}.po"
            if not po.exists():
                continue
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
            buf = io.BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            t = gettext.GNUTranslations(buf)
            if trans is None:
                trans = t
            else:
                trans.add_fallback(t)
        merged[locale] = trans or gettext.NullTranslations()
    _catalogs.clear()
    _catalogs.update(merged)


def set_locale(locale: str) -> None:
    _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def get_locale() -> str:
    return _current.get()


def gettext_(message: str) -> str:
    return _catalogs.get(get_locale(), _catalogs["en"]).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return _catalogs.get(get_locale(), _catalogs["en"]).ngettext(singular, plural, n)


def pick(text: tuple[str, str] | str | None) -> str:
    """Choose from a (vi, en) pair by the current locale."""
    if text is None or isinstance(text, str):
        return text or ""
    return text[1] if get_locale() == "en" else text[0]


def negotiate(query_lang: str | None, cookie_lang: str | None, accept_language: str | None,
              default: str = DEFAULT_LOCALE) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate in LOCALES:
            return candidate  # type: ignore[return-value]
    if accept_language:
        first = accept_language.split(",")[0].split(";")[0].strip().lower()
        if first.startswith("en"):
            return "en"
        if first.startswith("vi"):
            return "vi"
    return default
