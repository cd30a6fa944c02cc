using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Processes, signals and waiting (wait(2), kill(2), sigprocmask(2)).</summary>
public static unsafe partial class Process
{
    public const int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGKILL = 9, SIGUSR1 = 10, SIGUSR2 = 12,
        SIGPIPE = 13, SIGTERM = 15, SIGCHLD = 17, SIGSTOP = 19, SIGWINCH = 28;

    /// <summary>Highest signal number on Linux (SIGRTMAX).</summary>
    public const int SignalMax = 64;

    const int SIG_SETMASK = 2;

    [LibraryImport("libc", EntryPoint = "geteuid")]
    [SuppressGCTransition]
    public static partial uint GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "getegid")]
    [SuppressGCTransition]
    public static partial uint GetEffectiveGroupId();

    [LibraryImport("libc", EntryPoint = "getpid")]
    [SuppressGCTransition]
    public static partial int GetProcessId();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillRaw(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static partial int WaitPidRaw(int pid, int* status, int options);

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    private static partial int PthreadSigmask(int how, ulong* set, ulong* oldSet);

    /// <summary>Sends a signal; false when the process is already gone (ESRCH).</summary>
    public static bool Kill(int pid, int signal)
    {
        if (KillRaw(pid, signal) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        return errno == Errno.ESRCH ? false : throw new SyscallException("kill", errno, pid.ToString());
    }

    /// <summary>Waits for the child to end and returns its raw wait status.</summary>
    public static int WaitForExit(int pid)
    {
        int status;
        while (WaitPidRaw(pid, &status, 0) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR) throw new SyscallException("waitpid", errno, pid.ToString());
        }
        return status;
    }

    /// <summary>
    /// Root of the host: effective UID 0 in the initial user namespace, whose uid_map maps all of 0-4294967294
    /// onto itself (user_namespaces(7)). Root inside another user namespace (rootless podman runs its runtime so)
    /// holds capabilities only there: no host cgroups, no device nodes, no host-wide mounts.
    /// </summary>
    public static bool IsHostRoot() => HostRoot.Value;

    /// <summary>Read once per process (several places ask on one launch); its own class, so no static that needs
    /// initialising is ever touched by the container child, which only uses constants here.</summary>
    static class HostRoot
    {
        public static readonly bool Value = GetEffectiveUserId() == 0
            && FileDescriptor.ReadAllText("/proc/self/uid_map").Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
                is ["0", "0", "4294967295"];
    }

    /// <summary>A pidfd for <paramref name="pid"/>: readable once the process has exited (pidfd_open(2)).</summary>
    public static int OpenPidFd(int pid)
    {
        var fd = RawSyscall.Invoke(SyscallNumber.PidfdOpen, pid, 0);
        return fd >= 0 ? (int)fd : throw new SyscallException("pidfd_open", RawSyscall.LastErrno, pid.ToString());
    }

    /// <summary>Blocks every signal on the calling thread and returns the mask it had.</summary>
    public static ulong BlockAllSignals()
    {
        ulong all = ulong.MaxValue, old;
        var rc = PthreadSigmask(SIG_SETMASK, &all, &old);
        return rc == 0 ? old : throw new SyscallException("pthread_sigmask", rc);
    }

    public static void SetSignalMask(ulong mask)
    {
        var rc = PthreadSigmask(SIG_SETMASK, &mask, null);
        if (rc != 0) throw new SyscallException("pthread_sigmask", rc);
    }

    /// <summary>
    /// Replaces this process with the program <paramref name="fd"/> refers to (execveat(2) AT_EMPTY_PATH), with the
    /// NUL-separated <paramref name="argv"/> and <paramref name="envp"/> (as /proc/self/cmdline and environ hold them);
    /// returns only by throwing.
    /// </summary>
    public static void ExecuteFile(int fd, ReadOnlySpan<byte> argv, ReadOnlySpan<byte> envp) =>
        ExecuteAt(fd, "\0"u8, 0x1000 /* AT_EMPTY_PATH */, argv, envp);

    /// <summary>As <see cref="ExecuteFile"/>, the program at <paramref name="path"/> (execve(2)).</summary>
    public static void ExecuteProgram(string path, ReadOnlySpan<byte> argv, ReadOnlySpan<byte> envp) =>
        ExecuteAt((int)SyscallNumber.AtCurrentDirectory, System.Text.Encoding.UTF8.GetBytes(path + "\0"), 0, argv, envp);

    static void ExecuteAt(int directoryFd, ReadOnlySpan<byte> path, int flags, ReadOnlySpan<byte> argv, ReadOnlySpan<byte> envp)
    {
        fixed (byte* arguments = argv, environment = envp, name = path)
        {
            var argvPointers = Pointers(arguments, argv.Length);
            var envpPointers = Pointers(environment, envp.Length);
            fixed (byte** a = argvPointers, e = envpPointers)
                RawSyscall.Invoke(SyscallNumber.Execveat, directoryFd, (long)name, (long)a, (long)e, flags);
        }
        throw new SyscallException("execveat", RawSyscall.LastErrno);
    }

    [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
    private static partial int UnshareRaw(int flags);

    /// <summary>unshare(2) for the calling thread (a mount namespace needs no single-threaded process).</summary>
    public static void Unshare(ulong flags)
    {
        if (UnshareRaw((int)flags) != 0) throw new SyscallException("unshare", Marshal.GetLastPInvokeError());
    }

    /// <summary>A NULL-terminated array of the NUL-terminated strings that lie one after another at <paramref name="text"/>.</summary>
    static byte*[] Pointers(byte* text, int length)
    {
        var count = 0;
        for (var i = 0; i < length; i++) if (text[i] == 0) count++;
        var array = new byte*[count + 1];
        var next = 0;
        for (var start = 0; start < length; start++)
        {
            array[next++] = text + start;
            while (text[start] != 0) start++;
        }
        return array;
    }

    /// <summary>The shell convention for a wait status: the exit code, or 128 + the signal.</summary>
    public static int ExitCodeOf(int waitStatus)
    {
        var signal = waitStatus & 0x7f;
        return signal == 0 ? (waitStatus >> 8) & 0xff : 128 + signal;
    }
}
