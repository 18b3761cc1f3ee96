# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The remediation modules: what an active waiver of the check they fix covers is left alone.
    DOCUMENTATION = r"""
options:
  waivers:
    description:
      - The assessment's waivers (C(kubecompass_waivers)), validated as the assessment validates them. What an
        active waiver of the check this module fixes covers (the cluster, a namespace or an object) is left alone
        and reported with the reason C(waived by <ticket> until <expires>); expired waivers protect nothing and
        are returned in RV(expired_waivers).
      - Each has C(check), C(reason), C(owner), C(ticket), C(expires) (YYYY-MM-DD) and optionally C(cluster),
        C(namespace) and C(object) (C(kind), C(name), C(namespace)).
    type: list
    elements: dict
    default: []
  cluster_name:
    description:
      - The cluster's name (the inventory host), which a waiver's C(cluster) must match. Without it only waivers
        without C(cluster) (or with C(*)) apply.
    type: str
"""
