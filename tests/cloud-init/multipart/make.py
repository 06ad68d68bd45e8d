#!/usr/bin/env python3
"""Makes the multipart corpus from the part sources in parts/.

Usage (from this directory, with cloud-init 26.2 on PYTHONPATH and HOME at a temp dir):

    PYTHONPATH=PATH/TO/cloud-init-26.2 HOME=$(mktemp -d) python3 make.py

Most messages are made by cloud-init 26.2's own `devel make-mime` (run as a subprocess, exactly
as a user runs it). make-mime cannot nest a multipart, gzip a part or choose quoted-printable,
so those three are built here with Python's email module, the way cloud-init's own
`user_data.py` builds its messages (MIMEMultipart, MIMEBase, MIMEText). The boundaries are
random: running this again gives other bytes for the same parts.
"""

import gzip
import subprocess
import sys
from email import encoders
from email.charset import QP, Charset
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

MAKE_MIME = {
    "broken-part2.mime": ["keys.yaml:cloud-config", "bad.yaml:cloud-config"],
    "valid-two-parts.mime": ["base.yaml:cloud-config", "web.yaml:cloud-config"],
    "keys-then-users.mime": ["keys.yaml:cloud-config", "users-default.yaml:cloud-config"],
    "lockout-spread.mime": ["users-no-default.yaml:cloud-config", "keys.yaml:cloud-config"],
    "scripts.mime": [
        "base.yaml:cloud-config",
        "hello.sh:x-shellscript",
        "early.boothook:cloud-boothook",
        "every-boot.sh:x-shellscript-per-boot",
        "handler.py:part-handler",
    ],
    "include.mime": ["include.txt:x-include-url", "base.yaml:cloud-config"],
    "schema-errors.mime": ["base.yaml:cloud-config", "bad-type.yaml:cloud-config"],
    "jinja.mime": ["template.j2:jinja2", "keys.yaml:cloud-config"],
    "archive-part.mime": ["keys.yaml:cloud-config", "archive.txt:cloud-config-archive"],
    "jsonp.mime": ["base.yaml:cloud-config", "patch.json:cloud-config-jsonp"],
    "merge-append.mime": ["web.yaml:cloud-config", "append.yaml:cloud-config", "keys.yaml:cloud-config"],
}


def read(name):
    with open(f"parts/{name}", encoding="utf-8") as f:
        return f.read()


def text_part(name, subtype, charset="utf-8"):
    part = MIMEText(read(name), subtype, charset)
    part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def write(out, message):
    with open(out, "w", encoding="utf-8") as f:
        f.write(message.as_string())


def main():
    for out, args in MAKE_MIME.items():
        cmd = [sys.executable, "-m", "cloudinit.cmd.main", "devel", "make-mime"]
        for arg in args:
            cmd += ["-a", arg]
        made = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd="parts")
        with open(out, "w", encoding="utf-8") as f:
            f.write(made.stdout)

    inner = MIMEMultipart()
    inner.attach(text_part("hello.sh", "x-shellscript"))
    inner.attach(text_part("bad.yaml", "cloud-config"))
    outer = MIMEMultipart()
    outer.attach(text_part("base.yaml", "cloud-config"))
    outer.attach(inner)
    write("nested.mime", outer)

    zipped = MIMEBase("application", "x-gzip")
    zipped.set_payload(gzip.compress(read("bad.yaml").encode(), mtime=0))
    encoders.encode_base64(zipped)
    zipped.add_header("Content-Disposition", "attachment", filename="bad.yaml.gz")
    message = MIMEMultipart()
    message.attach(text_part("keys.yaml", "cloud-config"))
    message.attach(zipped)
    write("gzip-part.mime", message)

    # A Merge-Type header: part 2's runcmd is appended to part 1's, so the reboot in part 1 is
    # no longer the last command.
    message = MIMEMultipart()
    message.attach(text_part("reboot-first.yaml", "cloud-config"))
    appended = text_part("after.yaml", "cloud-config")
    appended.add_header("Merge-Type", "list(append)+dict(no_replace,recurse_list)+str()")
    message.attach(appended)
    write("merge-header.mime", message)

    # Launch-Index headers and a type no handler takes.
    message = MIMEMultipart()
    indexed = text_part("keys.yaml", "cloud-config")
    indexed.add_header("Launch-Index", "1")
    message.attach(indexed)
    message.attach(text_part("hello.sh", "x-reimage-note"))
    write("launch-index.mime", message)

    # A MIME message that is not multipart: one text/plain part, typed by its first line.
    single = MIMEText(read("bad.yaml"), "plain", "utf-8")
    write("single-part.mime", single)

    # CRLF line ends throughout.
    with open("valid-two-parts.mime", encoding="utf-8") as f:
        crlf = f.read().replace("\n", "\r\n")
    with open("crlf.mime", "w", encoding="utf-8", newline="") as f:
        f.write(crlf)

    qp = Charset("utf-8")
    qp.body_encoding = QP
    message = MIMEMultipart()
    message.attach(text_part("keys.yaml", "cloud-config"))
    message.attach(text_part("bad-type.yaml", "plain", qp))
    write("quoted-printable.mime", message)


if __name__ == "__main__":
    main()
