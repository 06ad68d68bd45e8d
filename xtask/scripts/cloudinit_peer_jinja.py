#!/usr/bin/env python3
"""Asks real cloud-init 26.2 for its verdict on every Jinja template of the corpus, as
`cloud-init schema -c FILE -i instance-data.json`.

Usage, from the workspace root, with cloud-init 26.2's Python package on PYTHONPATH (in a venv
with PyYAML, jsonschema, requests, configobj, jsonpatch and Jinja2) and HOME pointed at a
temporary directory:

    HOME=$(mktemp -d) PYTHONPATH=<cloud-init-26.2> python3 \\
        xtask/scripts/cloudinit_peer_jinja.py tests/cloud-init/verdicts-jinja-26.2.json \\
        tests/cloud-init/jinja

It runs from the corpus directory (so names in the output and in cloud-init's messages are
relative and stable) over every `*.yaml` file there, with `instance-data.json` of the same
directory as the instance data.

For each file this calls, in this one process, what `cloud-init schema -c FILE -i DATA` calls
(`cloudinit.config.schema.handle_schema_args`):

- `validate_cloudconfig_file(FILE, get_schema(), annotate=False, instance_data_path=DATA)`, which
  renders the template (`_get_config_type_and_rendered_userdata`, then
  `handlers.jinja_template.render_jinja_payload_from_file`) and validates what it renders to;
- a `SchemaValidationError` is exit status 1: its `.schema_errors` are the (path, message) pairs
  (a YAML error of the rendered text is `format-l<L>.c<C>`, at the rendered text's line; a
  rendered text with no header cloud-init knows is `format-l2.c1`);
- a `SystemExit` is the CLI's `error(..., sys_exit=True)`, exit status 1: a Jinja syntax error
  ("Failed to render templated user-data. …", the message carrying the template's line). It is
  recorded at the path "" with what cloud-init printed;
- a `RuntimeError` (a rendered root that is not a mapping) is exit status 1, at the path "";
- any other exception is a traceback and exit status 1. That is what 26.2 does when the
  template fails while rendering (an attribute of a missing variable, or `a-b` read as a
  subtraction): `render_jinja_payload` logs "Ignoring jinja template" and returns `None`, which
  the schema command then fails on. It is recorded at the path "" as
  `cloud-init crashed: <exception>`, with the logged warning;
- returning normally is exit status 0, valid, whether the schema was checked (`True`) or the
  rendered text is another kind it does not evaluate (`False`, such as a `#!` script).

Each file also records `missing`: the variable names of cloud-init's warning "Could not render
jinja template variables in file …" (`render_jinja_payload`), `warnings`: every warning
cloud-init logged, and `rendered`: the text the template renders to
(`render_jinja_payload_from_file`, header line removed), or null when it does not render. The
versions of Jinja2, jsonschema and PyYAML it ran with are recorded beside the verdicts.

The self-check then runs the real CLI (`python -m cloudinit.cmd.main schema -c FILE -i DATA`) on
every file and fails unless its exit status agrees with the verdict computed here (valid if and
only if status 0), and unless every error path computed here appears in what the CLI printed.

`crates/cloudinit/tests/jinja_differential.rs` compares reimage with the committed output.

The output is deterministic: sorted keys, cloud-init's own order of errors, ASCII only.
"""

import contextlib
import glob
import io
import json
import logging
import os
import re
import subprocess
import sys

from importlib.metadata import version

from cloudinit.config import schema as ci_schema
from cloudinit.handlers import jinja_template

INSTANCE_DATA = "instance-data.json"


