#!/usr/bin/python3
"""Loads a seccomp program (raw struct sock_filter file) into this process, then makes the syscalls given on the
command line and prints "NR ERRNO" for each (0 when the call succeeded). Used by KernelFilterTests.

usage: load-filter.py PROGRAM NR[:ARG0] ...
"""
import ctypes
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
program = open(sys.argv[1], "rb").read()
buffer = ctypes.create_string_buffer(program, len(program))
fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_NO_NEW_PRIVS): errno %d" % ctypes.get_errno())
if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
    sys.exit("prctl(PR_SET_SECCOMP): errno %d" % ctypes.get_errno())
with open("/proc/self/status") as status:
    mode = [line.split()[1] for line in status if line.startswith("Seccomp:")][0]
results = ["seccomp " + mode]
for call in sys.argv[2:]:
    nr, _, arg = call.partition(":")
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(int(nr, 0)), ctypes.c_long(int(arg, 0) if arg else 0), ctypes.c_long(0),
                       ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
    results.append("%s %d" % (call, ctypes.get_errno() if ret == -1 else 0))
print("\n".join(results))
