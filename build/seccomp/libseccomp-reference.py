#!/usr/bin/python3
"""What Docker + runc 1.1 + libseccomp 2.5 load for a seccomp profile: the reference for tiny's compiler.

Reads one JSON request on stdin:
  {"profile": PATH, "caps": ["CAP_CHOWN", ...], "kernel": "6.18", "csv": PATH, "optimize": 2 | 0}
and writes one JSON answer on stdout:
  {"libseccomp": HEX, "runc": HEX, "extras": [{"arch": A, "nr": N, "action": R, "args": C}],
   "unnumbered": [{"arch": A, "nr": N}], "default": R, "compile_ms": T}
or {"error": MESSAGE} when runc (or moby) would refuse the profile.

"libseccomp" is seccomp_export_bpf's program for the rules runc adds (moby's selection, runc's matchCall);
"runc" is that program behind runc's -ENOSYS stub (libcontainer/seccomp/patchbpf), with the highest syscall
of each listed architecture taken from the CSV (tiny's tables). "extras" are the syscalls that selected rules
name, that the CSV numbers on an architecture and libseccomp does not: tiny gives them their action, runc skips them.
"unnumbered" are the numbers libseccomp gives such names where the CSV (the kernel's tables) has none or another:
tiny leaves them to the default action. optimize=2 is runc's binary tree
(set when there are more than 32 rules), 0 the plain list crun uses.
"""
import csv
import json
import struct
import sys
import tempfile
import time

import seccomp

NATIVE_MOBY = "amd64"
NATIVE_SCMP = "SCMP_ARCH_X86_64"
AUDIT_X86_64 = 0xC000003E
AUDIT_I386 = 0x40000003
X32_BIT = 0x40000000
ENOSYS = 38
ARCHES = {"SCMP_ARCH_X86_64": seccomp.Arch.X86_64, "SCMP_ARCH_X86": seccomp.Arch.X86, "SCMP_ARCH_X32": seccomp.Arch.X32}
CSV_COLUMN = {"SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X86": "i386", "SCMP_ARCH_X32": "x32"}
OPS = {"SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT, "SCMP_CMP_LE": seccomp.LE, "SCMP_CMP_EQ": seccomp.EQ,
       "SCMP_CMP_GE": seccomp.GE, "SCMP_CMP_GT": seccomp.GT, "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}


class Refused(Exception):
    pass


def kernel_at_least(kernel, text):
    have = [int(x) for x in kernel.split(".")[:2]]
    want = [int("".join(c for c in x if c.isdigit())) for x in text.split(".")[:2]]
    return have >= want


def action(name, errno_ret):
    """runc's getAction: ERRNO and TRACE without errnoRet mean EPERM."""
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return seccomp.KILL
    if name == "SCMP_ACT_KILL_PROCESS":
        return seccomp.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return seccomp.TRAP
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_LOG":
        return seccomp.LOG
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(1 if errno_ret is None else errno_ret)
    if name == "SCMP_ACT_TRACE":
        return seccomp.TRACE(1 if errno_ret is None else errno_ret)
    raise Refused("invalid action %r" % name)


def select(profile, caps, kernel):
    """moby's setupSeccomp: the architectures and the groups that apply."""
    if profile.get("architectures") and profile.get("archMap"):
        raise Refused("both architectures and archMap")
    arches = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == NATIVE_SCMP:
            arches += [entry["architecture"]] + list(entry.get("subArchitectures") or [])
            break
    groups = []
    for call in profile.get("syscalls") or []:
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if NATIVE_MOBY in (exc.get("arches") or []):
            continue
        if any(c in caps for c in exc.get("caps") or []):
            continue
        if exc.get("minKernel") and kernel_at_least(kernel, exc["minKernel"]):
            continue
        if inc.get("arches") and NATIVE_MOBY not in inc["arches"]:
            continue
        if not all(c in caps for c in inc.get("caps") or []):
            continue
        if inc.get("minKernel") and not kernel_at_least(kernel, inc["minKernel"]):
            continue
        if call.get("name") and call.get("names"):
            raise Refused("both name and names")
        names = [call["name"]] if call.get("name") else list(call.get("names") or [])
        groups.append((names, call.get("action"), call.get("errnoRet"), call.get("args") or []))
    return arches, groups


def build_filter(profile, caps, kernel, optimize, table):
    default = action(profile.get("defaultAction"), profile.get("defaultErrnoRet"))
    arches, groups = select(profile, caps, kernel)
    f = seccomp.SyscallFilter(default)
    for arch in arches:
        if arch not in ARCHES:
            continue
        if ARCHES[arch] != seccomp.Arch.NATIVE and not f.exist_arch(ARCHES[arch]):
            f.add_arch(ARCHES[arch])
    rules = [(name, group) for group in groups for name in group[0]]
    if optimize and len(rules) > 32:
        f.set_attr(seccomp.Attr.CTL_OPTIMIZE, optimize)
    extras, unnumbered = [], []
    filter_arches = [a for a in dict.fromkeys([NATIVE_SCMP] + arches) if a in ARCHES]
    for name, (_, act_name, errno_ret, args) in rules:
        act = action(act_name, errno_ret)
        if act == default:
            continue
        for arch in filter_arches:
            number = table.get(name, {}).get(CSV_COLUMN[arch], "")
            if number and seccomp.resolve_syscall(ARCHES[arch], name) < 0:
                extras.append({"arch": arch, "nr": int(number) | (X32_BIT if arch == "SCMP_ARCH_X32" else 0),
                               "action": act, "args": len(args)})
            known = seccomp.resolve_syscall(ARCHES[arch], name)
            if known >= 0 and seccomp.resolve_syscall(ARCHES[arch], known) == name.encode() and \
                    (not number or int(number) | (X32_BIT if arch == "SCMP_ARCH_X32" else 0) != known):
                unnumbered.append({"arch": arch, "nr": known})
        if seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) == -1:
            continue
        conds = []
        counts = [0] * 6
        for a in args:
            if a.get("op") not in OPS:
                raise Refused("invalid operator %r" % a.get("op"))
            if not 0 <= a["index"] <= 5:
                raise Refused("invalid index %r" % a["index"])
            counts[a["index"]] += 1
            conds.append(seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0)))
        try:
            if conds and max(counts) > 1:
                for c in conds:
                    f.add_rule(act, name, c)
            else:
                f.add_rule(act, name, *conds)
        except Exception as e:
            raise Refused("rule for %s: %s" % (name, e))
    return f, default, arches, groups, extras, unnumbered