class Collect(logging.Handler):
    """Keeps the warnings cloud-init logs while rendering."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def problems(pairs):
    """SchemaProblem tuples as JSON lists."""
    return [[str(path), str(message)] for path, message in (pairs or [])]


def missing_names(warnings):
    """The names in 'Could not render jinja template variables in file F: 'a', 'b''."""
    names = []
    for message in warnings:
        if message.startswith("Could not render jinja template variables"):
            listed = message.split(": ", 1)[1]
            names.extend(re.findall(r"'([^']*)'", listed))
    return names


def verdict(name, schema, collect):
    """cloud-init's verdict on one template, as `cloud-init schema -c name -i DATA` gives it."""
    collect.messages = []
    errors = []
    outcome = "valid"
    printed = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(printed):
        try:
            ci_schema.validate_cloudconfig_file(
                name, schema, annotate=False, instance_data_path=INSTANCE_DATA
            )
        except ci_schema.SchemaValidationError as e:
            errors = problems(e.schema_errors)
            outcome = "schema"
        except SystemExit:
            errors = [["", printed.getvalue().strip()]]
            outcome = "render"
        except RuntimeError as e:
            errors = [["", str(e)]]
            outcome = "root"
        except Exception as e:  # pylint: disable=broad-except
            errors = [["", f"cloud-init crashed: {type(e).__name__}: {e}"]]
            outcome = "crash"
    entry = {
        "errors": errors,
        "missing": missing_names(collect.messages),
        "rendered": rendered_text(name),
        "valid": not errors,
        "warnings": [[m] for m in collect.messages],
    }
    return entry, outcome


def rendered_text(name):
    """What the template renders to (`render_jinja_payload_from_file`), or None if it does not."""
    with open(name, encoding="utf-8") as f:
        content = f.read()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return jinja_template.render_jinja_payload_from_file(content, name, INSTANCE_DATA)
    except Exception:  # pylint: disable=broad-except
        return None


def self_check(files):
    """Runs the real CLI on every file and compares its exit status and error paths."""
    for name, entry in sorted(files.items()):
        run = subprocess.run(
            [sys.executable, "-m", "cloudinit.cmd.main", "schema", "-c", name, "-i", INSTANCE_DATA],
            capture_output=True,
            text=True,
            check=False,
        )
        if (run.returncode == 0) != entry["valid"]:
            sys.exit(
                f"self-check: `cloud-init schema -c {name} -i {INSTANCE_DATA}` exited "
                f"{run.returncode}, but the in-process verdict is valid={entry['valid']}\n"
                f"{run.stdout}{run.stderr}"
            )
        for path, _ in entry["errors"]:
            if path and f"{path}:" not in run.stderr:
                sys.exit(f"self-check: `cloud-init schema -c {name}` did not report {path!r}:\n{run.stderr}")
    print(f"self-check: `cloud-init schema -c -i` agrees on {len(files)} files", file=sys.stderr)


def render(report):
    """JSON with sorted keys, one line per (path, message) pair, so a diff names what changed."""

    def dump(value):
        return json.dumps(value, sort_keys=True, ensure_ascii=True)

    def block(value, indent):
        pad = " " * indent
        if isinstance(value, dict) and value:
            items = [f"{pad} {dump(k)}: {block(v, indent + 1)}" for k, v in sorted(value.items())]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(value, list) and value and isinstance(value[0], list):
            items = [f"{pad} {dump(v)}" for v in value]
            return "[\n" + ",\n".join(items) + f"\n{pad}]"
        return dump(value)

    return block(report, 0) + "\n"


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    output, corpus = os.path.abspath(argv[0]), argv[1]
    os.chdir(corpus)
    names = sorted(glob.glob("*.yaml"))
    if not names or not os.path.exists(INSTANCE_DATA):
        sys.exit(f"cloudinit_peer_jinja.py: no templates or no {INSTANCE_DATA} in {corpus}")
    collect = Collect()
    logging.getLogger().addHandler(collect)
    logging.getLogger().setLevel(logging.WARNING)
    schema = ci_schema.get_schema()

    files = {}
    by_outcome = {}
    for name in names:
        files[name], outcome = verdict(name, schema, collect)
        by_outcome.setdefault(outcome, []).append(name)
    logging.getLogger().removeHandler(collect)

    report = {
        "cloud_init": "26.2",
        "files": files,
        "instance_data": INSTANCE_DATA,
        "jinja2": version("Jinja2"),
        "jsonschema": version("jsonschema"),
        "pyyaml": version("PyYAML"),
    }
    with open(output, "w", encoding="ascii") as f:
        f.write(render(report))
    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_outcome.items()))
    print(f"cloud-init 26.2: {len(files)} templates ({counts})", file=sys.stderr)
    self_check(files)


if __name__ == "__main__":
    main(sys.argv[1:])
