# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""API server hardening (CIS 1.2.1, 1.2.6-1.2.8, 1.2.14, 1.2.15, 1.2.29): anonymous access, profiling,
authorization modes, NodeRestriction, TLS minimum version and cipher suites. Pure functions.

Anonymous access on kubeadm is the trap (control-plane.md P6): kubeadm's liveness, readiness and startup probes are
unauthenticated httpGet calls, so ``--anonymous-auth=false`` makes them fail with 401 and the API server restarts in
a loop. The default ("restrict") therefore keeps anonymous access for /livez, /readyz and /healthz only, through an
AuthenticationConfiguration (KEP-4633: beta and on by default in 1.32, GA in 1.34), which CIS v2 1.2.1 ("anonymous
requests are restricted") accepts.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane.static_pod import (
    CONTROLLER_MANAGER,
    SCHEDULER,
    WILDCARD_ADDRESSES,
    check_path,
    new_change,
    render_yaml,
    split_list,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import DISTRIBUTIONS
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import RANCHER

TLS_VERSIONS = ("VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13")
# TLS 1.2 suites with forward secrecy and AEAD, as Go names them (crypto/tls CipherSuites()).
DEFAULT_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)
# CIS 1.2.29's strong list: the above, the TLS 1.3 suites and the older names of the ChaCha20 suites.
STRONG_CIPHER_SUITES = DEFAULT_CIPHER_SUITES + (
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
)
ANONYMOUS_MODES = ("restrict", "off", "keep")
HEALTH_PATHS = ("/livez", "/readyz", "/healthz")
AUTH_CONFIG_PATH = "/etc/kubernetes/kubecompass/authentication-config.yaml"
AUTH_CONFIG_VOLUME = "kubecompass-authn-config"
REQUIRED_AUTHORIZERS = ("Node", "RBAC")
HEADER = "# Managed by kubecompass.readiness: anonymous requests only for health checks.\n"


