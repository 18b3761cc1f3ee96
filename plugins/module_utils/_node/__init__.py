# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""What one self-managed control-plane node (kubeadm, RKE2, k3s) holds, read on the node itself: files, the
API server's configuration, audit, the encryption configuration, etcd and its snapshots; gather puts them together.

Everything here is a pure function except the ``read_*`` functions, which read files below a ``root`` (or
``proc``) path so tests can point them at a temporary directory, and ``etcd.etcd_json_client``, which talks to
etcd. Nothing returned ever contains key material: encryption keys are reduced to their names, raw etcd values
to their prefix class, config files to the flags derived from them.
"""
