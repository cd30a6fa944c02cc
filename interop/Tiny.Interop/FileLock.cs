using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Exclusive advisory locks on a lock file (flock(2)); the kernel drops them when the
/// holder dies, so a killed tiny never leaves a lock behind.</summary>
public static partial class FileLock
{
    const int O_RDWR = 2, O_CREAT = 0x40, O_CLOEXEC = 0x80000, LOCK_EX = 2;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenRaw(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int FlockRaw(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int CloseRaw(int fd);

    /// <summary>Opens (creating it, mode 0600) and exclusively locks <paramref name="path"/>, waiting
    /// for other holders; returns the descriptor that holds the lock.</summary>
    public static int Acquire(string path)
    {
        var fd = OpenRaw(path, O_RDWR | O_CREAT | O_CLOEXEC, 0x180);
        if (fd < 0) throw new SyscallException("open", Marshal.GetLastPInvokeError(), path);
        while (FlockRaw(fd, LOCK_EX) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.EINTR) continue;
            CloseRaw(fd);
            throw new SyscallException("flock", errno, path);
        }
        return fd;
    }

    public static void Release(int fd) => CloseRaw(fd);
}
