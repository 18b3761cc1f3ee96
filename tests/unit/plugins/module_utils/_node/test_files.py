"""File facts: mode, owner, a missing file."""

from __future__ import annotations

import os
import pwd

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import missing_file, read_file_stat
from tests.unit.plugins.module_utils._node.test_gather import write


# -- files and snapshots ---------------------------------------------------------------------------------------------
def test_file_stat_summary(tmp_path):
    target = write(tmp_path, "/etc/kubernetes/pki/enc.yaml", b"12345", mode=0o640)
    os.utime(target, (1763776800, 1763776800))
    stat = read_file_stat(str(tmp_path), "/etc/kubernetes/pki/enc.yaml")
    me = pwd.getpwuid(os.getuid()).pw_name
    assert stat == {"exists": True, "mode": "0640", "owner": me, "group": stat["group"], "size": 5,
                    "mtime": "2025-11-22T02:00:00Z"}
    assert stat["group"]
    assert read_file_stat(str(tmp_path), "/etc/kubernetes/pki/enc.yaml/below") == missing_file()
