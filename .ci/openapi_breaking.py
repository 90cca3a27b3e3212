#!/usr/bin/env python3
"""Flags breaking changes of the committed contract against the previous release's contract.

Breaking: a removed path or operation, a removed response status that was a success, a new
required request parameter or body field, a removed response field, a narrowed enum in a
request, a changed type. Allowed when `info.version`'s major number went up.

Usage: openapi_breaking.py RELEASED.json CURRENT.json   (exit 1 on breaking changes)
"""
import json
import sys

METHODS = ("get", "put", "post", "patch", "delete")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def resolve(doc, node, seen=()):
    """Follows local $refs (cycle-safe)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen or not ref.startswith("#/"):
            return {}
        seen = seen + (ref,)
        target = doc
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
        node = target
    return node if isinstance(node, dict) else {}


def json_body(doc, holder):
    content = resolve(doc, holder).get("content", {})
    media = content.get("application/json") or next(iter(content.values()), {})
    return resolve(doc, media.get("schema", {})) if media else {}


def types(schema):
    t = schema.get("type")
    return set(t) if isinstance(t, list) else ({t} if t else set())


def compare_schema(old_doc, new_doc, old, new, where, request, out, depth=0):
    if depth > 12:
        return
    old, new = resolve(old_doc, old), resolve(new_doc, new)
    ot, nt = types(old), types(new)
    if ot and nt and not (ot <= nt if request else nt <= ot):
        out.append(f"{where}: type {sorted(ot)} -> {sorted(nt)}")
    if request:
        added = set(new.get("required", [])) - set(old.get("required", []))
        for name in sorted(added):
            out.append(f"{where}: new required field {name!r}")
        if "enum" in old and "enum" in new:
            for v in old["enum"]:
                if v not in new["enum"]:
                    out.append(f"{where}: enum value {v!r} no longer accepted")
    else:
        for name in old.get("properties", {}):
            if name not in new.get("properties", {}):
                out.append(f"{where}: response field {name!r} removed")
        if "enum" in old and "enum" in new:
            for v in new["enum"]:
                if v not in old["enum"]:
                    out.append(f"{where}: response enum gained {v!r} (clients may not know it)")
    for name, sub in old.get("properties", {}).items():
        if name in new.get("properties", {}):
            compare_schema(old_doc, new_doc, sub, new["properties"][name],
                           f"{where}.{name}", request, out, depth + 1)
    if "items" in old and "items" in new:
        compare_schema(old_doc, new_doc, old["items"], new["items"], f"{where}[]",
                       request, out, depth + 1)


def breaking_changes(old, new):
    out = []
    for path, old_item in old.get("paths", {}).items():
        new_item = new.get("paths", {}).get(path)
        if new_item is None:
            out.append(f"{path}: path removed")
            continue
        for method in METHODS:
            if method not in old_item:
                continue
            where = f"{method.upper()} {path}"
            if method not in new_item:
                out.append(f"{where}: operation removed")
                continue
            o, n = old_item[method], new_item[method]
            old_params = {(p.get("in"), p.get("name", "").lower()): p
                          for p in (resolve(old, x) for x in o.get("parameters", []))}
            for p in (resolve(new, x) for x in n.get("parameters", [])):
                key = (p.get("in"), p.get("name", "").lower())
                was = old_params.get(key)
                if p.get("required") and not (was and was.get("required")):
                    out.append(f"{where}: new required {key[0]} parameter {p.get('name')!r}")
            if "requestBody" in n:
                if "requestBody" not in o and resolve(new, n["requestBody"]).get("required"):
                    out.append(f"{where}: now requires a request body")
                elif "requestBody" in o:
                    compare_schema(old, new, json_body(old, o["requestBody"]),
                                   json_body(new, n["requestBody"]), f"{where} body", True, out)
            for status, resp in o.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                if status not in n.get("responses", {}):
                    out.append(f"{where}: success response {status} removed")
                    continue
                compare_schema(old, new, json_body(old, resp), json_body(new, n["responses"][status]),
                               f"{where} {status}", False, out)
    return out


def major(doc):
    try:
        return int(str(doc["info"]["version"]).split(".")[0])
    except (KeyError, ValueError):
        return 0


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    old, new = load(sys.argv[1]), load(sys.argv[2])
    changes = breaking_changes(old, new)
    ov, nv = old["info"]["version"], new["info"]["version"]
    if not changes:
        print(f"breaking-change check: none against {ov} (current {nv})")
        return 0
    for c in changes:
        print(f"  breaking: {c}")
    if major(new) > major(old):
        print(f"breaking-change check: {len(changes)} breaking change(s), allowed by the major version bump {ov} -> {nv}")
        return 0
    print(f"breaking-change check: {len(changes)} breaking change(s) against {ov} without a major version bump (current {nv})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
