import pytest

from agent.parsers import ParseError, host_facts_json

# As written by agent/sources.py host_facts() on the Debian 12 build VM.
REAL = """{
 "hostname": "vm",
 "system": "Linux",
 "kernel": "6.18.44-fc-v669",
 "arch": "x86_64",
 "boot_time": 1795438219.0,
 "memory_total": 25276502016,
 "cpu_count": 2,
 "cpu_model": "AMD EPYC"
}"""


def test_real_output():
    facts = host_facts_json.parse(REAL)
    assert facts == host_facts_json.HostFacts(
        hostname="vm",
        kernel="6.18.44-fc-v669",
        arch="x86_64",
        cpu_model="AMD EPYC",
        cpu_cores=2,
        memory_bytes=25276502016,
        boot_time_unix=1795438219,
    )


def test_optional_keys_missing_or_null():
    # cpu_count is None when psutil cannot tell; cpu_model absent when cpuinfo was too slow.
    facts = host_facts_json.parse('{"hostname": "h", "cpu_count": null}')
    assert facts == host_facts_json.HostFacts(hostname="h")


def test_hostname_is_required():
    with pytest.raises(ParseError, match="missing key 'hostname'"):
        host_facts_json.parse('{"kernel": "6.1"}')


def test_wrong_type_names_the_key():
    with pytest.raises(ParseError, match="key 'memory_total': expected int"):
        host_facts_json.parse('{"hostname": "h", "memory_total": "4G"}')


@pytest.mark.parametrize(
    ("text", "message"),
    [("not json", "not JSON"), ("[1, 2]", "expected a JSON object"), ("", "not JSON")],
)
def test_garbled(text, message):
    with pytest.raises(ParseError, match=message):
        host_facts_json.parse(text)
