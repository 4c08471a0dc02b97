"""nerve.save / nerve.load: exact round trips, atomic writes, damaged files, clear errors."""
import io
import json
import os
import zlib
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy as stnp

import nerve
import nerve.io as nio
from nerve.io import NerveLoadError


def assert_identical(a, b, path="obj"):
    """Same types all the way down, same dtypes, same values (NaN == NaN)."""
    assert type(a) is type(b), f"{path}: {type(a)} != {type(b)}"
    if isinstance(a, nerve.Tensor):
        assert a.dtype == b.dtype and a.requires_grad == b.requires_grad, path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b), path
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert type(k) is type(next(kk for kk in b if kk == k)), f"{path} key {k!r}"
            assert_identical(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and a != a:
        assert b != b, path
    else:
        assert a == b, path


def roundtrip(obj, tmp_path, **kw):
    p = tmp_path / "obj.nrv"
    nerve.save(obj, p)
    return nerve.load(p, **kw)


VALUES = {
    "tensor_f32": nerve.randn(3, 4),
    "tensor_f64": nerve.randn(2, dtype=nerve.float64),
    "tensor_f16": nerve.ones(2, dtype=nerve.float16),
    "tensor_i64": nerve.tensor([1, -2, 3]),
    "tensor_i32": nerve.tensor([1, 2], dtype=nerve.int32),
    "tensor_u8": nerve.tensor([0, 255], dtype=nerve.uint8),
    "tensor_bool": nerve.tensor([True, False]),
    "tensor_0d": nerve.tensor(2.5),
    "tensor_empty": nerve.zeros(0, 3),
    "tensor_requires_grad": nerve.randn(2, requires_grad=True),
    "ndarray_f64": np.linspace(0, 1, 5),
    "ndarray_noncontiguous": np.arange(12.0).reshape(3, 4).T,
    "ndarray_bool": np.array([[True], [False]]),
    "ndarray_u16": np.arange(3, dtype=np.uint16),
    "ndarray_c64": np.array([1 + 2j], dtype=np.complex64),
    "np_float32": np.float32(1.5),
    "np_int64": np.int64(-7),
    "np_bool": np.bool_(True),
    "int": 3,
    "big_int": 2**100,
    "float": 0.1,
    "nan": float("nan"),
    "inf": float("-inf"),
    "bool": False,
    "none": None,
    "str": "héllo",
    "bytes": b"\x00\x01xyz",
    "empty_containers": ([], (), {}, OrderedDict()),
    "tuple_vs_list": ([1, (2, 3)], (4, [5])),
    "int_keys": {0: "a", 1: {2: "b"}},
    "mixed_keys": {2: 1, "2": 2, 1.5: 3, None: 4, True: 5, (1, "x"): 6},
    "ordered": OrderedDict([("b", 1), ("a", 2)]),
    "size": nerve.Size([2, 3]),
    "dtype_device": [nerve.float32, nerve.int64, nerve.bool, nerve.device("cpu")],
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_roundtrip_exact(name, tmp_path):
    obj = VALUES[name]
    assert_identical(obj, roundtrip(obj, tmp_path))


def test_big_endian_arrays_load_with_the_same_values(tmp_path):
    out = roundtrip(np.arange(3, dtype=">i4"), tmp_path)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [0, 1, 2])


def test_checkpoint_roundtrip_in_pytorch_format(tmp_path):
    sd = OrderedDict([("fc.weight", nerve.randn(4, 3)), ("fc.bias", nerve.zeros(4)),
                      ("bn.num_batches_tracked", nerve.tensor(7))])
    ckpt = {
        "model": sd,
        "optimizer": {"state": {0: {"step": 3, "exp_avg": nerve.randn(4, 3)},
                                1: {"step": 3, "exp_avg": nerve.zeros(4)}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8,
                                        "weight_decay": 0, "amsgrad": False,
                                        "params": [0, 1]}]},
        "epoch": 3,
        "rng": nerve.get_rng_state(),
    }
    out = roundtrip(ckpt, tmp_path)
    assert_identical(ckpt, out)
    assert type(out["model"]) is OrderedDict and list(out["model"]) == list(sd)
    assert list(out["optimizer"]["state"]) == [0, 1]
    assert out["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)


def test_state_dict_keys_are_readable_by_other_safetensors_tools(tmp_path):
    sd = OrderedDict([("fc.weight", nerve.randn(4, 3)), ("fc.bias", nerve.zeros(4))])
    nio.save_state_dict(sd, tmp_path / "m.safetensors")
    raw = stnp.load_file(str(tmp_path / "m.safetensors"))
    assert sorted(raw) == ["fc.bias", "fc.weight"]
    np.testing.assert_array_equal(raw["fc.weight"], sd["fc.weight"].numpy())
    assert_identical(sd, nio.load_state_dict(tmp_path / "m.safetensors"))
    with pytest.raises(TypeError, match="must map a str to a Tensor"):
        nio.save_state_dict({"a": 1}, tmp_path / "x")


def test_plain_safetensors_file_loads_as_dict_of_tensors(tmp_path):
    stnp.save_file({"w": np.ones((2, 2), np.float32), "i": np.arange(3)}, str(tmp_path / "p"))
    out = nerve.load(tmp_path / "p")
    assert set(out) == {"w", "i"} and out["w"].dtype == nerve.float32
    assert out["i"].dtype == nerve.int64


def test_rng_state_checkpoint_resumes_the_same_stream(tmp_path):
    nerve.manual_seed(0)
    nerve.randn(5)
    nerve.save({"rng": nerve.get_rng_state(), "step": 1}, tmp_path / "c")
    expected = [nerve.randn(3).numpy(), nerve.rand(2).numpy()]
    nerve.manual_seed(99)  # anything else in between
    nerve.randn(7)
    ck = nerve.load(tmp_path / "c")
    nerve.set_rng_state(ck["rng"])
    np.testing.assert_array_equal(nerve.randn(3).numpy(), expected[0])
    np.testing.assert_array_equal(nerve.rand(2).numpy(), expected[1])


def test_generator_state_roundtrip(tmp_path):
    g = nerve.Generator().manual_seed(4)
    nerve.randn(3, generator=g)
    nerve.save(g.get_state(), tmp_path / "g")
    want = nerve.randn(4, generator=g).numpy()
    g2 = nerve.Generator()
    g2.set_state(nerve.load(tmp_path / "g"))
    np.testing.assert_array_equal(nerve.randn(4, generator=g2).numpy(), want)


def test_parameters_and_buffers(tmp_path):
    parameter = pytest.importorskip("nerve.nn.parameter")
    Buffer, Parameter = parameter.Buffer, parameter.Parameter

    out = roundtrip([Parameter(nerve.ones(2)), Parameter(nerve.ones(1), requires_grad=False),
                     Buffer(nerve.zeros(2))], tmp_path)
    assert type(out[0]) is Parameter and out[0].requires_grad
    assert type(out[1]) is Parameter and not out[1].requires_grad
    assert type(out[2]) is nerve.Tensor and not out[2].requires_grad


def test_same_object_saved_once_and_loaded_as_one(tmp_path):
    w = nerve.randn(3)
    out = roundtrip({"a": w, "b": [w], "c": nerve.randn(3)}, tmp_path)
    assert out["a"] is out["b"][0] and out["a"] is not out["c"]
    from safetensors import safe_open

    with safe_open(str(tmp_path / "obj.nrv"), "np") as f:
        assert len(f.keys()) == 2


def test_loaded_arrays_are_writable_and_independent(tmp_path):
    t = roundtrip(nerve.zeros(3), tmp_path)
    with nerve.no_grad():
        t.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), [1, 1, 1])


