"""`ifconfig -a` of both fixture Macs and garbled lines."""

from pathlib import Path

from agent.parsers import macos_ifconfig

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
MACBOOK = HOSTS / "sim-macos14-macbook"
IMAC = HOSTS / "sim-macos12-intel-imac"


def test_ifconfig_ethernet() -> None:
    parsed = macos_ifconfig.parse((IMAC / "ifconfig").read_text())
    assert parsed.warnings == 0
    by_name = {i.name: i for i in parsed.value}
    en0 = by_name["en0"]
    assert (en0.mac, en0.mtu, en0.speed_mbps, en0.duplex) == (
        "38:c9:86:4e:2a:17",
        1500,
        1000,
        "full",
    )
    assert (en0.admin_up, en0.carrier, en0.oper_state) == (True, True, "up")
    assert en0.addresses == ("fe80::8f2:3c1d:7a4e:b051/64", "10.20.30.45/24")
    assert en0.kind == ""  # settled by networksetup
    assert by_name["lo0"].kind == "loopback"
    assert by_name["lo0"].addresses == ("127.0.0.1/8", "::1/128", "fe80::1/64")
    assert (by_name["en1"].oper_state, by_name["en1"].carrier) == ("down", False)
    assert by_name["utun0"].kind == "virtual" and by_name["utun0"].oper_state == "unknown"
    assert by_name["en2"].duplex == ""  # `<full-duplex>` of a link that is not up


def test_ifconfig_bridge_members_are_not_warnings_but_garbage_is() -> None:
    assert macos_ifconfig.parse((MACBOOK / "ifconfig").read_text()).warnings == 0
    text = (
        "ifconfig: interface en9 does not exist\n"
        "en0: flags=8863<UP> mtu 1500\n\tinet 10.0.0.2 netmask 0xzz\n"
    )
    parsed = macos_ifconfig.parse(text)
    assert parsed.warnings == 2
    assert parsed.value[0].addresses == ("10.0.0.2/32",)
