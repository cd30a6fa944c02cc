using System.Runtime.CompilerServices;
using Tiny.Interop;
using Tiny.Runtime.Spec;
using static Tiny.Interop.RawSyscall;
using static Tiny.Runtime.Launch.NativePlan;
using Nr = Tiny.Interop.SyscallNumber;

namespace Tiny.Runtime.Launch;

/// <summary>
/// The container child between clone and execve. It walks the native plan with direct system
/// calls and nothing else: no allocation, no exceptions, no statics that need initialising, no
/// calls that may poll for a GC (the hard rule in README's design notes). A failure is written
/// to the error pipe as (step index, errno) and the child exits.
/// </summary>
internal static unsafe class ChildProcess
{
    /// <summary>Exit status of a child that could not finish its setup.</summary>
    public const int SetupFailed = 1;

    [SkipLocalsInit]
    public static void Run(Header* plan)
    {
        for (var i = 0; i < plan->StepCount; i++)
        {
            var errno = Execute(ref plan->Steps[i]);
            if (plan->StepEnds != null) plan->StepEnds[i] = MonotonicNanoseconds();
            if (errno == 0) continue;
            if (errno < 0) Invoke(Nr.ExitGroup, SetupFailed);
            Report(plan->ErrorFd, i, errno);
            Invoke(Nr.ExitGroup, SetupFailed);
        }
        Invoke(Nr.ExitGroup, SetupFailed);
    }

    /// <summary>
    /// <see cref="Run"/> as the function a clone(2) child starts in on a stack of its own (<see cref="RawSyscall.CloneOnStack"/>).
    /// It is called straight from glibc's clone, not through a reverse P/Invoke: the child must not enter the runtime,
    /// and neither does it here (plain arguments, no allocation, the same code as after a fork-like clone).
    /// </summary>
    public static int RunOnOwnStack(nint plan)
    {
        Run((Header*)plan);
        return SetupFailed;
    }

    /// <summary>Writes (step index, errno) to the parent; errno 0 means set-up is complete (<see cref="Op.ReportReady"/>).</summary>
    static int Report(long fd, int step, int errno)
    {
        int* report = stackalloc int[2];
        report[0] = step;
        report[1] = errno;
        return Check(Invoke(Nr.Write, fd, (long)report, 8));
    }