def test_file_objects_and_top_level_names(tmp_path):
    buf = io.BytesIO()
    nerve.save({"x": nerve.arange(3), "t": (1, 2)}, buf)
    buf.seek(0)
    out = nerve.load(buf)
    assert out["t"] == (1, 2) and out["x"].dtype == nerve.int64
    assert nerve.save is nio.save and nerve.load is nio.load


def test_map_location_and_weights_only(tmp_path):
    p = tmp_path / "t"
    nerve.save({"w": nerve.ones(2)}, p)
    assert nerve.load(p, map_location="cpu")["w"].device == nerve.device("cpu")
    assert nerve.load(p, map_location=nerve.device("cpu"), weights_only=False)["w"].numel() == 2
    seen = []
    out = nerve.load(p, map_location=lambda t, loc: seen.append(loc) or t)
    assert seen == ["cpu"] and out["w"].numel() == 2
    assert nerve.load(p, map_location={"cuda": "cpu"})["w"].numel() == 2


# --- atomic writes ---------------------------------------------------------------------


def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch):
    p = tmp_path / "ckpt.nrv"
    nerve.save({"epoch": 1, "w": nerve.ones(3)}, p)
    before = p.read_bytes()

    def crash_midway(arrays, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(nio.stnp, "save_file", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        nerve.save({"epoch": 2, "w": nerve.zeros(3)}, p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.nrv"]  # no temporary file left behind
    assert nerve.load(p)["epoch"] == 1


def test_failed_rename_leaves_old_file_intact(tmp_path, monkeypatch):
    p = tmp_path / "ckpt.nrv"
    nerve.save([1], p)

    def no_replace(src, dst):
        raise PermissionError("nope")

    monkeypatch.setattr(nio.os, "replace", no_replace)
    with pytest.raises(PermissionError):
        nerve.save([2], p)
    monkeypatch.undo()
    assert nerve.load(p) == [1] and os.listdir(tmp_path) == ["ckpt.nrv"]


def test_unsupported_object_fails_before_touching_the_file(tmp_path):
    p = tmp_path / "ckpt.nrv"
    nerve.save({"ok": 1}, p)
    with pytest.raises(TypeError, match=r"type function at checkpoint\['model'\]\['foo'\]"):
        nerve.save({"model": {"foo": lambda x: x}}, p)
    assert nerve.load(p) == {"ok": 1} and os.listdir(tmp_path) == ["ckpt.nrv"]


def test_save_through_symlink_replaces_the_target(tmp_path):
    real = tmp_path / "real.nrv"
    nerve.save(1, real)
    link = tmp_path / "link.nrv"
    link.symlink_to(real)
    nerve.save(2, link)
    assert link.is_symlink() and nerve.load(real) == 2


# --- unsupported objects -----------------------------------------------------------------


class Custom:
    pass


@pytest.mark.parametrize("obj,match", [
    ({"model": {"foo": Custom()}}, r"test_io\.Custom at checkpoint\['model'\]\['foo'\]"),
    ([1, {2}], r"type set at checkpoint\[1\]"),
    ({"a": 1j}, r"type complex at checkpoint\['a'\]"),
    ({Custom(): 1}, r"dict key of type test_io\.Custom"),
    ({"x": np.zeros(2, np.complex128)}, r"dtype complex128 at checkpoint\['x'\]"),
    ({"x": np.array(["a"])}, r"dtype <U1"),
    ({"d": __import__("collections").defaultdict(int)}, r"defaultdict at checkpoint\['d'\]"),
])
def test_unsupported_types_name_type_and_path(obj, match, tmp_path):
    with pytest.raises(TypeError, match=match):
        nerve.save(obj, tmp_path / "x")


def test_cycles_are_rejected(tmp_path):
    a = [1]
    a.append(a)
    with pytest.raises(ValueError, match=r"checkpoint\[1\] contains itself"):
        nerve.save(a, tmp_path / "x")


# --- damaged and foreign files -----------------------------------------------------------


@pytest.fixture
def good_file(tmp_path):
    p = tmp_path / "good.nrv"
    nerve.save({"w": nerve.arange(100, dtype=nerve.float32), "n": 1}, p)
    return p


def test_truncated_file(good_file):
    data = good_file.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 20, 7, 0):
        good_file.write_bytes(data[:cut])
        with pytest.raises(NerveLoadError, match=r"good\.nrv.*(truncated|not a valid)"):
            nerve.load(good_file)


def test_flipped_bit_in_array_data_is_detected(good_file):
    data = bytearray(good_file.read_bytes())
    data[-10] ^= 0x40
    good_file.write_bytes(bytes(data))
    with pytest.raises(NerveLoadError, match=r"good\.nrv.*'w' is corrupted \(CRC-32"):
        nerve.load(good_file)


def test_garbage_header_and_foreign_files(tmp_path):
    cases = {
        "garbage.bin": os.urandom(64),
        "model.pt": b"PK\x03\x04" + b"\x00" * 60,
        "pickle.pkl": b"\x80\x04\x95" + b"\x00" * 40,
        "text.txt": b"hello world, this is not a tensor file at all",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(NerveLoadError, match=name.replace(".", r"\.")):
            nerve.load(tmp_path / name)
    with pytest.raises(NerveLoadError, match="never unpickles"):
        nerve.load(tmp_path / "model.pt")


def test_damaged_header_bytes(good_file):
    data = bytearray(good_file.read_bytes())
    data[12:16] = b"\xff\xfe{]"
    good_file.write_bytes(bytes(data))
    with pytest.raises(NerveLoadError, match=r"good\.nrv"):
        nerve.load(good_file)


def test_changed_value_in_the_description_is_detected(good_file):
    data = good_file.read_bytes()
    assert data.count(b'[\\"n\\",1]') == 1  # JSON inside the JSON header: escaped quotes
    good_file.write_bytes(data.replace(b'[\\"n\\",1]', b'[\\"n\\",7]'))
    with pytest.raises(NerveLoadError, match=r"good\.nrv.*description is corrupted"):
        nerve.load(good_file)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        nerve.load(tmp_path / "nope.nrv")


def write_described(path, root, arrays=None, **doc_fields):
    arrays = arrays or {}
    table = {k: {"dtype": v.dtype.name, "crc32": nio._crc32(v)} for k, v in arrays.items()}
    doc = {"format": "nerve", "version": 1, "root": root, "arrays": table, **doc_fields}
    save_raw(path, arrays, json.dumps(doc))


def save_raw(path, arrays, text):
    """A safetensors file with ``text`` as nerve's description (and its correct CRC)."""
    meta = {"__nerve__": text, "__nerve_crc32__": str(zlib.crc32(text.encode()))}
    stnp.save_file(arrays, str(path), metadata=meta)


@pytest.mark.parametrize("root,match", [
    ({"t": "pickle", "v": "cos\nsystem\n"}, "unknown type tag 'pickle' at checkpoint"),
    ({"t": "dict", "v": [["a", {"t": "eval", "v": "1"}]]}, r"unknown type tag 'eval' at "
                                                          r"checkpoint\['a'\]"),
    ([1, 2], "malformed entry at checkpoint"),
    ({"t": "list", "v": 3}, "malformed list"),
    ({"t": "dict", "v": [["a"]]}, "malformed dict entry"),
    ({"t": "dict", "v": [[{"t": "list", "v": []}, 1]]}, "malformed dict key"),
    ({"t": "tensor", "k": "missing", "rg": False}, "refers to array 'missing'"),
    ({"t": "float", "v": "1e999x"}, "malformed float"),
    ({"t": "dtype", "v": "object"}, "unknown dtype"),
    ({"v": 1}, "malformed entry"),
    ({"t": "tensor", "k": "i", "rg": True}, "int64 but marked requires_grad"),
    ({"t": "tensor", "k": "i", "rg": "yes"}, "malformed tensor"),
])
def test_malicious_or_malformed_descriptions_are_rejected(root, match, tmp_path):
    write_described(tmp_path / "bad", root, {"i": np.arange(2)})
    with pytest.raises(NerveLoadError, match=match):
        nerve.load(tmp_path / "bad")


def test_description_and_arrays_must_agree(tmp_path):
    a = {"x": np.ones(2, np.float32)}
    write_described(tmp_path / "v", {"t": "tensor", "k": "x"}, a, version=2)
    with pytest.raises(NerveLoadError, match="newer nerve"):
        nerve.load(tmp_path / "v")
    save_raw(tmp_path / "extra", a, json.dumps(
        {"format": "nerve", "version": 1, "root": None, "arrays": {}}))
    with pytest.raises(NerveLoadError, match=r"unexpected: \['x'\]"):
        nerve.load(tmp_path / "extra")
    save_raw(tmp_path / "dt", a, json.dumps(
        {"format": "nerve", "version": 1, "root": {"t": "tensor", "k": "x", "rg": False},
         "arrays": {"x": {"dtype": "int64", "crc32": 0}}}))
    with pytest.raises(NerveLoadError, match="dtype float32, the description says int64"):
        nerve.load(tmp_path / "dt")
    save_raw(tmp_path / "js", a, "{not json")
    with pytest.raises(NerveLoadError, match="not valid JSON"):
        nerve.load(tmp_path / "js")
