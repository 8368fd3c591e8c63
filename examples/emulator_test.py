"""Testing a tool against the crossmap emulator from Python, with the standard library only.

Starts `crossmap serve --in-memory` as a child process (the binary named by CROSSMAP_BIN, else `crossmap`
on PATH) on a free port, waits until `GET /_crossmap/health` answers, and runs unittest cases that reset
the emulator between tests, push mappings through the Graph API, inject a fault and assert on the request
journal. `cargo xtask browser` (part of `cargo xtask ci`) runs it; docs/emulator.md ("Testing your tool
against the emulator") shows the same with httpx.
"""

import json
import os
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

BIN = os.environ.get("CROSSMAP_BIN", "crossmap")
CLIENT_ID, CLIENT_SECRET = "my-tool", "my-tool-secret"
USERS = "/beta/solutions/sharePoint/migrations/crossOrganizationUserMappings"
ORG = "11111111-1111-1111-1111-111111111111"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A `crossmap serve --in-memory` child process and a tiny HTTP client for it."""

    def __init__(self):
        self.base = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [BIN, "serve", "--in-memory", "--addr", self.base[len("http://"):],
             "--app", f"{CLIENT_ID}:{CLIENT_SECRET}:manage"],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, body = self.call("GET", "/_crossmap/health")
                if status == 200 and body["status"] == "ok":
                    break
            except OSError:
                pass  # not listening yet
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not become healthy")
            time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def call(self, method, path, body=None, headers=None, form=None):
        """(status, headers, JSON body or None); HTTP errors are answers too."""
        headers = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, answer_headers, text = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, answer_headers, text = error.code, error.headers, error.read()
        return status, answer_headers, json.loads(text) if text else None

    def token(self, tenant):
        status, _, body = self.call("POST", f"/{tenant}/oauth2/v2.0/token", form={
            "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "scope": "https://graph.microsoft.com/.default"})
        assert status == 200, body
        return body["access_token"]


def user(n):
    return {"sourceOrganizationId": ORG, "userType": "regularUser",
            "sourceUserIdentity": {"userPrincipalName": f"user{n}@contoso.com"},
            "targetUserIdentity": {"userPrincipalName": f"user{n}@fabrikam.com"}}


class AgainstTheEmulator(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emulator = Emulator()

    @classmethod
    def tearDownClass(cls):
        cls.emulator.stop()

    def setUp(self):
        # Every test starts from nothing: no mappings, no faults, an empty journal.
        e = self.emulator
        self.assertEqual(e.call("POST", "/_crossmap/reset")[0], 204)
        self.assertEqual(e.call("PUT", "/_crossmap/faults", {"rules": []})[0], 200)
        self.assertEqual(e.call("DELETE", "/_crossmap/requests")[0], 204)
        self.auth = {"Authorization": f"Bearer {e.token('contoso')}"}

    def push(self, *items, **headers):
        return self.emulator.call("PATCH", USERS, {"@context": "#$delta", "value": list(items)},
                                  {**self.auth, **headers})

    def test_a_push_is_stored_and_journalled(self):
        status, _, body = self.push(user(1), user(2), **{"client-request-id": "push-1"})
        self.assertEqual(status, 200, body)
        status, _, mapping = self.emulator.call(
            "GET", f"{USERS}(sourceUserPrincipalName='user2@contoso.com')", headers=self.auth)
        self.assertEqual(status, 200)
        self.assertEqual(mapping["targetUserIdentity"]["userPrincipalName"], "user2@fabrikam.com")
        _, _, journal = self.emulator.call("GET", "/_crossmap/requests?clientRequestId=push-1")
        [entry] = journal["value"]
        self.assertEqual((entry["method"], entry["status"], entry["items"]), ("PATCH", 200, 2))
        self.assertEqual((entry["tenant"], entry["appId"]), ("contoso", CLIENT_ID))

    def test_reset_forgets_every_mapping(self):
        self.assertEqual(self.push(user(3))[0], 200)
        self.assertEqual(self.emulator.call("POST", "/_crossmap/reset")[0], 204)
        status, _, _ = self.emulator.call(
            "GET", f"{USERS}(sourceUserPrincipalName='user3@contoso.com')", headers=self.auth)
        self.assertEqual(status, 404)

    def test_a_throttled_push_changes_nothing_and_says_when_to_retry(self):
        rule = {"match": {"method": "PATCH"}, "rate": 1.0, "status": 429, "retryAfter": "2"}
        status, _, _ = self.emulator.call("PUT", "/_crossmap/faults", {"seed": 42, "rules": [rule]})
        self.assertEqual(status, 200)
        status, headers, body = self.push(user(4))
        self.assertEqual(status, 429)
        self.assertEqual(headers["Retry-After"], "2")
        self.assertEqual(body["error"]["code"], "activityLimitReached")
        _, _, journal = self.emulator.call("GET", "/_crossmap/requests?status=429")
        [entry] = journal["value"]
        self.assertIsNotNone(entry["fault"])
        self.assertEqual(self.emulator.call(
            "GET", f"{USERS}(sourceUserPrincipalName='user4@contoso.com')", headers=self.auth)[0], 404)


if __name__ == "__main__":
    unittest.main(verbosity=2)
