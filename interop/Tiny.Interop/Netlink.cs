using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Netlink sockets (netlink(7)): open, send, receive, close; and setns(2) for opening one
/// inside another network namespace.</summary>
public static unsafe partial class Netlink
{
    public const int NETLINK_ROUTE = 0, NETLINK_NETFILTER = 12;
    const int AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0x80000, SOL_NETLINK = 270,
        NETLINK_CAP_ACK = 10, NETLINK_EXT_ACK = 11, MSG_DONTWAIT = 0x40, CLONE_NEWNET = 0x40000000;

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketRaw(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOptRaw(int fd, int level, int name, int* value, uint length);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint SendRaw(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint ReceiveRaw(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNamespaceRaw(int fd, int type);

    /// <summary>A close-on-exec netlink socket of <paramref name="protocol"/>, asking the kernel for
    /// error messages (extended ACK) and for ACKs without a copy of the request (capped).</summary>
    public static int OpenSocket(int protocol)
    {
        var fd = SocketRaw(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
        if (fd < 0) throw new SyscallException("socket", Marshal.GetLastPInvokeError(), "netlink");
        var on = 1;
        SetSockOptRaw(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(int));
        SetSockOptRaw(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(int));
        return fd;
    }

    /// <summary>Sends one datagram (any number of netlink messages) to the kernel.</summary>
    public static void Send(int fd, ReadOnlySpan<byte> messages)
    {
        fixed (byte* start = messages)
        {
            while (true)
            {
                var sent = SendRaw(fd, start, (nuint)messages.Length, 0);
                if (sent >= 0) return;
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR) throw new SyscallException("send", errno, "netlink");
            }
        }
    }

    /// <summary>Receives one datagram; returns its length, or -1 when <paramref name="wait"/> is false
    /// and nothing is queued.</summary>
    public static int Receive(int fd, Span<byte> buffer, bool wait)
    {
        fixed (byte* start = buffer)
        {
            while (true)
            {
                var received = ReceiveRaw(fd, start, (nuint)buffer.Length, wait ? 0 : MSG_DONTWAIT);
                if (received >= 0) return (int)received;
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EAGAIN && !wait) return -1;
                if (errno != Errno.EINTR) throw new SyscallException("recv", errno, "netlink");
            }
        }
    }

    public static void Close(int fd)
    {
        FileDescriptor.Close(fd);
    }

    /// <summary>Moves the calling thread into the network namespace <paramref name="namespaceFd"/> refers to.</summary>
    public static void EnterNetworkNamespace(int namespaceFd)
    {
        if (SetNamespaceRaw(namespaceFd, CLONE_NEWNET) < 0)
            throw new SyscallException("setns", Marshal.GetLastPInvokeError(), "network namespace");
    }
}
