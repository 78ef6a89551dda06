"""Safe intake of artifacts and data sets (pure Python, no database)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import random
import zipfile

import joblib
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from governance.demo import sample_models as sm
from governance.registry.intake import (
    ACCEPTED_FORMATS_MESSAGE,
    ArtifactInfo,
    IntakeError,
    inspect_artifact,
    inspect_dataset_csv,
    resolve_input_schema,
    sha256_file,
)

MB = 1024 * 1024


# --------------------------------------------------------------------------
# fixtures: real models, built once per module
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer():
    train, valid, target = sm.breast_cancer_frames()
    model = sm.train_classifier(train, target)
    return {
        "train": train,
        "valid": valid,
        "target": target,
        "model": model,
        "onnx": sm.to_onnx_bytes(model, 30),
        "skops": sm.to_skops_bytes(model),
    }


@pytest.fixture(scope="module")
def diabetes():
    train, valid, target = sm.diabetes_frames()
    model = sm.train_regressor(train, target)
    return {"train": train, "target": target, "model": model, "onnx": sm.to_onnx_bytes(model, 10)}


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path, name, *, max_bytes=10 * MB) -> IntakeError:
    with pytest.raises(IntakeError) as info:
        inspect_artifact(path, name, max_bytes=max_bytes)
    return info.value


class Boom:
    """Unpickling this creates the marker file: proof that nothing was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _custom_double(x):
    return x * 2


class CustomEstimator:
    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return np.zeros(len(X))


# --------------------------------------------------------------------------
# sample models
# --------------------------------------------------------------------------


def test_sample_frames_are_deterministic_and_disjoint(cancer):
    train, valid, target = sm.breast_cancer_frames()
    assert target == "target"
    assert train.shape == (426, 31) and valid.shape == (143, 31)
    assert train.equals(cancer["train"])
    assert list(train.columns[:2]) == ["mean radius", "mean texture"]
    assert cancer["model"].score(valid.drop(columns=target), valid[target]) > 0.95
    dtrain, dvalid, dtarget = sm.diabetes_frames()
    assert dtrain.shape == (331, 11) and dvalid.shape == (111, 11) and dtarget == "target"


def test_classifier_on_a_subset_of_features(tmp_path, cancer):
    model = sm.train_classifier(cancer["train"], "target", features=10)
    assert list(model.feature_names_in_) == list(cancer["train"].columns[:10])
    info = inspect_artifact(write(tmp_path, "m.onnx", sm.to_onnx_bytes(model, 10)), "m.onnx", max_bytes=MB)
    assert info.n_features == 10
    schema = resolve_input_schema(info, list(cancer["train"].columns[:10]) + ["target"], "target")
    assert [c["name"] for c in schema] == list(cancer["train"].columns[:10])


# --------------------------------------------------------------------------
# valid artifacts
# --------------------------------------------------------------------------


def test_valid_onnx_classifier(tmp_path, cancer):
    data = cancer["onnx"]
    info = inspect_artifact(write(tmp_path, "clf.onnx", data), "clf.onnx", max_bytes=10 * MB)
    assert isinstance(info, ArtifactInfo)
    assert info.format == "onnx"
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert info.inputs == [{"name": "X", "type": "tensor(float)", "shape": [None, 30]}]
    assert [(o["name"], o["type"]) for o in info.outputs] == [
        ("label", "tensor(int64)"),
        ("probabilities", "tensor(float)"),
    ]
    assert info.outputs[1]["shape"] == [None, 2]
    assert info.n_features == 30
    assert info.single_tensor_input is True
    assert "Pipeline" in info.model_class and "skl2onnx" in info.model_class
    assert info.untrusted_types == []


def test_valid_onnx_regressor(tmp_path, diabetes):
    info = inspect_artifact(write(tmp_path, "Reg.ONNX", diabetes["onnx"]), "Reg.ONNX", max_bytes=MB)
    assert info.format == "onnx"
    assert info.n_features == 10
    assert info.inputs[0]["type"] == "tensor(float)"
    assert info.outputs == [{"name": "variable", "type": "tensor(float)", "shape": [None, 1]}]
    schema = resolve_input_schema(info, list(diabetes["train"].columns), "target")
    assert schema[:3] == [
        {"name": "age", "type": "float"},
        {"name": "sex", "type": "float"},
        {"name": "bmi", "type": "float"},
    ]
    assert len(schema) == 10


