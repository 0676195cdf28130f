#!/usr/bin/env python3
"""Prints one value from the JSON document on stdin.

    jget.py transfer.id      ->  doc["transfer"]["id"]
    jget.py 0.url            ->  doc[0]["url"]

Strings print bare; anything else prints as JSON. A missing path fails, so
the benchmark stops at the first answer it does not understand.
"""
import json
import sys

doc = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    doc = doc[int(part)] if isinstance(doc, list) else doc[part]
print(doc if isinstance(doc, str) else json.dumps(doc))
