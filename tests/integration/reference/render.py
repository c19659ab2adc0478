#!/usr/bin/env python3
"""An independent reference for rload's structured input: reads CSV, TSV,
a JSON array or JSON lines with Python's own modules, renders each record
with the templates, and writes the commands as RESP to stdout, for
`redis-cli --pipe`. Written apart from rload's code, from the README's
rules, so a test can compare the two.

Usage: render.py FORMAT FILE [--no-header] [--delimiter C] [--tsv-quotes] --template T...
Invalid records (a missing field, a wrong number of fields) are skipped.
TSV takes quotes literally unless --tsv-quotes; a name given twice (a
CSV column, a JSON key) is one entry with its last value, as a dict has it.
"""

import csv
import gzip
import json
import sys


class Raw:
    """A JSON number, kept as written."""

    def __init__(self, text):
        self.text = text


def compact(v):
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + compact(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(compact(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def text(v):
    """A value as an argument's bytes; None for null."""
    if v is None:
        return None
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, Raw):
        return v.text.encode()
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, bytes):
        return v
    return compact(v).encode()


def parse_template(t):
    """A template as a list of tokens; a token is a list of parts, or
    ('spread', name, optional) or ('all',)."""
    tokens, i, n = [], 0, len(t)
    while True:
        while i < n and t[i] in " \t\r\n":
            i += 1
        if i == n:
            return tokens
        parts, buf = [], bytearray()

        def brace():
            nonlocal i, buf
            c = t[i]
            if t[i:i + 2] in ("{{", "}}"):
                buf += c.encode()
                i += 2
                return
            assert c == "{", "lone }"
            j = t.index("}", i)
            inner = t[i + 1:j]
            i = j + 1
            if buf:
                parts.append(("text", bytes(buf)))
                buf = bytearray()
            if inner == "*":
                parts.append(("all",))
                return
            opt = inner.endswith("?")
            inner = inner[:-1] if opt else inner
            if inner.endswith("[]"):
                parts.append(("spread", inner[:-2], opt))
            else:
                parts.append(("field", inner, opt))

        while i < n and t[i] not in " \t\r\n":
            c = t[i]
            if c in "{}":
                brace()
            elif c == '"':
                i += 1
                while t[i] != '"':
                    if t[i] == "\\":
                        e = t[i + 1]
                        if e == "x":
                            buf.append(int(t[i + 2:i + 4], 16))
                            i += 4
                            continue
                        buf += {"n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b", "a": b"\a"}.get(e, e.encode())
                        i += 2
                    elif t[i] in "{}":
                        brace()
                    else:
                        buf += t[i].encode()
                        i += 1
                i += 1
            elif c == "'":
                i += 1
                while t[i] != "'":
                    if t[i:i + 2] == "\\'":
                        buf += b"'"
                        i += 2
                    elif t[i] in "{}":
                        brace()
                    else:
                        buf += t[i].encode()
                        i += 1
                i += 1
            else:
                buf += c.encode()
                i += 1
        if buf or not parts:
            parts.append(("text", bytes(buf)))
        if len(parts) == 1 and parts[0][0] in ("spread", "all"):
            tokens.append(parts[0])
        else:
            tokens.append(parts)


class Missing(Exception):
    pass


def lookup(record, name, csv_mode):
    if csv_mode:
        return record.get(name)
    v = record
    for step in name.split("."):
        if isinstance(v, dict) and step in v:
            v = v[step]
        elif isinstance(v, list) and step.isdigit() and int(step) < len(v):
            v = v[int(step)]
        else:
            return None
    return v


def render(tokens, record, csv_mode):
    args = []
    for tok in tokens:
        if isinstance(tok, tuple) and tok[0] == "all":
            for k, v in record.items():
                args += [k.encode() if isinstance(k, str) else k, text(v) or b""]
        elif isinstance(tok, tuple):
            v = lookup(record, tok[1], csv_mode)
            if v is None:
                if not tok[2]:
                    raise Missing(tok[1])
                continue
            args += [text(x) or b"" for x in v]
        else:
            arg = bytearray()
            for p in tok:
                if p[0] == "text":
                    arg += p[1]
                else:
                    v = text(lookup(record, p[1], csv_mode))
                    if v is None and not p[2]:
                        raise Missing(p[1])
                    arg += v or b""
            args.append(bytes(arg))
    return args


def resp(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def records(fmt, path, header, delimiter, tsv_quotes):
    opener = gzip.open if path.endswith(".gz") else open
    if fmt in ("csv", "tsv"):
        with opener(path, "rt", newline="", encoding="utf-8-sig") as f:
            quoting = csv.QUOTE_NONE if fmt == "tsv" and not tsv_quotes else csv.QUOTE_MINIMAL
            rows = csv.reader(f, delimiter=delimiter or ("\t" if fmt == "tsv" else ","), quoting=quoting)
            names, width = None, None
            for row in rows:
                if not row:
                    continue
                if header and names is None:
                    names, width = row, len(row)
                    continue
                width = width or len(row)
                if len(row) != width:
                    yield None
                    continue
                keys = names if names else [str(i) for i in range(len(row))]
                yield dict(zip(keys, row))
        return
    hooks = dict(parse_float=Raw, parse_int=Raw, object_pairs_hook=dict)
    with opener(path, "rt", encoding="utf-8-sig") as f:
        if fmt == "json":
            yield from json.load(f, **hooks)
        else:
            for line in f:
                if line.strip():
                    yield json.loads(line, **hooks)


def main():
    fmt, path, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    header, delimiter, tsv_quotes, templates = True, None, False, []
    while rest:
        flag = rest.pop(0)
        if flag == "--no-header":
            header = False
        elif flag == "--delimiter":
            delimiter = rest.pop(0)
        elif flag == "--tsv-quotes":
            tsv_quotes = True
        elif flag == "--template":
            templates.append(parse_template(rest.pop(0)))
    out = sys.stdout.buffer
    for record in records(fmt, path, header, delimiter, tsv_quotes):
        if record is None:
            continue
        try:
            rendered = [render(t, record, fmt in ("csv", "tsv")) for t in templates]
        except Missing:
            continue
        for args in rendered:
            out.write(resp(args))


if __name__ == "__main__":
    main()
