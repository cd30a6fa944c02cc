#!/usr/bin/env bash
# Seccomp bench: tiny's compiled program against libseccomp's (linear as crun builds it, binary tree as runc
# builds it, and runc's final program with its -ENOSYS stub), for Docker's default profile with two capability
# sets. Prints markdown tables: program length, mean/max instructions executed per syscall and per allowed
# syscall (every syscall number 0..1023 of x86_64, x32 and i386, plus argument values around every rule value),
# syscalls the kernel's action cache can skip, and compile time.
# Needs: a tiny binary ($TINY_BINARY, else artifacts/tiny, else one is published to a temporary directory) and
# Debian's python3-seccomp.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tiny=${TINY_BINARY:-$root/artifacts/tiny}
if [[ ! -x $tiny ]]; then
    TINY_BUILD_DIR=${TINY_BUILD_DIR:-$work/build} dotnet publish "$root/src/Tiny/Tiny.csproj" -c Release -o "$work/publish" >/dev/null
    tiny=$work/publish/tiny
fi
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || { echo "bench-seccomp: python3-seccomp is missing (apt-get install python3-seccomp)" >&2; exit 1; }

profile=$root/seccomp-profiles/docker-default.json
default_caps="CAP_CHOWN CAP_DAC_OVERRIDE CAP_FSETID CAP_FOWNER CAP_MKNOD CAP_NET_RAW CAP_SETGID CAP_SETUID CAP_SETFCAP CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_SYS_CHROOT CAP_KILL CAP_AUDIT_WRITE"
kernel=$(uname -r | cut -d. -f1,2)

reference() { # CAPS OPTIMIZE OUT-PREFIX: writes OUT.libseccomp.bpf and OUT.runc.bpf, prints compile ms
    local caps_json
    caps_json=$(printf '"%s",' $1)
    printf '{"profile":"%s","caps":[%s],"kernel":"%s","csv":"%s","optimize":%s}' \
        "$profile" "${caps_json%,}" "$kernel" "$root/build/syscalls/x86-family.csv" "$2" |
        /usr/bin/python3 "$root/build/seccomp/libseccomp-reference.py" |
        /usr/bin/python3 -c '
import json, sys
answer = json.load(sys.stdin)
if "error" in answer:
    sys.exit("libseccomp refused the profile: " + answer["error"])
open(sys.argv[1] + ".libseccomp.bpf", "wb").write(bytes.fromhex(answer["libseccomp"]))
open(sys.argv[1] + ".runc.bpf", "wb").write(bytes.fromhex(answer["runc"]))
print("%.3f" % answer["compile_ms"])' "$3"
}

bench() { # NAME CAP-ADD CAPS
    local name=$1 cap_add=$2 caps=$3
    local tiny_time
    if [[ -n $cap_add ]]; then
        tiny_time=$("$tiny" seccomp compile --cap-add "$cap_add" --out "$work/tiny.bpf" --repeat 1000 2>&1)
    else
        tiny_time=$("$tiny" seccomp compile --out "$work/tiny.bpf" --repeat 1000 2>&1)
    fi
    local tree_ms linear_ms
    tree_ms=$(reference "$caps" 2 "$work/tree")
    linear_ms=$(reference "$caps" 0 "$work/linear")
    echo "### Docker default profile, capabilities: $name (kernel $kernel)"
    echo
    "$tiny" seccomp stats --profile "$profile" \
        "tiny=$work/tiny.bpf,libseccomp binary tree (runc: optimize 2)=$work/tree.libseccomp.bpf,runc final (ENOSYS stub + tree)=$work/tree.runc.bpf,libseccomp linear (crun)=$work/linear.libseccomp.bpf"
    echo
    echo "Compile time: tiny $tiny_time (native AOT, in process, JSON parse included); libseccomp $tree_ms ms (tree) / $linear_ms ms (linear) through python3-seccomp, rule adds and export."
    echo
}

bench "Docker default" "" "$default_caps"
bench "default + SYS_ADMIN" "SYS_ADMIN" "$default_caps CAP_SYS_ADMIN"
