"""The command line never damages the user's files and answers bad input with a message, never a
traceback: `run --from` writes only where told, `-o` respects symlinks, devices and FIFOs and leaves
no temporary files behind, and unreadable or unrepresentable input is named with its fix."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import test_cli
from conftest import resource
from test_cli import OUTLINE

cache, invoke = test_cli.cache, test_cli.invoke  # the CLI tests' fixtures: a tmp cache, CliRunner

SAVE_IMAGE = resource("cli_save_image.json")  # a 64 px draft keyframe saved as frame.png beside the workflow
SAVE_VIDEO = resource("cli_save_video.json")  # a 1 s 64 px captioned clip saved as final.mp4 + final.srt
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="symlinks, FIFOs and devices as on POSIX")


def parts_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".reelgraph.part"))


@pytest.fixture
def saved_png(invoke, tmp_path) -> Path:
    """A PNG that reelgraph rendered and saved (its workflow names frame.png as the save filename)."""
    made = tmp_path / "made"
    made.mkdir()
    shutil.copy(SAVE_IMAGE, made / "wf.json")
    r = invoke("run", made / "wf.json", "-q")
    assert r.exit_code == 0, r.stderr
    return made / "frame.png"


# ---------------------------------------------------------------------------------------------
# run --from: a restored workflow writes only where the command line says

def test_run_from_a_saved_video_leaves_the_videos_and_captions_beside_it_alone(invoke, tmp_path):
    made = tmp_path / "made"
    made.mkdir()
    shutil.copy(SAVE_VIDEO, made / "wf.json")
    r = invoke("run", made / "wf.json", "-q")  # writes made/final.mp4 and made/final.srt
    assert r.exit_code == 0, r.stderr
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    shutil.copy(made / "final.mp4", downloads / "clip.mp4")
    (downloads / "final.mp4").write_bytes(b"the user's own film")
    (downloads / "final.srt").write_text("the user's own captions")
    r = invoke("run", "--from", downloads / "clip.mp4", "--set", "animate.seed=4", "-o", downloads / "seed4.mp4")
    assert r.exit_code == 0, r.stderr
    assert (downloads / "final.mp4").read_bytes() == b"the user's own film"
    assert (downloads / "final.srt").read_text() == "the user's own captions"
    assert sorted(p.name for p in downloads.iterdir()) == [
        "clip.mp4", "final.mp4", "final.srt", "seed4.mp4", "seed4.srt"]
    assert "save.filename" in r.stderr


def test_run_from_a_saved_file_leaves_the_files_beside_it_alone(invoke, tmp_path, saved_png):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    shutil.copy(saved_png, downloads / "shot.png")
    (downloads / "frame.png").write_bytes(b"the user's own holiday photo")
    r = invoke("run", "--from", downloads / "shot.png", "--set", "keyframe.seed=4", "-o", downloads / "seed4.png")
    assert r.exit_code == 0, r.stderr
    assert (downloads / "frame.png").read_bytes() == b"the user's own holiday photo"
    assert (downloads / "seed4.png").read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in downloads.iterdir()) == ["frame.png", "seed4.png", "shot.png"]
    assert "save.filename" in r.stderr and "frame.png" in r.stderr  # the user is told what was not written


def test_run_from_writes_a_filename_set_on_the_command_line(invoke, tmp_path, saved_png):
    r = invoke("run", "--from", saved_png, "--set", "save.filename=again.png", "-q")
    assert r.exit_code == 0, r.stderr
    assert (saved_png.parent / "again.png").read_bytes().startswith(PNG_MAGIC)


def test_rerunning_a_workflow_replaces_the_file_it_saved(invoke, saved_png):
    first = saved_png.read_bytes()
    r = invoke("run", saved_png.parent / "wf.json", "--set", "keyframe.seed=2", "-q")
    assert r.exit_code == 0, r.stderr
    assert saved_png.read_bytes() != first and saved_png.read_bytes().startswith(PNG_MAGIC)
    assert parts_in(saved_png.parent) == []


# ---------------------------------------------------------------------------------------------
# -o: symlinks, FIFOs and devices keep what they are; no temporary file outlives its writer

@posix_only
def test_output_through_a_symlink_writes_its_target(invoke, tmp_path):
    real = tmp_path / "real" / "outline.txt"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.txt"
    link.symlink_to(real)
    r = invoke("run", OUTLINE, "-o", link)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("The Keeper")


@posix_only
def test_output_through_a_dangling_symlink_creates_its_target(invoke, tmp_path):
    real = tmp_path / "outline.txt"
    link = tmp_path / "latest.txt"
    link.symlink_to(real)
    r = invoke("run", OUTLINE, "-o", link)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and real.read_text().startswith("The Keeper")


@posix_only
def test_output_into_a_fifo_is_written_into_it_not_replaced(invoke, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there, as `cat pipe` would be
    try:
        r = invoke("run", OUTLINE, "-o", fifo)
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert r.exit_code == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received.startswith(b"The Keeper: 3 shots")


@posix_only
def test_output_into_a_fifo_nobody_reads_is_an_error_not_a_hang(invoke, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = invoke("run", OUTLINE, "-o", fifo)
    assert r.exit_code == 2
    assert str(fifo) in r.stderr and "reads" in r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_to_a_full_device_is_a_clear_error_and_the_device_stays(invoke):
    r = invoke("run", OUTLINE, "-o", "/dev/full")
    assert r.exit_code == 1
    assert "-o /dev/full" in r.stderr and "full" in r.stderr.lower()
    assert "Traceback" not in r.stderr
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_output_to_dev_null_discards_the_result(invoke):
    r = invoke("run", OUTLINE, "-o", "/dev/null")
    assert r.exit_code == 0, r.stderr
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


@posix_only
def test_restore_through_a_symlink_writes_its_target(invoke, tmp_path, saved_png):
    real = tmp_path / "workflows" / "keeper.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "current.json"
    link.symlink_to(real)
    r = invoke("restore", saved_png, "-o", link)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and '"io.save_image"' in real.read_text()


@pytest.mark.skipif(not Path("/dev/stdout").exists(), reason="needs /dev/stdout")
def test_output_to_dev_stdout_goes_through_the_open_stream(tmp_path, cache):
    # `(echo BEFORE; reelgraph run ... -o /dev/stdout; echo AFTER) > log`: the log keeps all three
    log = tmp_path / "log.txt"
    with open(log, "wb") as f:
        f.write(b"BEFORE\n")
        f.flush()
        done = subprocess.run([*test_cli.reelgraph_cmd(), "run", str(OUTLINE), "--cache-dir", str(cache),
                               "-q", "-o", "/dev/stdout"], stdout=f, stderr=subprocess.PIPE, timeout=120,
                               check=False)
        f.write(b"AFTER\n")
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert text.startswith("BEFORE\nThe Keeper: 3 shots") and text.endswith("cold blue light)\nAFTER\n")


def test_empty_output_path_is_a_usage_error(invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("run", OUTLINE, "-o", "")
    assert r.exit_code == 2
    assert "-o" in r.stderr and "empty" in r.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name != "cli-cache"] == []  # nothing written here


def test_a_dead_writers_temporary_file_is_removed_by_the_next_write(invoke, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    # what `kill -9` during a write leaves: a full-size hidden temporary file nobody holds
    leftover = out / ".outline.txt.0badc0de.reelgraph.part"
    leftover.write_bytes(b"x" * 4096)
    r = invoke("run", OUTLINE, "-o", out / "outline.txt")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["outline.txt"]


@pytest.mark.skipif(sys.platform == "win32", reason="advisory locks as on POSIX")
def test_a_temporary_file_still_being_written_is_left_alone(invoke, tmp_path):
    import fcntl
    out = tmp_path / "out"
    out.mkdir()
    busy = out / ".other.mp4.12345678.reelgraph.part"
    with open(busy, "wb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # another process writing its own output into this folder
        r = invoke("run", OUTLINE, "-o", out / "outline.txt")
        assert r.exit_code == 0, r.stderr
        assert busy.exists()


# ---------------------------------------------------------------------------------------------
# -o onto a full or read-only disk: a clear error, the results stay cached, no temporary file left

@pytest.fixture
def disk_refuses(monkeypatch):
    """Make one folder behave as on a full or read-only disk, whoever runs the tests (root included)."""
    def refuse(folder: Path, code: int):
        real_open, real_fsync = os.open, os.fsync
        inside = str(folder) + os.sep

        def fake_open(path, flags, *args, **kwargs):
            if code == errno.EROFS and str(path).startswith(inside) and flags & (os.O_WRONLY | os.O_RDWR):
                raise OSError(code, os.strerror(code), str(path))
            return real_open(path, flags, *args, **kwargs)

        def fake_fsync(fd):
            if code == errno.ENOSPC and os.readlink(f"/proc/self/fd/{fd}").startswith(inside):
                raise OSError(code, os.strerror(code))
            return real_fsync(fd)
        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "fsync", fake_fsync)
    return refuse


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to tell which file is synced")
def test_output_onto_a_full_disk_is_a_clear_error(invoke, tmp_path, disk_refuses):
    out = tmp_path / "usb"
    out.mkdir()
    disk_refuses(out, errno.ENOSPC)
    r = invoke("run", OUTLINE, "-o", out / "outline.txt")
    assert r.exit_code == 1
    assert f"-o {out / 'outline.txt'}" in r.stderr and "full" in r.stderr and "cached" in r.stderr
    assert list(out.iterdir()) == []  # neither the file nor a temporary one


def test_output_into_a_read_only_folder_is_a_clear_error(invoke, tmp_path, disk_refuses):
    out = tmp_path / "cdrom"
    out.mkdir()
    disk_refuses(out, errno.EROFS)
    r = invoke("run", OUTLINE, "-o", out / "outline.txt")
    assert r.exit_code == 2
    assert f"-o {out / 'outline.txt'}" in r.stderr and "read-only" in r.stderr and "another" in r.stderr
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# --set NAME=@file: bounded, never hanging, text only

def test_set_from_a_file_that_is_not_utf8_names_the_file(invoke, tmp_path):
    script = tmp_path / "script.txt"
    script.write_bytes("Café at dawn".encode("latin-1"))
    r = invoke("run", OUTLINE, "--set", f"story.text=@{script}")
    assert r.exit_code == 2
    assert str(script) in r.stderr and "UTF-8" in r.stderr
    assert "Traceback" not in r.stderr


def test_set_from_a_huge_file_is_refused_with_the_limit(invoke, tmp_path):
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as f:
        f.truncate(17 * 2**20)  # sparse: 17 MiB of NUL bytes, valid UTF-8 but no script
    r = invoke("run", OUTLINE, "--set", f"story.text=@{huge}")
    assert r.exit_code == 2
    assert str(huge) in r.stderr and "16 MiB" in r.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_set_from_an_endless_device_stops_at_the_limit(invoke):
    r = invoke("run", OUTLINE, "--set", "story.text=@/dev/zero")
    assert r.exit_code == 2
    assert "/dev/zero" in r.stderr and "16 MiB" in r.stderr


@posix_only
def test_set_from_a_fifo_nobody_writes_is_an_error_not_a_hang(invoke, tmp_path):
    fifo = tmp_path / "script"
    os.mkfifo(fifo)
    r = invoke("run", OUTLINE, "--set", f"story.text=@{fifo}")
    assert r.exit_code == 2
    assert str(fifo) in r.stderr and "writes" in r.stderr


# ---------------------------------------------------------------------------------------------
# Arguments a file system or a UTF-8 workflow cannot hold

def test_a_lone_surrogate_in_a_set_value_is_a_usage_error(invoke):
    # what Python makes of a non-UTF-8 byte in argv (surrogateescape): b"\xff" arrives as "\udcff"
    r = invoke("run", OUTLINE, "--set", "story.text=dawn \udcff")
    assert r.exit_code == 2
    assert "story.text" in r.stderr and "UTF-8" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, names", [
    (["-o", "out\0.txt"], "-o"),
    (["--set", "story.text=@script\0.txt"], "story.text"),
], ids=["output", "set-file"])
def test_a_nul_byte_in_a_path_argument_is_a_usage_error(invoke, args, names):
    r = invoke("run", OUTLINE, *args)
    assert r.exit_code == 2
    assert names in r.stderr and "NUL" in r.stderr


def test_a_nul_byte_in_the_workflow_path_is_a_usage_error(invoke):
    for args in (["wf\0.json"], ["--from", "clip\0.mp4"]):
        r = invoke("run", *args)
        assert r.exit_code == 2, args
        assert "NUL" in r.stderr


def test_a_nul_byte_in_a_path_param_names_the_node_and_field(invoke, tmp_path):
    shutil.copy(SAVE_IMAGE, tmp_path / "wf.json")
    r = invoke("run", tmp_path / "wf.json", "--set", "save.filename=frame\0.png")
    assert r.exit_code in (1, 2)
    assert "save" in r.stderr and "filename" in r.stderr and "NUL" in r.stderr
    assert "ValueError" not in r.stderr
