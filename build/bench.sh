#!/usr/bin/env bash
# Start-up benchmark (issue 5): tiny against runc and crun on one busybox-static bundle, on this machine, in one run.
# Run as root: build/bench.sh [RUNS]   (RUNS per command and round, default 30; two rounds)
#
# Builds tiny (./publish.sh), installs runc, crun, hyperfine, busybox-static and time from Debian when missing,
# makes a bundle in a temporary directory (rootfs: /bin/busybox and its applet links; config.json: `runc spec` with
# terminal false, args ["/bin/true"], without linux.resources and the cgroup mount on /sys/fs/cgroup) and measures
# with hyperfine (-N: no shell):
#   - run of the /bin/true container, end to end, for tiny, runc and crun, on that one config.json
#     (tiny --root DIR run --bundle BUNDLE ID, as runc and crun);
#   - create + start + delete for the three;
#   - tiny run with the default seccomp filter and capabilities, and without (--seccomp unconfined and every
#     capability this shell holds);
#   - tiny run --net bridge and --net none;
#   - tiny --version, runc --version, crun --version (process start);
#   - peak RSS of each runtime process (GNU time's %M: the largest of the runtime and the processes it waited for);
#   - binary sizes.
# Order A B A B: every set of commands is measured twice, one round after the other, and the medians are over both
# rounds' samples, so that a change in machine load during the run touches every runtime alike.
# crun 1.8 refuses hybrid cgroup hierarchies (these machines mount cgroup v1 controllers and an empty cgroup2 at
# /sys/fs/cgroup/unified). crun alone therefore runs in a private mount namespace (unshare -m) with cgroup2 mounted
# on /sys/fs/cgroup: crun's hyperfine is started inside that namespace, so the namespace set-up is not timed.
# tiny and runc run on the host's hierarchy (v1). Prints a markdown table and writes it to artifacts/bench.md with
# the kernel and CPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-30}
rounds=2
[[ $(id -u) == 0 ]] || { echo "bench.sh: run as root (containers need it)" >&2; exit 1; }

"$root/publish.sh" >/dev/null
tiny=$root/artifacts/tiny

need=()
for tool in runc crun hyperfine; do command -v $tool >/dev/null || need+=("$tool"); done
[[ -x /bin/busybox ]] || need+=(busybox-static)
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then apt-get install -y "${need[@]}" >/dev/null; fi
# Each runtime's binary as read from disk, as a host that installed it earlier has it: publish.sh has just written tiny's,
# and a process that maps a file whose page cache still holds it as its writer wrote it can end up more resident than
# one mapping the pages read back (one build here: peak RSS 3572 KB before, 3288 KB after). dd's nocache drops the clean
# pages (posix_fadvise(2) POSIX_FADV_DONTNEED); sync writes tiny's back first.
for binary in "$tiny" "$(command -v runc)" "$(command -v crun)"; do
    sync "$binary"
    dd if="$binary" iflag=nocache count=0 status=none
done

work=$(mktemp -d /tmp/tiny-bench.XXXXXX)
bridge_existed=$(ip link show tiny0 >/dev/null 2>&1 && echo yes || echo no)
state_existed=$([[ -e /run/tiny ]] && echo yes || echo no)
cleanup() {
    for id in bench-runc bench-csd-runc; do runc --root "$work/runc" delete --force "$id" >/dev/null 2>&1 || true; done
    for id in bench-tiny bench-csd-tiny; do "$tiny" --root "$work/tiny" delete --force "$id" >/dev/null 2>&1 || true; done
    if [[ $bridge_existed == no ]]; then "$tiny" network prune >/dev/null 2>&1 || true; fi
    # tiny run's default state, leases and network files: all the bench's own when it found none.
    if [[ $state_existed == no ]]; then rm -rf /run/tiny; fi
    rm -rf "$work"
}
trap cleanup EXIT

bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/dev" "$bundle/rootfs/sys" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -s busybox "$bundle/rootfs/bin/$applet"
done
(cd "$bundle" && runc spec)
/usr/bin/python3 - "$bundle/config.json" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))
config["process"]["terminal"] = False
config["process"]["args"] = ["/bin/true"]
config["linux"].pop("resources", None)
config["mounts"] = [mount for mount in config["mounts"] if mount["type"] != "cgroup"]
json.dump(config, open(sys.argv[1], "w"), indent=2)
EOF

tiny_run=("$tiny" --root "$work/tiny" run --bundle "$bundle" bench-tiny)
tiny_csd="$tiny --root $work/tiny create --bundle $bundle bench-csd-tiny && $tiny --root $work/tiny start bench-csd-tiny && $tiny --root $work/tiny delete --force bench-csd-tiny"
runc_run="runc --root $work/runc run --bundle $bundle bench-runc"
runc_csd="runc --root $work/runc create --bundle $bundle bench-csd-runc && runc --root $work/runc start bench-csd-runc && runc --root $work/runc delete --force bench-csd-runc"
crun_run="crun --root $work/crun run --bundle $bundle bench-crun"
crun_csd="crun --root $work/crun create --bundle $bundle bench-csd-crun && crun --root $work/crun start bench-csd-crun && crun --root $work/crun delete --force bench-csd-crun"
tiny_plain=("$tiny" run --net none --rootfs "$bundle/rootfs" -- /bin/true)
# "All capabilities" as the capabilities this shell holds: --cap-add ALL fails where the host withholds one
# (these machines have no CAP_SYS_RESOURCE), as capset(2) cannot raise a capability outside the bounding set.
cap_names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE
    NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN
    SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE
    MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)
bounding=$((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)))
all_caps=()
for cap in "${!cap_names[@]}"; do if (((bounding >> cap) & 1)); then all_caps+=(--cap-add "${cap_names[$cap]}"); fi; done
tiny_unconfined=("$tiny" run --net none --seccomp unconfined "${all_caps[@]}" --rootfs "$bundle/rootfs" -- /bin/true)
tiny_bridge=("$tiny" run --net bridge --rootfs "$bundle/rootfs" -- /bin/true)

hyperfine_json() { # OUT NAME=COMMAND...: hyperfine without a shell (sh -c where a command is a sequence)
    local out=$1; shift
    local args=()
    for named in "$@"; do args+=(--command-name "${named%%=*}" "${named#*=}"); done
    # A second's pause after each command's runs: what the kernel finishes after a container is gone (a network
    # namespace is dismantled by a worker, after an RCU grace period) would otherwise slow the next command's runs.
    hyperfine -N --style none --warmup 3 --runs "$runs" --cleanup "sleep 1" --export-json "$out" "${args[@]}" >/dev/null
}

quote() { printf '%q ' "$@"; }

in_crun_namespace() { # BASH-COMMANDS: run in a private mount namespace with cgroup2 on /sys/fs/cgroup, then clean up
    unshare -m bash -c "set -e; mount --make-rprivate / && mount -t cgroup2 none /sys/fs/cgroup
        $(declare -f hyperfine_json peak_rss); runs=$runs; work=$work; trap 'for id in bench-crun bench-csd-crun; do crun --root $work/crun delete --force \$id >/dev/null 2>&1 || true; done' EXIT
        $1"
}

peak_rss() { # COMMAND...: median of 10 runs of GNU time's maximum resident set size, in KB
    for _ in $(seq 10); do /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>&1; tail -1 "$work/rss"; done | sort -n | sed -n 5p
}

for round in $(seq $rounds); do
    echo "round $round of $rounds: host (tiny, runc)" >&2
    host=("runc run=$runc_run" "runc csd=sh -c '$runc_csd'"
        "tiny plain=$(quote "${tiny_plain[@]}")" "tiny unconfined=$(quote "${tiny_unconfined[@]}")"
        "tiny bridge=$(quote "${tiny_bridge[@]}")"
        "tiny version=$tiny --version" "runc version=runc --version" "crun version=crun --version"
        "tiny run=$(quote "${tiny_run[@]}")" "tiny csd=sh -c '$tiny_csd'")
    hyperfine_json "$work/host-$round.json" "${host[@]}"
    echo "round $round of $rounds: crun, in a private mount namespace with cgroup2 on /sys/fs/cgroup" >&2
    in_crun_namespace "hyperfine_json '$work/crun-$round.json' 'crun run=$crun_run' \"crun csd=sh -c '$crun_csd'\""
