#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: publish_reports
short_description: Publish a run's reports and change records to an S3-compatible bucket
version_added: 0.1.0
description:
  - Uploads the files of one run (the assessment reports, the remediation change records) to the bucket that
    C(kubecompass_report_publish) names, keyed by date and cluster -
    C(<prefix>/<YYYY-MM-DD>/<cluster>/<HHMMSSZ of the run's start>/<file>), with C(fleet) as the cluster of a
    report that covers every cluster of the run. Scheduled runs thereby keep their evidence after the job's files
    are gone (an AWX execution environment keeps none).
  - Credentials come from boto3's standard chain (C(AWS_ACCESS_KEY_ID)/C(AWS_SECRET_ACCESS_KEY)/C(AWS_SESSION_TOKEN),
    C(AWS_PROFILE), an instance or pod role) - in AWX an Amazon Web Services credential. They are never an option
    here and never appear in a message.
  - Where credentials may be sent follows the provider endpoint rule - C(https) under C(amazonaws.com), any other
    C(https) host (MinIO, Ceph, another cloud's S3 API) only with C(allow_custom_endpoint=true), C(http) only on a
    loopback address (test servers, which get fixed fake credentials, not the real ones).
  - Run it on the controller (C(delegate_to=localhost)); boto3 is imported only when it runs.
author:
  - KubeCompass contributors (@kubecompass)
requirements:
  - boto3 (the collection's C(aws) extra)
options:
  publish:
    description:
      - The value of C(kubecompass_report_publish) - a mapping with C(bucket) (required), C(prefix) (default
        C(kubecompass)), C(endpoint_url), C(region) and C(allow_custom_endpoint) (default false).
      - Anything malformed fails with one line naming C(kubecompass_report_publish) and the key.
    type: raw
    required: true
  files:
    description:
      - The files to upload - each a path, a C([path, cluster]) pair (as the C(zip) filter makes them), or a
        mapping with C(path) and C(cluster).
    type: list
    elements: raw
    required: true
  cluster:
    description:
      - The cluster of the files that name none. Omitted, they are reports of the whole run, keyed C(fleet).
    type: str
  started:
    description: When the run started (RFC 3339, or seconds since the epoch); its date and time key the upload.
    type: str
    required: true
extends_documentation_fragment:
  - kubecompass.readiness.attributes
attributes:
  check_mode:
    support: full
    details:
      - Uploads in check mode too - the reports of a check-mode run are its evidence, written in check mode as well.
  diff_mode:
    support: N/A
    details:
      - Published reports are not managed state; there is nothing to diff.
notes:
  - Always returns C(changed=false); publishing evidence is not a change of the clusters.
"""

EXAMPLES = r"""
- name: Publish the reports of this run
  kubecompass.readiness.publish_reports:
    publish: "{{ kubecompass_report_publish }}"
    files: "{{ report.paths.values() | list }}"
    started: "{{ started }}"
  delegate_to: localhost
  when: kubecompass_report_publish is defined
"""

RETURN = r"""
bucket:
  description: The bucket published to.
  returned: success
  type: str
  sample: evidence
uploaded:
  description: Each file uploaded - C(path), C(key) and C(url) (C(s3://bucket/key)).
  returned: success
  type: list
  elements: dict
  sample:
    - path: /work/kubecompass-reports/kubecompass-report.json
      key: kubecompass/2026-11-22/fleet/031500Z/kubecompass-report.json
      url: s3://evidence/kubecompass/2026-11-22/fleet/031500Z/kubecompass-report.json
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils import _evidence
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError


def main():
    module = AnsibleModule(
        argument_spec={"publish": {"type": "raw", "required": True},
                       "files": {"type": "list", "elements": "raw", "required": True},
                       "cluster": {"type": "str"},
                       "started": {"type": "str", "required": True}},
        supports_check_mode=True,
    )
    try:
        config = _evidence.validate_publish(module.params["publish"])
        plan = _evidence.publish_plan(config, module.params["files"], module.params["started"],
                                      module.params["cluster"])
        client, secrets = _evidence.s3_client(config)
        uploaded = _evidence.upload(client, config, plan, secrets)
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category)
    module.exit_json(changed=False, bucket=config["bucket"], uploaded=uploaded)


if __name__ == "__main__":
    main()