    /// <summary>Runs one step: 0 when done, errno on failure, -1 to exit quietly.</summary>
    [SkipLocalsInit]
    static int Execute(ref Step s)
    {
        switch (s.Op)
        {
            case Op.WaitForParent: return WaitForParent(s.A);
            case Op.CloseFd: return Check(Invoke(Nr.Close, s.A));
            case Op.SetParentDeathSignal: return Check(Invoke(Nr.Prctl, Prctl.PR_SET_PDEATHSIG, s.A));
            case Op.Unshare: return Check(Invoke(Nr.Unshare, s.A));
            case Op.Mount: return Check(Invoke(Nr.Mount, s.A, s.B, s.C, s.D, s.E));
            case Op.MountInRoot: return MountInRoot(ref s);
            case Op.MountReceivedTree: return MountReceivedTree(s.A, s.B);
            case Op.MaskPath: return MaskPath((byte*)s.A);
            case Op.ReadonlyPath: return ReadonlyPath((byte*)s.A, (ulong)s.B);
            case Op.RemountReadonly:
                return Check(Invoke(Nr.Mount, 0, s.A, 0, (long)(Mount.MS_REMOUNT | Mount.MS_BIND | Mount.MS_RDONLY), 0));
            case Op.MakeDirectory:
                return Invoke(Nr.Mkdir, s.A, s.B) == 0 || LastErrno == Errno.EEXIST ? 0 : LastErrno;
            case Op.OpenTerminal: return OpenTerminal(s.A, s.B);
            case Op.MakeDevice:
                if (Invoke(Nr.Mknod, s.A, s.B, s.C) < 0) return LastErrno;
                return s.D == 0 && s.E == 0 ? 0 : Check(Invoke(Nr.Fchownat, Nr.AtCurrentDirectory, s.A, s.D, s.E, AtSymlinkNoFollow));
            case Op.Symlink: return Check(Invoke(Nr.Symlink, s.A, s.B));
            case Op.PivotRoot: return PivotRoot((byte*)s.A);
            case Op.SetHostname: return Check(Invoke(Nr.Sethostname, s.A, s.B));
            case Op.BringLoopbackUp: return NetDevice.BringUp((byte*)s.A);
            case Op.DropBoundingSet:
                for (var cap = 0; cap <= s.B; cap++)
                    if ((s.A & (1L << cap)) == 0 && Invoke(Nr.Prctl, Prctl.PR_CAPBSET_DROP, cap) < 0) return LastErrno;
                return 0;
            case Op.SetKeepCapabilities: return Check(Invoke(Nr.Prctl, Prctl.PR_SET_KEEPCAPS, s.A));
            case Op.SetGroups: return Check(Invoke(Nr.Setgroups, s.A, s.B));
            case Op.SetGid: return Check(Invoke(Nr.Setresgid, s.A, s.A, s.A));
            case Op.SetUid: return Check(Invoke(Nr.Setresuid, s.A, s.A, s.A));
            case Op.SetCapabilities: return SetCapabilities((ulong)s.A, (ulong)s.B, (ulong)s.C);
            case Op.ClearAmbientCapabilities:
                return Check(Invoke(Nr.Prctl, Prctl.PR_CAP_AMBIENT, Prctl.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
            case Op.SetNoNewPrivileges: return Check(Invoke(Nr.Prctl, Prctl.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
            case Op.ChangeDirectory: return ChangeDirectoryInRoot((byte*)s.A);
            case Op.SetUmask: Invoke(Nr.Umask, s.A); return 0;
            case Op.ResetSignals: return ResetSignals((ulong)s.A);
            case Op.CloseFdsOnExec: return Check(Invoke(Nr.CloseRange, s.A, uint.MaxValue, CloseRangeCloexec));
            case Op.RunAsInit: return RunAsInit(s.A, s.B != 0);
            case Op.LoadSeccompFilter:
            {
                // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (seccomp(2))
                long* program = stackalloc long[2];
                program[0] = s.A;
                program[1] = s.B;
                return Check(Invoke(Nr.Seccomp, Prctl.SECCOMP_SET_MODE_FILTER, s.C, (long)program));
            }
            case Op.Exec: return Exec((byte**)s.A, s.B, s.C);
            case Op.ExecThroughTrampoline:
                if (Invoke(Nr.Fcntl, s.B, FSetFd, 0) < 0) return LastErrno;
                Invoke(Nr.Execveat, s.A, (long)Empty, s.C, s.D, DetachedMount.AT_EMPTY_PATH);
                return LastErrno;
            case Op.JoinNamespace: return JoinNamespace(s.A, s.B);
            case Op.EnterReceivedNamespace: return EnterReceivedNamespace(s.A, s.B);
            case Op.SetDomainname: return Check(Invoke(Nr.Setdomainname, s.A, s.B));
            case Op.SetRlimit:
            {
                // struct rlimit64 { u64 rlim_cur; u64 rlim_max; } (prlimit(2))
                long* limit = stackalloc long[2];
                limit[0] = s.B;
                limit[1] = s.C;
                return Check(Invoke(Nr.Prlimit64, 0, s.A, (long)limit, 0));
            }
            case Op.RaiseAmbientCapabilities:
                for (var cap = 0; cap < 64; cap++)
                    if ((s.A & (1L << cap)) != 0 && Invoke(Nr.Prctl, Prctl.PR_CAP_AMBIENT, Prctl.PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
                        return LastErrno;
                return 0;
            case Op.WriteFile: return WriteFile(s.A, s.B, s.C);
            case Op.WaitForStart: return WaitForStart(s.A, s.B);
            case Op.ReportReady: return Report(s.A, 0, 0);
            case Op.SetDumpable: return Check(Invoke(Nr.Prctl, Prctl.PR_SET_DUMPABLE, s.A, 0, 0, 0));
            case Op.ForkIntoPidNamespace: return ForkIntoPidNamespace(s.A);
            case Op.SetPersonality: return Check(Invoke(Nr.Personality, s.A));
            case Op.PauseForHooks: return Report(s.A, 0, 0) != 0 ? -1 : WaitForParent(s.B);
            case Op.RunHook: return RunHook(ref s);
            case Op.MountTreeInRoot: return MountTreeInRoot(ref s);
            default: return Errno.EINVAL;
        }
    }

    const long CloseRangeCloexec = 1 << 2, AtSymlinkNoFollow = 0x100, FSetFd = 2;

    [SkipLocalsInit]
    static long MonotonicNanoseconds()
    {
        long* timespec = stackalloc long[2];
        Invoke(Nr.ClockGettime, Clock.CLOCK_MONOTONIC, (long)timespec);
        return timespec[0] * 1_000_000_000 + timespec[1];
    }

    static int Check(long result) => result < 0 ? LastErrno : 0;

    /// <summary>
    /// <see cref="Plan.MountInRoot"/>: A root, B the destination's relative prefixes ("a", "a/b"), C source,
    /// D type, E data, F mount flags, G bind remount flags, H propagation flags, I create missing.
    /// </summary>
    static int MountInRoot(ref Step s)
    {
        var root = Invoke(Nr.Openat, Nr.AtCurrentDirectory, s.A, FileDescriptor.O_PATH | FileDescriptor.O_DIRECTORY | FileDescriptor.O_CLOEXEC);
        if (root < 0) return LastErrno;
        var errno = MountInRoot(root, ref s);
        Invoke(Nr.Close, root);
        return errno;
    }

    [SkipLocalsInit]
    static int MountInRoot(long root, ref Step s)
    {
        var prefixes = (byte**)s.B;
        var flags = (ulong)s.F;
        var lastIsFile = false;
        if (s.I != 0 && (flags & Mount.MS_BIND) != 0)
        {
            var directory = IsDirectory(s.C);
            if (directory < 0) return -directory;
            lastIsFile = directory == 0;
        }
        var target = ResolveInRoot(root, prefixes, s.I != 0, lastIsFile);
        if (target < 0) return (int)-target;

        byte* path = stackalloc byte[32];
        ProcFdPath(target, path);
        var errno = Check(Invoke(Nr.Mount, s.C, (long)path, s.D, (long)flags, s.E));
        Invoke(Nr.Close, target);
        return errno != 0 ? errno : ChangeNewMount(root, prefixes, s.G, s.H);
    }

    /// <summary>Applies bind remount flags and propagation flags (each 0 for none) to the mount just made on the last prefix.</summary>
    [SkipLocalsInit]
    static int ChangeNewMount(long root, byte** prefixes, long remountFlags, long propagationFlags)
    {
        if (remountFlags == 0 && propagationFlags == 0) return 0;
        // The fd the mount was made on names the directory under it; opened again, the path is the mount itself.
        while (prefixes[1] != null) prefixes++;
        var target = OpenInRoot(root, *prefixes);
        if (target < 0) return LastErrno;
        byte* path = stackalloc byte[32];
        ProcFdPath(target, path);
        var errno = 0;
        if (remountFlags != 0)
            errno = Check(Invoke(Nr.Mount, 0, (long)path, 0, (long)(Mount.MS_BIND | Mount.MS_REMOUNT) | remountFlags, 0));
        if (errno == 0 && propagationFlags != 0) errno = Check(Invoke(Nr.Mount, 0, (long)path, 0, propagationFlags, 0));
        Invoke(Nr.Close, target);
        return errno;
    }

    /// <summary>
    /// Opens each prefix in turn as an O_PATH fd resolved inside the root, creating a missing one in its
    /// parent (mkdirat and mknodat never follow a final symlink); returns the last fd or -errno.
    /// </summary>
    static long ResolveInRoot(long root, byte** prefixes, bool createMissing, bool lastIsFile)
    {
        if (*prefixes == null) return -Errno.EINVAL;
        var parent = root;
        long fd = 0;
        for (; *prefixes != null; prefixes++)
        {
            fd = OpenInRoot(root, *prefixes);
            if (fd < 0 && LastErrno == Errno.ENOENT && createMissing)
            {
                var name = LastComponent(*prefixes);
                var created = prefixes[1] == null && lastIsFile
                    ? Invoke(Nr.Mknodat, parent, (long)name, FileDescriptor.S_IFREG | 0x1a4 /* 0644 */, 0)
                    : Invoke(Nr.Mkdirat, parent, (long)name, 0x1ed /* 0755 */);
                fd = created == 0 || LastErrno == Errno.EEXIST ? OpenInRoot(root, *prefixes) : -1;
            }
            var errno = LastErrno;
            if (parent != root) Invoke(Nr.Close, parent);
            if (fd < 0) return -errno;
            parent = fd;
        }
        return fd;
    }

    /// <summary>chdir to a path resolved inside the root without magic links, so that a cwd such as
    /// /proc/self/fd/N cannot lead to a host directory through an fd open in this process (CVE-2024-21626).</summary>
    static int ChangeDirectoryInRoot(byte* path)
    {
        var root = Invoke(Nr.Openat, Nr.AtCurrentDirectory, (long)Slash, FileDescriptor.O_PATH | FileDescriptor.O_DIRECTORY | FileDescriptor.O_CLOEXEC);
        if (root < 0) return LastErrno;
        var directory = OpenInRoot(root, path);
        var errno = directory < 0 ? LastErrno : Check(Invoke(Nr.Fchdir, directory));
        if (directory >= 0) Invoke(Nr.Close, directory);
        Invoke(Nr.Close, root);
        return errno;
    }

    static long OpenInRoot(long root, byte* path)
    {
        // struct open_how { u64 flags; u64 mode; u64 resolve; } (openat2(2))
        ulong* how = stackalloc ulong[3];
        how[0] = FileDescriptor.O_PATH | FileDescriptor.O_CLOEXEC;
        how[1] = 0;
        how[2] = FileDescriptor.RESOLVE_IN_ROOT | FileDescriptor.RESOLVE_NO_MAGICLINKS;
        return Invoke(Nr.Openat2, root, (long)path, (long)how, 24);
    }

    static byte* LastComponent(byte* path)
    {
        var last = path;
        for (var p = path; *p != 0; p++)
            if (*p == '/') last = p + 1;
        return last;
    }

    /// <summary>Writes "/proc/self/fd/N" and a NUL to <paramref name="buffer"/> (32 bytes).</summary>
    static void ProcFdPath(long fd, byte* buffer)
    {
        var prefix = ProcSelfFd;
        var i = 0;
        for (; prefix[i] != 0; i++) buffer[i] = prefix[i];
        var digits = 1;
        for (var n = fd; n >= 10; n /= 10) digits++;
        for (var d = digits - 1; d >= 0; d--, fd /= 10) buffer[i + d] = (byte)('0' + fd % 10);
        buffer[i + digits] = 0;
    }

    static int EnterReceivedNamespace(long socket, long type)
    {
        var ns = UnixSocket.ReceiveFd((int)socket, 0);
        if (ns < 0) return (int)-ns;
        var errno = Check(Invoke(Nr.Setns, ns, type));
        Invoke(Nr.Close, ns);
        return errno;
    }

    static int MountReceivedTree(long socket, long target)
    {
        var tree = UnixSocket.ReceiveFd((int)socket, 0);
        Invoke(Nr.Close, socket);
        if (tree < 0) return (int)-tree;
        var errno = Check(Invoke(Nr.MoveMount, tree, (long)Empty, Nr.AtCurrentDirectory, target, DetachedMount.MOVE_MOUNT_F_EMPTY_PATH));
        Invoke(Nr.Close, tree);
        return errno;
    }

    /// <summary>1 for a directory, 0 for anything else, -errno when stat(2) fails (a symlink is followed).</summary>
    [SkipLocalsInit]
    static int IsDirectory(long path)
    {
        // struct stat (x86_64): st_mode is the u32 at offset 24 (asm/stat.h).
        byte* stat = stackalloc byte[144];
        if (Invoke(Nr.Newfstatat, Nr.AtCurrentDirectory, path, (long)stat, 0) < 0) return -LastErrno;
        return (*(uint*)(stat + 24) & FileDescriptor.S_IFMT) == FileDescriptor.S_IFDIR ? 1 : 0;
    }

    static int MaskPath(byte* path)
    {
        // A directory gets a read-only tmpfs, anything else /dev/null. Looked up first: a /dev/null bind refused on a
        // directory (ENOTDIR) is refused only after the mount was cloned, and dropping it waits for an RCU grace
        // period (about 0.1 ms each, for /proc/acpi and /sys/firmware).
        var directory = IsDirectory((long)path);
        if (directory < 0) return directory == -Errno.ENOENT ? 0 : -directory;
        var errno = directory == 1
            ? Check(Invoke(Nr.Mount, (long)Tmpfs, (long)path, (long)Tmpfs, (long)Mount.MS_RDONLY, 0))
            : Check(Invoke(Nr.Mount, (long)DevNull, (long)path, 0, (long)Mount.MS_BIND, 0));
        return errno == Errno.ENOENT ? 0 : errno;
    }

    static int ReadonlyPath(byte* path, ulong keepFlags)
    {
        if (Invoke(Nr.Mount, (long)path, (long)path, 0, (long)(Mount.MS_BIND | Mount.MS_REC), 0) < 0)
            return LastErrno == Errno.ENOENT ? 0 : LastErrno;
        var flags = Mount.MS_BIND | Mount.MS_REMOUNT | Mount.MS_RDONLY | keepFlags;
        return Check(Invoke(Nr.Mount, (long)path, (long)path, 0, (long)flags, 0));
    }

    static int PivotRoot(byte* newRoot)
    {
        if (Invoke(Nr.Chdir, (long)newRoot) < 0) return LastErrno;
        if (Invoke(Nr.PivotRoot, (long)Dot, (long)Dot) < 0) return LastErrno;
        if (Invoke(Nr.Umount2, (long)Dot, Mount.MNT_DETACH) < 0) return LastErrno;
        return Check(Invoke(Nr.Chdir, (long)Slash));
    }

    static int SetCapabilities(ulong effective, ulong permitted, ulong inheritable)
    {
        // struct __user_cap_header_struct { u32 version; int pid; } and two
        // struct __user_cap_data_struct { u32 effective, permitted, inheritable; } (capget(2))
        uint* header = stackalloc uint[2];
        header[0] = Prctl.LINUX_CAPABILITY_VERSION_3;
        header[1] = 0;
        uint* data = stackalloc uint[6];
        data[0] = (uint)effective; data[1] = (uint)permitted; data[2] = (uint)inheritable;
        data[3] = (uint)(effective >> 32); data[4] = (uint)(permitted >> 32); data[5] = (uint)(inheritable >> 32);
        return Check(Invoke(Nr.Capset, (long)header, (long)data));
    }

    static int ResetSignals(ulong mask)
    {
        // struct kernel_sigaction { handler, flags, restorer, mask }: all zero is SIG_DFL.
        long* action = stackalloc long[4];
        action[0] = action[1] = action[2] = action[3] = 0;
        for (var signal = 1; signal <= Process.SignalMax; signal++)
        {
            if (signal is Process.SIGKILL or Process.SIGSTOP) continue;
            Invoke(Nr.RtSigaction, signal, (long)action, 0, 8);
        }
        return Check(Invoke(Nr.RtSigprocmask, SigSetmask, (long)&mask, 0, 8));
    }

    static int OpenTerminal(long socket, long windowSize)
    {
        var master = Invoke(Nr.Openat, Nr.AtCurrentDirectory, (long)Ptmx, FileDescriptor.O_RDWR | Terminal.O_NOCTTY | FileDescriptor.O_CLOEXEC);
        if (master < 0) return LastErrno;
        var errno = TakePeerAsControllingTerminal(master, windowSize);
        if (errno == 0) errno = UnixSocket.SendFd((int)socket, (int)master);
        Invoke(Nr.Close, master);
        Invoke(Nr.Close, socket);
        return errno;
    }

    static int TakePeerAsControllingTerminal(long master, long windowSize)
    {
        var unlock = 0;
        if (Invoke(Nr.Ioctl, master, Terminal.TIOCSPTLCK, (long)&unlock) < 0) return LastErrno;
        // struct winsize is four u16: rows, columns and two unused pixel counts.
        if (windowSize != 0 && Invoke(Nr.Ioctl, master, Terminal.TIOCSWINSZ, (long)&windowSize) < 0) return LastErrno;
        // TIOCGPTPEER opens the peer through the master, never by a path another devpts could shadow (ioctl_tty(2)).
        var peer = Invoke(Nr.Ioctl, master, Terminal.TIOCGPTPEER, FileDescriptor.O_RDWR | Terminal.O_NOCTTY);
        if (peer < 0) return LastErrno;
        if (Invoke(Nr.Setsid) < 0 || Invoke(Nr.Ioctl, peer, Terminal.TIOCSCTTY, 0) < 0) return LastErrno;
        for (var fd = 0; fd < 3; fd++)
            if (Invoke(Nr.Dup3, peer, fd, 0) < 0) return LastErrno;
        return Check(Invoke(Nr.Close, peer));
    }

    /// <summary>
    /// Forks with every signal blocked: the new process restores the mask and returns 0 to go on to exec;
    /// this one, PID 1, never returns (<see cref="Plan.RunAsInit"/>). A blocked signal is queued even with
    /// the default action, which PID 1 would otherwise not get (signal(7), pid_namespaces(7)).
    /// </summary>
    [SkipLocalsInit]
    static int RunAsInit(long firstFdToClose, bool takeTerminal)
    {
        ulong all = ulong.MaxValue, old;
        if (Invoke(Nr.RtSigprocmask, SigSetmask, (long)&all, (long)&old, 8) < 0) return LastErrno;
        var command = Invoke(Nr.Clone, Process.SIGCHLD, 0, 0, 0, 0);
        if (command < 0)
        {
            var errno = LastErrno;
            Invoke(Nr.RtSigprocmask, SigSetmask, (long)&old, 0, 8);
            return errno;
        }
        if (command == 0)
        {
            if (takeTerminal)
            {
                // Still with every signal blocked: a background group may then set the terminal's
                // foreground group without SIGTTOU stopping it (tcsetpgrp(3)).
                var self = (int)Invoke(Nr.Getpid);
                if (Invoke(Nr.Setpgid, 0, 0) < 0 || Invoke(Nr.Ioctl, 0, Terminal.TIOCSPGRP, (long)&self) < 0) return LastErrno;
            }
            return Check(Invoke(Nr.RtSigprocmask, SigSetmask, (long)&old, 0, 8));
        }

        Invoke(Nr.CloseRange, firstFdToClose, uint.MaxValue, 0);
        Invoke(Nr.Prctl, Prctl.PR_SET_NAME, (long)InitName);
        // siginfo_t is 128 bytes (sigaction(2)).
        byte* info = stackalloc byte[128];
        int status;
        while (true)
        {
            var signal = Invoke(Nr.RtSigtimedwait, (long)&all, (long)info, 0, 8);
            if (signal < 0) continue;
            if (signal != Process.SIGCHLD)
            {
                Invoke(Nr.Kill, command, signal);
                continue;
            }
            long reaped;
            while ((reaped = Invoke(Nr.Wait4, -1, (long)&status, WaitNoHang, 0)) > 0)
            {
                if (reaped == command) Invoke(Nr.ExitGroup, Process.ExitCodeOf(status));
            }
        }
    }

    const long SigSetmask = 2, WaitNoHang = 1;

    static int JoinNamespace(long path, long type)
    {
        var fd = Invoke(Nr.Openat, Nr.AtCurrentDirectory, path, FileDescriptor.O_RDONLY | FileDescriptor.O_CLOEXEC);
        if (fd < 0) return LastErrno;
        var errno = Check(Invoke(Nr.Setns, fd, type));
        Invoke(Nr.Close, fd);
        return errno;
    }

    static int ForkIntoPidNamespace(long pidFd)
    {
        var pid = Invoke(Nr.Clone, CloneParent, 0, 0, 0, 0);
        if (pid < 0) return LastErrno;
        if (pid == 0) return Check(Invoke(Nr.Close, pidFd));
        var reported = (int)pid;
        Invoke(Nr.Write, pidFd, (long)&reported, 4);
        Invoke(Nr.ExitGroup, 0);
        return 0;
    }

    /// <summary>CLONE_PARENT; the exit signal is then the caller's own (clone(2)), SIGCHLD to tiny.</summary>
    const long CloneParent = 0x8000;

    static int WriteFile(long path, long value, long length)
    {
        var fd = Invoke(Nr.Openat, Nr.AtCurrentDirectory, path, FileDescriptor.O_WRONLY | FileDescriptor.O_CLOEXEC);
        if (fd < 0) return LastErrno;
        var errno = Invoke(Nr.Write, fd, value, length) < 0 ? LastErrno : 0;
        Invoke(Nr.Close, fd);
        return errno;
    }

    static int WaitForStart(long fifo, long reportFd)
    {
        long fd;
        do fd = Invoke(Nr.Openat, Nr.AtCurrentDirectory, fifo, FileDescriptor.O_WRONLY | FileDescriptor.O_CLOEXEC); while (fd < 0 && LastErrno == Errno.EINTR);
        if (fd < 0) return LastErrno;
        var errno = Invoke(Nr.Write, fd, (long)Zero, 1) < 0 ? LastErrno : 0;
        if (fd == reportFd) return errno;
        if (errno == 0) errno = Check(Invoke(Nr.Dup3, fd, reportFd, FileDescriptor.O_CLOEXEC));
        Invoke(Nr.Close, fd);
        return errno;
    }

    /// <summary>Reads the parent's one byte: 0, or -1 to exit quietly when the parent is gone.</summary>
    static int WaitForParent(long fd)
    {
        byte go;
        long n;
        do n = Invoke(Nr.Read, fd, (long)&go, 1); while (n < 0 && LastErrno == Errno.EINTR);
        return n == 1 ? 0 : -1;
    }

    /// <summary>
    /// <see cref="Plan.RunHook"/>: A path, B argv, C envp, D stdin, E stdout and stderr, F timeout in ms (0: none),
    /// G the hook's index. The new process reports a failed execve's errno over a close-on-exec pipe (end of file: it
    /// exec'd); the wait is a poll(2) on its pidfd (CLONE_PIDFD), readable once it has exited.
    /// </summary>
    [SkipLocalsInit]
    static int RunHook(ref Step s)
    {
        int* execPipe = stackalloc int[2];
        if (Invoke(Nr.Pipe2, (long)execPipe, FileDescriptor.O_CLOEXEC) < 0) return LastErrno;
        int pidFd = -1;
        var pid = Invoke(Nr.Clone, ClonePidFd | Process.SIGCHLD, 0, (long)&pidFd, 0, 0);
        if (pid == 0)
        {
            ResetSignals(0);
            if (Invoke(Nr.Dup3, s.D, 0, 0) >= 0 && Invoke(Nr.Dup3, s.E, 1, 0) >= 0 && Invoke(Nr.Dup3, s.E, 2, 0) >= 0)
                Invoke(Nr.Execve, s.A, s.B, s.C);
            var failure = LastErrno;
            Invoke(Nr.Write, execPipe[1], (long)&failure, 4);
            Invoke(Nr.ExitGroup, 127);
        }
        var cloneErrno = LastErrno;
        Invoke(Nr.Close, execPipe[1]);
        if (pid < 0)
        {
            Invoke(Nr.Close, execPipe[0]);
            return cloneErrno;
        }
        int execErrno;
        long n;
        do n = Invoke(Nr.Read, execPipe[0], (long)&execErrno, 4); while (n < 0 && LastErrno == Errno.EINTR);
        Invoke(Nr.Close, execPipe[0]);
        var timedOut = false;
        if (n != 4 && s.F > 0)
        {
            // struct pollfd { int fd; short events; short revents; } (poll(2))
            long pollFd = (uint)pidFd | (long)FileDescriptor.POLLIN << 32;
            long ready;
            do ready = Invoke(Nr.Poll, (long)&pollFd, 1, s.F); while (ready < 0 && LastErrno == Errno.EINTR);
            if (ready == 0) timedOut = Invoke(Nr.Kill, pid, Process.SIGKILL) == 0;
        }
        int status;
        long reaped;
        do reaped = Invoke(Nr.Wait4, pid, (long)&status, 0, 0); while (reaped < 0 && LastErrno == Errno.EINTR);
        Invoke(Nr.Close, pidFd);
        var index = (int)s.G;
        if (n == 4) return HookOutcome.Encode(index, HookOutcome.ExecFailed, execErrno);
        if (timedOut) return HookOutcome.Encode(index, HookOutcome.TimedOut, 0);
        return status == 0 ? 0 : HookOutcome.FromWaitStatus(index, status);
    }

    /// <summary>CLONE_PIDFD: the new process's pidfd is stored where the parent_tid argument points (clone(2)).</summary>
    const long ClonePidFd = 0x1000;

    static int Exec(byte** candidates, long argv, long envp)
    {
        var result = Errno.ENOENT;
        for (; *candidates != null; candidates++)
        {
            Invoke(Nr.Execve, (long)*candidates, argv, envp);
            var errno = LastErrno;
            // As execvp(3): a missing file moves on to the next PATH entry; remember a refusal.
            if (errno == Errno.EACCES) result = errno;
            else if (errno != Errno.ENOENT && errno != Errno.ENOTDIR) return errno;
        }
        return result;
    }

    /// <summary>
    /// <see cref="Plan.MountTreeInRoot"/>: A root, B the destination's relative prefixes, C the detached mount's fd,
    /// D propagation flags, E create missing. The mount goes straight onto the resolved fd (MOVE_MOUNT_T_EMPTY_PATH).
    /// </summary>
    static int MountTreeInRoot(ref Step s)
    {
        var root = Invoke(Nr.Openat, Nr.AtCurrentDirectory, s.A, FileDescriptor.O_PATH | FileDescriptor.O_DIRECTORY | FileDescriptor.O_CLOEXEC);
        var errno = root < 0 ? LastErrno : 0;
        if (errno == 0)
        {
            var target = ResolveInRoot(root, (byte**)s.B, s.E != 0, lastIsFile: false);
            errno = target < 0 ? (int)-target : Check(Invoke(Nr.MoveMount, s.C, (long)Empty, target, (long)Empty,
                DetachedMount.MOVE_MOUNT_F_EMPTY_PATH | DetachedMount.MOVE_MOUNT_T_EMPTY_PATH));
            if (target >= 0) Invoke(Nr.Close, target);
            if (errno == 0) errno = ChangeNewMount(root, (byte**)s.B, 0, s.D);
            Invoke(Nr.Close, root);
        }
        Invoke(Nr.Close, s.C);
        return errno;
    }

    // Constant strings as UTF-8 literals: data in the binary, nothing to initialise at run time.
    static byte* Ptmx => (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in "/dev/ptmx\0"u8.GetPinnableReference()));
    static byte* DevNull => (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in "/dev/null\0"u8.GetPinnableReference()));
    static byte* Tmpfs => (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in "tmpfs\0"u8.GetPinnableReference()));
    static byte* Empty => (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in "\0"u8.GetPinnableReference()));
    static byte* Dot => (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in ".\0"u8.GetPinnableReference()));
    static byte* ProcSelfFd => (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in "/proc/self/fd/\0"u8.GetPinnableReference()));
    static byte* InitName => (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in "tiny-init\0"u8.GetPinnableReference()));
    static byte* Zero => (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in "0"u8.GetPinnableReference()));
    static byte* Slash => (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in "/\0"u8.GetPinnableReference()));
}
