"""A minimal HTTPS client for the Kubernetes API with client-certificate auth (no third-party imports).

The node runner uses it as kubelet uses kubelet.conf; `up` uses it with the admin certificate to do what
kubeadm's post-init phases do. It runs inside the node's mount namespace, where only the standard library
and PyYAML are assumed.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class Client:
    def __init__(self, server: str, ca_file: Path, cert_file: Path, key_file: Path, timeout: float = 10):
        self.server = server.rstrip("/")
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.context.load_cert_chain(str(cert_file), str(key_file))

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode(errors="replace")) from None
        if not payload:
            return {}
        try:
            return json.loads(payload)
        except ValueError:
            return {"raw": payload.decode(errors="replace")}

    def text(self, path: str) -> str:
        req = urllib.request.Request(self.server + path)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as response:
                return response.read().decode()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode(errors="replace")) from None

    def create_or_get(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.request("POST", path, body)
        except ApiError as exc:
            if exc.status != 409:
                raise
            return self.request("GET", f"{path}/{body['metadata']['name']}")
