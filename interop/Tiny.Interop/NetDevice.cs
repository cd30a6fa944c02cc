using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Bringing an interface up with ioctl(2) (netdevice(7)).</summary>
public static unsafe class NetDevice
{
    public const int AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0x80000;
    public const ulong SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914;
    public const short IFF_UP = 0x1;
    public const int IfReqSize = 40, IfNameSize = 16;

    /// <summary>Sets IFF_UP on the interface named in <paramref name="ifreq"/> (a struct ifreq of
    /// <see cref="IfReqSize"/> bytes, the name first) in the caller's network namespace; returns 0 or errno. Raw system
    /// calls and no allocation: the container child calls it, and a thread of tiny's <paramref name="onOwnThread"/>
    /// (<see cref="RawSyscall.InvokeOnOwnThread"/>: bringing lo up runs the address notifiers, tens of microseconds).</summary>
    public static int BringUp(byte* ifreq, bool onOwnThread = false)
    {
        var fd = Call(onOwnThread, SyscallNumber.Socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return LastErrno(onOwnThread);
        var flags = (short*)(ifreq + IfNameSize);
        var errno = Call(onOwnThread, SyscallNumber.Ioctl, fd, (long)SIOCGIFFLAGS, (long)ifreq) < 0 ? LastErrno(onOwnThread) : 0;
        if (errno == 0)
        {
            *flags |= IFF_UP;
            errno = Call(onOwnThread, SyscallNumber.Ioctl, fd, (long)SIOCSIFFLAGS, (long)ifreq) < 0 ? LastErrno(onOwnThread) : 0;
        }
        Call(onOwnThread, SyscallNumber.Close, fd, 0, 0);
        return errno;
    }

    static long Call(bool onOwnThread, long number, long a1, long a2, long a3) => onOwnThread
        ? RawSyscall.InvokeOnOwnThread(number, a1, a2, a3, 0, 0, 0)
        : RawSyscall.Invoke(number, a1, a2, a3);

    static int LastErrno(bool onOwnThread) => onOwnThread ? Marshal.GetLastPInvokeError() : RawSyscall.LastErrno;
}
