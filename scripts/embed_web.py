#!/usr/bin/env python3
"""Writes the C table of the dashboard's static files (web/), for ingress/static.c.

Usage: embed_web.py OUT.c NAME=RAW:GZ [NAME=RAW:GZ ...]

Each file is embedded twice: its bytes, and the output of `gzip -9 -n` (made by the build, see CMakeLists.txt:
-n leaves out the name and time, so the bytes depend on the content alone). Each representation has a strong
ETag: the first 16 hex digits of the SHA-256 of the raw bytes, and the same with "-gz" for the compressed one
(RFC 9110: a strong validator differs between content codings). A gzip that is not smaller than the file is
left out (gz_len 0), and the file is always served as it is. The output depends only on the inputs and their
order (sorted by name), so a build is reproducible."""
import hashlib
import sys
from pathlib import Path

# The only extensions served. A file with another one fails the build: a Content-Type guessed wrong is a
# file the browser refuses (X-Content-Type-Options: nosniff).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


def c_bytes(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 20):
        lines.append("    " + "".join(f"0x{b:02x}," for b in data[i:i + 20]))
    return "\n".join(lines) if lines else "    0x00,"


def c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main(argv: list) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    entries = []
    for arg in argv[2:]:
        name, paths = arg.split("=", 1)
        raw_path, gz_path = paths.split(":", 1)
        ext = Path(name).suffix
        if ext not in CONTENT_TYPES:
            print(f"embed_web.py: web/{name}: no content type for '{ext}' (add it to CONTENT_TYPES)", file=sys.stderr)
            return 1
        entries.append((name, Path(raw_path).read_bytes(), Path(gz_path).read_bytes(), CONTENT_TYPES[ext]))
    entries.sort(key=lambda e: e[0])
    parts = ["/* Generated from web/ by scripts/embed_web.py; do not edit. */",
             '#include "ingress/static.h"', ""]
    rows = []
    for i, (name, raw, gz, ctype) in enumerate(entries):
        tag = hashlib.sha256(raw).hexdigest()[:16]
        keep_gz = len(gz) < len(raw)
        parts.append(f"/* {name}: {len(raw)} bytes, gzip {len(gz)} bytes */")
        parts.append(f"static const unsigned char raw_{i}[] = {{\n{c_bytes(raw)}\n}};")
        if keep_gz:
            parts.append(f"static const unsigned char gz_{i}[] = {{\n{c_bytes(gz)}\n}};")
        gz_ref, gz_len = (f"gz_{i}", len(gz)) if keep_gz else ("NULL", 0)
        rows.append(f"    {{{c_string(name)}, {c_string(ctype)}, raw_{i}, {len(raw)}, {gz_ref}, {gz_len}, "
                    f"{c_string(chr(34) + tag + chr(34))}, {c_string(chr(34) + tag + '-gz' + chr(34))}}},")
    parts.append("")
    parts.append("const struct lgw_static_file lgw_static_files[] = {")
    parts.extend(rows)
    parts.append("};")
    parts.append(f"const size_t lgw_static_nfiles = {len(entries)};")
    text = "\n".join(parts) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
