# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""A read-mostly JSON client for the Kubernetes API.

The generated ``kubernetes`` client is used only to load credentials (kubeconfig, exec plugins, in-cluster);
requests go through urllib3 directly so that lists stay plain JSON (cheap to evaluate, identical to recorded
fixtures), every request is counted, and each failure becomes one line naming its cause.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import json

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import bearer_token, load_configuration
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

try:
    import urllib3
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NewConnectionError,
        ProtocolError,
        ProxyError,
        ReadTimeoutError,
        SSLError,
    )
except ImportError:  # pragma: no cover - urllib3 comes with the kubernetes package
    urllib3 = None

LIST_PAGE_SIZE = 500


# Items' metadata only (served since Kubernetes 1.15); no plain-JSON fallback, which would return Secret values.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def _no_proxy_matches(host, no_proxy):
    hostname = host.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    for entry in (no_proxy or "").split(","):
        entry = entry.strip().lstrip(".")
        if entry and (entry == "*" or hostname == entry or hostname.endswith("." + entry)):
            return True
    return False


class KubeClient:
    """GET/LIST (and, for later modules, write) JSON against one API server, counting requests."""

    def __init__(self, configuration, timeout=30, impersonate_user=None, impersonate_groups=None):
        if urllib3 is None:
            raise KubeCompassError("the urllib3 Python package is required", "dependency")
        self.configuration = configuration
        self.base_url = configuration.host.rstrip("/")
        self.timeout = timeout
        self.requests = 0
        self.impersonate_user = impersonate_user
        self.impersonate_groups = impersonate_groups or []
        pool_args = {"retries": False, "timeout": urllib3.Timeout(connect=min(timeout, 10), read=timeout)}
        if self.base_url.startswith("https"):
            if configuration.verify_ssl:
                pool_args["cert_reqs"] = "CERT_REQUIRED"
                if configuration.ssl_ca_cert:
                    pool_args["ca_certs"] = configuration.ssl_ca_cert
                if getattr(configuration, "tls_server_name", None):
                    pool_args["server_hostname"] = configuration.tls_server_name
            else:
                pool_args["cert_reqs"] = "CERT_NONE"
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            if configuration.cert_file:
                pool_args["cert_file"] = configuration.cert_file
            if configuration.key_file:
                pool_args["key_file"] = configuration.key_file
        if configuration.proxy and not _no_proxy_matches(self.base_url, configuration.no_proxy):
            self.pool = urllib3.ProxyManager(configuration.proxy, proxy_headers=configuration.proxy_headers,
                                             **pool_args)
        else:
            self.pool = urllib3.PoolManager(**pool_args)

    # -- headers -------------------------------------------------------------------------------------------------

    def _headers(self, content_type=None, accept=None):
        headers = urllib3.HTTPHeaderDict({"Accept": accept or "application/json", "User-Agent": "kubecompass.readiness"})
        token = bearer_token(self.configuration)
        if token:
            headers["Authorization"] = token
        elif self.configuration.username and self.configuration.password:
            raw = "%s:%s" % (self.configuration.username, self.configuration.password)
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        if self.impersonate_user:
            headers["Impersonate-User"] = self.impersonate_user
        for group in self.impersonate_groups:
            headers.add("Impersonate-Group", group)
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    # -- requests ------------------------------------------------------------------------------------------------

    def request(self, method, path, query=None, body=None, content_type="application/json", accept=None):
        """Send one request; return (status, parsed JSON body, response headers). Raise on transport failure."""
        url = self.base_url + path
        data = json.dumps(body).encode() if body is not None else None
        self.requests += 1
        try:
            response = self.pool.request(method, url, fields=query if method == "GET" else None, body=data,
                                         headers=self._headers(content_type if data is not None else None, accept))
        except MaxRetryError as exc:
            raise self._transport_error(exc.reason or exc) from None
        except (SSLError, NewConnectionError, ConnectTimeoutError, ReadTimeoutError, ProtocolError,
                ProxyError, OSError) as exc:
            raise self._transport_error(exc) from None
        payload = response.data
        try:
            parsed = json.loads(payload) if payload else {}
        except ValueError:
            parsed = {"raw": payload.decode("utf-8", "replace")}
        return response.status, parsed, response.headers

    def _transport_error(self, exc):
        text = str(exc)
        if isinstance(exc, SSLError) or "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in type(exc).__name__:
            reason = text.rsplit("certificate verify failed:", maxsplit=1)[-1].strip(" ')\"")
            return KubeCompassError("TLS verification of %s failed (%s); check ca_cert or validate_certs"
                                    % (self.base_url, reason[:160]), "tls")
        # urllib3's NewConnectionError subclasses ConnectTimeoutError: look for the precise causes first.
        if "refused" in text.lower():
            return KubeCompassError("cannot reach %s: connection refused" % self.base_url, "unreachable")
        if "Name or service not known" in text or "nodename nor servname" in text or "resolution" in text:
            return KubeCompassError("cannot reach %s: host name does not resolve" % self.base_url, "unreachable")
        if "unreachable" in text.lower():
            return KubeCompassError("cannot reach %s: network unreachable" % self.base_url, "unreachable")
        if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)) or "timed out" in text:
            return KubeCompassError("%s timed out after %ss" % (self.base_url, self.timeout), "timeout")
        return KubeCompassError("cannot reach %s: %s" % (self.base_url, text.splitlines()[0][:200]), "unreachable")

    def status_error(self, status, body, path):
        message = body.get("message") if isinstance(body, dict) else None
        if status == 401:
            return KubeCompassError("the API server at %s rejected the credentials (401 Unauthorized)"
                                    % self.base_url, "unauthorized", status)
        if status == 403:
            return KubeCompassError("forbidden: %s" % (message or path), "forbidden", status)
        if status == 404:
            return KubeCompassError("not found: %s" % (message or path), "not_found", status)
        return KubeCompassError("API error %s on %s: %s" % (status, path, message or body), "api", status)

    def get(self, path, query=None, accept=None):
        status, body, _headers = self.request("GET", path, query, accept=accept)
        if status >= 400:
            raise self.status_error(status, body, path)
        return body

    def list(self, path, query=None, page_size=LIST_PAGE_SIZE, metadata_only=False):
        """All items of a collection, following ``continue`` tokens; items keep their apiVersion/kind.
        ``metadata_only``: each item's metadata alone (PartialObjectMetadata), so no Secret value is ever read."""
        items = []
        params = dict(query or {})
        params["limit"] = str(page_size)
        accept = METADATA_ONLY if metadata_only else None
        while True:
            body = self.get(path, params, accept)
            list_kind = body.get("kind") or ""
            kind = list_kind[:-len("List")] if list_kind.endswith("List") else None
            for item in body.get("items") or []:
                if kind and "kind" not in item:
                    item["kind"] = kind
                    item["apiVersion"] = body.get("apiVersion")
            items.extend(body.get("items") or [])
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token


def client_from_params(params):
    """A KubeClient from a module's auth options (see _auth.AUTH_ARG_SPEC); raises KubeCompassError."""
    configuration, _source = load_configuration(params)
    return KubeClient(configuration, timeout=params["request_timeout"], impersonate_user=params["impersonate_user"],
                      impersonate_groups=params["impersonate_groups"])
