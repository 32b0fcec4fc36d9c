"""agent/common/config.py: typed TOML + environment + command-line loading, and redaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.common.config import (
    ByteSize,
    ConfigError,
    Seconds,
    load,
    mask_url_password,
    redacted,
)
from agent.config import ENV_PREFIX, AgentConfig
from collector.config import ENV_PREFIX as COLLECTOR_PREFIX
from collector.config import CollectorConfig

PREFIX = "T_"


@dataclass(frozen=True)
class Inner:
    name: str = "n"
    count: int = 1
    ratio: float = 0.5
    on: bool = False
    size: ByteSize = ByteSize(1)
    wait: Seconds = Seconds(1)
    where: Path | None = None
    tags: tuple[str, ...] = ("a",)

    def validate(self) -> tuple[str, str] | None:
        if self.count > 100:
            return "count", f"expected at most 100, got {self.count}"
        return None


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    token: str = ""


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_t(path: Path | None = None, environ=None, overrides=None) -> Outer:
    return load(Outer, path, env_prefix=PREFIX, environ=environ or {}, overrides=overrides)


def error(fn, *args, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        fn(*args, **kw)
    return err.value


# --- types -------------------------------------------------------------------------------


def test_defaults_without_file_environment_or_flags() -> None:
    assert load_t() == Outer()


def test_every_type_from_toml(tmp_path: Path) -> None:
    path = write(tmp_path, """
