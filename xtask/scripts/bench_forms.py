#!/usr/bin/env python3
"""The cloud-init side of `cargo xtask bench --only forms`: user data in the forms beyond a plain
cloud-config, as real cloud-init 26.2 checks them.

Usage (from the workspace root, with cloud-init 26.2's package on PYTHONPATH and HOME pointed at
a temporary directory; `cargo xtask bench` sets that up):

    bench_forms.py make OUT.mime     writes the 10-part MIME multipart message of the bench
    bench_forms.py judge FILE.mime   checks it as cloud-init would, part by part (one process)

`make` takes ten `#cloud-config` files of `tests/cloud-init/corpus/`, evenly spread over the
sorted list (the same ones as the criterion bench `validate/multipart-10-parts`), and writes them
as one `multipart/mixed` message with base64 parts, as `cloud-init devel make-mime` writes them.

`judge` is what cloud-init itself would do to check that message, since its `schema -c` refuses
MIME outright: split it with cloud-init's own `UserDataProcessor` (what runs at boot), then run
26.2's schema validation (`validate_cloudconfig_file`, as `schema -c` does) on every
cloud-config part. It prints how many parts it judged and how many were invalid, and exits 0.
"""

import contextlib
import io
import os
import sys
import tempfile
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

CORPUS = "tests/cloud-init/corpus"


def make(out):
    names = sorted(os.listdir(CORPUS))
    files = []
    for name in names:
        with open(os.path.join(CORPUS, name), "rb") as f:
            data = f.read()
        if data.startswith(b"#cloud-config\n"):
            files.append((name, data))
    step = max(len(files) // 10, 1)
    chosen = files[::step][:10]
    message = MIMEMultipart(boundary="==b==")
    for i, (_, data) in enumerate(chosen):
        part = MIMEText(data.decode("utf-8", "replace"), "cloud-config", "utf-8")
        part.add_header("Content-Disposition", "attachment", filename=f"part{i}.yaml")
        message.attach(part)
    with open(out, "w", encoding="utf-8") as f:
        f.write(message.as_string())


def judge(path):
    # Imported here so that `make` needs no cloud-init.
    from cloudinit import user_data  # pylint: disable=import-outside-toplevel
    from cloudinit.config import schema as ci_schema  # pylint: disable=import-outside-toplevel

    class Processor(user_data.UserDataProcessor):
        """cloud-init's processor, without the paths a booting instance has."""

        def __init__(self):  # pylint: disable=super-init-not-called
            self.paths = None
            self.ssl_details = None

    with open(path, "rb") as f:
        blob = f.read()
    schema = ci_schema.get_schema()
    message = Processor().process(blob)
    judged = invalid = 0
    for part in message.walk():
        if part.get_content_type() != "text/cloud-config":
            continue
        payload = part.get_payload(decode=True)
        with tempfile.NamedTemporaryFile("wb", suffix=".yaml", delete=False) as f:
            f.write(payload)
            name = f.name
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    ci_schema.validate_cloudconfig_file(name, schema)
                except (ci_schema.SchemaValidationError, RuntimeError):
                    invalid += 1
        finally:
            os.unlink(name)
        judged += 1
    print(f"{judged} parts judged, {invalid} invalid")


def main(argv):
    if len(argv) != 3 or argv[1] not in ("make", "judge"):
        sys.exit("usage: bench_forms.py make OUT.mime | judge FILE.mime")
    if argv[1] == "make":
        make(argv[2])
    else:
        judge(argv[2])


if __name__ == "__main__":
    main(sys.argv)
