"""Write-once storage: published whole, read-only, and never replaced."""

import stat

from governance.registry.storage import write_once


def test_write_once_publishes_a_read_only_file_and_never_replaces_it(tmp_path):
    target = tmp_path / "blobs" / "ab" / "abc.bin"
    write_once(target, b"first")
    source = tmp_path / "second.bin"
    source.write_bytes(b"second")
    write_once(target, source)
    assert target.read_bytes() == b"first"
    assert not target.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert [p.name for p in target.parent.iterdir()] == ["abc.bin"]  # no temporary file left


def test_write_once_copies_a_file(tmp_path):
    source = tmp_path / "upload.csv"
    source.write_bytes(b"a,b\n1,2\n")
    target = tmp_path / "datasets" / "x.csv"
    write_once(target, source)
    assert target.read_bytes() == b"a,b\n1,2\n"


def test_write_once_renames_into_place_where_the_file_system_has_no_hard_links(tmp_path, monkeypatch):
    import errno
    import os

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "typed" / "x.npys"
    write_once(target, b"typed")
    assert target.read_bytes() == b"typed"
    assert [p.name for p in target.parent.iterdir()] == ["x.npys"]
