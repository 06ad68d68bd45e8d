"""The official Huawei Cloud Python SDK judges the reimage emulator's ECS wire compatibility.

Usage: sdk_interop.py BASE_URL [--ak AK] [--sk SK] [--project-id ID]

Runs against an emulator started with the default fixtures (crates/emulator/fixtures/default.toml)
and a small time scale, so that jobs finish in well under a second. Through the real SDK
(huaweicloudsdkcore + huaweicloudsdkecs 3.1.219, AK/SK signing, its own request and response
models) it drives reinstall_server_with_cloud_init, change_server_os_with_cloud_init, show_job
until SUCCESS, show_server, batch_stop_servers and batch_start_servers, the calls for images
without cloud-init (reinstall_server_without_cloud_init, change_server_os_without_cloud_init, on
a running server with mode withStopServer), and the error paths: a
wrong secret key, a missing server, a weak adminpass. It asserts what comes back, exception
status and error codes included.

Prints one line per check ("ok NAME details" or "FAIL NAME: why"), then "N passed, M failed",
and exits 1 when anything failed. crates/emulator/tests/sdk_interop.rs runs it; `cargo xtask
sdk-peer` sets up the venv it needs (target/sdk-venv).
"""

import argparse
import base64
import os
import shutil
import sys
import tempfile
import time
import traceback

SDK_VERSION = "3.1.219"

# The default fixtures.
AK = "REIMAGEEMULATORAK"
SK = "reimage-emulator-sk"
PROJECT_ID = "0123456789abcdef0123456789abcdef"
USER_ID = "7e25b1da389f4697a79df3a0e5bd494e"
KEY_PAIR = "KeyPair-350b"
SERVER_1 = "11111111-2222-3333-4444-555555555555"  # stopped, Debian 12
SERVER_2 = "22222222-3333-4444-5555-666666666666"  # stopped, Debian 12
RUNNING = "33333333-4444-5555-6666-777777777777"  # running, Ubuntu 24.04
MISSING_SERVER = "99999999-9999-4999-8999-999999999999"
DEBIAN_12 = "e215580f-73ad-429d-b6f2-5433947433b0"
UBUNTU_24_04 = "1a2b3c4d-0000-4000-8000-000000000001"
NO_CLOUD_INIT = "1a2b3c4d-0000-4000-8000-000000000002"  # Debian 12 without cloud-init

USER_DATA = """#cloud-config
hostname: sdk-interop
packages:
  - nginx
runcmd:
  - [sh, -c, "echo 'reinstalled by the official SDK' > /etc/motd"]
"""

# How long a job may take, in wall-clock seconds, before the check fails.
JOB_DEADLINE = 30.0


