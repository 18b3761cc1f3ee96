"""encryption_state: is the file on disk the one the API server loaded?"""

from __future__ import annotations

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import static_pod
from ansible_collections.kubecompass.readiness.plugins.modules import encryption_state

PATH = "/etc/kubernetes/kubecompass/encryption-config.yaml"


def pod(annotations):
    return {"metadata": {"annotations": annotations}}


def test_a_file_whose_digest_the_manifest_carries_is_loaded():
    wanted = static_pod.file_checksum_annotations([{"path": PATH, "content": "v2"}])
    assert encryption_state.loaded(pod(wanted), PATH, PATH, "v2") is True


def test_a_file_written_by_a_killed_run_before_its_manifest_is_not_loaded():
    old = static_pod.file_checksum_annotations([{"path": PATH, "content": "v1"}])
    assert encryption_state.loaded(pod(old), PATH, PATH, "v2") is False
    assert encryption_state.loaded(pod({}), None, PATH, "v2") is False  # flag not set yet


def test_a_file_kubecompass_never_wrote_is_taken_as_loaded_and_no_file_without_flag_is_consistent():
    assert encryption_state.loaded(pod({}), PATH, PATH, "user config") is True
    assert encryption_state.loaded(pod({}), None, PATH, None) is True
