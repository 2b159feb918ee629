"""Shared file helpers: hashing, atomic writes, full-disk messages, locks."""

import errno
import hashlib
import json
import multiprocessing
import os
import types

import pytest

from cacl_jax.common import files


def _free(monkeypatch, num_bytes):
  monkeypatch.setattr(files.shutil, "disk_usage",
                      lambda path: types.SimpleNamespace(free=num_bytes))


def test_sha256_file_reads_in_blocks(tmp_path):
  path = tmp_path / "data.bin"
  data = bytes(range(256)) * 1000
  path.write_bytes(data)
  assert files.sha256_file(path, block_bytes=1000) == (
      hashlib.sha256(data).hexdigest())


def test_atomic_write_creates_folder_and_replaces(tmp_path):
  path = tmp_path / "a" / "b" / "out.bin"
  assert files.atomic_write(path, lambda f: f.write(b"first")) == path
  files.atomic_write(path, lambda f: f.write(b"second"))
  assert path.read_bytes() == b"second"
  assert sorted(p.name for p in path.parent.iterdir()) == ["out.bin"]
  umask = os.umask(0)
  os.umask(umask)
  assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_json_is_sorted_and_indented(tmp_path):
  path = files.write_json(tmp_path / "x.json", {"b": [1, "é"], "a": None})
  assert path.read_text(encoding="utf-8") == (
      '{\n  "a": null,\n  "b": [\n    1,\n    "é"\n  ]\n}')
  assert json.loads(path.read_text(encoding="utf-8")) == {"b": [1, "é"],
                                                          "a": None}


@pytest.mark.parametrize("error,shown", [
    (OSError(errno.ENOSPC, "No space left on device"),
     "[Errno 28] No space left on device"),
    (OSError("10240 requested and 2016 written"),
     "10240 requested and 2016 written"),
])
def test_full_disk_names_file_and_free_space(tmp_path, monkeypatch, error,
                                             shown):
  _free(monkeypatch, 1000)
  path = tmp_path / "cache" / "big.npy"
  path.parent.mkdir()
  path.write_bytes(b"old")

  def write(f):
    f.write(b"\0" * 2016)
    raise error
  with pytest.raises(files.WriteError) as caught:
    files.atomic_write(path, write, needed_bytes=10240)
  assert str(caught.value) == (
      f"{path}: could not write the file ({shown}); 1000 bytes free on its "
      "file system; the file needs about 10.0 KiB. Free some space, or write "
      "elsewhere (caches: $CACL_CACHE_DIR or --config.data.cache_dir).")
  assert caught.value.errno == error.errno
  assert isinstance(caught.value.__cause__, OSError)
  assert path.read_bytes() == b"old"
  assert sorted(p.name for p in path.parent.iterdir()) == ["big.npy"]


def test_other_errors_get_no_space_advice(tmp_path, monkeypatch):
  _free(monkeypatch, 5 * 2**30)

  def write(f):
    raise PermissionError(errno.EACCES, "Permission denied")
  with pytest.raises(files.WriteError) as caught:
    files.atomic_write(tmp_path / "x", write)
  assert str(caught.value) == (
      f"{tmp_path / 'x'}: could not write the file ([Errno 13] Permission "
      "denied); 5.0 GiB free on its file system.")
  assert caught.value.errno == errno.EACCES


def test_folder_that_cannot_be_made_is_a_write_error(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a folder")
  with pytest.raises(files.WriteError, match=f"^{blocker}/out: could not "
                     "write the file"):
    files.atomic_write(blocker / "out", lambda f: f.write(b"x"))


def test_other_exceptions_pass_through_and_clean_up(tmp_path):
  def write(f):
    f.write(b"partial")
    raise KeyError("boom")
  with pytest.raises(KeyError, match="boom"):
    files.atomic_write(tmp_path / "out", write)
  assert list(tmp_path.iterdir()) == []


def test_free_bytes_of_a_missing_path_uses_its_parent(tmp_path, monkeypatch):
  seen = []

  def usage(path):
    seen.append(path)
    return types.SimpleNamespace(free=7)
  monkeypatch.setattr(files.shutil, "disk_usage", usage)
  assert files.free_bytes(tmp_path / "not" / "yet") == 7
  assert seen == [tmp_path]


def _hold_lock(path, locked_event, release_event):
  with files.locked(path):
    locked_event.set()
    release_event.wait(timeout=120)


def test_locked_excludes_another_process(tmp_path):
  lock = tmp_path / "lock"
  ctx = multiprocessing.get_context("spawn")
  locked_event, release_event = ctx.Event(), ctx.Event()
  holder = ctx.Process(target=_hold_lock,
                       args=(lock, locked_event, release_event))
  holder.start()
  try:
    assert locked_event.wait(timeout=120)
    fd = os.open(lock, os.O_RDONLY)
    try:
      with pytest.raises(BlockingIOError):
        files.fcntl.flock(fd, files.fcntl.LOCK_EX | files.fcntl.LOCK_NB)
    finally:
      os.close(fd)
  finally:
    release_event.set()
    holder.join(timeout=120)
  assert holder.exitcode == 0
  with files.locked(lock, shared=True), files.locked(lock, shared=True):
    pass
  with files.locked(lock):
    pass
  assert lock.read_bytes() == b""
