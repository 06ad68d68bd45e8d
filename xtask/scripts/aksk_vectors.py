#!/usr/bin/env python3
"""Signs generated requests with the official Huawei Cloud Python SDK and writes test vectors.

Usage: aksk_vectors.py OUTPUT.json

Run it through `cargo xtask aksk-vectors`, which installs the pinned huaweicloudsdkcore into a
venv under target/ and points HOME at a temporary directory (importing the SDK writes
~/.huaweicloud/). The output is deterministic: a fixed seed, fixed dates, sorted keys.

Every request is signed the way the SDK signs the requests it sends: an SdkRequest built like
`Client.build_future_request` builds it (path parameters quoted with `quote(v, safe='')`, the
query as a list of (key, value) tuples, the header dict, a str body), signed by
`BasicCredentials.sign_request`, which adds X-Project-Id and X-Security-Token and then runs the
SDK's own `Signer`. The X-Sdk-Date header is preset, so the signer uses it instead of the clock.
`url` is the URL as `requests` (the SDK's transport) puts it on the wire.
"""

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from urllib.parse import quote, urlparse

from requests.models import PreparedRequest

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer import signer as sdk_signer

SDK = "huaweicloudsdkcore"
PINNED = "3.1.219"
SEED = 20250101
GENERATED = 48

README_SIGNATURE = "42061a519baed3207e7331d2800e342c96cad5014cb165923f581ba9b6912212"

# The SDK computes the canonical request inside Signer.sign; record it on the way out.
_captured = {}
_original_canonical = sdk_signer.Signer._process_canonical_request


def _recording_canonical(self, request, signed_headers):
    result = _original_canonical(self, request, signed_headers)
    _captured["canonical_request"] = result
    return result


sdk_signer.Signer._process_canonical_request = _recording_canonical

UA = "huaweicloud-usdk-python/3.0"
JSON = "application/json"
PROJECT = "0123456789abcdef0123456789abcdef"


def path_from(template, **params):
    """Fills a path template as the SDK's client does: every parameter quoted with safe=''."""
    for key, value in params.items():
        template = template.replace("{%s}" % key, quote(str(value), safe=""))
    return template


def wire_url(url):
    prepared = PreparedRequest()
    prepared.prepare_url(url, None)
    return prepared.url


def sign(name, method, endpoint, path, query=(), headers=None, body=None, ak="AKEXAMPLE",
         sk="SKEXAMPLE", token=None, project_id=PROJECT, date="20250101T000000Z"):
    """Signs one request with the SDK and returns its vector."""
    given_headers = dict(headers if headers is not None else {"Content-Type": JSON, "User-Agent": UA})
    query = [list(pair) for pair in query]
    header_params = dict(given_headers)
    header_params["X-Sdk-Date"] = date
    parsed = urlparse(endpoint)
    request = SdkRequest(
        method=method,
        schema=parsed.scheme,
        host=parsed.netloc,
        resource_path=path,
        query_params=[tuple(pair) for pair in query],
        header_params=header_params,
        body=body,
    )
    credentials = BasicCredentials(ak, sk, project_id)
    if token is not None:
        credentials = credentials.with_security_token(token)
    _captured.clear()
    request = credentials.sign_request(request)
    authorization = request.header_params["Authorization"]
    signed_headers = authorization.split("SignedHeaders=")[1].split(",")[0]
    # After signing, the SDK rewrites every header value as the latin-1 reading of its UTF-8
    # bytes, which is how `requests` sends them; read them back as the UTF-8 text on the wire.
    final_headers = {k: v.encode("iso-8859-1").decode("utf-8") for k, v in request.header_params.items()}
    return {
        "name": name,
        "method": method,
        "endpoint": endpoint,
        "path": path,
        "query": query,
        "headers": given_headers,
        "body": body,
        "ak": ak,
        "sk": sk,
        "security_token": token,
        "project_id": project_id,
        "sdk_date": date,
        "url": wire_url(request.url),
        "expected": {
            "authorization": authorization,
            "signed_headers": signed_headers,
            "canonical_request": _captured["canonical_request"],
            "headers": final_headers,
        },
    }


