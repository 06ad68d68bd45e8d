#!/usr/bin/env python3
"""Asks real cloud-init 22.4.2 for its verdict on every corpus file, as `cloud-init schema -c`.

Usage: cloudinit_peer.py OUTPUT.json FILE...
       cloudinit_peer.py OUTPUT.json --files-from LIST   (LIST: one file name a line)

Run it through `cargo xtask cloud-init-peer`, which extracts Debian's cloud-init 22.4.2 package,
makes a venv with the pinned Python dependencies, puts the package on PYTHONPATH, points HOME at a
temporary directory and runs this script from the corpus directory with the corpus files as
names (so the names in the output, and in cloud-init's messages, are relative and stable).

For each file this calls, in this one process, what `cloud-init schema -c FILE` calls
(`cloudinit.config.schema.handle_schema_args`):

- `validate_cloudconfig_file(FILE, get_schema(), annotate=False)`;
- a `SchemaValidationError` is the CLI's exit status 1: its `.schema_errors` are the
  (path, message) pairs; a YAML error is one pair with the path `format-l<L>.c<C>`, and a file
  that does not start with `#cloud-config` is `format-l1.c1`;
- a `RuntimeError` ("Cloud-config is not a YAML dict.", for a root that is not a mapping, an
  empty document included) is also exit status 1; it carries no path, so it is recorded with
  the path "" (the whole document);
- any other exception is a traceback and exit status 1: jsonschema 4.10.3 raises a TypeError
  when a key that `patternProperties` must match is not a string (such as `1:` or `on:`), and
  PyYAML a ValueError for a tag its constructor cannot apply (`!!int UTC`), which is not a
  `YAMLError`. It is recorded with the path "" and the message `cloud-init crashed: <exception>`;
- returning normally is exit status 0, valid (deprecations do not invalidate).

`validate_cloudconfig_file` only prints the deprecations of a valid file, so they are collected
with a second call of the same schema validation (`validate_cloudconfig_schema(config, schema,
strict=True)`) on the document loaded by cloud-init's own `safeyaml.load`.

Each file also records `compared`: whether the differential test compares it, that is whether
it starts with exactly `#cloud-config` (the schema command's own check) and cloud-init's boot-time
type detection (`cloudinit.handlers.type_from_starts_with`) calls it `text/cloud-config` (so not
`#cloud-config-archive` nor `#cloud-config-jsonp`, which start with the same bytes).

The self-check then runs the real CLI (`python -m cloudinit.cmd.main schema -c FILE`) on a few
files of each outcome and fails unless its exit status agrees with the verdict computed here
(valid if and only if status 0), and unless every error path computed here appears in what the
CLI printed.

The output is deterministic: sorted keys, cloud-init's own order of errors, ASCII only.
"""

import contextlib
import io
import json
import logging
import subprocess
import sys
from importlib.metadata import version

from cloudinit import handlers, safeyaml
from cloudinit import version as ci_version
from cloudinit.config import schema as ci_schema

PINNED = {
    "cloud-init": "22.4.2",
    "jsonschema": "4.10.3",
    "PyYAML": "6.0.1",
}

# How many files of each outcome the self-check runs through the real CLI.
SELF_CHECK_PER_OUTCOME = 2


def check_versions():
    """Refuses to produce verdicts from anything but the pinned peer."""
    found = {
        "cloud-init": ci_version.version_string(),
        "jsonschema": version("jsonschema"),
        "PyYAML": version("PyYAML"),
    }
    wrong = {k: v for k, v in found.items() if v != PINNED[k]}
    if wrong:
        sys.exit(f"cloudinit_peer.py: expected {PINNED}, found {found}")
    return found


def problems(pairs):
    """SchemaProblem tuples as JSON lists."""
    return [[str(path), str(message)] for path, message in (pairs or [])]