def test_valid_skops(tmp_path, cancer):
    data = cancer["skops"]
    info = inspect_artifact(write(tmp_path, "clf.skops", data), "clf.skops", max_bytes=10 * MB)
    assert info.format == "skops"
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert info.model_class == "sklearn.pipeline.Pipeline"
    assert info.n_features == 30
    assert info.feature_names == list(cancer["train"].columns[:30])
    assert info.single_tensor_input is False
    assert info.untrusted_types == []
    assert [o["name"] for o in info.outputs] == ["predict", "predict_proba"]


def test_sha256_file_streams(tmp_path):
    data = bytes(range(256)) * 10_000
    assert sha256_file(write(tmp_path, "x.bin", data)) == hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# refused artifacts
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.onnx", "model.skops"])
def test_pickle_is_refused_unread(tmp_path, name):
    marker = tmp_path / "unpickled.txt"
    path = write(tmp_path, name, pickle.dumps({"weights": [1, 2, 3], "boom": Boom(marker)}))
    err = refused(path, name)
    assert (err.status, err.code, err.field) == (415, "unsupported_format", "artifact")
    assert "pickle/joblib" in err.message
    assert ACCEPTED_FORMATS_MESSAGE in err.message
    assert str(err) == err.message
    assert not marker.exists()


def test_protocol_0_pickle_is_recognised(tmp_path):
    path = write(tmp_path, "m.onnx", pickle.dumps({"a": 1}, protocol=0))
    err = refused(path, "m.onnx")
    assert err.status == 415 and "pickle/joblib" in err.message


@pytest.mark.parametrize("name", ["model.onnx", "model.skops"])
def test_joblib_is_refused(tmp_path, name, cancer):
    path = tmp_path / name
    joblib.dump(cancer["model"], path)
    err = refused(path, name)
    assert (err.status, err.code) == (415, "unsupported_format")
    assert "pickle/joblib" in err.message and ACCEPTED_FORMATS_MESSAGE in err.message


def test_compressed_joblib_is_refused(tmp_path):
    path = tmp_path / "model.skops"
    joblib.dump({"a": np.arange(5)}, path, compress=3)
    err = refused(path, "model.skops")
    assert err.status == 415 and "compressed pickle/joblib" in err.message


def test_gzip_of_a_pickle_is_refused(tmp_path):
    path = write(tmp_path, "m.onnx", gzip.compress(pickle.dumps([1, 2])))
    err = refused(path, "m.onnx")
    assert err.status == 415 and "gzip" in err.message and "pickle/joblib" in err.message


def test_random_bytes(tmp_path):
    data = random.Random(1234).randbytes(5000)
    for name in ("m.onnx", "m.skops"):
        err = refused(write(tmp_path, name, data), name)
        assert (err.status, err.code) == (415, "unsupported_format")
        assert ACCEPTED_FORMATS_MESSAGE in err.message


