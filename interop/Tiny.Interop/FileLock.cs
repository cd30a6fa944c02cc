using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Exclusive advisory locks on a lock file or a directory (flock(2)); the kernel drops them when the
/// holder dies, so a killed tiny never leaves a lock behind.</summary>
public static partial class FileLock
{
    const int LOCK_EX = 2;

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int FlockRaw(int fd, int operation);

    /// <summary>Opens (creating it, mode 0600) and exclusively locks <paramref name="path"/>, waiting
    /// for other holders; returns the descriptor that holds the lock.</summary>
    public static int Acquire(string path) =>
        Lock(FileDescriptor.Open(path, FileDescriptor.O_RDWR | FileDescriptor.O_CREAT, 0x180), path);

    /// <summary>Exclusively locks the directory <paramref name="path"/> itself (flock(2) takes any open file), waiting
    /// for other holders; returns the descriptor that holds the lock.</summary>
    public static int AcquireDirectory(string path) =>
        Lock(FileDescriptor.Open(path, FileDescriptor.O_RDONLY | FileDescriptor.O_DIRECTORY), path);

    static int Lock(int fd, string path)
    {
        while (FlockRaw(fd, LOCK_EX) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.EINTR) continue;
            FileDescriptor.Close(fd);
            throw new SyscallException("flock", errno, path);
        }
        return fd;
    }

    public static void Release(int fd) => FileDescriptor.Close(fd);
}
