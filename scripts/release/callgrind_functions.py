#!/usr/bin/env python3
"""Prints the functions of one object that a callgrind dump saw run, in the order it first met
them, one mangled name per line: the start-up order file of scripts/build-release.

Usage: callgrind_functions.py DUMP OBJECT-BASENAME

Callgrind names each object (`ob=`/`cob=`) and function (`fn=`/`cfn=`) in full once, with a
number, and by the number alone afterwards; a called function (`cfn=`) belongs to the object
of the `cob=` line just before it, else to the current `ob=`. Valgrind marks a second copy of
a name with a quote and a number (`f'2`); the linker knows the name without it. Addresses
without a symbol (`0x…`) are left out.
"""
import re
import sys

LINE = re.compile(r"^(ob|cob|fn|cfn)=\((\d+)\)(?: (.*))?$")


def functions(dump, object_name):
    objects, names, owner, order = {}, {}, {}, []
    current = called = None
    with open(dump, errors="replace") as lines:
        for line in lines:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            kind, number, name = m.groups()
            if kind in ("ob", "cob"):
                if name:
                    objects[number] = name
                if kind == "ob":
                    current, called = objects.get(number), None
                else:
                    called = objects.get(number)
                continue
            if name:
                names[number] = name
            if number not in owner:
                owner[number] = current if kind == "fn" else (called or current)
                order.append(number)
            if kind == "cfn":
                called = None
    seen = set()
    for number in order:
        obj = owner[number] or ""
        name = re.sub(r"'\d+$", "", names.get(number, ""))
        if obj.split("/")[-1] != object_name or not name or name.startswith("0x") or name in seen:
            continue
        seen.add(name)
        yield name


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    for f in functions(sys.argv[1], sys.argv[2]):
        print(f)
