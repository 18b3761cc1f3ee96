"""kubecompass_attestations and kubecompass_history_dir reach the engine through assess.yml: no cluster needed (hosts
without a Kubernetes API, whose process checks read no API). A malformed attestation is that host's one-line error."""

from __future__ import annotations

import datetime
import json

import yaml

from tests.helpers import REPO, VENV_BIN, ansible_env, run


def test_attestations_and_history_reach_the_assessment(tmp_path):
    today = datetime.datetime.now(datetime.UTC)
    history = tmp_path / "history"
    for days in (15, 8, 1):
        run_dir = history / ("run-%d" % days)
        run_dir.mkdir(parents=True)
        started = (today - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        (run_dir / "kubecompass-report.json").write_text(json.dumps(
            {"started": started, "clusters": [{"cluster": "attested", "status": "assessed"}]}))
    host = {"ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python"),
            "kubecompass_distribution": "eks", "kubecompass_kubernetes_api": False, "kubecompass_tier": "critical",
            "kubecompass_include_checks": ["KC-CMP-008", "KC-CMP-009", "KC-CMP-011"]}
    hosts = {
        "attested": dict(host, kubecompass_history_dir=str(history),
                         kubecompass_settings={"assessment_interval_days": 7},
                         kubecompass_attestations=[{"item": "dr-runbooks", "evidence": "https://wiki.example/dr",
                                                    "owner": "team-platform",
                                                    "attested": today.date().isoformat()}]),
        "malformed": dict(host, kubecompass_attestations=[{"item": "dr-runbooks", "evidence": "DR-1",
                                                           "owner": "team-platform", "attested": "yesterday"}]),
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"k8s_clusters": {"hosts": hosts}}}}))
    report_dir = tmp_path / "reports"
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "assess.yml"),
                  "--check", "-e", "kubecompass_report_dir=%s" % report_dir], env=ansible_env(), timeout=300)
    report = json.loads((report_dir / "kubecompass-report.json").read_text())
    by_name = {cluster["cluster"]: cluster for cluster in report["clusters"]}
    verdicts = {f["check_id"]: f["verdict"] for f in by_name["attested"]["findings"]}
    assert verdicts == {"KC-CMP-008": "pass", "KC-CMP-009": "fail", "KC-CMP-011": "pass"}, result.stdout[-3000:]
    assert by_name["malformed"]["status"] == "error"
    assert by_name["malformed"]["error"] == ("malformed: kubecompass_attestations[0]: attested 'yesterday' is not a "
                                             "date (YYYY-MM-DD)")
    assert "Traceback" not in result.stdout + result.stderr
