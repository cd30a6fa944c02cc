using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Unix domain sockets and passing file descriptors over them with SCM_RIGHTS (unix(7),
/// cmsg(3)).</summary>
public static unsafe partial class UnixSocket
{
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SOL_SOCKET = 1, SCM_RIGHTS = 1,
        MSG_DONTWAIT = 0x40, MSG_CMSG_CLOEXEC = 0x40000000;

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

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint ReceiveMessage(int socket, MessageHeader* message, int flags);

    /// <summary>A close-on-exec pair of connected stream sockets.</summary>
    public static (int First, int Second) CreatePair()
    {
        int* fds = stackalloc int[2];
        if (SocketPair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
            throw new SyscallException("socketpair", Marshal.GetLastPInvokeError());
        return (fds[0], fds[1]);
    }

    /// <summary>Receives one file descriptor (close-on-exec) that was sent with SCM_RIGHTS, or -1 when
    /// none is waiting.</summary>
    public static int TryReceiveFd(int socket)
    {
        byte data;
        var vector = stackalloc nint[2];
        vector[0] = (nint)(&data);
        vector[1] = 1;
        FdControlMessage control = default;
        var message = new MessageHeader
        {
            IoVectors = vector, IoVectorCount = 1, Control = &control, ControlLength = (nuint)sizeof(FdControlMessage),
        };
        if (ReceiveMessage(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0) return -1;
        return control.Level == SOL_SOCKET && control.Type == SCM_RIGHTS && control.Length == FdControlMessageLength ? control.Fd : -1;
    }
}