token = "t0k"
[inner]
name = "x"
count = 7
ratio = 2
on = true
size = "64MiB"
wait = "5m"
where = "~/spool"
tags = ["p", "q"]
""")  # fmt: skip
    cfg = load_t(path)
    assert cfg.inner == Inner(
        name="x",
        count=7,
        ratio=2.0,
        on=True,
        size=ByteSize(64 * 1024 * 1024),
        wait=Seconds(300),
        where=Path("~/spool").expanduser(),
        tags=("p", "q"),
    )
    assert cfg.token == "t0k"
    assert isinstance(cfg.inner.size, ByteSize) and isinstance(cfg.inner.wait, Seconds)
    assert isinstance(cfg.inner.ratio, float)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64MiB", 64 * 1024**2),
        ("64 MiB", 64 * 1024**2),
        ("500KB", 500_000),
        ("500kb", 500_000),
        ("1G", 1000**3),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("2kib", 2048),
        ("100", 100),
        ("100b", 100),
    ],
)
def test_sizes(tmp_path: Path, text: str, expected: int) -> None:
    cfg = load_t(write(tmp_path, f'[inner]\nsize = "{text}"\n'))
    assert cfg.inner.size == expected


def test_size_as_a_plain_integer(tmp_path: Path) -> None:
    assert load_t(write(tmp_path, "[inner]\nsize = 4096\n")).inner.size == 4096


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5m", 300.0), ("90s", 90.0), ("1h", 3600.0), ("250ms", 0.25), ("30d", 30 * 86400.0),
     ("1.5m", 90.0), ("12", 12.0)],
)  # fmt: skip
def test_durations(tmp_path: Path, text: str, expected: float) -> None:
    assert load_t(write(tmp_path, f'[inner]\nwait = "{text}"\n')).inner.wait == expected


def test_duration_as_a_number(tmp_path: Path) -> None:
    assert load_t(write(tmp_path, "[inner]\nwait = 2.5\n")).inner.wait == 2.5


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('size = "lots"', "expected a size such as 64MiB, got 'lots'"),
        ('size = "-5MiB"', "expected a size such as 64MiB"),
        ('size = "5 parsecs"', "expected a size such as 64MiB"),
        ("size = -1", "expected a size such as 64MiB, got -1"),
        ("size = true", "expected a size such as 64MiB, got True"),
        ('wait = "soon"', "expected a duration such as 60s or 5m, got 'soon'"),
        ('wait = "5 fortnights"', "expected a duration such as 60s or 5m"),
        ('count = "seven"', "expected an integer, got 'seven'"),
        ("count = 1.5", "expected an integer, got 1.5"),
        ("count = true", "expected an integer, got True"),
        ('ratio = "half"', "expected a number, got 'half'"),
        ('on = "yes"', "expected true or false, got 'yes'"),
        ("on = 1", "expected true or false, got 1"),
        ("name = 3", "expected a string, got 3"),
        ('where = ""', "expected a path, got ''"),
        ('tags = "p"', "expected a list of strings, got 'p'"),
        ("tags = [1]", "expected a list of strings, got [1]"),
    ],
)
def test_wrong_type_names_file_key_and_expectation(tmp_path: Path, line: str, expected: str):
    path = write(tmp_path, f"[inner]\n{line}\n")
    err = error(load_t, path)
    key = "inner." + line.split(" ")[0]
    assert str(err).startswith(f"{path}: {key}: ")
    assert expected in str(err)
    assert (err.where, err.key) == (str(path), key)
    assert "\n" not in str(err)


def test_a_table_where_a_value_belongs_and_the_reverse(tmp_path: Path) -> None:
    err = error(load_t, write(tmp_path, 'inner = "x"\n'))
    assert str(err) == f"{tmp_path / 'c.toml'}: inner: expected a table [inner]"
    err = error(load_t, write(tmp_path, "[inner.name]\nx = 1\n"))
    assert "inner.name: expected a string" in str(err)


# --- unknown keys ------------------------------------------------------------------------


def test_unknown_key_names_the_file_and_the_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[inner]\ncuont = 3\n")
    err = error(load_t, path)
    assert str(err).startswith(f"{path}: inner.cuont: unknown key")
    assert "known keys here: count, name, on, ratio, size, tags, wait, where" in str(err)


def test_unknown_top_level_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[colector]\naddress = 'h:1'\n")
    err = error(load, AgentConfig, path, env_prefix=ENV_PREFIX, environ={})
    assert str(err).startswith(f"{path}: colector: unknown key")
    assert "collector" in str(err)


def test_unknown_key_in_the_real_agent_config(tmp_path: Path) -> None:
    path = write(tmp_path, "[spool]\nmax_size = '1MiB'\n")
    err = error(load, AgentConfig, path, env_prefix=ENV_PREFIX, environ={})
    assert (err.where, err.key) == (str(path), "spool.max_size")


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("[redact]\npatterns = ['(unclosed']\n", "redact.patterns", "not a regular expression"),
        ("[redact]\nhash_ips = true\n", "redact.salt", "need a salt"),
        ("[collect]\ndns_names = ['bad name!']\n", "collect.dns_names", "not a DNS name"),
        ("[collect]\ndns_timeout = '30s'\n", "collect.dns_timeout", "at most 10s"),
        ("[collect]\nprobes = ['disk', 'gpu']\n", "collect.probes", "unknown probe(s) ['gpu']"),
    ],
)
def test_agent_sections_of_issue_3_are_validated(
    tmp_path: Path, text: str, key: str, says: str
) -> None:
    path = write(tmp_path, text)
    err = error(load, AgentConfig, path, env_prefix=ENV_PREFIX, environ={})
    assert (err.where, err.key) == (str(path), key)
    assert says in str(err)


def test_redaction_and_dns_settings_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[collect]\ndns_names = ['intranet.corp.example', 'login.corp.example.']\n"
        "[redact]\nhash_serials = true\nsalt = 's3cret'\npatterns = ['ACME-[0-9]+']\n",
    )
    cfg = load(AgentConfig, path, env_prefix=ENV_PREFIX, environ={})
    assert cfg.collect.dns_names == ("intranet.corp.example", "login.corp.example.")
    assert cfg.redact.hash_serials and cfg.redact.salt == "s3cret"
    assert cfg.redact.patterns == ("ACME-[0-9]+",)
    assert redacted(cfg)["redact"]["salt"] == "********"
    assert redacted(cfg)["redact"]["tokens"] is True  # a switch named like a secret is shown


# --- the file itself ---------------------------------------------------------------------


def test_invalid_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[inner]\nname = \n")
    err = error(load_t, path)
    assert str(err).startswith(f"{path}: not valid TOML: ")
    assert "line 2" in str(err)
    assert "\n" not in str(err)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert str(error(load_t, path)) == f"{path}: file not found"


def test_a_folder_instead_of_a_file(tmp_path: Path) -> None:
    err = error(load_t, tmp_path)
    assert str(err).startswith(f"{tmp_path}: cannot read")


# --- environment -------------------------------------------------------------------------


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[inner]\ncount = 3\nname = "file"\n')
    cfg = load_t(path, environ={"T_INNER__COUNT": "9", "T_TOKEN": "abc", "OTHER": "x"})
    assert (cfg.inner.count, cfg.inner.name, cfg.token) == (9, "file", "abc")


def test_environment_values_are_parsed_as_text() -> None:
    env = {
        "T_INNER__ON": "yes",
        "T_INNER__RATIO": "0.25",
        "T_INNER__SIZE": "2KiB",
        "T_INNER__WAIT": "250ms",
        "T_INNER__TAGS": "x, y,,z",
        "T_INNER__WHERE": "/var/tmp/w",
    }
    inner = load_t(environ=env).inner
    assert inner.on is True
    assert (inner.ratio, inner.size, inner.wait) == (0.25, 2048, 0.25)
    assert inner.tags == ("x", "y", "z")
    assert inner.where == Path("/var/tmp/w")
    assert load_t(environ={"T_INNER__ON": "0"}).inner.on is False
    # An empty variable clears an optional path.
    assert load_t(environ={"T_INNER__WHERE": ""}).inner.where is None


def test_environment_error_names_the_environment_variable() -> None:
    err = error(load_t, environ={"T_INNER__SIZE": "lots"})
    assert str(err) == (
        "environment variable T_INNER__SIZE: inner.size: expected a size such as 64MiB, got 'lots'"
    )


def test_real_agent_prefix_and_environment_wording() -> None:
    cfg = load(
        AgentConfig, None, env_prefix=ENV_PREFIX, environ={"RDIAG_AGENT_SPOOL__MAX_BYTES": "8MiB"}
    )
    assert cfg.spool.max_bytes == 8 * 1024 * 1024
    err = error(
        load, AgentConfig, None, env_prefix=ENV_PREFIX,
        environ={"RDIAG_AGENT_SPOOL__MAX_BYTES": "lots"},
    )  # fmt: skip
    assert "environment" in str(err)
    assert "RDIAG_AGENT_SPOOL__MAX_BYTES" in str(err)
    assert "spool.max_bytes" in str(err)


def test_unknown_key_from_the_environment_is_blamed_on_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[inner]\ncount = 3\n")
    err = error(load_t, path, environ={"T_INNER__COUTN": "3"})
    assert str(err).startswith("environment variable T_INNER__COUTN: inner.coutn: unknown key")


def test_validation_failure_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    err = error(load_t, write(tmp_path, "[inner]\ncount = 3\n"), environ={"T_INNER__COUNT": "500"})
    assert (
        str(err)
        == "environment variable T_INNER__COUNT: inner.count: expected at most 100, got 500"
    )


def test_conflicting_environment_variables_are_a_config_error() -> None:
    err = error(load_t, environ={"T_INNER": "x", "T_INNER__COUNT": "3"})
    assert "T_INNER__COUNT" in str(err) and "conflicts with" in str(err)
    err = error(load_t, environ={"T_inner": "x", "T_INNER__COUNT": "3"})
    assert "conflicts with" in str(err)


def test_malformed_variable_name_is_a_config_error() -> None:
    err = error(load_t, environ={"T_INNER__": "3"})
    assert "T_INNER__" in str(err) and "SECTION__KEY" in str(err)


def test_environment_error_in_the_collector_config() -> None:
    err = error(
        load, CollectorConfig, None, env_prefix=COLLECTOR_PREFIX,
        environ={"RDIAG_COLLECTOR_STORE__RETENTION": "forever"},
    )  # fmt: skip
    assert str(err).startswith("environment variable RDIAG_COLLECTOR_STORE__RETENTION: store.")


# --- command-line overrides --------------------------------------------------------------


def test_command_line_overrides_environment_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[inner]\ncount = 3\nratio = 0.1\n")
    cfg = load_t(path, environ={"T_INNER__COUNT": "4"}, overrides={"inner.count": "5"})
    assert (cfg.inner.count, cfg.inner.ratio) == (5, 0.1)


def test_command_line_errors_name_the_command_line() -> None:
    err = error(load_t, overrides={"inner.count": "many"})
    assert str(err) == "command line: inner.count: expected an integer, got 'many'"
    err = error(load_t, overrides={"inner.count": "101"})
    assert str(err) == "command line: inner.count: expected at most 100, got 101"


def test_agent_flags_as_the_cli_passes_them(tmp_path: Path) -> None:
    cfg = load(
        AgentConfig, None, env_prefix=ENV_PREFIX, environ={},
        overrides={"collector.address": "10.0.0.1:9000", "collector.insecure": "true",
                   "collect.interval": "5m", "identity.state_dir": str(tmp_path)},
    )  # fmt: skip
    assert cfg.collector.address == "10.0.0.1:9000"
    assert cfg.collector.insecure is True
    assert float(cfg.collect.interval) == 300
    assert cfg.spool_path == tmp_path / "spool.db"


# --- validate() --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key", "expected"),
    [
        ('[collector]\naddress = "nohost"', "collector.address", "expected host:port"),
        ('[collector]\naddress = "h:70000"', "collector.address", "expected host:port"),
        ('[collector]\nclient_cert = "/c.pem"', "collector.client_cert", "go together"),
        ('[collector]\nbackoff_initial = "10s"\nbackoff_max = "1s"', "collector.backoff_max",
         "backoff_initial <= backoff_max"),
        ("[collector]\nmax_in_flight = 0", "collector.max_in_flight", "expected 1..64, got 0"),
        ('[collector]\nmax_batch_bytes = "1KiB"', "collector.max_batch_bytes", "4KiB and 16MiB"),
        ('[spool]\nmax_bytes = "1KiB"', "spool.max_bytes", "at least 64KiB"),
        ('[collect]\ninterval = "500ms"', "collect.interval", "at least 1s"),
        ('[collect]\nprobe_timeout = "0s"', "collect.probe_timeout", "expected more than 0s"),
        ('[collect]\nprobes = ["disk", "dsik"]', "collect.probes", "unknown probe(s) ['dsik']"),
        ('[log]\nlevel = "loud"', "log.level", "expected debug, info, warning or error"),
        ('[log]\nformat = "xml"', "log.format", "expected text or json"),
    ],
)  # fmt: skip
def test_agent_validate_errors(tmp_path: Path, toml: str, key: str, expected: str) -> None:
    path = write(tmp_path, toml + "\n")
    err = error(load, AgentConfig, path, env_prefix=ENV_PREFIX, environ={})
    assert (err.where, err.key) == (str(path), key)
    assert expected in err.problem


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[server]\nlisten = "nowhere"', "server.listen"),
        ('[server]\ntls_cert = "/c.pem"', "server.tls_key"),
        ('[store]\nurl = "rdiag.db"', "store.url"),
        ('[store]\nretention = "1m"', "store.retention"),
        ('[store]\nsqlite_synchronous = "OFF"', "store.sqlite_synchronous"),
        ("[ingest]\ncommit_max_batches = 0", "ingest.commit_max_batches"),
        ('[agents]\nprobes = ["x"]', "agents.probes"),
    ],
)
def test_collector_validate_errors(tmp_path: Path, toml: str, key: str) -> None:
    path = write(tmp_path, toml + "\n")
    err = error(load, CollectorConfig, path, env_prefix=COLLECTOR_PREFIX, environ={})
    assert (err.where, err.key) == (str(path), key)


def test_a_valid_full_agent_file(tmp_path: Path) -> None:
    path = write(tmp_path, f"""
