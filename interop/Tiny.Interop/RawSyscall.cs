using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>
/// Direct system calls for the container child between clone and execve. Every entry point but
/// <see cref="InvokeOnOwnThread"/> is <c>[SuppressGCTransition]</c> and sets no managed last-error: after clone only this thread
/// exists, so nothing may poll for a GC or touch managed thread state. errno is read straight from
/// libc's thread-local slot. glibc's own set*id wrappers must not be used there: they broadcast to
/// the threads glibc still believes exist (nptl/nptl_setxid.c) and would wait forever.
/// </summary>
public static unsafe partial class RawSyscall
{
    [LibraryImport("libc", EntryPoint = "syscall")]
    [SuppressGCTransition]
    public static partial long Invoke(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    /// <summary>
    /// The one entry point with the GC transition, for a thread of tiny's own (<see cref="NativeThread"/>), never the
    /// child: a call without it leaves the thread in cooperative mode, and a collection (the one that opens the no-GC
    /// region around clone) then waits for the call to return before it can suspend the thread; unshare(2) of a network
    /// namespace takes half a millisecond. errno is then <see cref="Marshal.GetLastPInvokeError"/>: waiting for a
    /// collection on the way back may change libc's.
    /// </summary>
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    public static partial long InvokeOnOwnThread(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    /// <summary>
    /// glibc's clone(2) wrapper: the child starts on <paramref name="stackTop"/> and calls
    /// <paramref name="function"/>(<paramref name="argument"/>) there (the raw system call would return into the
    /// caller's frame, which a child that shares the caller's memory must not touch). -1 with errno on failure.
    /// </summary>
    [LibraryImport("libc", EntryPoint = "clone")]
    [SuppressGCTransition]
    public static partial int CloneOnStack(nint function, nint stackTop, int flags, nint argument);

    [LibraryImport("libc", EntryPoint = "__errno_location")]
    [SuppressGCTransition]
    private static partial int* ErrnoLocation();

    public static int LastErrno => *ErrnoLocation();

    public static long Invoke(long number) => Invoke(number, 0, 0, 0, 0, 0, 0);
    public static long Invoke(long number, long a1) => Invoke(number, a1, 0, 0, 0, 0, 0);
    public static long Invoke(long number, long a1, long a2) => Invoke(number, a1, a2, 0, 0, 0, 0);
    public static long Invoke(long number, long a1, long a2, long a3) => Invoke(number, a1, a2, a3, 0, 0, 0);
    public static long Invoke(long number, long a1, long a2, long a3, long a4) => Invoke(number, a1, a2, a3, a4, 0, 0);
    public static long Invoke(long number, long a1, long a2, long a3, long a4, long a5) => Invoke(number, a1, a2, a3, a4, a5, 0);
}

/// <summary>x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).</summary>
public static class SyscallNumber
{
    public const long Read = 0, Write = 1, Close = 3, RtSigaction = 13, RtSigprocmask = 14, Ioctl = 16,
        Socket = 41, Clone = 56, Execve = 59, Exit = 60, Wait4 = 61, Kill = 62, Chdir = 80, Mkdir = 83, Symlink = 88,
        Umask = 95, Setgroups = 116, Setresuid = 117, Setresgid = 119, Capget = 125, Capset = 126,
        RtSigtimedwait = 128, Mknod = 133, Prctl = 157, PivotRoot = 155, Mount = 165, Umount2 = 166, Sethostname = 170,
        ExitGroup = 231, Unshare = 272, Seccomp = 317, CloseRange = 436, Sendmsg = 46, Setsid = 112, Openat = 257,
        Dup3 = 292, PidfdOpen = 434, Mkdirat = 258, Mknodat = 259, Newfstatat = 262, Openat2 = 437, Getpid = 39,
        Setpgid = 109, Fchdir = 81,
        Setdomainname = 171, Prlimit64 = 302, Setns = 308,
        Recvmsg = 47, Poll = 7, Pipe2 = 293, OpenTree = 428, MoveMount = 429, MountSetattr = 442, Fchownat = 260, Execveat = 322,
        Personality = 135, Fcntl = 72, Shutdown = 48;
    public const long ClockGettime = 228;

    public const long AtCurrentDirectory = -100;
}
