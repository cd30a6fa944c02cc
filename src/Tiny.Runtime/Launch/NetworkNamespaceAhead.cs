using System.Runtime.InteropServices;
using Tiny.Interop;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Launch;

/// <summary>
/// A container's new network namespace, made on a thread of its own while the launcher reads, plans, clones and the
/// child takes its first steps. Making a network namespace is the largest part of clone (setup_net registers a
/// loopback device and the sysctl tables of every protocol); made here, it overlaps that work. The thread sends the
/// namespace's fd over <see cref="ChildSocket"/>, where the child receives it and enters it by setns(2) before its
/// first mount (sysfs shows the links of the namespace it is mounted in), or sends the errno of its failure.
/// unshare(CLONE_NEWNET) needs no single-threaded process (unshare(2)), and the namespace outlives the thread through
/// the fds opened on it.
/// </summary>
public sealed unsafe class NetworkNamespaceAhead : IDisposable
{
    nint _thread;
    readonly int _sendSocket;

    /// <summary>The namespace's fd once <see cref="Wait"/> has returned; until then /dev/null, held so that the thread
    /// has a number to move the namespace to.</summary>
    public int Fd { get; }

    /// <summary>The socket the child receives the namespace on (close-on-exec).</summary>
    public int ChildSocket { get; }

    NetworkNamespaceAhead()
    {
        Fd = FileDescriptor.Open("/dev/null", FileDescriptor.O_RDONLY);
        ChildSocket = _sendSocket = -1;
        try
        {
            (ChildSocket, _sendSocket) = UnixSocket.CreatePair();
            _thread = NativeThread.Start(&Make, (nint)(((long)_sendSocket << 32) | (uint)Fd));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Starts making <paramref name="spec"/>'s network namespace, if it gets a new one that root can make
    /// here: not inside a user namespace of the container's, which must own it.</summary>
    public static NetworkNamespaceAhead? StartFor(RunSpec spec) =>
        spec.UserNamespace is null && Process.IsHostRoot() && (ContainerPlan.NewNamespaces(spec) & Namespace.CLONE_NEWNET) != 0
            ? new NetworkNamespaceAhead()
            : null;

    /// <summary>The thread, system calls only: a new network namespace, its fd moved to the low half of
    /// <paramref name="sendSocketAndTarget"/> and sent over the socket in its high half (or the errno of the failure
    /// sent instead); returns 0 or -errno.</summary>
    [UnmanagedCallersOnly]
    static nint Make(nint sendSocketAndTarget)
    {
        var socket = (int)((long)sendSocketAndTarget >> 32);
        var target = (int)sendSocketAndTarget;
        var errno = 0;
        if (RawSyscall.Invoke(SyscallNumber.Unshare, (long)Namespace.CLONE_NEWNET) < 0) errno = RawSyscall.LastErrno;
        else
        {
            long opened;
            fixed (byte* path = "/proc/thread-self/ns/net\0"u8)
                opened = RawSyscall.Invoke(SyscallNumber.Openat, SyscallNumber.AtCurrentDirectory, (long)path, FileDescriptor.O_RDONLY | FileDescriptor.O_CLOEXEC);
            if (opened < 0) errno = RawSyscall.LastErrno;
            else
            {
                if (RawSyscall.Invoke(SyscallNumber.Dup3, opened, target, FileDescriptor.O_CLOEXEC) < 0) errno = RawSyscall.LastErrno;
                else errno = UnixSocket.SendFd(socket, (int)opened);
                RawSyscall.Invoke(SyscallNumber.Close, opened);
            }
        }
        if (errno != 0) UnixSocket.SendFailure(socket, errno);
        // No more from this side: should both sends fail, the child's recvmsg sees end of file rather than waiting on
        // the copy of this end it inherited (shutdown(2) acts on the socket, not on one fd).
        RawSyscall.Invoke(SyscallNumber.Shutdown, socket, UnixSocket.SHUT_WR);
        return -errno;
    }

    /// <summary>Waits until <see cref="Fd"/> is the namespace; throws what made it fail.</summary>
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
        FileDescriptor.Close(_sendSocket);
        FileDescriptor.Close(ChildSocket);
        FileDescriptor.Close(Fd);
    }
}
