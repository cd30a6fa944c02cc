#!/usr/bin/env python3
"""Writes the code tiny runs on its common paths, in first-entry order, for the build to lay out first:
src/Tiny/startup.order, the managed methods (ILC's order file, IlcOrderFile in Tiny.csproj), and
src/Tiny/startup-native.ld, the native functions of the runtime and libc (a linker script that the link gets with -T).

Run as root: build/startup-order.py

The kernel maps a file's pages in 64 KB blocks on a read fault (fault-around), so start-up code spread over the
binary made most of it resident: nearly all of tiny's 3 MB of managed code before the order file, and 1.2 of the
1.3 MB of native code (the GC, the runtime's start, libc) before the linker script.

How: publishes tiny with symbols and a link map into a temporary directory, then runs each scenario below under
ptrace with an int3 on the first byte of every managed method and of every native function (a symbol, or the start
of a linker input section: the runtime is compiled with a section per function, libc has one object per function
or few). A breakpoint hit records the address, puts the original byte back and resumes there, so each function
traps once. Children (the container's init before its exec, tiny's own re-exec and monitor) are traced too, since
they inherit the breakpoints; any other program is detached at exec.

Names ILC does not know are skipped when it reads the order file, and a linker script pattern that matches no input
section is no error, so stale files only lay out less well.
"""
import bisect
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANAGED_OUTPUT = os.path.join(ROOT, "src", "Tiny", "startup.order")
NATIVE_OUTPUT = os.path.join(ROOT, "src", "Tiny", "startup-native.ld")
NATIVE_SECTION = ".text.startup_order"
# Native code that runs only when threads meet, which the traced runs (slowed by ptrace) did not reach in 30 tries: the
# collection that opens the no-GC region around clone suspending the namespaces thread (spinning in SuspendEE, or
# hijacking it with a signal) and that thread waiting for the collection to end. Found with uprobes on every other
# native function over 60 untraced run --bundle runs here, in 16 of which some of it ran; laid out with run --bundle's
# code. Symbols, or for functions without one (static) the name of their section after ".text.".
THREADS_MEETING = [
    "RhpWaitForGC2", "_ZN3WKS6GCHeap19WaitUntilGCCompleteEb", "_ZN7GCEvent4WaitEjb", "_ZN7GCEvent4Impl4WaitEjb",
    "minipal_microdelay", "RhpGcPoll", "RhpGcPollRare", "RhpGcPoll2", "_ZN6Thread20SetActivationPendingEb",
    "_ZN6Thread6HijackEv", "_Z9PalHijackP6Thread", "__pthread_kill",
    "_ZN11ThreadStore36GetCurrentThreadIfAvailableAsyncSafeEv", "_Z24FindThreadInAsyncSafeMapm",
    "_ZL17ActivationHandleriP9siginfo_tPv", "_ZN6Thread14HijackCallbackEP14NATIVE_CONTEXTPS_b",
]

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_TRACEME, PTRACE_CONT, PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_DETACH, PTRACE_SETOPTIONS = 0, 7, 12, 13, 17, 0x4200
OPTIONS = 0x2 | 0x4 | 0x8 | 0x10 | 0x100000  # TRACEFORK, TRACEVFORK, TRACECLONE, TRACEEXEC, EXITKILL
EVENT_EXEC = 4
WALL = 0x40000000
INT3 = 0xCC


class Registers(ctypes.Structure):  # struct user_regs_struct, x86-64
    _fields_ = [(name, ctypes.c_ulonglong) for name in
                "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss "
                "fs_base gs_base ds es fs gs".split()]


def ptrace(request, pid, address=0, data=0):
    if libc.ptrace(request, pid, ctypes.c_void_p(address), ctypes.c_void_p(data)) == -1:
        error = ctypes.get_errno()
        raise OSError(error, f"ptrace({request}, {pid}): {os.strerror(error)}")


class InputSection:
    """A linker input section of the native .text: where it landed, and the script pattern that selects it."""

    def __init__(self, name, address, size, origin):
        self.name, self.address, self.size = name, address, size
        archive, _, member = origin.rstrip(")").partition("(")
        self.pattern = f"*{os.path.basename(archive)}:{member}({name})" if member else f"*{os.path.basename(origin)}({name})"


