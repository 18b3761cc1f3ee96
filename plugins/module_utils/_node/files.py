# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Reading a node's files below a ``root`` (tests point it at a temporary directory): text, YAML/JSON
documents (errors never quote the content), ownership and modes."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import errno
import grp
import json
import os
import pwd
import stat

try:
    import yaml

    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the node
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc


class DocumentError(ValueError):
    """A configuration file that does not parse. The message never quotes the file's content."""


# -- small helpers -----------------------------------------------------------------------------------------------

def rfc3339(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def on_host(root, path):
    """``path`` (absolute, as on the node) below ``root``."""
    return os.path.join(root, str(path).lstrip("/"))


def is_missing(exc):
    return isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.ENOTDIR)


def cause_of(exc):
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__


def load_document(text):
    """A YAML or JSON document as Python data.

    Errors name the position only: parser messages normally quote the offending line, and the file may hold
    encryption keys or a cluster token.
    """
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            return json.loads(text)
        except ValueError as exc:
            if not HAS_YAML:
                raise DocumentError("not valid JSON (line %s, column %s)" % (
                    getattr(exc, "lineno", "?"), getattr(exc, "colno", "?"))) from None
    if not HAS_YAML:
        raise DocumentError("PyYAML is not installed on this node, so YAML files cannot be read")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark is not None else ""
        # "from None": the YAML error's snippet of the file must not travel with the exception either.
        raise DocumentError("not valid YAML: %s%s" % (getattr(exc, "problem", None) or "parse error", where)) from None


def read_text(root, path):
    """Content of a file below root, or None when it does not exist. Other OS errors propagate."""
    try:
        with open(on_host(root, path), "rb") as handle:
            data = handle.read()
    except OSError as exc:
        if is_missing(exc):
            return None
        raise
    return data.decode("utf-8", errors="replace")


def read_document(root, path):
    """(exists, document) of a YAML/JSON file; raises OSError (unreadable) or DocumentError (does not parse)."""
    text = read_text(root, path)
    if text is None:
        return False, None
    return True, load_document(text)


# -- file facts --------------------------------------------------------------------------------------------------

def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def missing_file():
    return {"exists": False, "mode": None, "owner": None, "group": None, "size": None, "mtime": None}


def stat_summary(st):
    return {"exists": True, "mode": "%04o" % stat.S_IMODE(st.st_mode), "owner": _user_name(st.st_uid),
            "group": _group_name(st.st_gid), "size": st.st_size, "mtime": rfc3339(st.st_mtime)}


def read_file_stat(root, path):
    """Mode, owner, group, size and mtime of a file or directory (symlinks followed); exists False if absent."""
    try:
        st = os.stat(on_host(root, path))
    except OSError as exc:
        if is_missing(exc):
            return missing_file()
        raise
    return stat_summary(st)
