"""The typed copy of a dataset: made at upload, identical to pd.read_csv, checked when read."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.audit.models import AuditEvent
from governance.registry import services, typed_copy
from governance.registry.intake import IntakeError
from governance.registry.models import Dataset
from governance.registry.storage import blob_path
from workflows.testsuites import scoring

from .. import factories

pytestmark = pytest.mark.django_db

AWKWARD_CSV = (
    "\ufeffid,score,label,flag,empty,city,count,note,maybe,big,tiny\n"
    '1,0.30000000000000004,x,True,,Zürich,1,"a, b",True,18446744073709551615,1e-320\n'
    '2,,y,False,,"São Paulo",,"",,1,-0.0\n'
    '3,2.5,,True,,東京 😀,3,"line\nbreak",False,2,1.7976931348623157e308\n'
    "4,-1e-300,z,False,,,4,\"quote \"\"q\"\"\",True,3,\n"
).encode("utf-8")


def _upload(user, content: bytes, *, name="data.csv", target="id") -> Dataset:
    return services.dataset_create(user=user, name=name, upload=factories.upload(name, content, "text/csv"), target=target)


def _media_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        left, right, check_exact=True, check_dtype=True, check_column_type=True, check_index_type=True
    )


def test_awkward_data_reads_back_exactly_as_read_csv(alice):
    dataset = _upload(alice, AWKWARD_CSV)
    assert dataset.typed_path.endswith(".typed-v1.npys") and len(dataset.typed_sha256) == 64
    assert blob_path(dataset.typed_path).exists()
    expected = pd.read_csv(blob_path(dataset.path))
    # The dtypes the awkward columns get (so that the test covers what it says it covers).
    assert str(expected["id"].dtype) == "int64" and str(expected["big"].dtype) == "uint64"
    assert str(expected["empty"].dtype) == "float64" and expected["empty"].isna().all()
    assert str(expected["flag"].dtype) == "bool" and str(expected["maybe"].dtype) == "object"
    assert str(expected["city"].dtype) == "str" and expected["city"].isna().sum() == 1
    frame = scoring.load_dataset(Dataset.objects.get(pk=dataset.pk))
    _same(frame, expected)
    assert list(frame.columns) == dataset.column_names
    assert np.signbit(frame["tiny"].iloc[1]) and frame["tiny"].iloc[0] == 1e-320
    # The frame is the worker's own to change, like read_csv's.
    frame.loc[0, "score"] = 7.0
    assert scoring.load_dataset(dataset)["score"].iloc[0] == 0.30000000000000004


def test_numbers_with_full_precision_and_many_rows(alice):
    rng = np.random.default_rng(1)
    source = pd.DataFrame({
        "a": rng.normal(size=3000), "b": rng.integers(-5, 5, 3000), "c": rng.choice(["p", "q", "ä"], 3000),
    })
    source.loc[::7, "a"] = np.nan
    dataset = _upload(alice, source.to_csv(index=False).encode(), target="b")
    assert dataset.typed_sha256
    _same(scoring.load_dataset(dataset), pd.read_csv(blob_path(dataset.path)))


def test_the_copy_is_read_without_parsing_the_csv(alice, monkeypatch):
    dataset = _upload(alice, AWKWARD_CSV)
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("the CSV was parsed"))
    assert len(scoring.load_dataset(dataset)) == 4


def test_the_file_is_write_once_pickle_free_and_deterministic(alice, settings):
    dataset = _upload(alice, AWKWARD_CSV)
    path = blob_path(dataset.typed_path)
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    frame = pd.read_csv(blob_path(dataset.path))
    data = typed_copy.encode_frame(frame, csv_sha256=dataset.sha256, csv_size=dataset.size)
    assert data == path.read_bytes()
    # A stream of plain .npy records: each loads with allow_pickle=False, none holds objects.
    with open(path, "rb") as handle:
        records = []
        while handle.tell() < os.path.getsize(path):
            records.append(np.load(handle, allow_pickle=False))
    assert all(not r.dtype.hasobject for r in records)
    # The same CSV uploaded again shares the copy; its row records the same digest.
    again = _upload(alice, AWKWARD_CSV, name="again.csv")
    assert (again.typed_path, again.typed_sha256) == (dataset.typed_path, dataset.typed_sha256)


def test_store_never_replaces_a_different_file(tmp_path):
    frame = pd.DataFrame({"a": [1, 2]})
    data = typed_copy.encode_frame(frame, csv_sha256="ab" * 32, csv_size=10)
    relative, digest = typed_copy.store(data, csv_sha256="ab" * 32, media_root=tmp_path)
    assert typed_copy.store(data, csv_sha256="ab" * 32, media_root=tmp_path) == (relative, digest)
    other = typed_copy.encode_frame(pd.DataFrame({"a": [1, 3]}), csv_sha256="ab" * 32, csv_size=10)
    assert typed_copy.store(other, csv_sha256="ab" * 32, media_root=tmp_path) is None
    assert (tmp_path / relative).read_bytes() == data
    assert [p.name for p in (tmp_path / relative).parent.iterdir()] == [Path(relative).name]


@pytest.mark.parametrize(
    "content, code",
    [
        (b"a,b\n1,2,3\n", "bad_csv"),
        (b"a,a\n1,2\n", "bad_csv"),
        (b"id,x\n1,\xff\n", "bad_encoding"),
        (b"x,y\n1,2\n", "missing_target"),
        (b"id\n", "bad_csv"),
    ],
)
def test_a_refused_upload_stores_nothing_not_even_a_typed_copy(alice, settings, content, code):
    with pytest.raises(IntakeError) as refused:
        _upload(alice, content)
    assert refused.value.code == code
    assert _media_files(settings) == []
    assert not Dataset.objects.exists()


def test_data_the_copy_cannot_hold_exactly_is_read_from_the_csv(alice, monkeypatch):
    # Strings whose fixed-width copy would be too large get no copy: the CSV is read as before.
    monkeypatch.setattr(typed_copy, "MAX_SIZE_FACTOR", 0)
    monkeypatch.setattr(typed_copy, "SIZE_MARGIN", 16)
    dataset = _upload(alice, AWKWARD_CSV)
    assert dataset.typed_path == "" and dataset.typed_sha256 == ""
    assert not any(p.name.endswith(typed_copy.SUFFIX) for p in blob_path("datasets").rglob("*"))
    _same(scoring.load_dataset(dataset), pd.read_csv(blob_path(dataset.path)))


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1, 2]}, index=[5, 6]),
        pd.DataFrame({"d": pd.to_datetime(["2026-01-01", "2026-01-02"])}),
        pd.DataFrame({"m": pd.Series([1, "x"], dtype=object)}),
        pd.DataFrame({"s": pd.Series(["a\x00", "b"], dtype="str")}),  # fixed width drops trailing NULs
    ],
)
def test_frames_that_would_not_round_trip_are_refused(frame):
    with pytest.raises(typed_copy.TypedCopyUnsupported):
        typed_copy.encode_frame(frame, csv_sha256="0" * 64, csv_size=10)


def test_object_columns_of_strings_and_of_booleans_keep_their_dtype():
    frame = pd.DataFrame({
        "s": pd.Series(["x", np.nan, "ÿ"], dtype=object),
        "b": pd.Series([True, np.nan, False], dtype=object),
    })
    _same(typed_copy.decode(typed_copy.encode_frame(frame, csv_sha256="0" * 64, csv_size=10)), frame)


def test_a_dataset_from_before_typed_copies_is_read_from_its_csv_then_gets_one(alice, monkeypatch):
    dataset = _upload(alice, AWKWARD_CSV)
    path = blob_path(dataset.typed_path)
    path.unlink()
    Dataset.objects.filter(pk=dataset.pk).update(typed_path="", typed_sha256="")
    legacy = Dataset.objects.get(pk=dataset.pk)
    expected = pd.read_csv(blob_path(dataset.path))
    _same(scoring.load_dataset(legacy), expected)
    assert not path.exists()  # reading writes nothing
    frame = scoring.typed_copy_backfill(legacy)
    _same(frame, expected)
    stored = Dataset.objects.get(pk=dataset.pk)
    assert (stored.typed_path, stored.typed_sha256) == (dataset.typed_path, dataset.typed_sha256)
    assert (legacy.typed_path, legacy.typed_sha256) == (dataset.typed_path, dataset.typed_sha256)
    assert path.exists()
    # The row's change is in the audit trail, as the worker's event about that dataset.
    (event,) = AuditEvent.objects.filter(action="dataset.typed_copy_made")
    assert (event.kind, event.object_id) == ("agent", str(dataset.pk))
    assert json.loads(event.data)["typed_sha256"] == dataset.typed_sha256
    assert scoring.typed_copy_backfill(stored) is None  # it has one: nothing to do
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("the CSV was parsed"))
    _same(scoring.load_dataset(stored), expected)


def test_backfill_racing_another_worker_keeps_the_first_record(alice):
    dataset = _upload(alice, AWKWARD_CSV)
    Dataset.objects.filter(pk=dataset.pk).update(typed_path="", typed_sha256="")
    first, second = Dataset.objects.get(pk=dataset.pk), Dataset.objects.get(pk=dataset.pk)
    scoring.typed_copy_backfill(first)
    scoring.typed_copy_backfill(second)  # the file is there already and the row has its record
    stored = Dataset.objects.get(pk=dataset.pk)
    assert stored.typed_sha256 == dataset.typed_sha256
    _same(scoring.load_dataset(stored), pd.read_csv(blob_path(dataset.path)))
    # Recorded once: the second worker changed nothing.
    assert AuditEvent.objects.filter(action="dataset.typed_copy_made").count() == 1


def test_a_missing_copy_falls_back_to_the_csv(alice):
    dataset = _upload(alice, AWKWARD_CSV)
    blob_path(dataset.typed_path).unlink()
    _same(scoring.load_dataset(dataset), pd.read_csv(blob_path(dataset.path)))


def _tamper(dataset, change) -> None:
    path = blob_path(dataset.typed_path)
    os.chmod(path, 0o644)
    path.write_bytes(change(path.read_bytes()))


@pytest.mark.parametrize(
    "change",
    [
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit of the data
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: b"",
    ],
)
def test_a_changed_copy_is_refused_with_a_clear_reason(alice, change):
    dataset = _upload(alice, AWKWARD_CSV)
    _tamper(dataset, change)
    with pytest.raises(scoring.DatasetError) as refused:
        scoring.load_dataset(dataset)
    message = str(refused.value)
    assert "typed copy of dataset 'data.csv'" in message and "not the" in message and "recorded at upload" in message


def test_a_copy_of_another_csv_is_refused(alice):
    dataset = _upload(alice, AWKWARD_CSV)
    other = _upload(alice, b"id,v\n1,2\n", name="other.csv")
    # The other dataset's copy, with a digest that matches it: right file, wrong dataset.
    Dataset.objects.filter(pk=dataset.pk).update(typed_path=other.typed_path, typed_sha256=other.typed_sha256)
    with pytest.raises(scoring.DatasetError, match="made from another CSV"):
        scoring.load_dataset(Dataset.objects.get(pk=dataset.pk))


def test_a_record_holding_objects_is_never_loaded():
    out = io.BytesIO()
    np.lib.format.write_array(out, np.array(['{"format": 1, "rows": 1, "columns": [{"name": "a", "kind": "numpy", "records": 1}]}']))
    np.lib.format.write_array(out, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(typed_copy.TypedCopyError):
        typed_copy.decode(out.getvalue())


def test_an_upload_parses_its_csv_once(alice, monkeypatch):
    """Row count, column types and the typed copy all come from one pd.read_csv."""
    calls = []
    real = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: calls.append(a) or real(*a, **k))
    dataset = _upload(alice, AWKWARD_CSV)
    assert len(calls) == 1
    assert dataset.rows == 4 and dataset.typed_sha256
    monkeypatch.undo()
    _same(scoring.load_dataset(dataset), pd.read_csv(blob_path(dataset.path)))
