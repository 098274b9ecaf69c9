"""Tests for minigan/run/checkpoint.py: round trip, atomic writes, damaged files, pickle refusal, key checks."""

import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan.run import rng_state
from minigan.run import checkpoint
from minigan.run.checkpoint import (FORMAT_VERSION, META_KEY, CheckpointError, check_state_dict_keys,
                                flatten_state, load_checkpoint, save_checkpoint, unflatten_state)


def sample_arrays():
    rng = np.random.default_rng(0)
    return {
        "G/fc.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "G/fc.bias": np.array([np.nan, np.inf, -0.0, 1e-45], dtype=np.float32),  # bit patterns kept
        "D/steps": np.arange(6, dtype=np.int64).reshape(2, 3),
        "images": rng.integers(0, 256, size=(2, 1, 3, 3), dtype=np.uint8),
        "flags": np.array([True, False]),
        "scalar": np.float64(0.5),
        "file": np.zeros(0, dtype=np.float64),  # would clash with np.savez's own parameter name
    }


def sample_meta():
    return {"epoch": 3, "losses": [0.5, 0.25], "config": {"lr": 2e-4, "name": "dcgan"}}


def assert_same_arrays(got, want):
    assert list(got) == list(want)
    for key, value in want.items():
        value = np.asarray(value)
        assert got[key].dtype == value.dtype, key
        assert got[key].shape == value.shape, key
        assert got[key].tobytes() == value.tobytes(), key  # bit-identical, NaN included


# --------------------------------------------------------------------------------------------------
# Round trip
# --------------------------------------------------------------------------------------------------
def test_round_trip_keeps_bits_dtypes_and_meta(tmp_path):
    path = tmp_path / "ckpt.npz"
    meta = sample_meta()
    save_checkpoint(path, sample_arrays(), meta)
    arrays, loaded_meta = load_checkpoint(path)
    assert_same_arrays(arrays, sample_arrays())
    assert loaded_meta == {**meta, "minigan_format": "minigan-checkpoint", "format_version": FORMAT_VERSION}
    assert meta == sample_meta()  # the caller's dict is not modified
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temp file left behind


def test_file_is_a_plain_npz_readable_without_pickle(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.ones(3, np.float32)}, {"step": 7})
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == [META_KEY, "w"]
        assert json.loads(archive[META_KEY].tobytes().decode("utf-8"))["step"] == 7


def test_save_overwrites_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.zeros(2)}, {"epoch": 1})
    save_checkpoint(path, {"w": np.ones(2)}, {"epoch": 2})
    arrays, meta = load_checkpoint(path)
    assert meta["epoch"] == 2 and arrays["w"].tolist() == [1.0, 1.0]


def test_save_rejects_bad_keys_values_and_meta(tmp_path):
    path = tmp_path / "ckpt.npz"
    with pytest.raises(TypeError, match="str"):
        save_checkpoint(path, {1: np.zeros(2)}, {})
    with pytest.raises(TypeError, match="object"):
        save_checkpoint(path, {"w": np.array([{"a": 1}], dtype=object)}, {})
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(path, {META_KEY: np.zeros(2)}, {})
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(path, {"w": np.zeros(2)}, {"bad": object()})
    assert os.listdir(tmp_path) == []


def test_flatten_and_unflatten_several_state_dicts(tmp_path):
    g, d = {"w": np.ones(2)}, {"w": np.zeros(3), "b": np.zeros(1)}
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {**flatten_state("G/", g), **flatten_state("D/", d)}, {})
    arrays, _ = load_checkpoint(path)
    assert_same_arrays(unflatten_state("G/", arrays), g)
    assert_same_arrays(unflatten_state("D/", arrays), d)


# --------------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------------
def test_crash_before_rename_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.zeros(3)}, {"epoch": 1})

    def crash(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, {"w": np.ones(3)}, {"epoch": 2})
    monkeypatch.undo()
    arrays, meta = load_checkpoint(path)
    assert meta["epoch"] == 1 and arrays["w"].tolist() == [0.0, 0.0, 0.0]
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_crash_halfway_through_writing_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"a": np.zeros(3), "b": np.zeros(3)}, {"epoch": 1})
    real_write_array = np.lib.format.write_array
    calls = []

    def write_then_die(fp, array, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first array is already in the temp file
            raise KeyboardInterrupt
        real_write_array(fp, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"a": np.ones(3), "b": np.ones(3)}, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)[1]["epoch"] == 1
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_crash_on_first_save_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "ckpt.npz", {"w": np.zeros(3)}, {})
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# Damaged, foreign and unsafe files
# --------------------------------------------------------------------------------------------------
def test_missing_file_has_helpful_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


def test_truncated_file_raises_checkpoint_error(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, sample_arrays(), sample_meta())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"PK", b"hello world" * 100, os.urandom(4096),
                                     b"\x80\x04\x95 pickle-looking bytes"])
def test_garbage_raises_checkpoint_error(tmp_path, content):
    path = tmp_path / "garbage.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="garbage.npz"):
        load_checkpoint(path)


def test_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.zeros(2), payload=np.array([{"x": 1}, None], dtype=object))  # pickles
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)


