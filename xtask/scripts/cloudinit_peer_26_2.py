#!/usr/bin/env python3
"""Asks real cloud-init 26.2 for its verdict on every corpus file, as `cloud-init schema -c`.

Usage: cloudinit_peer_26_2.py OUTPUT.json

Run it through `cargo xtask cloud-init-peer`, from the workspace root, with cloud-init 26.2's
Python package on PYTHONPATH, HOME in a temporary directory, in the venv the task pins. It judges
every file of `tests/cloud-init/corpus/` (from inside that directory, so the names in the output
and in cloud-init's messages are relative and stable) and writes the same JSON form as
`cloudinit_peer.py` does for 22.4.2, so the differential test reads both alike.

For each file this calls, in this one process, what `cloud-init schema -c FILE` calls
(`cloudinit.config.schema.handle_schema_args`):

- `validate_cloudconfig_file(FILE, get_schema(), annotate=False)`;
- a `SchemaValidationError` is the CLI's exit status 1: its `.schema_errors` are the
  (path, message) pairs. 26.2 names an unknown top-level key by its own path (the key), and
  reports the best match inside a failing `oneOf`/`anyOf` at that match's path;
- a `RuntimeError` ("user-data FILE is not a YAML dict.") is exit status 1 at no path, recorded
  at the path "";
- `SystemExit` (cloud-init's `error(..., sys_exit=True)`, used for a template it cannot render)
  and any other exception are exit status 1 too, recorded at "" with `cloud-init crashed: …`;
- a template (`## template: jinja`) is rendered with the instance data the CLI would use
  without `-i` (`get_config_paths_from_args`), as the CLI does;
- returning normally is exit status 0, valid. Unlike 22.4.2, 26.2 returns without judging a
  file of a kind it recognises but does not evaluate (a script, an archive, …): exit status 0.

Deprecations are collected as `cloudinit_peer.py` does: a second, strict schema validation of
the document that `validate_cloudconfig_file` loads (`yaml.safe_load` of the text).

`compared` is the rule of `cloudinit_peer.py`: the file starts with exactly `#cloud-config` and
cloud-init's `type_from_starts_with` calls it `text/cloud-config`.

cloud-init 26.2 from a source tree prints its version as a meson placeholder, so the package is
identified by the SHA-256 of its cloud-config schema instead. The self-check runs the real CLI
(`python -m cloudinit.cmd.main schema -c FILE`) on a few files of each outcome, as
`cloudinit_peer.py` does.
"""

import contextlib
import hashlib
import io
import logging
import os
import sys
from importlib.metadata import version

import yaml

from cloudinit import handlers
from cloudinit.config import schema as ci_schema

# Reuse the 22.4.2 driver's output form and self-check: one format for both judges.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cloudinit_peer import problems, render, self_check  # noqa: E402

CORPUS = "tests/cloud-init/corpus"
CLOUD_INIT = "26.2"
# sha256 of cloudinit/config/schemas/schema-cloud-config-v1.json in cloud-init 26.2.
SCHEMA_SHA256 = "ba057d1e4f798bdd3b545b44a99ab3e5680c3c4d1562f82ed790a48a6989417a"
PINNED = {
    "jsonschema": "4.26.0",
    "PyYAML": "6.0.4",
}


def check_versions():
    """Refuses to produce verdicts from anything but the pinned peer."""
    schema_file = os.path.join(ci_schema.get_schema_dir(), "schema-cloud-config-v1.json")
    with open(schema_file, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SCHEMA_SHA256:
        sys.exit(f"cloudinit_peer_26_2.py: {schema_file} is not cloud-init {CLOUD_INIT}'s")
    found = {name: version(name) for name in PINNED}
    if found != PINNED:
        sys.exit(f"cloudinit_peer_26_2.py: expected {PINNED}, found {found}")
    return found


def default_instance_data(name):
    """The instance-data path `cloud-init schema -c name` renders templates with (no `-i`)."""
    args = ci_schema.get_parser().parse_args(["--config-file", name])
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        instance_data, _ = ci_schema.get_config_paths_from_args(args)
    return instance_data


def verdict(name, schema, instance_data):
    """cloud-init 26.2's verdict on one file, as `cloud-init schema -c name` gives it."""
    with open(name, "rb") as f:
        content = f.read()
    header = content.startswith(b"#cloud-config")
    start = content[:64].decode("utf-8", "replace")
    compared = header and handlers.type_from_starts_with(start) == "text/cloud-config"

    errors = []
    outcome = "valid"
    judged = False
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            judged = ci_schema.validate_cloudconfig_file(
                name, schema, annotate=False, instance_data_path=instance_data
            )
        except ci_schema.SchemaValidationError as e:
            errors = problems(e.schema_errors)
            format_error = any(p.startswith("format-") for p, _ in errors)
            outcome = "format" if format_error else "schema"
        except RuntimeError as e:
            errors = [["", str(e)]]
            outcome = "root"
        except SystemExit as e:
            errors = [["", f"cloud-init crashed: SystemExit: {e}"]]
            outcome = "crash"
        except Exception as e:  # pylint: disable=broad-except
            errors = [["", f"cloud-init crashed: {type(e).__name__}: {e}"]]
            outcome = "crash"
    if outcome == "valid" and not judged:
        outcome = "skipped"

    deprecations = []
    # A template's deprecations would need its rendering: only plain cloud-config is re-read.
    if outcome in ("valid", "schema") and compared:
        config = yaml.safe_load(content.decode("utf-8"))
        try:
            ci_schema.validate_cloudconfig_schema(
                config, schema, strict=True, log_deprecations=False
            )
        except ci_schema.SchemaValidationError as e:
            deprecations = problems(e.schema_deprecations)
            again = problems(e.schema_errors)
            if again != errors:
                sys.exit(f"{name}: the two schema validations disagree: {errors} vs {again}")
        else:
            if errors:
                sys.exit(f"{name}: the second schema validation found no errors")

    entry = {
        "compared": compared,
        "deprecations": deprecations,
        "errors": errors,
        "valid": not errors,
    }
    return entry, outcome


def main(argv):
    if len(argv) != 1:
        sys.exit(__doc__)
    output = os.path.abspath(argv[0])
    found = check_versions()
    os.chdir(CORPUS)
    names = sorted(n for n in os.listdir(".") if os.path.isfile(n))
    if not names:
        sys.exit(f"cloudinit_peer_26_2.py: {CORPUS} holds no files")
    logging.disable(logging.CRITICAL)
    schema = ci_schema.get_schema()
    instance_data = default_instance_data(names[0])

    files = {}
    by_outcome = {}
    for name in names:
        files[name], outcome = verdict(name, schema, instance_data)
        by_outcome.setdefault(outcome, []).append(name)

    report = {
        "cloud_init": CLOUD_INIT,
        "files": files,
        "jsonschema": found["jsonschema"],
        "pyyaml": found["PyYAML"],
    }
    with open(output, "w", encoding="ascii") as f:
        f.write(render(report))

    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_outcome.items()))
    print(f"cloud-init {CLOUD_INIT}: {len(files)} files ({counts})", file=sys.stderr)
    self_check(by_outcome, files)


if __name__ == "__main__":
    main(sys.argv[1:])
