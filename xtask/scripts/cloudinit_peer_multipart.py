#!/usr/bin/env python3
"""Asks real cloud-init 26.2 how it splits each multipart message of the corpus, and its schema
verdict on every cloud-config part alone.

Usage (from the workspace root, with cloud-init 26.2's package on PYTHONPATH, its Python
dependencies installed, and HOME pointed at a temporary directory):

    cloudinit_peer_multipart.py OUTPUT.json
    cloudinit_peer_multipart.py --check OUTPUT.json    (fails if OUTPUT.json is stale)

It reads every `tests/cloud-init/multipart/*.mime` and, for the `doc/examples` test, every
`*.txt` under `--examples DIR` when that is given (DIR: cloud-init's `doc/examples`, as Debian's
package installs them under `usr/share/doc/cloud-init/examples`).

For each message it calls cloud-init's own `cloudinit.user_data.UserDataProcessor.process` (what
cloud-init runs at boot on the user data) and walks the message it returns, as the handlers
see it. Include parts are not fetched: `_do_include` is replaced by one that records the
include as a part of type `text/x-include-url` at its place, so nothing goes to the network and
the part still counts. For every part it records:

- `index` (1-based, in cloud-init's order), `filename` (`Content-Disposition`; cloud-init
  names a part without one `part-NNN`), `content_type`, `launch_index`;
- for a `text/cloud-config` part, the verdict of 26.2's `cloud-init schema -c` on that part
  alone (`cloudinit.config.schema.validate_cloudconfig_file` on its decoded payload):
  `valid`, `errors` as (path, message) pairs (a YAML error at `format-l<L>.c<C>`, a root that
  is not a mapping at ""), and `deprecations`, in the form of `cloudinit_peer.py`'s verdicts.

For each example file it records the exit status of `cloud-init schema -c FILE` as `valid`
(26.2 does not evaluate `#cloud-config-archive`, scripts or includes: they exit 0), and for a
`#cloud-config-archive` its parts, as for a message.

The output is deterministic: sorted keys, cloud-init's own order of parts and errors, ASCII.
"""

import contextlib
import glob
import io
import json
import os
import subprocess
import sys
import tempfile
from email.mime.text import MIMEText

import yaml

from cloudinit import user_data
from cloudinit.config import schema as ci_schema

CORPUS = "tests/cloud-init/multipart"


def problems(pairs):
    """SchemaProblem tuples as JSON lists."""
    return [[str(path), str(message)] for path, message in (pairs or [])]


class Processor(user_data.UserDataProcessor):
    """cloud-init's processor, with includes recorded instead of fetched."""

    def __init__(self):  # pylint: disable=super-init-not-called
        self.paths = None
        self.ssl_details = None

    def _do_include(self, content, append_msg):
        self._attach_part(append_msg, MIMEText(content, "x-include-url"))


def part_verdict(payload, schema):
    """26.2's `cloud-init schema -c` on one part's payload, in a temporary file.

    The part is cloud-config by its Content-Type; when its text does not start with
    `#cloud-config` (an archive entry, say), the schema command would refuse it for the header
    alone, so the header line is added and the lines of YAML errors are counted back by one."""
    added = not payload.lstrip().lower().startswith(b"#cloud-config")
    with tempfile.NamedTemporaryFile("wb", suffix=".yaml", delete=False) as f:
        if added:
            f.write(b"#cloud-config\n")
        f.write(payload)
        name = f.name
    errors = []
    deprecations = []
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                ci_schema.validate_cloudconfig_file(name, schema)
            except ci_schema.SchemaValidationError as e:
                errors = problems(e.schema_errors)
            except RuntimeError as e:
                errors = [["", str(e).replace(name, "PART")]]
        if not errors:
            config = yaml.safe_load(payload)
            if isinstance(config, dict):
                try:
                    ci_schema.validate_cloudconfig_schema(
                        config, schema, strict=True, log_deprecations=False
                    )
                except ci_schema.SchemaValidationError as e:
                    deprecations = problems(e.schema_deprecations)
    finally:
        os.unlink(name)
    for error in errors:
        error[1] = error[1].replace(name, "PART")
        if added and error[0].startswith("format-l"):
            line, column = error[0][len("format-l") :].split(".c")
            error[0] = f"format-l{int(line) - 1}.c{column}"
    return {"deprecations": deprecations, "errors": errors, "valid": not errors}


def message_verdict(path, schema):
    """How cloud-init splits one message, and its verdict on every cloud-config part."""
    with open(path, "rb") as f:
        blob = f.read()
    processed = Processor().process(blob)
    parts = []
    for part in processed.walk():
        if user_data.is_skippable(part):
            continue
        entry = {
            "content_type": part.get_content_type(),
            "filename": part.get_filename(),
            "index": len(parts) + 1,
            "launch_index": part.get("Launch-Index"),
        }
        if entry["content_type"] == "text/cloud-config":
            payload = part.get_payload(decode=True)
            entry["verdict"] = part_verdict(payload, schema)
        parts.append(entry)
    return {"parts": parts}


def example_verdict(path, schema):
    """The exit status of 26.2's `cloud-init schema -c FILE`, as valid or not; for a
    `#cloud-config-archive`, also its parts as `message_verdict` gives them."""
    run = subprocess.run(
        [sys.executable, "-m", "cloudinit.cmd.main", "schema", "-c", path],
        capture_output=True,
        text=True,
        check=False,
    )
    entry = {"valid": run.returncode == 0}
    with open(path, "rb") as f:
        if f.read(64).lower().startswith(b"#cloud-config-archive"):
            entry.update(message_verdict(path, schema))
    return entry


def main(argv):
    check = "--check" in argv
    argv = [a for a in argv if a != "--check"]
    examples = None
    if "--examples" in argv:
        at = argv.index("--examples")
        examples = argv[at + 1]
        del argv[at : at + 2]
    if len(argv) != 1:
        sys.exit(__doc__)
    output = argv[0]
    schema = ci_schema.get_schema()
    result = {"cloud_init": "26.2", "messages": {}}
    for path in sorted(glob.glob(f"{CORPUS}/*.mime")):
        result["messages"][os.path.basename(path)] = message_verdict(path, schema)
    if examples:
        result["examples"] = {
            name: example_verdict(os.path.join(examples, name), schema)
            for name in sorted(os.listdir(examples))
            if os.path.isfile(os.path.join(examples, name))
        }
    text = json.dumps(result, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
    if check:
        with open(output, encoding="utf-8") as f:
            if f.read() != text:
                sys.exit(f"{output} is stale: run cloudinit_peer_multipart.py and commit it")
        return
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"cloud-init 26.2: {len(result['messages'])} messages")


if __name__ == "__main__":
    main(sys.argv[1:])
