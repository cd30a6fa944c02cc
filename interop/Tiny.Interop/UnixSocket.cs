using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Unix domain sockets and passing file descriptors over them with SCM_RIGHTS (unix(7),
/// cmsg(3)).</summary>
public static unsafe partial class UnixSocket
{
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000, SOL_SOCKET = 1, SCM_RIGHTS = 1,
        MSG_DONTWAIT = 0x40, MSG_CMSG_CLOEXEC = 0x40000000, SHUT_WR = 1;

    /// <summary>struct msghdr (x86_64).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MessageHeader
    {
        public void* Name;
        public int NameLength;
        public void* IoVectors;
        public nuint IoVectorCount;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct cmsghdr followed by one int: CMSG_SPACE(sizeof(int)) is 24 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FdControlMessage
    {
        public nuint Length;
        public int Level;
        public int Type;
        public int Fd;
        int padding;
    }

    /// <summary>CMSG_LEN(sizeof(int)).</summary>
    public const int FdControlMessageLength = 20;

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int SocketPair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    private static partial int ConnectTo(int socket, byte* address, int length);

    /// <summary>A close-on-exec pair of connected stream sockets.</summary>
    public static (int First, int Second) CreatePair()
    {
        int* fds = stackalloc int[2];
        if (SocketPair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
            throw new SyscallException("socketpair", Marshal.GetLastPInvokeError());
        return (fds[0], fds[1]);
    }

    /// <summary>A close-on-exec stream socket connected to the unix socket at <paramref name="path"/>.</summary>
    public static int Connect(string path)
    {
        byte* address = stackalloc byte[AddressSize];
        var length = Address(path, address);
        var fd = SocketRaw(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw new SyscallException("socket", Marshal.GetLastPInvokeError());
        if (ConnectTo(fd, address, length) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            FileDescriptor.Close(fd);
            throw new SyscallException("connect", errno);
        }
        return fd;
    }

    /// <summary>Receives one file descriptor (close-on-exec) that was sent with SCM_RIGHTS, or -1 when
    /// none is waiting.</summary>
    public static int TryReceiveFd(int socket)
    {
        var fd = ReceiveFd(socket, MSG_DONTWAIT);
        return fd >= 0 ? (int)fd : -1;
    }

    // SendFd and ReceiveFd make raw system calls and allocate nothing, so the container child may use them
    // between clone and exec.

    /// <summary>Sends <paramref name="fd"/> with SCM_RIGHTS and one byte of data, 0; returns 0 or errno.</summary>
    public static int SendFd(int socket, int fd)
    {
        byte data = 0;
        var vector = stackalloc nint[2];
        FdControlMessage control = default;
        control.Length = FdControlMessageLength;
        control.Level = SOL_SOCKET;
        control.Type = SCM_RIGHTS;
        control.Fd = fd;
        MessageHeader message;
        OneByteWithFd(&message, vector, &data, &control);
        return RawSyscall.Invoke(SyscallNumber.Sendmsg, socket, (long)&message, 0) < 0 ? RawSyscall.LastErrno : 0;
    }

    /// <summary>Sends, in place of a file descriptor, why there is none: one byte of data, <paramref name="errno"/>
    /// (below 256), which <see cref="ReceiveFd"/> returns as -errno. Returns 0 or the errno of sendmsg.</summary>
    public static int SendFailure(int socket, int errno)
    {
        var data = (byte)errno;
        var vector = stackalloc nint[2];
        MessageHeader message;
        OneByteWithFd(&message, vector, &data, null);
        message.ControlLength = 0;
        return RawSyscall.Invoke(SyscallNumber.Sendmsg, socket, (long)&message, 0) < 0 ? RawSyscall.LastErrno : 0;
    }

    /// <summary>Receives one file descriptor sent with SCM_RIGHTS, close-on-exec: the fd, or -errno (the errno of a
    /// <see cref="SendFailure"/>, -EBADMSG when the message held neither).</summary>
    public static long ReceiveFd(int socket, int flags)
    {
        byte data;
        var vector = stackalloc nint[2];
        FdControlMessage control = default;
        MessageHeader message;
        OneByteWithFd(&message, vector, &data, &control);
        long received;
        do received = RawSyscall.Invoke(SyscallNumber.Recvmsg, socket, (long)&message, flags | MSG_CMSG_CLOEXEC);
        while (received < 0 && RawSyscall.LastErrno == Errno.EINTR);
        if (received < 0) return -RawSyscall.LastErrno;
        if (received > 0 && control.Level == SOL_SOCKET && control.Type == SCM_RIGHTS && control.Length == FdControlMessageLength)
            return control.Fd;
        return received > 0 && data != 0 && message.ControlLength == 0 ? -data : -Errno.EBADMSG;
    }

    /// <summary>A message of one data byte at <paramref name="data"/> (iovec <paramref name="vector"/>) and room for one fd.</summary>
    static void OneByteWithFd(MessageHeader* message, nint* vector, byte* data, FdControlMessage* control)
    {
        vector[0] = (nint)data;
        vector[1] = 1;
        *message = default;
        message->IoVectors = vector;
        message->IoVectorCount = 1;
        message->Control = control;
        message->ControlLength = (nuint)sizeof(FdControlMessage);
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketRaw(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static partial int BindRaw(int socket, byte* address, int length);

    [LibraryImport("libc", EntryPoint = "sendto", SetLastError = true)]
    private static partial nint SendToRaw(int socket, byte* data, nuint length, int flags, byte* address, int addressLength);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint ReceiveRaw(int socket, byte* buffer, nuint length, int flags);

    /// <summary>sizeof(struct sockaddr_un): sun_family and 108 bytes of sun_path (unix(7)).</summary>
    const int AddressSize = 110;

    /// <summary>A close-on-exec, non-blocking datagram socket, bound to <paramref name="path"/> unless it is null.</summary>
    public static int CreateDatagram(string? path)
    {
        var fd = SocketRaw(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) throw new SyscallException("socket", Marshal.GetLastPInvokeError());
        if (path is null) return fd;
        byte* address = stackalloc byte[AddressSize];
        if (BindRaw(fd, address, Address(path, address)) == 0) return fd;
        var errno = Marshal.GetLastPInvokeError();
        FileDescriptor.Close(fd);
        throw new SyscallException("bind", errno, path);
    }

    /// <summary>Sends one datagram from <paramref name="socket"/> to <paramref name="path"/> ("@name": an abstract
    /// address, as systemd writes NOTIFY_SOCKET); returns errno, 0 on success.</summary>
    public static int TrySendTo(int socket, ReadOnlySpan<byte> data, string path)
    {
        byte* address = stackalloc byte[AddressSize];
        var length = Address(path, address);
        fixed (byte* start = data)
            return SendToRaw(socket, start, (nuint)data.Length, 0, address, length) >= 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>One waiting datagram into <paramref name="buffer"/>: its length, or -1 when none waits.</summary>
    public static int TryReceive(int socket, Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            var n = ReceiveRaw(socket, start, (nuint)buffer.Length, MSG_DONTWAIT);
            return n >= 0 ? (int)n : -1;
        }
    }

    /// <summary>Fills a sockaddr_un; a leading '@' is the abstract namespace's leading NUL. Returns the address length.</summary>
    static int Address(string path, byte* address)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path);
        if (bytes.Length == 0 || bytes.Length >= AddressSize - 2) throw new SyscallException("socket address", Errno.ENAMETOOLONG, path);
        *(ushort*)address = AF_UNIX;
        bytes.CopyTo(new Span<byte>(address + 2, bytes.Length));
        var abstractName = bytes[0] == (byte)'@';
        if (abstractName) address[2] = 0;
        else address[2 + bytes.Length] = 0;
        return 2 + bytes.Length + (abstractName ? 0 : 1);
    }
}