def handwritten():
    server = "11111111-2222-3333-4444-555555555555"
    servers = "/v2/{project_id}/cloudservers/{server_id}"
    ecs = "https://ecs.eu-de.otc.t-systems.com"
    local = "http://127.0.0.1:8080"
    v = []

    readme_body = ('{"os-reinstall": {"keyname": "KeyPair-350b", "userid": '
                   '"7e25b1da389f4697a79df3a0e5bd494e", "mode": "withStopServer"}}')
    readme = sign("readme-reinstallos", "POST", local,
                  path_from(servers + "/reinstallos", project_id=PROJECT, server_id=server),
                  headers={"Content-Type": "application/json;charset=UTF-8", "User-Agent": UA},
                  body=readme_body)
    if not readme["expected"]["authorization"].endswith("Signature=" + README_SIGNATURE):
        sys.exit("the SDK no longer reproduces the README vector: " + readme["expected"]["authorization"])
    v.append(readme)

    change = json.dumps({"os-change": {"adminpass": "Sup3r-secret", "imageid": "e215580f-73ad-429d-b6f2-5433947433b0",
                                       "metadata": {"user_data": "I2Nsb3VkLWNvbmZpZwo=", "__system__encrypted": "0"},
                                       "mode": "withStopServer", "name": "Grüße 日本"}}, ensure_ascii=False)
    v.append(sign("changeos-unicode-json", "POST", ecs,
                  path_from(servers + "/changeos", project_id=PROJECT, server_id=server), body=change))
    v.append(sign("get-job", "GET", ecs, path_from("/v1/{project_id}/jobs/{job_id}", project_id=PROJECT,
                                                   job_id="ff80808288d41e1b018990260955686a")))
    v.append(sign("get-without-content-type", "GET", ecs, path_from(servers, project_id=PROJECT, server_id=server),
                  headers={"User-Agent": UA}))
    v.append(sign("delete-with-query", "DELETE", ecs, "/v1/%s/cloudservers/delete" % PROJECT,
                  query=[("delete_publicip", "true"), ("delete_volume", "false")]))
    v.append(sign("put-json", "PUT", ecs, path_from(servers, project_id=PROJECT, server_id=server),
                  body=json.dumps({"server": {"name": "new-name", "description": ""}})))
    v.append(sign("path-param-space", "GET", local, path_from("/v1/{p}/names/{n}", p=PROJECT, n="my server")))
    v.append(sign("path-param-percent", "GET", local, path_from("/v1/{p}/names/{n}", p=PROJECT, n="100% %41")))
    v.append(sign("path-param-unicode", "GET", local, path_from("/v1/{p}/names/{n}", p=PROJECT, n="ü日本😀")))
    v.append(sign("path-param-plus-tilde-at-colon", "GET", local,
                  path_from("/v1/{p}/names/{n}", p=PROJECT, n="a+b~c@d:e")))
    v.append(sign("path-param-slash", "GET", local, path_from("/v1/{p}/names/{n}", p=PROJECT, n="a/b/../c")))
    v.append(sign("path-param-reserved", "GET", local,
                  path_from("/v1/{p}/names/{n}", p=PROJECT, n="!$&'()*,;=?#[]{}|^`\"<>\\")))
    v.append(sign("path-double-slashes", "GET", local, "/v1//jobs//x"))
    v.append(sign("path-trailing-slash", "GET", local, "/v1/%s/jobs/" % PROJECT))
    v.append(sign("path-root", "GET", local, "/"))
    v.append(sign("path-raw-space-unicode", "GET", local, "/v1/raw path/ü 日本"))
    v.append(sign("path-raw-encoded-unreserved", "GET", local, "/v1/%7e%41%2d/x%5Fy"))
    v.append(sign("path-raw-encoded-slash", "GET", local, "/v1/a%2Fb/c%2fd"))
    v.append(sign("path-raw-invalid-utf8", "GET", local, "/v1/%FF/%E2%82/%C3%BC"))
    v.append(sign("path-raw-lone-percent", "GET", local, "/v1/100%/x%zz"))
    v.append(sign("path-raw-subdelims", "GET", local, "/v1/a+b;c,d!$&'()*=:@~"))
    v.append(sign("query-unsorted-keys", "GET", ecs, "/v1/%s/cloudservers/detail" % PROJECT,
                  query=[("offset", "1"), ("limit", "25"), ("name", "web"), ("flavor", "s3.small.1")]))
    v.append(sign("query-repeated-keys", "GET", ecs, "/v1/%s/cloudservers/detail" % PROJECT,
                  query=[("tags", "z=1"), ("status", "SHUTOFF"), ("tags", "a=2"), ("status", "ACTIVE"),
                         ("tags", "a=10")]))
    v.append(sign("query-empty-values", "GET", ecs, "/v1/%s/cloudservers/detail" % PROJECT,
                  query=[("name", ""), ("marker", ""), ("a", "1")]))
    v.append(sign("query-unicode", "GET", ecs, "/v1/%s/cloudservers/detail" % PROJECT,
                  query=[("name", "Grüße"), ("日本", "東京"), ("emoji", "😀")]))
    v.append(sign("query-needs-escape", "GET", ecs, "/v1/%s/search" % PROJECT,
                  query=[("q", "a b+c&d=e"), ("path", "/x?y#z"), ("pct", "100%"), ("t", "~-._"),
                         ("k k", "v"), ("a+b", "c")]))
    v.append(sign("query-empty-key", "GET", ecs, "/v1/search", query=[("", "v"), ("a", "")]))
    v.append(sign("query-case-order", "GET", ecs, "/v1/search",
                  query=[("b", "1"), ("B", "1"), ("a", "2"), ("A", "2"), ("_", "3"), ("~", "4")]))
    v.append(sign("json-body-escaped-unicode", "POST", ecs, "/v1/%s/items" % PROJECT,
                  body=json.dumps({"name": "Grüße", "list": [1, 2.5, None, True]})))
    v.append(sign("binaryish-json-body", "POST", ecs, "/v1/%s/items" % PROJECT,
                  body="\x00\x01\x02\x7f\x80\xff\ufffd\r\n\t end"))
    v.append(sign("octet-stream-unsigned-payload", "PUT", ecs, "/v1/%s/objects/blob" % PROJECT,
                  headers={"Content-Type": "application/octet-stream", "User-Agent": UA},
                  body="\x00\x01binary\xff"))
    v.append(sign("form-unsigned-payload", "POST", ecs, "/v1/form",
                  headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": UA},
                  body="a=1&b=two+words"))
    v.append(sign("text-plain-empty-body", "POST", ecs, "/v1/text",
                  headers={"Content-Type": "text/plain", "User-Agent": UA}, body=""))
    v.append(sign("bson-is-hashed", "POST", ecs, "/v1/bson",
                  headers={"Content-Type": "application/bson", "User-Agent": UA}, body="\x05\x00\x00\x00\x00"))
    v.append(sign("content-type-case-sensitive", "POST", ecs, "/v1/json",
                  headers={"Content-Type": "Application/JSON", "User-Agent": UA}, body="{}"))
    v.append(sign("content-type-prefix-only", "POST", ecs, "/v1/json",
                  headers={"Content-Type": "application/jsonp", "User-Agent": UA}, body="{}"))
    v.append(sign("security-token", "POST", ecs,
                  path_from(servers + "/reinstallos", project_id=PROJECT, server_id=server), body=readme_body,
                  ak="HST3UDGTLV1UEHL4GVQR", sk="kG8AnM0ZlJyHDsG7fbyRrWHcmNd2DLrlr9kOSPnB",
                  token="gQpjbi1ub3J0aC00jPd2Z/5qYWhgSdfGFtKO2XA+A9k0YW3MwL4P=="))
    v.append(sign("explicit-host-header", "GET", local, "/v1/x",
                  headers={"Content-Type": JSON, "User-Agent": UA, "Host": "ecs.example.com"}))
    v.append(sign("underscore-header-unsigned", "GET", ecs, "/v1/x",
                  headers={"Content-Type": JSON, "User-Agent": UA, "X_Custom_Header": "not signed",
                           "X-Custom-Header": "signed"}))
    v.append(sign("header-values-trimmed", "GET", ecs, "/v1/x",
                  headers={"Content-Type": JSON, "User-Agent": "  padded agent\t", "X-Client-Request-Id": " 42 "}))
    v.append(sign("header-value-unicode", "GET", ecs, "/v1/x",
                  headers={"Content-Type": JSON, "User-Agent": UA + "; Grüße/1.0"}))
    v.append(sign("header-names-mixed-case", "GET", ecs, "/v1/x",
                  headers={"content-TYPE": JSON, "user-agent": UA, "X-CUSTOM": "Value"}))
    v.append(sign("ipv6-endpoint", "GET", "http://[::1]:9443", "/v1/x"))
    v.append(sign("https-default-port", "GET", "https://ecs.ap-southeast-1.myhuaweicloud.com", "/v1/x"))
    v.append(sign("https-explicit-port", "GET", "https://ecs.example.com:443", "/v1/x"))
    v.append(sign("sk-with-symbols-and-unicode", "POST", ecs, "/v1/x", body="{}", ak="ak0123lower",
                  sk="sk/+=!é日本"))
    v.append(sign("date-leap-day", "GET", ecs, "/v1/x", date="20240229T235959Z"))
    v.append(sign("date-1999", "GET", ecs, "/v1/x", date="19991231T235959Z"))
    return v


