using System.Runtime.InteropServices;
using Tiny.Interop;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Launch;

/// <summary>
/// A container's new network, IPC and UTS namespaces, made on a thread of its own while the launcher reads, plans,
/// clones and the child takes its first steps. Making a network namespace is the largest part of clone (setup_net
/// registers a loopback device and the sysctl tables of every protocol), an IPC one the next (its sysctl tables and
/// the internal mqueue mount); made here, they overlap that work, and so does bringing lo up. The thread sends each
/// namespace's fd over <see cref="ChildSocket"/>, in <see cref="SendingOrder"/>, where the child receives and enters
/// them by setns(2) before its first mount (sysfs shows the links of the network namespace it is mounted in, mqueue
/// the queues of the IPC one), or sends the errno of its failure. unshare(2) takes these three in a process with
/// threads (it moves only the calling thread), and the namespaces outlive the thread through the fds opened on them.
/// Its long calls (unshare, lo up) leave the runtime's cooperative mode (<see cref="RawSyscall.InvokeOnOwnThread"/>):
/// the collection that opens the no-GC region around clone would otherwise wait for them to return.
/// </summary>
public sealed unsafe class NamespacesAhead : IDisposable
{
    /// <summary>The namespaces a thread can make for the child.</summary>
    const ulong Movable = Namespace.CLONE_NEWNET | Namespace.CLONE_NEWIPC | Namespace.CLONE_NEWUTS;

    /// <summary>What the thread is asked and what it reports, in native memory: the thread may outlive a failed
    /// constructor's caller only until <see cref="Dispose"/> joins it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    struct Request
    {
        public int SendSocket;
        /// <summary>The fd the network namespace is moved to (held on /dev/null until then), or -1.</summary>
        public int NetworkTarget;
        public ulong Types;
        public int BringLoopbackUp;
        /// <summary>The call that failed (<see cref="Calls"/>), when the thread returns -errno.</summary>
        public int FailedCall;
        public fixed byte Loopback[NetDevice.IfReqSize];
    }

    /// <summary>The thread's calls, by <see cref="Request.FailedCall"/>.</summary>
    static readonly string[] Calls = ["unshare", "bring lo up", "open", "dup3", "sendmsg"];
    const int UnshareCall = 0, LoopbackCall = 1, OpenCall = 2, Dup3Call = 3, SendCall = 4;

    readonly Request* _request;
    nint _thread;

    /// <summary>The namespaces made, as CLONE_NEW* flags.</summary>
    public ulong Types { get; }

    /// <summary>The network namespace's fd once <see cref="Wait"/> has returned; until then /dev/null, held so that
    /// the thread has a number to move the namespace to. -1 without a new network namespace.</summary>
    public int NetworkFd { get; } = -1;

    /// <summary>The socket the child receives the namespaces on (close-on-exec).</summary>
    public int ChildSocket { get; } = -1;

