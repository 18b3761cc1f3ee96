# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: report_dir
short_description: The default directory of the reports and change records (the CI workspace, else the current one)
version_added: 0.1.0
description:
  - Returns C(<workspace>/kubecompass-reports), where the workspace is C($GITHUB_WORKSPACE) (GitHub Actions) or
    C($CI_PROJECT_DIR) (GitLab CI) when set to an absolute path, else the current directory of the
    C(ansible-playbook) process on the controller. It is the default of C(kubecompass_report_dir).
  - Under AWX or Automation Controller the current directory is the project checkout in the job's execution
    environment, which is removed when the job ends; publish the reports (C(kubecompass_report_publish)) or point
    C(kubecompass_report_dir) at a path exposed to the job.
author:
  - KubeCompass contributors (@kubecompass)
options: {}
"""

EXAMPLES = r"""
- name: Where the reports go by default
  ansible.builtin.debug:
    msg: "{{ kubecompass_report_dir | default(lookup('kubecompass.readiness.report_dir')) }}"
"""

RETURN = r"""
_raw:
  description: The directory, one element.
  type: list
  elements: path
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._evidence import default_report_dir


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        try:
            cwd = os.getcwd()
        except OSError:
            cwd = ""
        try:
            return [default_report_dir(os.environ, cwd)]
        except KubeCompassError as exc:
            raise AnsibleLookupError(str(exc)) from None