SEGMENT_CHARS = list("abcXYZ019-._~ +@:!$&'()*,;=") + ["ü", "é", "日", "本", "😀"]
PARAM_CHARS = SEGMENT_CHARS + list("%/?#[]")
KEYS = ["limit", "marker", "name", "a", "A", "b", "_", "~x", "k k", "ü", "日本", "a+b", "a&b", "a=b", "", "%"]
VALUES = ["", "1", "10", "x y", "ü", "😀", "a+b", "a&b=c", "/p?q#f", "100%", "~", "true", "-1", "Grüße"]
ENDPOINTS = ["http://127.0.0.1:8080", "https://ecs.eu-de.otc.t-systems.com",
             "https://ecs.ap-southeast-1.myhuaweicloud.com", "http://[::1]:9443", "https://ecs.example.com:443"]
CONTENT_TYPES = [JSON, JSON, "application/json;charset=UTF-8", None, "application/x-www-form-urlencoded",
                 "text/plain", "application/octet-stream", "application/bson"]
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def text(rng, alphabet, low, high):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def random_path(rng):
    parts = []
    for _ in range(rng.randint(0, 4)):
        is_param = rng.random() < 0.5
        segment = text(rng, PARAM_CHARS if is_param else SEGMENT_CHARS, 0, 8)
        if segment in (".", ".."):
            segment += "x"  # `requests` drops dot segments, which the SDK signs: not a request it sends
        if is_param:
            segment = quote(segment, safe="")
        parts.append(segment)
    path = "/" + "/".join(parts)
    if parts and rng.random() < 0.3:
        path += "/"
    return path


