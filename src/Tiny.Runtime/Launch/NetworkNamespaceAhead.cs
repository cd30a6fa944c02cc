using System.Runtime.InteropServices;
using Tiny.Interop;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Launch;

/// <summary>
/// A container's new network namespace, made on a thread of its own while the launcher reads, plans and lays out the
/// rest. Making a network namespace is the largest part of clone (setup_net registers a loopback device and the
/// sysctl tables of every protocol); made here, it overlaps that work, and the child enters it by setns(2) as its
/// first step instead of cloning it. unshare(CLONE_NEWNET) needs no single-threaded process (unshare(2)), and the
/// namespace outlives the thread through the fd opened on it.
/// </summary>
public sealed unsafe class NetworkNamespaceAhead : IDisposable
{
    nint _thread;

    /// <summary>The namespace's fd once <see cref="Wait"/> has returned; until then /dev/null, held so that the plan can
    /// name the fd now (setns(2) refuses /dev/null, so a namespace not made cannot be entered by mistake).</summary>
    public int Fd { get; }

    NetworkNamespaceAhead()
    {
        Fd = FileDescriptor.Open("/dev/null", FileDescriptor.O_RDONLY);
        try
        {
            _thread = NativeThread.Start(&Make, Fd);
        }
        catch
        {
            FileDescriptor.Close(Fd);
            throw;
        }
    }

    /// <summary>Starts making <paramref name="spec"/>'s network namespace, if it gets a new one that root can make
    /// here: not inside a user namespace of the container's, which must own it.</summary>
    public static NetworkNamespaceAhead? StartFor(RunSpec spec) =>
        spec.UserNamespace is null && Process.IsHostRoot() && (ContainerPlan.NewNamespaces(spec) & Namespace.CLONE_NEWNET) != 0
            ? new NetworkNamespaceAhead()
            : null;

    /// <summary>The thread, system calls only: a new network namespace, its fd moved
    /// to <paramref name="target"/>; returns 0 or -errno.</summary>
    [UnmanagedCallersOnly]
    static nint Make(nint target)
    {
        var result = RawSyscall.Invoke(SyscallNumber.Unshare, (long)Namespace.CLONE_NEWNET);
        if (result < 0) return -RawSyscall.LastErrno;
        fixed (byte* path = "/proc/thread-self/ns/net\0"u8)
            result = RawSyscall.Invoke(SyscallNumber.Openat, SyscallNumber.AtCurrentDirectory, (long)path, FileDescriptor.O_RDONLY | FileDescriptor.O_CLOEXEC);
        if (result < 0) return -RawSyscall.LastErrno;
        var moved = RawSyscall.Invoke(SyscallNumber.Dup3, result, target, FileDescriptor.O_CLOEXEC);
        var errno = moved < 0 ? RawSyscall.LastErrno : 0;
        RawSyscall.Invoke(SyscallNumber.Close, result);
        return -errno;
    }

    /// <summary>Waits until <see cref="Fd"/> is the namespace.</summary>
    public void Wait()
    {
        if (_thread == 0) return;
        var result = (int)NativeThread.Join(_thread);
        _thread = 0;
        if (result < 0) throw new SyscallException("unshare", -result, "a network namespace for the container");
    }

    public void Dispose()
    {
        if (_thread != 0) NativeThread.Join(_thread);
        _thread = 0;
        FileDescriptor.Close(Fd);
    }
}
