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
    /// calls and no allocation: the container child and tiny's unattached threads call it.</summary>
    public static int BringUp(byte* ifreq)
    {
        var fd = RawSyscall.Invoke(SyscallNumber.Socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return RawSyscall.LastErrno;
        var flags = (short*)(ifreq + IfNameSize);
        var errno = RawSyscall.Invoke(SyscallNumber.Ioctl, fd, (long)SIOCGIFFLAGS, (long)ifreq) < 0 ? RawSyscall.LastErrno : 0;
        if (errno == 0)
        {
            *flags |= IFF_UP;
            errno = RawSyscall.Invoke(SyscallNumber.Ioctl, fd, (long)SIOCSIFFLAGS, (long)ifreq) < 0 ? RawSyscall.LastErrno : 0;
        }
        RawSyscall.Invoke(SyscallNumber.Close, fd);
        return errno;
    }
}
