"""A directory whose file system fills up: writes of files below it get ``budget`` bytes in total, then the write
that crosses the budget stores the part that fits and raises OSError(ENOSPC), as a full disk does.

Install with ``FullDisk(directory, budget).install(monkeypatch)``. Every way the modules write a file goes through
it: ``open``/``io.open`` by name, ``os.fdopen`` of a ``mkstemp`` descriptor, and ``shutil`` copies (the sendfile
fast path is turned off so the copy writes through Python)."""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil


class _FillingFile:
    def __init__(self, handle, disk):
        self._handle = handle
        self._disk = disk

    def write(self, data):
        room = max(self._disk.budget - self._disk.used, 0)
        if len(data) > room:
            self._handle.write(data[:room])
            self._handle.flush()
            self._disk.used += room
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.used += len(data)
        return self._handle.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()

    def __getattr__(self, name):
        return getattr(self._handle, name)


class FullDisk:
    def __init__(self, directory, budget=0):
        self.directory = os.path.realpath(str(directory))
        self.budget = budget
        self.used = 0

    def _below(self, file):
        if isinstance(file, int):
            try:
                file = os.readlink("/proc/self/fd/%d" % file)
            except OSError:
                return False
        path = os.path.realpath(os.fspath(file))
        return path == self.directory or path.startswith(self.directory + os.sep)

    def install(self, monkeypatch):
        real_open = io.open

        def filling_open(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            if any(flag in mode for flag in "wax+") and self._below(file):
                return _FillingFile(handle, self)
            return handle

        monkeypatch.setattr(builtins, "open", filling_open)
        monkeypatch.setattr(io, "open", filling_open)
        monkeypatch.setattr(shutil, "_USE_CP_SENDFILE", False)
        return self