def parse_version(version):
    """(major, minor) of "v1.36.3", "1.33", "v1.32.4+rke2r1"; None when absent or unreadable."""
    match = re.match(r"^v?(\d+)\.(\d+)", str(version or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def authentication_config_version(kubernetes_version):
    """apiserver.config.k8s.io version for an AuthenticationConfiguration with ``anonymous``: v1 from 1.34 (GA),
    v1beta1 on 1.32 and 1.33 (and when the version is unknown: still served by 1.36); refused before 1.32, where
    the AnonymousAuthConfigurableEndpoints gate is alpha and off."""
    parsed = parse_version(kubernetes_version)
    if parsed is None:
        return "apiserver.config.k8s.io/v1beta1"
    if parsed < (1, 32):
        raise ValueError("anonymous='restrict' needs Kubernetes 1.32 or newer (anonymous access limited to some "
                         "paths is alpha and off before); this cluster runs %s: use anonymous='keep', or 'off' "
                         "after changing the probes" % kubernetes_version)
    return "apiserver.config.k8s.io/v1" if parsed >= (1, 34) else "apiserver.config.k8s.io/v1beta1"


def authentication_config(api_version="apiserver.config.k8s.io/v1", paths=HEALTH_PATHS):
    """An AuthenticationConfiguration allowing anonymous requests only on ``paths``."""
    return {"apiVersion": api_version, "kind": "AuthenticationConfiguration",
            "anonymous": {"enabled": True, "conditions": [{"path": path} for path in paths]}}


def render_authentication_config(document):
    return HEADER + render_yaml(document)


def _stronger_tls(current, wanted):
    return current in TLS_VERSIONS and TLS_VERSIONS.index(current) >= TLS_VERSIONS.index(wanted)


def _list_flag(current_flags, flag, add=(), remove=()):
    """The new value of a comma-list flag (items kept in order, missing ones appended, unwanted ones dropped): a
    concrete string when the current flags are known, else a list merge resolved where the change is applied."""
    if current_flags is None:
        return {"add": list(add), "remove": list(remove)}
    items = [item for item in split_list(current_flags.get(flag)) if item not in remove]
    return ",".join(items + [item for item in add if item not in items]) or None


def hardening_flags(tls_min_version="VersionTLS12", cipher_suites=DEFAULT_CIPHER_SUITES, anonymous="restrict",
                    current_flags=None, kubernetes_version=None, distribution="kubeadm",
                    auth_config_path=AUTH_CONFIG_PATH, extend_token_expiration=False,
                    kubelet_certificate_authority=None):
    """The change (see static_pod: set_flags, remove_flags, volumes, files, notes) that hardens the API server.

    - profiling=false; authorization-mode gains Node and RBAC and loses AlwaysAllow, keeping the user's other
      modes (skipped, with a note, when --authorization-config replaces the flag); NodeRestriction is added to
      enable-admission-plugins (others kept) and taken out of disable-admission-plugins.
    - tls-min-version (VersionTLS12 or 13) and tls-cipher-suites (every suite must be on CIS 1.2.29's strong
      list; None or () leaves the flag alone). A current value at least as strong is kept (set to itself).
    - anonymous: "restrict" (kubeadm) writes an AuthenticationConfiguration at ``auth_config_path`` that allows
      anonymous requests on /livez, /readyz and /healthz only, mounts it, passes --authentication-config and
      removes --anonymous-auth (the two conflict). "off" sets --anonymous-auth=false; on kubeadm the probes must
      first authenticate, which the notes say. "keep" leaves anonymous access alone. RKE2 (exec probes with a
      client certificate) and k3s (no HTTP probes) need no exception: "restrict" means "off" there.

    - service-account-extend-token-expiration=false (CIS 1.2.30) unless ``extend_token_expiration``: projected
      tokens then live as long as they say (an hour for kubelet-mounted ones) instead of a year; clients must
      refresh them (client-go does).
    - kubelet-certificate-authority (CIS 1.2.5) only when ``kubelet_certificate_authority`` names the CA file: the
      API server then verifies the kubelets' serving certificates, which kubeadm leaves self-signed, so logs, exec
      and port-forward break unless serverTLSBootstrap is on and the kubelet-serving CSRs are approved.

    ``current_flags`` (the node's configured flags) turns list merges into concrete values and lets the stronger
    or already compliant current values stand; without it list flags are list merges.
    """
    check_path("authentication configuration path", auth_config_path)
    if kubelet_certificate_authority:
        check_path("kubelet certificate authority", kubelet_certificate_authority)
    if distribution not in DISTRIBUTIONS:
        raise ValueError("distribution must be one of %s, not %r" % (", ".join(DISTRIBUTIONS), distribution))
    if anonymous not in ANONYMOUS_MODES:
        raise ValueError("anonymous must be one of %s, not %r" % (", ".join(ANONYMOUS_MODES), anonymous))
    if tls_min_version not in TLS_VERSIONS[2:]:
        raise ValueError("tls_min_version must be VersionTLS12 or VersionTLS13 (CIS), not %r" % (tls_min_version,))
    suites = list(cipher_suites or ())
    weak = [suite for suite in suites if suite not in STRONG_CIPHER_SUITES]
    if weak:
        raise ValueError("cipher suites not on the CIS 1.2.29 strong list: %s" % ", ".join(weak))
    current = current_flags  # None: unknown, so list flags become list merges
    flags = dict(current or {})
    set_flags = {"profiling": "false"}
    remove_flags, volumes, files, notes = [], [], [], []
    if not extend_token_expiration:
        set_flags["service-account-extend-token-expiration"] = "false"
    if kubelet_certificate_authority:
        set_flags["kubelet-certificate-authority"] = kubelet_certificate_authority
        if flags.get("kubelet-certificate-authority") != kubelet_certificate_authority:
            notes.append("--kubelet-certificate-authority=%s: the API server now verifies kubelet serving "
                         "certificates; kubelets serving self-signed ones (kubeadm's default) can no longer be "
                         "reached for logs, exec and port-forward until serverTLSBootstrap is on and their "
                         "kubelet-serving CSRs are approved" % kubelet_certificate_authority)

    if flags.get("authorization-config"):
        notes.append("--authorization-config=%s replaces --authorization-mode: make sure its authorizers include "
                     "Node and RBAC and no AlwaysAllow" % flags["authorization-config"])
    else:
        set_flags["authorization-mode"] = _list_flag(current, "authorization-mode", REQUIRED_AUTHORIZERS,
                                                     ("AlwaysAllow",))
    set_flags["enable-admission-plugins"] = _list_flag(current, "enable-admission-plugins", ("NodeRestriction",))
    if current is None:
        set_flags["disable-admission-plugins"] = _list_flag(None, "disable-admission-plugins",
                                                            remove=("NodeRestriction",))
    elif "NodeRestriction" in split_list(flags.get("disable-admission-plugins")):
        disabled = _list_flag(current, "disable-admission-plugins", remove=("NodeRestriction",))
        if disabled is None:
            remove_flags.append("disable-admission-plugins")
        else:
            set_flags["disable-admission-plugins"] = disabled

    # A compliant current value is set to itself: no restart, and kubeadm-config records it too.
    current_tls = flags.get("tls-min-version")
    set_flags["tls-min-version"] = current_tls if _stronger_tls(current_tls, tls_min_version) else tls_min_version
    current_suites = split_list(flags.get("tls-cipher-suites"))
    if suites:
        strong = current_suites and all(suite in STRONG_CIPHER_SUITES for suite in current_suites)
        set_flags["tls-cipher-suites"] = flags["tls-cipher-suites"] if strong else ",".join(suites)

    mode = "off" if anonymous == "restrict" and distribution in RANCHER else anonymous
    if mode == "restrict" and flags.get("anonymous-auth") == "false" and not flags.get("authentication-config"):
        mode = "off"  # already off (the probes were taken care of): restricting would loosen it
    if mode == "restrict":
        _restrict_anonymous(flags, kubernetes_version, auth_config_path, set_flags, remove_flags, volumes, files)
    elif mode == "off":
        set_flags["anonymous-auth"] = "false"
        if flags.get("authentication-config") == auth_config_path:
            remove_flags.append("authentication-config")  # ours, from an earlier "restrict"
        elif flags.get("authentication-config"):
            notes.append("--authentication-config=%s must not configure anonymous access, or the API server "
                         "refuses --anonymous-auth" % flags["authentication-config"])
        if distribution == "kubeadm" and flags.get("anonymous-auth") != "false":
            notes.append("kubeadm's httpGet probes on /livez and /readyz are unauthenticated: with "
                         "--anonymous-auth=false they get 401 and the API server restarts in a loop. Change the "
                         "probes first (exec with a client certificate, as RKE2 does) or use anonymous='restrict'")
    return new_change(set_flags, remove_flags, volumes, files, notes)


def _restrict_anonymous(flags, kubernetes_version, path, set_flags, remove_flags, volumes, files):
    oidc = sorted(flag for flag in flags if flag.startswith("oidc-"))
    if oidc:
        raise ValueError("the API server uses --%s, which cannot be combined with --authentication-config: move "
                         "the OIDC settings into an AuthenticationConfiguration (jwt) or use anonymous='keep'"
                         % ", --".join(oidc))
    if flags.get("authentication-config") not in (None, path):
        raise ValueError("the API server already reads --authentication-config=%s: add anonymous {enabled: true, "
                         "conditions: /livez, /readyz, /healthz} to it, or pass it as auth_config_path"
                         % flags["authentication-config"])
    document = authentication_config(authentication_config_version(kubernetes_version))
    files.append({"path": path, "content": render_authentication_config(document), "mode": "0600",
                  "secret": False})
    volumes.append({"name": AUTH_CONFIG_VOLUME, "host_path": path, "mount_path": path, "read_only": True,
                    "type": "File"})
    set_flags["authentication-config"] = path
    remove_flags.append("anonymous-auth")


SECURE_PORTS = {CONTROLLER_MANAGER: "10257", SCHEDULER: "10259"}


def component_hardening_flags(component, profiling=False, bind_address="127.0.0.1", current_flags=None):
    """The change (see static_pod) that hardens kube-controller-manager or kube-scheduler: --profiling=false (CIS
    1.3.2, 1.4.1) unless ``profiling``, and --bind-address (CIS 1.3.7, 1.4.2: 127.0.0.1, kubeadm's default) unless
    ``bind_address`` is empty. The secure port then answers on that address only; its probes follow it
    (static_pod.plan_manifest)."""
    if component not in SECURE_PORTS:
        raise ValueError("component must be one of %s, not %r" % (", ".join(sorted(SECURE_PORTS)), component))
    set_flags, notes = {}, []
    if not profiling:
        set_flags["profiling"] = "false"
    if bind_address:
        try:
            ipaddress.ip_address(bind_address)
        except ValueError:
            raise ValueError("%s bind_address %r is not an IP address" % (component, bind_address)) from None
        set_flags["bind-address"] = bind_address
        current = (current_flags or {}).get("bind-address")
        # Unset, the flag defaults to every interface; unknown flags (None) say nothing.
        if current_flags is not None and current != bind_address and current in WILDCARD_ADDRESSES + (None,):
            port = (current_flags or {}).get("secure-port") or SECURE_PORTS[component]
            notes.append("%s served port %s on every interface (--bind-address=%s): a metrics scraper reaching it "
                         "over the network loses it; scrape it on the node" % (component, port, current or "0.0.0.0"))
    return new_change(set_flags, notes=notes)