def verdict(name, schema):
    """cloud-init's verdict on one file, as `cloud-init schema -c name` gives it."""
    with open(name, "rb") as f:
        content = f.read()
    header = content.startswith(ci_schema.CLOUD_CONFIG_HEADER)
    # Only the start matters; decoding it leniently keeps a later bad byte from hiding the type.
    start = content[:64].decode("utf-8", "replace")
    compared = header and handlers.type_from_starts_with(start) == "text/cloud-config"

    errors = []
    outcome = "valid"
    # validate_cloudconfig_file prints the deprecations of a valid file on stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            ci_schema.validate_cloudconfig_file(name, schema, annotate=False)
        except ci_schema.SchemaValidationError as e:
            errors = problems(e.schema_errors)
            format_error = any(p.startswith("format-") for p, _ in errors)
            outcome = "format" if format_error else "schema"
        except RuntimeError as e:
            errors = [["", str(e)]]
            outcome = "root"
        except Exception as e:  # pylint: disable=broad-except
            # The CLI dies with a traceback, exit status 1: the file is rejected, at no path.
            errors = [["", f"cloud-init crashed: {type(e).__name__}: {e}"]]
            outcome = "crash"

    deprecations = []
    if outcome in ("valid", "schema"):
        config = safeyaml.load(content)
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


def self_check(by_outcome, files):
    """Runs the real CLI on a few files of each outcome and compares its exit status."""
    checked = 0
    for outcome in sorted(by_outcome):
        for name in by_outcome[outcome][:SELF_CHECK_PER_OUTCOME]:
            run = subprocess.run(
                [sys.executable, "-m", "cloudinit.cmd.main", "schema", "-c", name],
                capture_output=True,
                text=True,
                check=False,
            )
            entry = files[name]
            if (run.returncode == 0) != entry["valid"]:
                sys.exit(
                    f"self-check: `cloud-init schema -c {name}` exited {run.returncode}, but the "
                    f"in-process verdict is valid={entry['valid']}\n{run.stdout}{run.stderr}"
                )
            for path, _ in entry["errors"]:
                if path and f"{path}:" not in run.stderr:
                    sys.exit(
                        f"self-check: `cloud-init schema -c {name}` did not report {path!r}:\n"
                        f"{run.stderr}"
                    )
            checked += 1
    print(f"self-check: `cloud-init schema -c` agrees on {checked} files", file=sys.stderr)


def render(report):
    """JSON with sorted keys, one line per (path, message) pair, so a diff names what changed."""

    def dump(value):
        return json.dumps(value, sort_keys=True, ensure_ascii=True)

    def block(value, indent):
        pad = " " * indent
        if isinstance(value, dict) and value:
            items = [f'{pad} {dump(k)}: {block(v, indent + 1)}' for k, v in sorted(value.items())]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(value, list) and value and isinstance(value[0], list):
            items = [f"{pad} {dump(v)}" for v in value]
            return "[\n" + ",\n".join(items) + f"\n{pad}]"
        return dump(value)

    return block(report, 0) + "\n"


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    output, names = argv[0], argv[1:]
    if len(names) == 2 and names[0] == "--files-from":
        with open(names[1], encoding="utf-8") as f:
            names = [line for line in f.read().splitlines() if line]
    if not names:
        sys.exit("cloudinit_peer.py: no files")
    found = check_versions()
    # cloud-init logs schema warnings through `logging`; the verdict is what is returned.
    logging.disable(logging.CRITICAL)
    schema = ci_schema.get_schema()

    files = {}
    by_outcome = {}
    for name in sorted(set(names)):
        files[name], outcome = verdict(name, schema)
        by_outcome.setdefault(outcome, []).append(name)

    report = {
        "cloud_init": found["cloud-init"],
        "files": files,
        "jsonschema": found["jsonschema"],
        "pyyaml": found["PyYAML"],
    }
    with open(output, "w", encoding="ascii") as f:
        f.write(render(report))

    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_outcome.items()))
    print(f"cloud-init {found['cloud-init']}: {len(files)} files ({counts})", file=sys.stderr)
    self_check(by_outcome, files)


if __name__ == "__main__":
    main(sys.argv[1:])
