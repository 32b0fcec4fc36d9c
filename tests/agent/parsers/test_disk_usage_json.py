import json

import pytest

from agent.parsers import ParseError, disk_usage_json
from agent.records import Volume

# The live disk_usage call on the Debian 12 build VM (ext4 mounted with resv_strict: a large
# root reservation, so used + free is far below total, exactly as df shows it).
REAL = """{
 "mounts": [
  {
   "mount": "/",
   "device": "/dev/vda",
   "fstype": "ext4",
   "opts": "rw,relatime,discard,resv_strict,resuid=65534,resgid=65534",
   "statvfs": {
    "f_frsize": 4096,
    "f_blocks": 66053021,
    "f_bfree": 60159728,
    "f_bavail": 20704435,
    "f_files": 16777216,
    "f_ffree": 16351965,
    "f_flag": 4096
   }
  }
 ]
}"""


def test_real_output_uses_df_arithmetic():
    (volume,) = disk_usage_json.parse(REAL)
    assert volume == Volume(
        mount="/",
        device="/dev/vda",
        fstype="ext4",
        total_bytes=66053021 * 4096,
        used_bytes=(66053021 - 60159728) * 4096,
        free_bytes=20704435 * 4096,
        inodes_total=16777216,
        inodes_free=16351965,
        read_only=False,
    )
    assert round(volume.used_pct, 1) == 22.2  # df: Use% = used / (used + avail)


def _mount(mount: str, **extra: object) -> dict[str, object]:
    return {"mount": mount, "device": "/dev/x", "fstype": "ext4", "opts": "rw"} | extra


def _doc(*mounts: dict[str, object]) -> str:
    return json.dumps({"mounts": list(mounts)})


STATVFS = {"f_frsize": 1024, "f_blocks": 100, "f_bfree": 40, "f_bavail": 30, "f_flag": 0}


def test_read_only_from_opts_or_statvfs_flag():
    text = _doc(
        _mount("/a", opts="ro,noatime", statvfs=STATVFS),
        _mount("/b", statvfs=STATVFS | {"f_flag": 1}),
        _mount("/c", statvfs=STATVFS),
    )
    assert [v.read_only for v in disk_usage_json.parse(text)] == [True, True, False]


def test_usage_shape_without_inodes():
    # The shape the call writes where os.statvfs does not exist (Windows).
    text = _doc(_mount("C:\\", usage={"total": 1000, "used": 600, "free": 400}))
    (volume,) = disk_usage_json.parse(text)
    assert (volume.total_bytes, volume.used_bytes, volume.free_bytes) == (1000, 600, 400)
    assert volume.inodes_total == 0


def test_zero_block_dummies_are_hidden_like_df_does():
    text = _doc(_mount("/dummy", statvfs=STATVFS | {"f_blocks": 0, "f_bfree": 0}))
    assert disk_usage_json.parse(text) == ()


def test_mount_errors_become_failures_not_volumes():
    timeout = {"kind": "timeout", "message": "statvfs did not answer within 2 s"}
    text = _doc(_mount("/nfs", error=timeout), _mount("/", statvfs=STATVFS))
    report = disk_usage_json.parse_report(text)
    assert [v.mount for v in report.volumes] == ["/"]
    assert report.failures == (
        disk_usage_json.MountFailure("/nfs", "timeout", "statvfs did not answer within 2 s"),
    )


def test_missing_optional_statvfs_fields_default_to_zero():
    (volume,) = disk_usage_json.parse(_doc(_mount("/", statvfs={"f_frsize": 512, "f_blocks": 8})))
    assert (volume.total_bytes, volume.inodes_total, volume.free_bytes) == (4096, 0, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "missing key 'mounts'"),
        ('{"mounts": [42]}', r"mounts\[0\]: expected an object"),
        ('{"mounts": [{"device": "/dev/x"}]}', r"mounts\[0\]: missing key 'mount'"),
        ('{"mounts": [{"mount": "/"}]}', "neither 'statvfs', 'usage' nor 'error'"),
        ('{"mounts": [{"mount": "/", "statvfs": {"f_blocks": "1"}}]}', "key 'f_blocks'"),
        ("Filesystem 1K-blocks Used", "not JSON"),
    ],
)
def test_garbled(text, message):
    with pytest.raises(ParseError, match=message):
        disk_usage_json.parse(text)