def random_body(rng, content_type):
    kind = rng.randrange(4)
    if kind == 0:
        return None
    if kind == 1 and content_type in (None, JSON):
        return json.dumps({text(rng, ALNUM, 1, 6): text(rng, SEGMENT_CHARS, 0, 12) for _ in range(rng.randint(0, 4))},
                          ensure_ascii=rng.random() < 0.5)
    if kind == 2:
        return "".join(chr(rng.randrange(256)) for _ in range(rng.randint(1, 24)))
    return text(rng, SEGMENT_CHARS, 1, 30)


def random_date(rng):
    start = datetime(2000, 1, 1, tzinfo=timezone.utc)
    moment = start + timedelta(seconds=rng.randrange(36 * 365 * 24 * 3600))
    return moment.strftime("%Y%m%dT%H%M%SZ")


def generated():
    rng = random.Random(SEED)
    v = []
    for i in range(GENERATED):
        method = rng.choice(["GET", "POST", "PUT", "DELETE"])
        content_type = rng.choice(CONTENT_TYPES)
        headers = {"User-Agent": UA}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if rng.random() < 0.3:
            headers["X-Client-Request-Id"] = text(rng, ALNUM, 8, 16)
        query = [(rng.choice(KEYS), rng.choice(VALUES)) for _ in range(rng.randint(0, 5))]
        if query and rng.random() < 0.3:
            query.append((query[0][0], rng.choice(VALUES)))
        token = text(rng, ALNUM + "+/=", 40, 120) if rng.random() < 0.3 else None
        v.append(sign(
            "random-%02d" % i, method, rng.choice(ENDPOINTS), random_path(rng), query=query, headers=headers,
            body=random_body(rng, content_type), ak=text(rng, UPPER_DIGITS, 20, 20),
            sk=text(rng, ALNUM, 40, 40), token=token, project_id=text(rng, "0123456789abcdef", 32, 32),
            date=random_date(rng),
        ))
    return v


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: aksk_vectors.py OUTPUT.json")
    found = version(SDK)
    if found != PINNED:
        sys.exit("expected %s %s, found %s" % (SDK, PINNED, found))
    doc = {
        "generator": "xtask/scripts/aksk_vectors.py, run by `cargo xtask aksk-vectors`; do not edit by hand",
        "sdk": "%s %s" % (SDK, PINNED),
        "vectors": handwritten() + generated(),
    }
    names = [vector["name"] for vector in doc["vectors"]]
    if len(names) != len(set(names)):
        sys.exit("vector names are not unique")
    with open(sys.argv[1], "w", encoding="utf-8", newline="\n") as out:
        out.write(json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