[collector]
address = "collector.example:7443"
ca_cert = "{tmp_path}/ca.pem"
client_cert = "{tmp_path}/c.pem"
client_key = "{tmp_path}/k.pem"
max_in_flight = 8
[spool]
max_bytes = "128MiB"
[collect]
interval = "2m"
probes = ["disk"]
[identity]
agent_id = "ws-0042"
[log]
format = "json"
""")  # fmt: skip
    cfg = load(AgentConfig, path, env_prefix=ENV_PREFIX, environ={})
    assert cfg.collector.client_key == tmp_path / "k.pem"
    assert cfg.spool.max_bytes == 128 * 1024**2
    assert (float(cfg.collect.interval), cfg.collect.probes) == (120.0, ("disk",))
    assert (cfg.identity.agent_id, cfg.log.format) == ("ws-0042", "json")


# --- redaction ---------------------------------------------------------------------------


def test_redacted_masks_secret_keys_and_url_passwords() -> None:
    cfg = load(
        CollectorConfig, None, env_prefix=COLLECTOR_PREFIX, environ={},
        overrides={"store.url": "postgresql://rdiag:s3cr3t@db.example:5432/rdiag"},
    )  # fmt: skip
    shown = redacted(cfg)
    assert shown["store"]["url"] == "postgresql://rdiag:***@db.example:5432/rdiag"
    assert "s3cr3t" not in repr(shown)

    out = redacted(load_t(environ={"T_TOKEN": "abc123", "T_INNER__WHERE": "/x"}))
    assert out["token"] == "********"
    assert out["inner"]["where"] == "/x"  # a Path, shown as text
    assert out["inner"]["tags"] == ["a"]
    assert "abc123" not in repr(out)


def test_redacted_leaves_empty_secrets_empty() -> None:
    assert redacted(Outer())["token"] == ""


def test_redacted_is_json_serialisable() -> None:
    import json

    text = json.dumps(redacted(load(AgentConfig, None, env_prefix=ENV_PREFIX, environ={})))
    assert '"address": "127.0.0.1:7443"' in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql+psycopg://rdiag:p%40ss@10.0.0.5:5432/x", "postgresql+psycopg://rdiag:***@10.0.0.5:5432/x"),
        ("connect to postgresql://u:pw@h/db failed", "connect to postgresql://u:***@h/db failed"),
        ("a://u:1@h b://v:2@k", "a://u:***@h b://v:***@k"),
        ("postgresql://:pw@h/db", "postgresql://:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///var/lib/rdiag.db", "sqlite:///var/lib/rdiag.db"),
        ("http://h:8080/path", "http://h:8080/path"),
        ("no url here", "no url here"),
    ],
)  # fmt: skip
def test_mask_url_password(text: str, expected: str) -> None:
    assert mask_url_password(text) == expected