def read_link_map(path):
    """The input sections of the native code's output sections (.text, and the start-up one this script's linker
    script makes) in a GNU ld map (-Wl,-Map), in address order."""
    sections, in_text, pending = [], False, None
    for line in open(path):
        if not line.startswith(" "):
            in_text = line.split(maxsplit=1)[0] in (".text", NATIVE_SECTION) if line.strip() else False
            continue
        if not in_text or line.startswith(" *"):
            continue
        fields = line.split()
        if pending is not None:  # a long section name has its address, size and file on the next line
            if len(fields) >= 3 and fields[1].startswith("0x"):
                sections.append(InputSection(pending, int(fields[0], 16), int(fields[1], 16), " ".join(fields[2:])))
            pending = None
        elif line[1] != " ":
            if len(fields) == 1:
                pending = fields[0]
            elif len(fields) >= 4:
                sections.append(InputSection(fields[0], int(fields[1], 16), int(fields[2], 16), " ".join(fields[3:])))
    return sorted((section for section in sections if section.size), key=lambda section: section.address)


class Binary:
    """The code of an unstripped tiny: the entry addresses of its managed methods (with their symbol names, folded
    bodies share one) and of its native functions (with the linker input section each is in)."""

    def __init__(self, path, link_map):
        self.image = open(path, "rb").read()
        self.names = {}
        symbols = subprocess.run(["nm", "--defined-only", path], check=True, capture_output=True, text=True).stdout
        bounds, functions = {}, set()
        for line in symbols.splitlines():
            address, kind, name = line.split(maxsplit=2)
            if name in ("__start___managedcode", "__stop___managedcode"):
                bounds[name] = int(address, 16)
            self.names.setdefault(int(address, 16), []).append(name)
            if kind in "TtWi":
                functions.add(int(address, 16))
        self.managed = (bounds["__start___managedcode"], bounds["__stop___managedcode"])
        self.sections = read_link_map(link_map)
        self.section_starts = [section.address for section in self.sections]
        self.native = (self.sections[0].address, self.sections[-1].address + self.sections[-1].size)
        managed_entries = {a for a in self.names if self.managed[0] <= a < self.managed[1]}
        native_entries = {a for a in functions | set(self.section_starts) if self.native[0] <= a < self.native[1]}
        self.entries = managed_entries | native_entries
        # A non-PIE ELF whose first PT_LOAD maps file offset 0 at 0x400000 (tiny is linked static, non-PIE).
        self.base = 0x400000

    def addresses_of(self, names):
        """The entries of the functions named (symbols, else input sections ".text." + name) that this build has."""
        by_name = {name: address for address, names_there in self.names.items() for name in names_there}
        by_section = {section.name: section.address for section in self.sections}
        return [address for name in names
                if (address := by_name.get(name, by_section.get(".text." + name))) is not None and address in self.entries]

    def is_managed(self, address):
        return self.managed[0] <= address < self.managed[1]

    def section_of(self, address):
        return self.sections[bisect.bisect_right(self.section_starts, address) - 1]

    def original_byte(self, address):
        return self.image[address - self.base]

    def is_image_of(self, pid):
        try:
            with open(f"/proc/{pid}/exe", "rb") as exe:
                return exe.read(65536) == self.image[:65536]
        except OSError:
            return False

    def arm(self, pid):
        for start, stop in (self.managed, self.native):
            code = bytearray(self.image[start - self.base:stop - self.base])
            for entry in self.entries:
                if start <= entry < stop:
                    code[entry - start] = INT3
            self._write_code(pid, start, code)

    def disarm(self, pid):
        for start, stop in (self.managed, self.native):
            self._write_code(pid, start, self.image[start - self.base:stop - self.base])

    def _write_code(self, pid, start, code):
        with open(f"/proc/{pid}/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            memory.write(code)


def trace(binary, argv, entered):
    """Runs argv under ptrace; adds each managed method entered for the first time to entered (ordered keys).

    Returns argv's exit status once it has exited. Processes it left running (a created container's init) are
    given their code back and detached."""
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        libc.ptrace(PTRACE_TRACEME, 0, None, None)
        os.execv(argv[0], argv)
    os.waitpid(pid, 0)
    ptrace(PTRACE_SETOPTIONS, pid, 0, OPTIONS)
    binary.arm(pid)
    ptrace(PTRACE_CONT, pid)
    tasks, exit_status = {pid}, None
    while exit_status is None or tasks:
        tid, status = os.waitpid(-1, WALL)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            tasks.discard(tid)
            if tid == pid:
                exit_status = os.waitstatus_to_exitcode(status)
                for left in tasks:
                    binary.disarm(left)
                    os.kill(left, signal.SIGSTOP)
            continue
        tasks.add(tid)  # a new child may stop before its parent's clone event is reported
        signal_number, event = os.WSTOPSIG(status), status >> 16
        if exit_status is not None and signal_number == signal.SIGSTOP and not event:
            ptrace(PTRACE_DETACH, tid)
            tasks.discard(tid)
        elif event == EVENT_EXEC:
            if binary.is_image_of(tid):
                binary.arm(tid)
                ptrace(PTRACE_CONT, tid)
            else:
                ptrace(PTRACE_DETACH, tid)
                tasks.discard(tid)
        elif event:
            ptrace(PTRACE_CONT, tid)
        elif signal_number == signal.SIGTRAP and breakpoint_hit(binary, tid, entered):
            ptrace(PTRACE_CONT, tid)
        else:
            ptrace(PTRACE_CONT, tid, 0, 0 if signal_number == signal.SIGSTOP else signal_number)
    return exit_status


def breakpoint_hit(binary, tid, entered):
    """Whether tid stopped on one of the breakpoints; if so, the method is recorded and tid resumes at its entry."""
    registers = Registers()
    ptrace(PTRACE_GETREGS, tid, 0, ctypes.addressof(registers))
    address = registers.rip - 1
    if address not in binary.entries:
        return False
    with open(f"/proc/{tid}/mem", "r+b", buffering=0) as memory:
        memory.seek(address)
        if memory.read(1)[0] == INT3:  # else disarmed after the trap
            memory.seek(address)
            memory.write(bytes([binary.original_byte(address)]))
    registers.rip = address
    ptrace(PTRACE_SETREGS, tid, 0, ctypes.addressof(registers))
    entered.setdefault(address, None)
    return True


def scenarios(tiny, work):
    """The paths to lay out first, most common first: the benchmark's and a runc user's (run --bundle; create, start,
    delete), then tiny run without and with a bridge, then the rest. Code a later path shares with an earlier one
    is already placed, so what each path adds comes after what the paths before it need. Each is an argv, or an argv
    and the names of functions to lay out after its code (THREADS_MEETING)."""
    rootfs = os.path.join(work, "bundle", "rootfs")
    bundle, state = os.path.join(work, "bundle"), os.path.join(work, "state")
    oci = [tiny, "--root", state]
    yield [tiny, "--version"]
    yield oci + ["run", "--bundle", bundle, "order-run"], THREADS_MEETING
    yield oci + ["create", "--bundle", bundle, "order-csd"]
    yield oci + ["start", "order-csd"]
    yield oci + ["delete", "--force", "order-csd"]
    yield [tiny, "run", "--net", "none", "--rootfs", rootfs, "--", "/bin/true"]
    yield [tiny, "run", "--net", "none", "--rootfs", rootfs, "--", "true"]
    yield [tiny, "run", "--rootfs", rootfs, "--", "/bin/true"]
    yield [tiny, "run", "--rootfs", rootfs, "--", "/bin/true"]
    yield oci + ["create", "--bundle", bundle + "-sleep", "order-exec"]
    yield oci + ["start", "order-exec"]
    yield oci + ["state", "order-exec"]
    yield oci + ["exec", "order-exec", "/bin/true"]
    yield oci + ["kill", "order-exec", "KILL"]
    yield oci + ["delete", "--force", "order-exec"]
    yield oci + ["list"]
    yield [tiny, "run", "--net", "none", "--rootfs", rootfs, "--", "/bin/false"]
    yield [tiny, "run", "--net", "none", "--rootfs", rootfs, "--", "/no/such/command"]
    yield [tiny, "run", "--no-such-flag"]


def make_bundles(tiny, work):
    """work/bundle runs /bin/true, as build/bench.sh's bundle; work/bundle-sleep runs sleep on the same rootfs."""
    bundle = os.path.join(work, "bundle")
    bin_dir = os.path.join(bundle, "rootfs", "bin")
    os.makedirs(bin_dir)
    for directory in ("proc", "dev", "sys", "tmp"):
        os.makedirs(os.path.join(bundle, "rootfs", directory))
    shutil.copy("/bin/busybox", bin_dir)
    applets = subprocess.run(["/bin/busybox", "--list"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", os.path.join(bin_dir, applet))
    subprocess.run([tiny, "spec", "--bundle", bundle], check=True)
    config_path = os.path.join(bundle, "config.json")
    config = json.load(open(config_path))
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    json.dump(config, open(config_path, "w"))
    os.makedirs(bundle + "-sleep")
    config["process"]["args"] = ["/bin/sleep", "30"]
    config["root"]["path"] = os.path.join(bundle, "rootfs")
    json.dump(config, open(os.path.join(bundle + "-sleep", "config.json"), "w"))


def main():
    if os.geteuid() != 0:
        sys.exit("startup-order: run as root (the scenarios start containers)")
    bridge_existed = subprocess.run(["ip", "link", "show", "tiny0"], capture_output=True).returncode == 0
    state_existed = os.path.exists("/run/tiny")
    work = tempfile.mkdtemp(prefix="tiny-startup-order.")
    try:
        publish, link_map = os.path.join(work, "publish"), os.path.join(work, "link.map")
        subprocess.run(["dotnet", "publish", os.path.join(ROOT, "src", "Tiny", "Tiny.csproj"), "-c", "Release",
                        "-o", publish, "-nologo", "-clp:NoSummary", "-p:StripSymbols=false", f"-p:TinyLinkMap={link_map}"],
                       check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, TINY_BUILD_DIR=os.path.join(work, "build")))
        tiny = os.path.join(publish, "tiny")
        binary = Binary(tiny, link_map)
        make_bundles(tiny, work)
        entered = {}
        for scenario in scenarios(tiny, work):
            argv, also = scenario if isinstance(scenario, tuple) else (scenario, [])
            before = len(entered)
            status = trace(binary, argv, entered)
            for address in binary.addresses_of(also):
                entered.setdefault(address, None)
            print(f"{' '.join(os.path.basename(a) if a.startswith(work) else a for a in argv[1:])}: exit {status},"
                  f" {len(entered) - before} more functions", file=sys.stderr)
        methods = [address for address in entered if binary.is_managed(address)]
        with open(MANAGED_OUTPUT, "w") as output:
            output.write("# Managed methods in first-entry order on tiny's common paths; written by build/startup-order.py.\n")
            for address in methods:
                for name in binary.names[address]:
                    output.write(name + "\n")
        sections = {}
        for address in entered:
            if not binary.is_managed(address):
                section = binary.section_of(address)
                sections.setdefault(section.pattern, section)
        sections = list(sections.values())
        with open(NATIVE_OUTPUT, "w") as output:
            output.write("/* Native code (runtime, libc) in first-entry order on tiny's common paths, laid out before the rest of\n"
                         "   .text; written by build/startup-order.py. INSERT keeps the default linker script. */\n"
                         f"SECTIONS\n{{\n  {NATIVE_SECTION} :\n  {{\n")
            for section in sections:
                output.write(f"    {section.pattern}\n")
            output.write("  }\n}\nINSERT BEFORE .text;\n")
        print(f"{MANAGED_OUTPUT}: {len(methods)} methods; {NATIVE_OUTPUT}: {len(sections)} of {len(binary.sections)}"
              f" input sections, {sum(section.size for section in sections)} bytes", file=sys.stderr)
    finally:
        tiny = os.path.join(work, "publish", "tiny")
        if os.path.exists(tiny):
            subprocess.run([tiny, "--root", os.path.join(work, "state"), "delete", "--force", "order-exec"],
                           capture_output=True)
            if not bridge_existed:
                subprocess.run([tiny, "network", "prune"], capture_output=True)
        if not state_existed:
            shutil.rmtree("/run/tiny", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