    NamespacesAhead(ulong types, bool bringLoopbackUp)
    {
        Types = types;
        _request = (Request*)NativeMemory.AllocZeroed((nuint)sizeof(Request));
        _request->SendSocket = _request->NetworkTarget = -1;
        try
        {
            if ((types & Namespace.CLONE_NEWNET) != 0) NetworkFd = FileDescriptor.Open("/dev/null", FileDescriptor.O_RDONLY);
            (ChildSocket, _request->SendSocket) = UnixSocket.CreatePair();
            _request->NetworkTarget = NetworkFd;
            _request->Types = types;
            _request->BringLoopbackUp = bringLoopbackUp && (types & Namespace.CLONE_NEWNET) != 0 ? 1 : 0;
            "lo"u8.CopyTo(new Span<byte>(_request->Loopback, NetDevice.IfReqSize));
            _thread = NativeThread.Start(&Make, (nint)_request);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The new namespaces of <paramref name="spec"/>'s container a thread makes here: those of
    /// <see cref="Movable"/> it gets new ones of, as host root and without a user namespace of the container's
    /// (which must own them).</summary>
    public static ulong TypesFor(RunSpec spec) =>
        spec.UserNamespace is null && Process.IsHostRoot() ? ContainerPlan.NewNamespaces(spec) & Movable : 0;

    /// <summary>Starts making <paramref name="spec"/>'s <see cref="TypesFor"/>, if any; with a network of its own and
    /// no bridge (which brings lo up with eth0), lo is brought up in it.</summary>
    public static NamespacesAhead? StartFor(RunSpec spec) =>
        TypesFor(spec) is var types and not 0 ? new NamespacesAhead(types, spec.Network == NetworkMode.None) : null;

    /// <summary>The order the thread sends the namespaces it made in (those it was asked for).</summary>
    public static ReadOnlySpan<ulong> SendingOrder => [Namespace.CLONE_NEWNET, Namespace.CLONE_NEWIPC, Namespace.CLONE_NEWUTS];

    /// <summary>The thread, system calls only: the new namespaces, lo up if asked, each namespace's fd sent over the
    /// socket in <see cref="SendingOrder"/> (the network one moved to its target first), or the errno of the failure
    /// sent instead; returns 0 or -errno.</summary>
    [UnmanagedCallersOnly]
    static nint Make(nint argument)
    {
        var request = (Request*)argument;
        var errno = 0;
        if (RawSyscall.InvokeOnOwnThread(SyscallNumber.Unshare, (long)request->Types, 0, 0, 0, 0, 0) < 0) errno = Failed(request, UnshareCall, Marshal.GetLastPInvokeError());
        else if (request->BringLoopbackUp != 0 && NetDevice.BringUp(request->Loopback, onOwnThread: true) is var up and not 0)
            errno = Failed(request, LoopbackCall, up);
        if (errno == 0) errno = Send(request, Namespace.CLONE_NEWNET, "/proc/thread-self/ns/net\0"u8);
        if (errno == 0) errno = Send(request, Namespace.CLONE_NEWIPC, "/proc/thread-self/ns/ipc\0"u8);
        if (errno == 0) errno = Send(request, Namespace.CLONE_NEWUTS, "/proc/thread-self/ns/uts\0"u8);
        if (errno != 0) UnixSocket.SendFailure(request->SendSocket, errno);
        // No more from this side: should a send fail, the child's recvmsg sees end of file rather than waiting on
        // the copy of this end it inherited (shutdown(2) acts on the socket, not on one fd).
        RawSyscall.Invoke(SyscallNumber.Shutdown, request->SendSocket, UnixSocket.SHUT_WR);
        return -errno;
    }

    /// <summary>Sends the thread's namespace of <paramref name="type"/> at <paramref name="path"/> if it was asked
    /// for; returns 0 or errno.</summary>
    static int Send(Request* request, ulong type, ReadOnlySpan<byte> path)
    {
        if ((request->Types & type) == 0) return 0;
        long opened;
        fixed (byte* file = path)
            opened = RawSyscall.Invoke(SyscallNumber.Openat, SyscallNumber.AtCurrentDirectory, (long)file, FileDescriptor.O_RDONLY | FileDescriptor.O_CLOEXEC);
        if (opened < 0) return Failed(request, OpenCall, RawSyscall.LastErrno);
        var errno = 0;
        if (type == Namespace.CLONE_NEWNET && RawSyscall.Invoke(SyscallNumber.Dup3, opened, request->NetworkTarget, FileDescriptor.O_CLOEXEC) < 0)
            errno = Failed(request, Dup3Call, RawSyscall.LastErrno);
        else if (UnixSocket.SendFd(request->SendSocket, (int)opened) is var sent and not 0) errno = Failed(request, SendCall, sent);
        RawSyscall.Invoke(SyscallNumber.Close, opened);
        return errno;
    }

    static int Failed(Request* request, int call, int errno)
    {
        request->FailedCall = call;
        return errno;
    }

    /// <summary>Waits until <see cref="NetworkFd"/> is the namespace; throws what made the thread fail.</summary>
    public void Wait()
    {
        if (_thread == 0) return;
        var result = (int)NativeThread.Join(_thread);
        _thread = 0;
        if (result < 0) throw new SyscallException(Calls[_request->FailedCall], -result, "(namespaces made for the container)");
    }

    public void Dispose()
    {
        if (_thread != 0) NativeThread.Join(_thread);
        _thread = 0;
        FileDescriptor.Close(_request->SendSocket);
        FileDescriptor.Close(ChildSocket);
        FileDescriptor.Close(NetworkFd);
        NativeMemory.Free(_request);
    }
}
