"""The same push done the way a user of Microsoft's Python beta SDK (msgraph-beta-sdk) would do it.

The SDK has no method for the delta PATCH, so a user hand-builds the requests and sends them through the
SDK's request adapter (with its middleware: Kiota's default retry handler, redirect, headers), 50 items
at a time, sequentially or IN_FLIGHT requests at once. A request the retry handler gives up on (after its
3 retries) is counted as failed and the push goes on.
Usage: python_sdk_push.py BASE_URL AUTHORITY TENANT CLIENT_ID SECRET COUNT [IN_FLIGHT]. Prints one JSON line.
Run by `cargo xtask bench client` and `cargo xtask bench throttled`, in the virtual environment they make.
"""

import asyncio
import json
import os
import sys
import time

import httpx
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph_beta import GraphServiceClient
from msgraph_beta.graph_request_adapter import GraphRequestAdapter


class StaticTokenProvider(AccessTokenProvider):
    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


def user(n):
    return {
        "sourceOrganizationId": "11111111-1111-1111-1111-111111111111",
        "userType": "regularUser",
        "sourceUserIdentity": {"userPrincipalName": f"user{n}@contoso.com"},
        "targetUserIdentity": {"userPrincipalName": f"user{n}@fabrikam.com"},
        "targetUserMigrationData": {"email": f"user{n}@fabrikam.com"},
    }


async def main():
    base, authority, tenant, client_id, secret, count = sys.argv[1:7]
    count = int(count)
    in_flight = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    token = httpx.post(
        f"{authority}/{tenant}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
              "scope": "https://graph.microsoft.com/.default"},
    ).json()["access_token"]
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticTokenProvider(token)))
    adapter.base_url = base
    client = GraphServiceClient(request_adapter=adapter)
    chunks = iter(range(0, count, 50))
    failed = 0

    async def worker():
        nonlocal failed
        for first in chunks:
            info = RequestInformation()
            info.http_method = Method.PATCH
            info.url = f"{base}/solutions/sharePoint/migrations/crossOrganizationUserMappings"
            body = {"@context": "#$delta", "value": [user(n) for n in range(first, min(first + 50, count))]}
            info.set_stream_content(json.dumps(body).encode(), "application/json")
            info.headers.try_add("Content-Type", "application/json")
            try:
                await client.request_adapter.send_primitive_async(info, "bytes", None)
            except Exception:  # the SDK's APIError once its retries are spent
                failed += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    seconds = time.perf_counter() - start
    # Under a quota the caller counts with another app (this one's bucket would be charged): NO_COUNT=1.
    stored = None
    if not os.environ.get("NO_COUNT"):
        stored = int(httpx.get(f"{base}/solutions/sharePoint/migrations/crossOrganizationUserMappings/$count",
                               headers={"Authorization": f"Bearer {token}"}).text)
    print(json.dumps({"items": count, "stored": stored, "failed_requests": failed, "seconds": round(seconds, 3),
                      "items_per_s": round(count / seconds)}))


asyncio.run(main())