def test_npz_without_meta_or_with_foreign_meta_is_refused(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.zeros(2))
    with pytest.raises(CheckpointError, match="__meta__.json"):
        load_checkpoint(path)
    np.savez(path, **{META_KEY: np.frombuffer(b'{"format_version": 1}', np.uint8)})
    with pytest.raises(CheckpointError, match="not a minigan checkpoint"):
        load_checkpoint(path)
    np.savez(path, **{META_KEY: np.frombuffer(b"{not json", np.uint8)})
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path)


def test_single_npy_and_non_array_entries_are_refused(tmp_path):
    npy = tmp_path / "array.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(CheckpointError, match="single .npy"):
        load_checkpoint(npy)
    path = tmp_path / "text.npz"
    save_checkpoint(path, {"w": np.zeros(2)}, {})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", "not an array")
    with pytest.raises(CheckpointError, match="not a NumPy array"):
        load_checkpoint(path)


def test_newer_format_version_asks_to_upgrade(tmp_path, monkeypatch):
    path = tmp_path / "future.npz"
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", FORMAT_VERSION + 1)
    save_checkpoint(path, {"w": np.zeros(2)}, {})
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="newer minigan.*upgrade"):
        load_checkpoint(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=3))
def test_damaged_file_loads_identically_or_raises_checkpoint_error(tmp_path, cut, flips):
    """Truncation at any offset (and a few overwritten bytes) never gives wrong arrays or a stray error."""
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, sample_arrays(), sample_meta())
    data = bytearray(path.read_bytes())
    data = data[: round(cut * len(data))] if cut < 1 else data
    for where, value in flips:
        if data:
            data[min(int(where * len(data)), len(data) - 1)] = value
    path.write_bytes(bytes(data))
    try:
        arrays, meta = load_checkpoint(path)
    except CheckpointError:
        return
    assert_same_arrays(arrays, sample_arrays())
    assert meta["epoch"] == 3


# --------------------------------------------------------------------------------------------------
# Checking keys and shapes of a state dict
# --------------------------------------------------------------------------------------------------
def test_check_state_dict_keys_passes_when_everything_matches():
    check_state_dict_keys({"w": (2, 3), "b": np.zeros(3)}, {"w": np.zeros((2, 3)), "b": np.zeros(3)})


def test_check_state_dict_keys_lists_all_three_kinds_of_mismatch():
    expected = {"fc.weight": (4, 3), "fc.bias": (4,), "bn.running_mean": (4,)}
    got = {"fc.weight": np.zeros((3, 4)), "fc.bias": np.zeros(4), "extra.weight": np.zeros(1)}
    with pytest.raises(CheckpointError) as info:
        check_state_dict_keys(expected, got, what="generator")
    message = str(info.value)
    assert "generator" in message
    assert "missing" in message and "'bn.running_mean'" in message
    assert "unexpected" in message and "'extra.weight'" in message
    assert "'fc.weight'" in message and "(4, 3)" in message and "(3, 4)" in message
    assert "'fc.bias'" not in message


# --------------------------------------------------------------------------------------------------
# Training checkpoints of the gradient-penalty GANs (WGAN-GP's layer-norm critic, R1)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("losses, spec_extra", [({"loss": "wgan-gp", "d_steps": 5, "beta1": 0.0, "beta2": 0.9},
                                                 {"d_norm": "layer"}),
                                                ({"r1_gamma": 10.0}, {})])
def test_training_checkpoint_of_a_penalized_gan_round_trips(tmp_path, losses, spec_extra):
    """Weights (LayerNorm's per-element weight and bias, no running statistics), Adam state, the loss
    settings and the random generator state (it draws WGAN-GP's eps) come back bit for bit."""
    import minigan as mg
    from minigan.models import build
    from minigan.optim import Adam
    from minigan.training import TrainConfig
    from minigan.run.training_state import save_training_checkpoint

    mg.manual_seed(0)
    spec = {"name": "dcgan", "latent_dim": 8, **spec_extra}
    G, D = build(spec)
    config = TrainConfig(latent_dim=8, **losses)
    opt_G, opt_D = Adam(G.parameters(), 1e-4, (0.0, 0.9)), Adam(D.parameters(), 1e-4, (0.0, 0.9))
    mg.randn(3)                                                      # move the generator off its seed state
    path = tmp_path / "checkpoint.npz"
    save_training_checkpoint(path, G, D, opt_G, opt_D, (mg.randn(4, 8), None),
                             {"epoch": 1, "batch": 0, "iteration": 9}, config, spec)
    arrays, meta = load_checkpoint(path)
    assert meta["model"] == spec and meta["config"]["loss"] == config.loss
    assert meta["config"]["r1_gamma"] == config.r1_gamma and meta["config"]["d_steps"] == config.d_steps
    assert meta["rng_state"] == rng_state.get_rng_state()
    layer_norm = spec_extra.get("d_norm") == "layer"
    assert ("D/net.3.running_mean" in arrays) == (not layer_norm)
    if layer_norm:
        assert arrays["D/net.3.weight"].shape == (128, 8, 8)       # one weight per element of (C, H, W)
        with pytest.raises(ValueError, match="running_mean"):       # a batch-norm D cannot take the critic
            build({"name": "dcgan", "latent_dim": 8})[1].load_state_dict(unflatten_state("D/", arrays))
    _, D2 = build(spec)
    D2.load_state_dict(unflatten_state("D/", arrays))
    for (name, a), b in zip(D.state_dict().items(), D2.state_dict().values()):
        assert a.tobytes() == b.tobytes(), name