def test_plain_zip_named_skops(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hello")
    err = refused(write(tmp_path, "m.skops", buf.getvalue()), "m.skops")
    assert (err.status, err.code) == (415, "unsupported_format")
    assert "not a skops file" in err.message


def test_torch_like_zip_is_named_as_pickle(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(1))
    err = refused(write(tmp_path, "m.skops", buf.getvalue()), "m.skops")
    assert err.status == 415 and "pickle" in err.message


def test_hdf5_and_text(tmp_path):
    err = refused(write(tmp_path, "m.onnx", b"\x89HDF\r\n\x1a\n" + b"\0" * 100), "m.onnx")
    assert err.status == 415 and "HDF5" in err.message
    err = refused(write(tmp_path, "m.onnx", b"a,b\n1,2\n"), "m.onnx")
    assert err.status == 415 and "text file" in err.message


def test_truncated_onnx(tmp_path, cancer):
    data = cancer["onnx"][: len(cancer["onnx"]) // 2]
    err = refused(write(tmp_path, "m.onnx", data), "m.onnx")
    assert (err.status, err.code, err.field) == (400, "corrupt_artifact", "artifact")
    assert "ONNX" in err.message


def test_truncated_skops(tmp_path, cancer):
    data = cancer["skops"][: len(cancer["skops"]) // 2]
    err = refused(write(tmp_path, "m.skops", data), "m.skops")
    assert (err.status, err.code) == (400, "corrupt_artifact")
    assert "skops" in err.message and "truncated" in err.message
    # the same bytes named .onnx: the name does not match the (damaged) skops content
    err = refused(write(tmp_path, "m.onnx", data), "m.onnx")
    assert (err.status, err.code) == (415, "unsupported_format")
    assert "damaged) skops" in err.message


def test_skops_with_broken_schema(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", "{not json")
    err = refused(write(tmp_path, "m.skops", buf.getvalue()), "m.skops")
    assert (err.status, err.code) == (400, "corrupt_artifact")


def test_empty_file(tmp_path):
    err = refused(write(tmp_path, "m.onnx", b""), "m.onnx")
    assert (err.status, err.code) == (400, "empty_file")


def test_too_large_is_checked_first(tmp_path, cancer):
    path = write(tmp_path, "m.onnx", cancer["onnx"])
    err = refused(path, "m.onnx", max_bytes=100)
    assert (err.status, err.code, err.field) == (413, "too_large", "artifact")
    # exactly at the limit is fine
    assert inspect_artifact(path, "m.onnx", max_bytes=len(cancer["onnx"])).size == len(cancer["onnx"])


def test_extension_must_match_content(tmp_path, cancer):
    err = refused(write(tmp_path, "a.skops", cancer["onnx"]), "a.skops")
    assert err.status == 415 and "ONNX" in err.message and ACCEPTED_FORMATS_MESSAGE in err.message
    err = refused(write(tmp_path, "a.onnx", cancer["skops"]), "a.onnx")
    assert err.status == 415 and "skops" in err.message
    for name in ("a.pkl", "a.bin", "model"):
        err = refused(write(tmp_path, "x", cancer["onnx"]), name)
        assert (err.status, err.code) == (415, "unsupported_format")
        assert ACCEPTED_FORMATS_MESSAGE in err.message


def test_skops_with_custom_function_is_untrusted(tmp_path, cancer):
    train = cancer["train"]
    X = train.drop(columns="target").to_numpy()[:, :3]
    model = make_pipeline(FunctionTransformer(_custom_double), LogisticRegression(max_iter=1000))
    model.fit(X, train["target"])
    err = refused(write(tmp_path, "m.skops", sm.to_skops_bytes(model)), "m.skops")
    assert (err.status, err.code) == (400, "untrusted_types")
    assert "_custom_double" in err.message
    assert [t.rsplit(".", 1)[1] for t in err.details["untrusted_types"]] == ["_custom_double"]


def test_skops_with_custom_class_is_untrusted(tmp_path):
    model = CustomEstimator().fit(np.zeros((3, 2)))
    err = refused(write(tmp_path, "m.skops", sm.to_skops_bytes(model)), "m.skops")
    assert err.code == "untrusted_types"
    assert "CustomEstimator" in err.message


def test_skops_without_a_model(tmp_path):
    err = refused(write(tmp_path, "m.skops", sm.to_skops_bytes({"a": [1, 2]})), "m.skops")
    assert err.status == 415 and "builtins.dict" in err.message


# --------------------------------------------------------------------------
# input schema
# --------------------------------------------------------------------------


def test_schema_from_training_columns_minus_target_in_order(tmp_path, cancer):
    info = inspect_artifact(write(tmp_path, "m.onnx", cancer["onnx"]), "m.onnx", max_bytes=MB)
    columns = list(cancer["train"].columns)
    # target first this time: order of the training file is kept, target dropped
    reordered = ["target"] + columns[:-1]
    schema = resolve_input_schema(info, reordered, "target")
    assert [c["name"] for c in schema] == columns[:-1]
    assert {c["type"] for c in schema} == {"float"}


def test_onnx_wrong_number_of_features(tmp_path, cancer):
    info = inspect_artifact(write(tmp_path, "m.onnx", cancer["onnx"]), "m.onnx", max_bytes=MB)
    with pytest.raises(IntakeError) as exc:
        resolve_input_schema(info, list(cancer["train"].columns[:10]) + ["target"], "target")
    err = exc.value
    assert (err.status, err.code, err.field) == (400, "schema_mismatch", "training_dataset")
    assert "30" in err.message and "10" in err.message


def test_schema_target_not_in_columns(cancer, tmp_path):
    info = inspect_artifact(write(tmp_path, "m.onnx", cancer["onnx"]), "m.onnx", max_bytes=MB)
    with pytest.raises(IntakeError) as exc:
        resolve_input_schema(info, list(cancer["train"].columns), "diagnosis")
    assert (exc.value.code, exc.value.field) == ("missing_target", "target")


def _multi_input_onnx(names, elem=TensorProto.FLOAT) -> bytes:
    inputs = [helper.make_tensor_value_info(n, elem, [None, 1]) for n in names]
    out = helper.make_tensor_value_info("y", elem, [None, len(names)])
    node = helper.make_node("Concat", names, ["y"], axis=1)
    graph = helper.make_graph([node], "multi", inputs, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="test")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_onnx_multi_input_names(tmp_path):
    path = write(tmp_path, "m.onnx", _multi_input_onnx(["b", "a"], TensorProto.DOUBLE))
    info = inspect_artifact(path, "m.onnx", max_bytes=MB)
    assert info.single_tensor_input is False and info.n_features == 2
    assert info.model_class == "multi (test)"
    schema = resolve_input_schema(info, ["a", "y", "b"], "y")
    assert schema == [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]
    with pytest.raises(IntakeError) as exc:
        resolve_input_schema(info, ["a", "c", "y"], "y")
    msg = exc.value.message
    assert exc.value.code == "schema_mismatch"
    assert "missing from the data set: 'b'" in msg and "not expected by the model: 'c'" in msg


def test_skops_feature_names_must_match(tmp_path, cancer):
    info = inspect_artifact(write(tmp_path, "m.skops", cancer["skops"]), "m.skops", max_bytes=MB)
    dataset_columns = [{"name": c, "type": "float"} for c in cancer["train"].columns[:-1]]
    dataset_columns.append({"name": "target", "type": "integer"})
    schema = resolve_input_schema(info, dataset_columns, "target")
    assert schema[0] == {"name": "mean radius", "type": "float"} and len(schema) == 30
    bad = [c for c in dataset_columns if c["name"] != "mean radius"] + [{"name": "extra", "type": "float"}]
    with pytest.raises(IntakeError) as exc:
        resolve_input_schema(info, bad, "target")
    assert exc.value.code == "schema_mismatch"
    assert "'mean radius'" in exc.value.message and "'extra'" in exc.value.message


def test_skops_without_names_compares_count(tmp_path, cancer):
    train = cancer["train"]
    model = LogisticRegression(max_iter=500).fit(train.iloc[:, :5].to_numpy(), train["target"])
    info = inspect_artifact(write(tmp_path, "m.skops", sm.to_skops_bytes(model)), "m.skops", max_bytes=MB)
    assert info.feature_names is None and info.n_features == 5 and info.single_tensor_input is True
    cols = [{"name": f"f{i}", "type": "integer"} for i in range(5)] + [{"name": "t", "type": "boolean"}]
    assert resolve_input_schema(info, cols, "t")[4] == {"name": "f4", "type": "integer"}
    with pytest.raises(IntakeError) as exc:
        resolve_input_schema(info, cols[:3] + cols[5:], "t")
    assert exc.value.code == "schema_mismatch" and "5" in exc.value.message and "3" in exc.value.message


# --------------------------------------------------------------------------
# CSV data sets
# --------------------------------------------------------------------------

GOOD_CSV = (
    "id,score,name,flag,label\n"
    "1,0.5,alpha,true,1\n"
    "2,1.25,\"beta, quoted\",false,0\n"
    "3,,gamma,True,1\n"
    "\n"
    "4,2,delta,,0\n"
).encode()


def test_good_csv(tmp_path):
    path = write(tmp_path, "d.csv", GOOD_CSV)
    info = inspect_dataset_csv(path, target="label", max_bytes=MB)
    assert info.sha256 == hashlib.sha256(GOOD_CSV).hexdigest()
    assert info.size == len(GOOD_CSV)
    assert info.rows == 4
    assert info.target == "label"
    assert info.columns == [
        {"name": "id", "type": "integer"},
        {"name": "score", "type": "float"},
        {"name": "name", "type": "string"},
        {"name": "flag", "type": "boolean"},
        {"name": "label", "type": "integer"},
    ]


def test_sample_dataset_csv_roundtrip(tmp_path, cancer):
    data = sm.dataframe_to_csv_bytes(cancer["train"])
    info = inspect_dataset_csv(write(tmp_path, "t.csv", data), target="target", max_bytes=10 * MB)
    assert info.rows == 426 and len(info.columns) == 31
    assert info.columns[0] == {"name": "mean radius", "type": "float"}
    assert info.columns[-1] == {"name": "target", "type": "integer"}


def test_csv_with_bom(tmp_path):
    data = b"\xef\xbb\xbfa,b\n1,x\n"
    info = inspect_dataset_csv(write(tmp_path, "d.csv", data), target=None, max_bytes=MB)
    assert info.columns == [{"name": "a", "type": "integer"}, {"name": "b", "type": "string"}]
    assert info.rows == 1 and info.target is None
    assert info.sha256 == hashlib.sha256(data).hexdigest()


def csv_error(tmp_path, data: bytes, *, target=None, max_bytes=MB) -> IntakeError:
    with pytest.raises(IntakeError) as exc:
        inspect_dataset_csv(write(tmp_path, "d.csv", data), target=target, max_bytes=max_bytes)
    return exc.value


def test_csv_latin1(tmp_path):
    err = csv_error(tmp_path, "a,b\n1,ok\n2,caf\xe9\n".encode("latin-1"))
    assert (err.status, err.code, err.field) == (400, "bad_encoding", "file")
    assert "offset 14" in err.message and "line 3" in err.message and "0xe9" in err.message


def test_csv_missing_target(tmp_path):
    err = csv_error(tmp_path, b"a,b\n1,2\n", target="label")
    assert (err.status, err.code, err.field) == (400, "missing_target", "target")
    assert "'a', 'b'" in err.message


def test_csv_ragged_row(tmp_path):
    err = csv_error(tmp_path, b"a,b,c\n1,2,3\n4,5\n6,7,8\n")
    assert (err.code, err.status) == ("bad_csv", 400)
    assert "Line 3" in err.message and "2 fields" in err.message and "header has 3" in err.message
    err = csv_error(tmp_path, b"a,b\n1,2\n3,4\n5,6,7\n")
    assert "Line 4" in err.message


def test_csv_header_only(tmp_path):
    err = csv_error(tmp_path, b"a,b,c\n")
    assert err.code == "bad_csv" and "no data rows" in err.message


def test_csv_empty(tmp_path):
    assert csv_error(tmp_path, b"").code == "empty_file"
    assert csv_error(tmp_path, b"\xef\xbb\xbf\n\n").code == "empty_file"


def test_csv_bad_header(tmp_path):
    err = csv_error(tmp_path, b"a,b,a\n1,2,3\n")
    assert err.code == "bad_csv" and "duplicate" in err.message and "'a'" in err.message
    err = csv_error(tmp_path, b"a,,c\n1,2,3\n")
    assert err.code == "bad_csv" and "blank" in err.message and "column 2" in err.message


def test_csv_too_large(tmp_path):
    err = csv_error(tmp_path, GOOD_CSV, max_bytes=10)
    assert (err.status, err.code) == (413, "too_large")


def test_csv_100k_rows_is_fast(tmp_path):
    import time

    rng = np.random.default_rng(0)
    n = 100_000
    lines = ["x1,x2,x3,cat,y"]
    x = rng.normal(size=(n, 3)).round(6)
    ints = rng.integers(0, 2, size=n)
    lines += [f"{a},{b},{c},k{i % 7},{t}" for (a, b, c), i, t in zip(x.tolist(), range(n), ints.tolist())]
    data = ("\n".join(lines) + "\n").encode()
    path = write(tmp_path, "big.csv", data)
    start = time.perf_counter()
    info = inspect_dataset_csv(path, target="y", max_bytes=50 * MB)
    elapsed = time.perf_counter() - start
    assert info.rows == n
    assert [c["type"] for c in info.columns] == ["float", "float", "float", "string", "integer"]
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert elapsed < 3.0


# --------------------------------------------------------------------------
# memory bombs: ONNX tensors past the limit
# --------------------------------------------------------------------------


def test_onnx_constant_of_shape_bomb_is_refused_naming_node_and_limit(tmp_path):
    from tests.factories import onnx_constant_of_shape_bomb

    data = onnx_constant_of_shape_bomb(100_000)
    assert len(data) < 300
    err = refused(write(tmp_path, "bomb.onnx", data), "bomb.onnx")
    assert (err.status, err.code, err.field) == (400, "tensor_too_large", "artifact")
    assert "'fill' (ConstantOfShape)" in err.message and "'big'" in err.message
    assert "100000 × 100000" in err.message and "16,777,216" in err.message
    assert err.details == {"limit": 16_777_216, "shape": [100_000, 100_000]}


def test_onnx_tensor_limit_is_a_parameter(tmp_path):
    from tests.factories import onnx_constant_of_shape_bomb

    path = write(tmp_path, "small.onnx", onnx_constant_of_shape_bomb(100))
    info = inspect_artifact(path, "small.onnx", max_bytes=MB)  # 10,000 elements: fine by default
    assert info.inputs == [{"name": "x", "type": "tensor(float)", "shape": [None, 1]}]
    with pytest.raises(IntakeError) as exc:
        inspect_artifact(path, "small.onnx", max_bytes=MB, max_tensor_elements=5_000)
    assert exc.value.code == "tensor_too_large" and "5,000" in exc.value.message


def test_onnx_tensor_declaring_more_values_than_it_stores_is_refused(tmp_path):
    lying = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[50_000, 50_000], raw_data=b"\x00" * 16)
    nodes = [
        helper.make_node("Constant", [], ["c"], name="weights", value=lying),
        helper.make_node("Add", ["x", "c"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    err = refused(write(tmp_path, "lying.onnx", data), "lying.onnx")
    assert err.code == "tensor_too_large" and "50000 × 50000" in err.message


def test_real_models_pass_the_tensor_limit(tmp_path, cancer):
    # skl2onnx's classifier and its initializers stay well within the default limit.
    info = inspect_artifact(write(tmp_path, "clf.onnx", cancer["onnx"]), "clf.onnx", max_bytes=10 * MB)
    assert info.n_features == 30


# Peak memory of the measuring interpreter, from /proc (Linux): ru_maxrss would carry over the
# peak of the pytest process it was forked from, VmHWM belongs to the new program and
# writing 5 to clear_refs sets it back to the current size, so imports and warm-up do not count.
_PEAK_MIB = """
import re, sys
sys.path.insert(0, {root!r})

def peak_mib():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as out:
            out.write("5")
    except OSError:
        pass  # then growth is measured above the peak so far
"""

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory is read from /proc")

_MEASURE_ONNX_INTAKE = _PEAK_MIB + """
import onnx, onnxruntime  # imported before the baseline: only intake's own allocations count
from governance.registry.intake import IntakeError, inspect_artifact
inspect_artifact({warm!r}, "warm.onnx", max_bytes=1 << 20)
reset_peak()
before = peak_mib()
try:
    inspect_artifact({bomb!r}, "bomb.onnx", max_bytes=1 << 20)
    outcome = "accepted"
except IntakeError as exc:
    outcome = exc.code
print(outcome, peak_mib() - before)
"""


@needs_proc
def test_onnx_bomb_is_refused_without_peak_memory_jumping(tmp_path, cancer):
    """In a fresh interpreter: before the fix onnxruntime's constant folding allocated the
    6000 × 6000 float tensor at intake (the peak grew by 274 MiB; now by nothing measurable)."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.factories import onnx_constant_of_shape_bomb

    root = str(Path(__file__).resolve().parents[2])
    warm = write(tmp_path, "warm.onnx", cancer["onnx"])
    bomb = write(tmp_path, "bomb.onnx", onnx_constant_of_shape_bomb(6000))
    script = _MEASURE_ONNX_INTAKE.format(root=root, warm=str(warm), bomb=str(bomb))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr
    outcome, grown_mib = result.stdout.split()
    assert int(grown_mib) < 32, f"peak memory grew by {grown_mib} MiB"
    assert outcome == "tensor_too_large"


# --------------------------------------------------------------------------
# memory bombs: a CSV is parsed once, in memory bounded by the data
# --------------------------------------------------------------------------


def test_csv_intake_returns_the_frame_read_csv_gives(tmp_path):
    import pandas as pd

    path = write(tmp_path, "d.csv", GOOD_CSV)
    info = inspect_dataset_csv(path, target="label", max_bytes=MB)
    pd.testing.assert_frame_equal(info.frame, pd.read_csv(path), check_exact=True)


def test_csv_types_of_columns_with_missing_cells(tmp_path):
    # pandas reads these as float or object; the reported types stay those of the data.
    data = b"ints,floats,whole_floats,flags,words\n1,1.5,1.0,true,a\n,,,,\n3,2,2.0,False,b\n"
    info = inspect_dataset_csv(write(tmp_path, "d.csv", data), target=None, max_bytes=MB)
    assert [c["type"] for c in info.columns] == ["integer", "float", "float", "boolean", "string"]


def test_csv_is_parsed_once(tmp_path, monkeypatch):
    import pandas as pd

    calls = []
    real = pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: calls.append(a) or real(*a, **k))
    info = inspect_dataset_csv(write(tmp_path, "d.csv", GOOD_CSV), target="label", max_bytes=MB)
    assert len(calls) == 1 and info.rows == 4 and len(info.frame) == 4


_MEASURE_CSV_INTAKE = _PEAK_MIB + """
import pandas  # imported before the baseline: only intake's own allocations count
from governance.registry.intake import inspect_dataset_csv
inspect_dataset_csv({small!r}, target=None, max_bytes=1 << 30)
reset_peak()
before = peak_mib()
info = inspect_dataset_csv({big!r}, target="y", max_bytes=1 << 30)
print(info.rows, peak_mib() - before)
"""


@needs_proc
def test_csv_intake_memory_stays_bounded_by_file_size(tmp_path):
    """In a fresh interpreter: before the fix a 10.7 MiB CSV raised the peak by 144 MiB (its
    bytes, their text and a frame were held at once, and the upload parsed it once more for
    the typed copy); now by about three times the file, mostly the parsed frame itself."""
    import subprocess
    import sys
    from pathlib import Path

    n = 200_000
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).round(6)
    with open(tmp_path / "big.csv", "w") as out:
        out.write("a,b,c,d,e,cat,flag,y\n")
        for i, row in enumerate(x.tolist()):
            out.write(",".join(map(str, row)) + f",k{i % 13},{'true' if i % 3 else ''},{i % 2}\n")
    size_mib = (tmp_path / "big.csv").stat().st_size / MB
    assert size_mib > 10
    small = write(tmp_path, "small.csv", b"a,b\n1,2\n")
    root = str(Path(__file__).resolve().parents[2])
    script = _MEASURE_CSV_INTAKE.format(root=root, small=str(small), big=str(tmp_path / "big.csv"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr
    rows, grown_mib = map(int, result.stdout.split())
    assert rows == n
    assert grown_mib < 5 * size_mib, f"peak memory grew by {grown_mib} MiB for a {size_mib:.1f} MiB CSV"
