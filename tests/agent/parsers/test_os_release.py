import pytest

from agent.parsers import ParseError, os_release

DEBIAN_12 = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

# Arch Linux: rolling, no VERSION_ID; BUILD_ID instead.
ARCH = """\
NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
ANSI_COLOR="38;2;23;147;209"
LOGO=archlinux-logo
"""


def test_debian_12():
    fields = os_release.parse(DEBIAN_12)
    assert fields["ID"] == "debian"
    assert fields["VERSION_CODENAME"] == "bookworm"
    assert os_release.name(fields) == "Debian GNU/Linux 12 (bookworm)"
    assert os_release.version(fields) == "12"


def test_rolling_release_has_build_id_only():
    fields = os_release.parse(ARCH)
    assert os_release.name(fields) == "Arch Linux"
    assert os_release.version(fields) == "rolling"


def test_comments_blank_lines_single_quotes_and_escapes():
    text = '# comment\n\nNAME=\'My OS\'\nPRETTY_NAME="My \\"best\\" OS \\$1"\n'
    fields = os_release.parse(text)
    assert fields == {"NAME": "My OS", "PRETTY_NAME": 'My "best" OS $1'}


def test_defaults_when_keys_are_missing():
    # os-release(5): NAME defaults to "Linux"; PRETTY_NAME falls back to NAME + VERSION.
    assert os_release.name({}) == "Linux"
    assert os_release.name({"NAME": "Foo", "VERSION": "3 (x)"}) == "Foo 3 (x)"
    assert os_release.version({}) == ""


def test_line_without_equals_names_the_line():
    with pytest.raises(ParseError, match="line 2: expected KEY=value"):
        os_release.parse('NAME="x"\nthis is not an assignment\n')


def test_unbalanced_quote_names_the_line():
    with pytest.raises(ParseError, match='line 1: no closing "'):
        os_release.parse('NAME="Debian\n')


def test_unquoted_value_with_spaces_is_kept_and_other_backslashes_are_literal():
    # Invalid per the spec but seen on hand-edited hosts.
    fields = os_release.parse('NAME=Foo Linux\nPRETTY_NAME="C:\\temp"\n')
    assert fields == {"NAME": "Foo Linux", "PRETTY_NAME": "C:\\temp"}
