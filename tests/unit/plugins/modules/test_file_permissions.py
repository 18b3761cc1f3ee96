"""The file_permissions module run for real on files under tmp_path: check mode changes nothing and says what would
change, a run removes only the bits outside each mask (a more restrictive mode stays), a second run changes nothing,
files gone since the facts were read are skipped, and bad rules fail with one line naming them."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.file_modes import fixes
from ansible_collections.kubecompass.readiness.plugins.modules import file_permissions as module

RULES = [{"check": "KC-SEC-045", "target": "apiserver_manifest", "mask": "0600"},
         {"check": "KC-SEC-046", "target": "apiserver_manifest", "owner": "root"},
         {"check": "KC-SEC-062", "target": "pki_certificates", "mask": "0644"},
         {"check": "KC-SEC-063", "target": "pki_keys", "mask": "0600"}]


def run(capsys, check=False, **args):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=True)), \
            pytest.raises(SystemExit) as exited:
        module.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def entry(path):
    return {"path": str(path), "exists": True, "mode": "%04o" % (os.stat(path).st_mode & 0o7777),
            "owner": "root", "group": "root"}


@pytest.fixture
def node(tmp_path):
    """A manifest 0644, a certificate 0640 (more restrictive than 0644: stays), a key 0755 with setuid."""
    files = {"manifest": (tmp_path / "kube-apiserver.yaml", 0o644), "cert": (tmp_path / "ca.crt", 0o640),
             "key": (tmp_path / "ca.key", 0o4755)}
    for path, mode in files.values():
        path.write_text("x")
        path.chmod(mode)
    gone = tmp_path / "gone.key"
    facts = {"apiserver_manifest": {"entries": [entry(files["manifest"][0])]},
             "pki_certificates": {"entries": [entry(files["cert"][0])]},
             "pki_keys": {"entries": [entry(files["key"][0]),
                                      {"path": str(gone), "exists": True, "mode": "0644", "owner": "root",
                                       "group": "root"},
                                      {"path": str(tmp_path / "missing.key"), "exists": False}]}}
    return {name: path for name, (path, _mode) in files.items()}, facts


def modes(files):
    return {name: "%04o" % (os.stat(path).st_mode & 0o7777) for name, path in files.items()}


def test_check_mode_changes_nothing_and_says_what_would(node, capsys):
    files, facts = node
    before = modes(files)
    rc, result = run(capsys, check=True, rules=RULES, file_modes=facts)
    assert rc == 0 and result["changed"], result
    assert modes(files) == before
    assert [(c["check"], c["old"], c["new"]) for c in result["changes"]] == [
        ("KC-SEC-045", "0644", "0600"), ("KC-SEC-063", "4755", "0600")]
    assert "%s 0644" % files["manifest"] in result["diff"]["before"]
    assert "%s 0600" % files["manifest"] in result["diff"]["after"]


def test_a_run_removes_only_the_bits_outside_each_mask_and_a_second_run_changes_nothing(node, capsys):
    files, facts = node
    rc, result = run(capsys, rules=RULES, file_modes=facts)
    assert rc == 0 and result["changed"], result
    assert modes(files) == {"manifest": "0600", "cert": "0640", "key": "0600"}
    rc, again = run(capsys, rules=RULES, file_modes=facts)  # the facts are stale: the module judges the files now
    assert rc == 0 and not again["changed"] and again["changes"] == [], again


@pytest.mark.parametrize(("rule", "message"), [
    ({"check": "KC-SEC-045", "target": "apiserver_manifest", "mask": "06x0"}, "KC-SEC-045 mask '06x0' is not octal"),
    ({"check": "KC-SEC-045", "target": "apiserver_manifest"}, "KC-SEC-045 sets neither mask nor owner"),
])
def test_a_bad_rule_fails_with_one_line_naming_it(node, capsys, rule, message):
    _files, facts = node
    rc, result = run(capsys, rules=[rule], file_modes=facts)
    assert rc == 1 and result["msg"] == "rules: " + message, result


def test_an_owner_that_does_not_exist_on_the_node_fails_naming_it(node, capsys):
    _files, facts = node
    rc, result = run(capsys, rules=[{"check": "KC-SEC-046", "target": "apiserver_manifest",
                                     "owner": "kubecompass-nobody"}], file_modes=facts)
    assert rc == 1 and result["msg"] == "owner kubecompass-nobody: no such user or group on this node", result


@pytest.mark.parametrize(("entry", "rule", "expected"), [
    ({"mode": "0644", "owner": "root", "group": "root"}, {"mask": 0o600}, [{"mode": "0600", "old": "0644"}]),
    ({"mode": "0400", "owner": "root", "group": "root"}, {"mask": 0o600}, []),
    ({"mode": "2700", "owner": "root", "group": "root"}, {"mask": 0o700}, [{"mode": "0700", "old": "2700"}]),
    ({"mode": "0600", "owner": "etcd", "group": "root"}, {"owner": "root"}, [{"owner": "root", "old": "etcd:root"}]),
    ({"mode": "0600", "owner": "root", "group": "root"}, {"owner": "root"}, []),
])
def test_fixes_judges_an_entry_as_the_checks_do(entry, rule, expected):
    facts = {"t": {"entries": [dict(entry, path="/p", exists=True)]}}
    found = fixes([dict(rule, check="C", target="t")], facts)
    assert found == [dict(e, check="C", path="/p") for e in expected]


def test_fixes_leaves_missing_and_unreadable_entries_to_the_checks():
    facts = {"t": {"entries": [{"path": "/a", "exists": False}, {"path": "/b", "error": "permission denied"}]}}
    assert fixes([{"check": "C", "target": "t", "mask": 0o600, "owner": "root"}], facts) == []
