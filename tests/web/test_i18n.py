"""The Vietnamese catalog covers every message of the web interface, and only those.

Messages are extracted the way ``pybabel extract -F babel.cfg`` does (templates with the jinja2
extractor, Python sources with the python one); ``cityai/web/i18n/vi.po`` must translate each of them
and carry no entry that nothing uses any more.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import cityai
from cityai.web import i18n

PACKAGE = Path(cityai.__file__).resolve().parent
ROOT = PACKAGE.parent
VI_PO = PACKAGE / "web" / "i18n" / "vi.po"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%s|%d")


def _method_map() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """babel.cfg, read with Babel's own parser, relative to the package folder."""
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    prefix = "cityai/"
    for pattern, _method in method_map:
        assert pattern.startswith(prefix), pattern
    return ([(p[len(prefix):], m) for p, m in method_map],
            {p[len(prefix):]: o for p, o in options_map.items()})


def extracted() -> dict[str, list[str]]:
    """msgid -> the files that use it."""
    method_map, options_map = _method_map()
    found: dict[str, list[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(PACKAGE), method_map=method_map, options_map=options_map):
        msgid = message if isinstance(message, str) else message[0]  # plurals: the singular is the id
        found.setdefault(msgid, []).append(filename)
    return found


@pytest.fixture(scope="module")
def catalog():
    with VI_PO.open("rb") as fh:
        return read_po(fh, locale="vi")


@pytest.fixture(scope="module")
def used() -> dict[str, list[str]]:
    return extracted()


def test_babel_cfg_covers_templates_and_python():
    method_map, options_map = _method_map()
    methods = dict(method_map)
    assert methods["**/templates/**.html"] == "jinja2"
    assert methods["**.py"] == "python"
    assert "jinja2.ext.i18n" in options_map["**/templates/**.html"]["extensions"]


def test_extraction_finds_the_templates_messages(used):
    assert len(used) > 50
    for msgid in ("Log in", "Log out", "Agencies", "Audit log", "My tokens", "My API tokens", "Jobs"):
        assert msgid in used, msgid
    assert any(f.endswith("login.html") for f in used["Log in"])


def test_po_header(catalog):
    text = VI_PO.read_text(encoding="utf-8")
    assert '"Language: vi\\n"' in text
    assert '"Content-Type: text/plain; charset=UTF-8\\n"' in text
    assert str(catalog.locale) == "vi" and catalog.charset.lower() == "utf-8"
    assert catalog.plural_forms == "nplurals=1; plural=0;"


def test_every_message_has_a_vietnamese_translation(catalog, used):
    missing = sorted(m for m in used if m not in catalog or not catalog[m].string)
    assert not missing, f"add these to {VI_PO.relative_to(ROOT)}: {missing}"
    for msgid in used:
        msgstr = catalog[msgid].string
        text = msgstr if isinstance(msgstr, str) else msgstr[0]
        assert text.strip(), msgid
        # Placeholders survive translation, or rendering raises.
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(msgid)), msgid
        assert not catalog[msgid].fuzzy, f"fuzzy translation: {msgid}"


def test_no_obsolete_entries(catalog, used):
    stale = sorted(m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and
                   (m.id if isinstance(m.id, str) else m.id[0]) not in used)
    assert not stale, f"no template uses these any more; remove them from vi.po: {stale}"
    assert not catalog.obsolete, f"#~ entries left in vi.po: {list(catalog.obsolete)}"


def test_catalog_compiles_without_errors(catalog):
    from babel.messages.checkers import num_plurals, python_format

    for message in catalog:
        if message.id:
            for checker in (num_plurals, python_format):
                checker(catalog, message)  # raises TranslationError on a broken entry


def test_key_terms_use_the_government_register(catalog):
    expected = {
        "Log in": "Đăng nhập",
        "Log out": "Đăng xuất",
        "Agencies": "Đơn vị",
        "Audit log": "Nhật ký truy vết",
        "My tokens": "Mã truy cập của tôi",
        "My API tokens": "Mã truy cập API của tôi",
        "Jobs": "Công việc",
        "Password": "Mật khẩu",
        "Users": "Người dùng",
    }
    for msgid, msgstr in expected.items():
        assert catalog[msgid].string == msgstr, msgid


def test_vietnamese_text_is_composed_unicode():
    import unicodedata

    text = VI_PO.read_text(encoding="utf-8")
    assert unicodedata.normalize("NFC", text) == text


@pytest.fixture
def loaded_catalogs():
    """The catalogs as the running app loads them; the locale is restored afterwards."""
    previous = i18n.get_locale()
    i18n.load_catalogs([str(VI_PO.parent)])
    yield
    i18n.set_locale(previous)


def test_i18n_renders_vietnamese_and_english(loaded_catalogs):
    i18n.set_locale("vi")
    assert i18n.gettext_("Log in") == "Đăng nhập"
    assert i18n.gettext_("Audit log") == "Nhật ký truy vết"
    assert i18n.pick(("Đơn vị", "Agencies")) == "Đơn vị"
    assert i18n.gettext_("A message nobody translated") == "A message nobody translated"
    i18n.set_locale("en")
    assert i18n.gettext_("Log in") == "Log in"
    assert i18n.pick(("Đơn vị", "Agencies")) == "Agencies"
    i18n.set_locale("fr")  # unknown: the default, Vietnamese
    assert i18n.get_locale() == "vi" and i18n.gettext_("Log out") == "Đăng xuất"


def test_templates_render_translated(loaded_catalogs):
    from cityai.web.templating import build_env

    env = build_env([str(PACKAGE / "web" / "templates")])
    template = env.from_string(
        '{{ _("My API tokens") }} | '
        '{{ _("Programs use these tokens to call the API for you. Send one as: %(header)s.", '
        'header="Authorization: Bearer <token>") }}')
    i18n.set_locale("vi")
    vi = template.render()
    assert vi.startswith("Mã truy cập API của tôi | ")
    assert "Authorization: Bearer &lt;token&gt;" in vi and "<token>" not in vi
    i18n.set_locale("en")
    assert template.render().startswith("My API tokens | Programs use these tokens")


def test_negotiation():
    assert i18n.negotiate("en", "vi", "vi") == "en"  # the query wins
    assert i18n.negotiate(None, "en", "vi") == "en"  # then the cookie
    assert i18n.negotiate("xx", None, "en-US,en;q=0.9") == "en"  # then the header
    assert i18n.negotiate(None, None, "fr-FR") == "vi"
    assert i18n.negotiate(None, None, None) == "vi"