def export(f):
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()


def read_table(csv_path):
    with open(csv_path) as table:
        return {row["name"]: row for row in csv.DictReader(table)}


def enosys_stub(default, arches, groups, numbers):
    """runc's generateEnosysStub, as BPF prepended to libseccomp's program."""
    if default in (seccomp.ALLOW, seccomp.LOG) or (default & 0xFFFF0000) == 0x7FF00000:
        return b""
    last = {}
    for arch in dict.fromkeys(arches):
        if arch not in CSV_COLUMN:
            continue
        best = 0
        for names, _, _, _ in groups:
            for name in names:
                cell = numbers.get(name, {}).get(CSV_COLUMN[arch], "")
                if cell:
                    best = max(best, int(cell) | (X32_BIT if arch == "SCMP_ARCH_X32" else 0))
        if best:
            last[arch] = best
    # Instructions with symbolic targets: ("ENOSYS"|"FILTER"|label). Assembled below.
    code = [("ld", 4)]
    sections = []
    audit = {}
    for arch in last:
        audit.setdefault(AUDIT_I386 if arch == "SCMP_ARCH_X86" else AUDIT_X86_64, {})[arch] = last[arch]
    for value in audit:
        code.append(("jeq", value, "sec%x" % value, None))
    code.append(("ja", "FILTER"))
    for value, maxes in audit.items():
        sections.append(("label", "sec%x" % value))
        sections.append(("ld", 0))
        if value == AUDIT_I386:
            sections.append(("jgt", maxes["SCMP_ARCH_X86"], "ENOSYS", None))
        elif len(maxes) == 2:
            sections.append(("jset", X32_BIT, "x32%x" % value, None))
            sections.append(("jgt", maxes["SCMP_ARCH_X86_64"], "ENOSYS", "FILTER"))
            sections.append(("label", "x32%x" % value))
            sections.append(("jgt", maxes["SCMP_ARCH_X32"], "ENOSYS", None))
        elif "SCMP_ARCH_X86_64" in maxes:
            sections.append(("jset", X32_BIT, "FILTER", None))
            sections.append(("jgt", maxes["SCMP_ARCH_X86_64"], "ENOSYS", None))
        else:
            sections.append(("jset", X32_BIT, None, "FILTER"))
            sections.append(("jgt", maxes["SCMP_ARCH_X32"], "ENOSYS", None))
        sections.append(("ja", "FILTER"))
    code += sections
    code.append(("label", "ENOSYS"))
    code.append(("ret", 0x00050000 | ENOSYS))
    positions, pc = {}, 0
    for item in code:
        if item[0] == "label":
            positions[item[1]] = pc
        else:
            pc += 1
    positions["FILTER"] = pc
    out, pc = b"", 0
    for item in code:
        kind = item[0]
        if kind == "label":
            continue
        if kind == "ld":
            out += struct.pack("<HBBI", 0x20, 0, 0, item[1])
        elif kind == "ret":
            out += struct.pack("<HBBI", 0x06, 0, 0, item[1])
        elif kind == "ja":
            out += struct.pack("<HBBI", 0x05, 0, 0, positions[item[1]] - pc - 1)
        else:
            op = {"jeq": 0x15, "jgt": 0x25, "jset": 0x45}[kind]
            jt = 0 if item[2] is None else positions[item[2]] - pc - 1
            jf = 0 if item[3] is None else positions[item[3]] - pc - 1
            out += struct.pack("<HBBI", op, jt, jf, item[1])
        pc += 1
    return out


def main():
    request = json.load(sys.stdin)
    with open(request["profile"]) as source:
        profile = json.load(source)
    table = read_table(request["csv"])
    try:
        started = time.perf_counter()
        f, default, arches, groups, extras, unnumbered = build_filter(
            profile, set(request["caps"]), request["kernel"], request.get("optimize", 2), table)
        program = export(f)
        compile_ms = (time.perf_counter() - started) * 1000
    except (Refused, ValueError, RuntimeError, OSError) as e:
        json.dump({"error": str(e)}, sys.stdout)
        return
    stub = enosys_stub(default, arches, groups, table)
    json.dump({"libseccomp": program.hex(), "runc": (stub + program).hex(), "extras": extras,
               "unnumbered": unnumbered, "default": default, "compile_ms": compile_ms}, sys.stdout)


main()