class Checks:
    """Counts and prints the checks."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name, details=""):
        self.passed += 1
        print(f"ok {name} {details}".rstrip(), flush=True)

    def fail(self, name, why):
        self.failed += 1
        print(f"FAIL {name}: {why}", flush=True)

    def run(self, name, check):
        """Runs check(), which returns the details to print or raises; never raises itself."""
        try:
            details = check()
        except Exception as error:  # noqa: BLE001 - every failure is reported, then counted
            why = f"{type(error).__name__}: {error}"
            if not isinstance(error, AssertionError):
                why += "\n" + traceback.format_exc()
            self.fail(name, why)
            return None
        self.ok(name, details or "")
        return details


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="the emulator, e.g. http://127.0.0.1:PORT")
    parser.add_argument("--ak", default=AK)
    parser.add_argument("--sk", default=SK)
    parser.add_argument("--project-id", default=PROJECT_ID)
    args = parser.parse_args()

    # Importing the SDK writes ~/.huaweicloud/: keep it out of the real home. Loopback never goes
    # through a proxy.
    home = tempfile.mkdtemp(prefix="reimage-sdk-interop-home-")
    os.environ["HOME"] = home
    os.environ["USERPROFILE"] = home
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    try:
        checks = Checks()
        run_all(checks, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed", flush=True)
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


def run_all(checks, args):
    from importlib.metadata import version

    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkecs.v2 import (
        BatchStartServersOption,
        BatchStartServersRequest,
        BatchStartServersRequestBody,
        BatchStopServersOption,
        BatchStopServersRequest,
        BatchStopServersRequestBody,
        ChangeSeversOsMetadata,
        ChangeServerOsWithCloudInitOption,
        ChangeServerOsWithCloudInitRequest,
        ChangeServerOsWithCloudInitRequestBody,
        ChangeServerOsWithoutCloudInitOption,
        ChangeServerOsWithoutCloudInitRequest,
        ChangeServerOsWithoutCloudInitRequestBody,
        EcsClient,
        ReinstallServerWithCloudInitOption,
        ReinstallServerWithCloudInitRequest,
        ReinstallServerWithCloudInitRequestBody,
        ReinstallServerWithoutCloudInitOption,
        ReinstallServerWithoutCloudInitRequest,
        ReinstallServerWithoutCloudInitRequestBody,
        ReinstallSeverMetadata,
        ServerId,
        ShowJobRequest,
        ShowServerRequest,
    )

    def sdk_versions():
        found = {name: version(name) for name in ("huaweicloudsdkcore", "huaweicloudsdkecs")}
        expect(
            all(v == SDK_VERSION for v in found.values()),
            f"expected {SDK_VERSION} for both, found {found}",
        )
        return " ".join(f"{name}={v}" for name, v in found.items())

    checks.run("sdk_version", sdk_versions)

    def client(sk):
        config = HttpConfig.get_default_config()
        config.timeout = (5, 30)
        config.retry_times = 0
        return (
            EcsClient.new_builder()
            .with_http_config(config)
            .with_credentials(BasicCredentials(args.ak, sk, args.project_id))
            .with_endpoints([args.base_url])
            .build()
        )

    ecs = client(args.sk)
    user_data = base64.b64encode(USER_DATA.encode()).decode()

    def wait_for_job(job_id, job_type, servers):
        """Polls show_job until SUCCESS; checks the job's shape; gives the polls it took."""
        deadline = time.monotonic() + JOB_DEADLINE
        seen = []
        while True:
            job = ecs.show_job(ShowJobRequest(job_id=job_id))
            expect(job.status_code == 200, f"show_job answered {job.status_code}")
            expect(job.job_id == job_id, f"show_job gave job_id {job.job_id!r}")
            if not seen or seen[-1] != job.status:
                seen.append(job.status)
            expect(
                job.status in ("INIT", "RUNNING", "SUCCESS"),
                f"status {job.status!r} (fail_reason {job.fail_reason!r}, "
                f"error_code {job.error_code!r})",
            )
            if job.status == "SUCCESS":
                break
            expect(time.monotonic() < deadline, f"still {job.status} after {JOB_DEADLINE} s")
            time.sleep(0.02)
        expect(job.job_type == job_type, f"job_type {job.job_type!r}, expected {job_type!r}")
        expect(job.begin_time and job.end_time, f"times {job.begin_time!r}, {job.end_time!r}")
        sub_jobs = job.entities.sub_jobs if job.entities else None
        expect(sub_jobs, "no entities.sub_jobs")
        expect(
            job.entities.sub_jobs_total == len(sub_jobs),
            f"sub_jobs_total {job.entities.sub_jobs_total} for {len(sub_jobs)} sub-jobs",
        )
        sub_servers = sorted(s.entities.server_id for s in sub_jobs if s.entities)
        expect(sub_servers == sorted(servers), f"sub-jobs for {sub_servers}, expected {servers}")
        expect(
            all(s.status == "SUCCESS" for s in sub_jobs),
            f"sub-job statuses {[s.status for s in sub_jobs]}",
        )
        return f"job_id={job_id} job_type={job_type} statuses={'>'.join(seen)}"

    def show(server_id):
        return ecs.show_server(ShowServerRequest(server_id=server_id)).server

    # --- reinstall, with adminpass and user data ------------------------------------------
    state = {}

    def reinstall():
        option = ReinstallServerWithCloudInitOption(
            adminpass="Reimage-SDK-1!",
            metadata=ReinstallSeverMetadata(user_data=user_data),
        )
        response = ecs.reinstall_server_with_cloud_init(
            ReinstallServerWithCloudInitRequest(
                server_id=SERVER_1,
                body=ReinstallServerWithCloudInitRequestBody(os_reinstall=option),
            )
        )
        expect(response.status_code == 200, f"status {response.status_code}")
        expect(response.job_id, f"no job_id in {response}")
        state["reinstall_job"] = response.job_id
        return f"job_id={response.job_id} user_data_bytes={len(USER_DATA.encode())}"

    if checks.run("reinstall_server_with_cloud_init", reinstall):
        checks.run(
            "show_job reinstall",
            lambda: wait_for_job(state["reinstall_job"], "reinstallOS", [SERVER_1]),
        )

    def after_reinstall():
        server = show(SERVER_1)
        expect(server.id == SERVER_1, f"id {server.id!r}")
        expect(server.status == "ACTIVE", f"status {server.status!r}")
        expect(server.image.id == DEBIAN_12, f"image {server.image.id!r}")
        expect(not server.os_ext_st_stask_state, f"task_state {server.os_ext_st_stask_state!r}")
        expect(server.os_ext_st_svm_state == "active", f"vm_state {server.os_ext_st_svm_state!r}")
        expect(server.os_ext_st_spower_state == 1, f"power {server.os_ext_st_spower_state!r}")
        return (
            f"status={server.status} image={server.image.id} "
            f"task_state={server.os_ext_st_stask_state}"
        )

    checks.run("show_server after reinstall", after_reinstall)

    # --- change of OS, with a key pair and its user ---------------------------------------
    def change_os():
        option = ChangeServerOsWithCloudInitOption(
            keyname=KEY_PAIR,
            userid=USER_ID,
            imageid=UBUNTU_24_04,
            metadata=ChangeSeversOsMetadata(user_data=user_data),
        )
        response = ecs.change_server_os_with_cloud_init(
            ChangeServerOsWithCloudInitRequest(
                server_id=SERVER_2,
                body=ChangeServerOsWithCloudInitRequestBody(os_change=option),
            )
        )
        expect(response.status_code == 200, f"status {response.status_code}")
        expect(response.job_id, f"no job_id in {response}")
        state["changeos_job"] = response.job_id
        return f"job_id={response.job_id} user_data_bytes={len(USER_DATA.encode())}"

    if checks.run("change_server_os_with_cloud_init", change_os):
        checks.run(
            "show_job changeos",
            lambda: wait_for_job(state["changeos_job"], "changeOS", [SERVER_2]),
        )

    def after_change_os():
        server = show(SERVER_2)
        expect(server.status == "ACTIVE", f"status {server.status!r}")
        expect(server.image.id == UBUNTU_24_04, f"image {server.image.id!r}")
        expect(server.key_name == KEY_PAIR, f"key_name {server.key_name!r}")
        expect(not server.os_ext_st_stask_state, f"task_state {server.os_ext_st_stask_state!r}")
        return (
            f"status={server.status} image={server.image.id} key_name={server.key_name} "
            f"task_state={server.os_ext_st_stask_state}"
        )

    checks.run("show_server after changeos", after_change_os)

    # --- batch stop and start ---------------------------------------------------------------
    both = [SERVER_1, SERVER_2]

    def batch_stop():
        response = ecs.batch_stop_servers(
            BatchStopServersRequest(
                body=BatchStopServersRequestBody(
                    os_stop=BatchStopServersOption(
                        servers=[ServerId(id=s) for s in both], type="SOFT"
                    )
                )
            )
        )
        expect(response.status_code == 200, f"status {response.status_code}")
        expect(response.job_id, f"no job_id in {response}")
        return wait_for_job(response.job_id, "batchStopServers", both)

    def batch_start():
        response = ecs.batch_start_servers(
            BatchStartServersRequest(
                body=BatchStartServersRequestBody(
                    os_start=BatchStartServersOption(servers=[ServerId(id=s) for s in both])
                )
            )
        )
        expect(response.status_code == 200, f"status {response.status_code}")
        expect(response.job_id, f"no job_id in {response}")
        return wait_for_job(response.job_id, "batchStartServers", both)

    def statuses(expected):
        found = {s: show(s).status for s in both}
        expect(all(v == expected for v in found.values()), f"statuses {found}")
        return " ".join(f"{s}={v}" for s, v in found.items())

    if checks.run("batch_stop_servers", batch_stop):
        checks.run("show_server after batch stop", lambda: statuses("SHUTOFF"))
    if checks.run("batch_start_servers", batch_start):
        checks.run("show_server after batch start", lambda: statuses("ACTIVE"))

    # --- images without cloud-init (the /v1/ calls), on the running server -------------------
    def reinstall_without_cloud_init():
        option = ReinstallServerWithoutCloudInitOption(
            adminpass="Reimage-SDK-2!",
            mode="withStopServer",
        )
        response = ecs.reinstall_server_without_cloud_init(
            ReinstallServerWithoutCloudInitRequest(
                server_id=RUNNING,
                body=ReinstallServerWithoutCloudInitRequestBody(os_reinstall=option),
            )
        )
        expect(response.status_code == 200, f"status {response.status_code}")
        expect(response.job_id, f"no job_id in {response}")
        return wait_for_job(response.job_id, "reinstallOS", [RUNNING])

    def change_os_without_cloud_init():
        option = ChangeServerOsWithoutCloudInitOption(
            keyname=KEY_PAIR,
            userid=USER_ID,
            imageid=NO_CLOUD_INIT,
            mode="withStopServer",
        )
        response = ecs.change_server_os_without_cloud_init(
            ChangeServerOsWithoutCloudInitRequest(
                server_id=RUNNING,
                body=ChangeServerOsWithoutCloudInitRequestBody(os_change=option),
            )
        )
        expect(response.status_code == 200, f"status {response.status_code}")
        expect(response.job_id, f"no job_id in {response}")
        return wait_for_job(response.job_id, "changeOS", [RUNNING])

    def after_without_cloud_init():
        server = show(RUNNING)
        expect(server.status == "ACTIVE", f"status {server.status!r}")
        expect(server.image.id == NO_CLOUD_INIT, f"image {server.image.id!r}")
        expect(server.key_name == KEY_PAIR, f"key_name {server.key_name!r}")
        expect(not server.os_ext_st_stask_state, f"task_state {server.os_ext_st_stask_state!r}")
        return f"status={server.status} image={server.image.id} key_name={server.key_name}"

    # One after the other: the change of OS waits for the reinstall's job to end.
    reinstalled = checks.run("reinstall_server_without_cloud_init", reinstall_without_cloud_init)
    changed = reinstalled and checks.run(
        "change_server_os_without_cloud_init", change_os_without_cloud_init
    )
    if changed:
        checks.run("show_server after the calls without cloud-init", after_without_cloud_init)

    # --- error paths ------------------------------------------------------------------------
    def refused(name, call, status, code):
        def check():
            try:
                answer = call()
            except ClientRequestException as error:
                expect(
                    (error.status_code, error.error_code) == (status, code),
                    f"got {error.status_code} {error.error_code} ({error.error_msg!r}), "
                    f"expected {status} {code}",
                )
                expect(error.error_msg, "no error_msg")
                expect(error.request_id, "no request_id (X-Request-Id)")
                return (
                    f"status={error.status_code} error_code={error.error_code} "
                    f"request_id={error.request_id}"
                )
            raise AssertionError(f"expected ClientRequestException, got {answer}")

        checks.run(name, check)

    wrong_sk = client(args.sk + "-wrong")
    refused(
        "bad_signature show_server",
        lambda: wrong_sk.show_server(ShowServerRequest(server_id=SERVER_1)),
        401,
        "APIGW.0301",
    )
    refused(
        "bad_signature reinstall_server_with_cloud_init",
        lambda: wrong_sk.reinstall_server_with_cloud_init(
            ReinstallServerWithCloudInitRequest(
                server_id=SERVER_1,
                body=ReinstallServerWithCloudInitRequestBody(
                    os_reinstall=ReinstallServerWithCloudInitOption(
                        adminpass="Reimage-SDK-1!",
                        metadata=ReinstallSeverMetadata(user_data=user_data),
                    )
                ),
            )
        ),
        401,
        "APIGW.0301",
    )
    refused(
        "missing_server show_server",
        lambda: ecs.show_server(ShowServerRequest(server_id=MISSING_SERVER)),
        404,
        "Ecs.0114",
    )
    refused(
        "missing_server reinstall_server_with_cloud_init",
        lambda: ecs.reinstall_server_with_cloud_init(
            ReinstallServerWithCloudInitRequest(
                server_id=MISSING_SERVER,
                body=ReinstallServerWithCloudInitRequestBody(
                    os_reinstall=ReinstallServerWithCloudInitOption(
                        adminpass="Reimage-SDK-1!",
                        metadata=ReinstallSeverMetadata(user_data=user_data),
                    )
                ),
            )
        ),
        404,
        "Ecs.0114",
    )
    refused(
        "weak_adminpass reinstall_server_with_cloud_init",
        lambda: ecs.reinstall_server_with_cloud_init(
            ReinstallServerWithCloudInitRequest(
                server_id=SERVER_1,
                body=ReinstallServerWithCloudInitRequestBody(
                    os_reinstall=ReinstallServerWithCloudInitOption(
                        adminpass="password",
                        metadata=ReinstallSeverMetadata(user_data=user_data),
                        mode="withStopServer",
                    )
                ),
            )
        ),
        400,
        "Ecs.0011",
    )
    refused(
        "weak_adminpass change_server_os_with_cloud_init",
        lambda: ecs.change_server_os_with_cloud_init(
            ChangeServerOsWithCloudInitRequest(
                server_id=SERVER_2,
                body=ChangeServerOsWithCloudInitRequestBody(
                    os_change=ChangeServerOsWithCloudInitOption(
                        adminpass="Short1!",
                        imageid=DEBIAN_12,
                        metadata=ChangeSeversOsMetadata(user_data=user_data),
                        mode="withStopServer",
                    )
                ),
            )
        ),
        400,
        "Ecs.0011",
    )


if __name__ == "__main__":
    sys.exit(main())
