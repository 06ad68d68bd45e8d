"""The official Huawei Cloud Python SDK in a loop of reinstall + show_job, for `cargo xtask bench`.

Usage: sdk_loop.py BASE_URL OPERATIONS [--servers N] [--ak AK] [--sk SK] [--project-id ID]

The counterpart of crates/client/examples/ecs_loop.rs, against the same emulator with the same
fixtures: the default fixtures with N stopped benchmark servers appended, whose ids are
5e7e0000-0000-4000-8000-{index:012} (N defaults to OPERATIONS). One operation is
reinstall_server_with_cloud_init with an adminpass (POST /v2/{project}/cloudservers/{id}/reinstallos)
and one show_job of the job it returned (GET /v1/{project}/jobs/{job_id}), through the real SDK
(huaweicloudsdkcore + huaweicloudsdkecs 3.1.219: AK/SK signing, its own request and response
models, one EcsClient and its pooled session). Operation i uses server i mod N. The SDK is
synchronous: the operations run one after another.

Prints one JSON line: side, ops, concurrency (1), seconds (the loop alone, after the imports and
the client), ops_per_sec, peak_rss_kib (ru_maxrss) and cpu_seconds (user + system). Exits 1 at
the first failed operation. `cargo xtask sdk-peer` sets up the venv it needs (target/sdk-venv).
"""

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

# The default fixtures (crates/emulator/fixtures/default.toml): well-known test values.
AK = "REIMAGEEMULATORAK"
SK = "reimage-emulator-sk"
PROJECT_ID = "0123456789abcdef0123456789abcdef"
ADMIN_PASSWORD = "Reimage-Bench-1!"


def server_id(index):
    """The id of benchmark server `index`, as ecs_loop.rs makes it."""
    return f"5e7e0000-0000-4000-8000-{index:012d}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="the emulator, e.g. http://127.0.0.1:PORT")
    parser.add_argument("ops", type=int, help="how many operations")
    parser.add_argument("--servers", type=int, default=None)
    parser.add_argument("--ak", default=AK)
    parser.add_argument("--sk", default=SK)
    parser.add_argument("--project-id", default=PROJECT_ID)
    args = parser.parse_args()
    servers = max(args.servers or args.ops, 1)

    # Importing the SDK writes ~/.huaweicloud/: keep it out of the real home. Loopback never goes
    # through a proxy.
    home = tempfile.mkdtemp(prefix="reimage-sdk-loop-home-")
    os.environ["HOME"] = home
    os.environ["USERPROFILE"] = home
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    try:
        report = run(args, servers)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(report, sort_keys=True), flush=True)
    return 0


def run(args, servers):
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkecs.v2 import (
        EcsClient,
        ReinstallServerWithCloudInitOption,
        ReinstallServerWithCloudInitRequest,
        ReinstallServerWithCloudInitRequestBody,
        ShowJobRequest,
    )

    config = HttpConfig.get_default_config()
    config.timeout = (5, 30)
    config.retry_times = 0
    ecs = (
        EcsClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(args.ak, args.sk, args.project_id))
        .with_endpoints([args.base_url])
        .build()
    )

    start = time.perf_counter()
    for i in range(args.ops):
        server = server_id(i % servers)
        answer = ecs.reinstall_server_with_cloud_init(
            ReinstallServerWithCloudInitRequest(
                server_id=server,
                body=ReinstallServerWithCloudInitRequestBody(
                    os_reinstall=ReinstallServerWithCloudInitOption(adminpass=ADMIN_PASSWORD)
                ),
            )
        )
        if answer.status_code != 200 or not answer.job_id:
            raise SystemExit(f"the reinstall of {server} answered {answer.status_code}: {answer}")
        job = ecs.show_job(ShowJobRequest(job_id=answer.job_id))
        if job.status_code != 200 or job.job_id != answer.job_id:
            raise SystemExit(f"show_job {answer.job_id} answered {job.status_code}: {job}")
    seconds = time.perf_counter() - start

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "side": "sdk",
        "ops": args.ops,
        "concurrency": 1,
        "seconds": seconds,
        "ops_per_sec": args.ops / max(seconds, sys.float_info.min),
        "peak_rss_kib": usage.ru_maxrss,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }


if __name__ == "__main__":
    sys.exit(main())
