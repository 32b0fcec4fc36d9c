"""/etc/ntp.conf: server and pool lines, comments, options, a server without a name."""

from agent.parsers import macos_ntp_conf


def test_ntp_conf() -> None:
    text = (
        "# set by systemsetup\nserver ntp1.corp.example.com iburst\nserver\npool 2.pool.ntp.org\n"
    )
    parsed = macos_ntp_conf.parse(text)
    assert parsed.value == ("ntp1.corp.example.com", "2.pool.ntp.org")
    assert parsed.warnings == 1