done

rss_tiny=$(peak_rss "${tiny_run[@]}")
rss_runc=$(peak_rss $runc_run)
rss_crun=$(in_crun_namespace "peak_rss $crun_run")

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
/usr/bin/python3 - "$work" "$rounds" "$(uname -r)" "$cpu" "$(nproc)" "$rss_tiny" "$rss_runc" "$rss_crun" \
    "$(stat -c %s "$tiny")" "$(stat -c %s "$(command -v runc)")" "$(stat -c %s "$(command -v crun)")" \
    "$(runc --version | head -1)" "$(crun --version | head -1)" "$runs" >"$root/artifacts/bench.md" <<'EOF'
import json, statistics, sys
work, rounds, kernel, cpu, cores = sys.argv[1:6]
rss = dict(zip(["tiny", "runc", "crun"], map(int, sys.argv[6:9])))
size = dict(zip(["tiny", "runc", "crun"], map(int, sys.argv[9:12])))
runc_version, crun_version, runs = sys.argv[12:15]
times = {}
for round in range(1, int(rounds) + 1):
    for part in ("host", "crun"):
        for result in json.load(open(f"{work}/{part}-{round}.json"))["results"]:
            times.setdefault(result["command"], []).extend(result["times"])
median = {name: statistics.median(samples) * 1000 for name, samples in times.items()}

def ms(name):
    return f"{median[name]:.2f}" if name in median else "n/a"

def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"

def row(what, tiny, runc, crun, unit_format=str):
    cells = [unit_format(v) if v is not None else "n/a" for v in (tiny, runc, crun)]
    return f"| {what} | {' | '.join(cells)} | {ratio(tiny, runc)} | {ratio(tiny, crun)} |"

def m(name):
    return median.get(name)

lines = [
    "# tiny start-up benchmark",
    "",
    f"Kernel {kernel}; CPU {cpu} ({cores} cores); {runc_version}; {crun_version}. "
    f"Medians of {rounds} rounds x {runs} runs (hyperfine -N, 3 warm-up runs per round). "
    "crun runs in a private mount namespace with cgroup2 on /sys/fs/cgroup (it refuses this host's hybrid "
    "cgroups); tiny and runc use the host's cgroup v1 controllers.",
    "",
    "The first rows run the same config.json (`runc spec`, /bin/true, no linux.resources, no cgroup mount) with "
    "each runtime's `--root DIR run --bundle BUNDLE ID` and `create`/`start`/`delete`; the last table is tiny's own "
    "`tiny run --rootfs BUNDLE/rootfs -- /bin/true`.",
    "",
    "| | tiny | runc | crun | tiny/runc | tiny/crun |",
    "|---|---:|---:|---:|---:|---:|",
    row("run /bin/true (ms)", m("tiny run"), m("runc run"), m("crun run"), lambda v: f"{v:.2f}"),
    row("create + start + delete (ms)", m("tiny csd"), m("runc csd"), m("crun csd"), lambda v: f"{v:.2f}"),
    row("--version (ms)", m("tiny version"), m("runc version"), m("crun version"), lambda v: f"{v:.2f}"),
    row("peak RSS (KB)", rss["tiny"], rss["runc"], rss["crun"]),
    row("binary size (bytes; crun links libc and more dynamically)", size["tiny"], size["runc"], size["crun"]),
    "",
    "| tiny run /bin/true (ms) | | |",
    "|---|---:|---:|",
    f"| default seccomp filter and caps / --seccomp unconfined with all held caps | {ms('tiny plain')} | {ms('tiny unconfined')} |",
    f"| --net none / --net bridge | {ms('tiny plain')} | {ms('tiny bridge')} |",
    "",
    "Reproduce: `sudo build/bench.sh` (writes artifacts/bench.md).",
]
print("\n".join(lines))
EOF
cat "$root/artifacts/bench.md"
