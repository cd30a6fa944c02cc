using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>Paths and file systems: statfs(2), mkdir(2), rmdir(2), access(2).</summary>
public static unsafe partial class FileSystem
{
    public const long CGROUP2_SUPER_MAGIC = 0x63677270, TMPFS_MAGIC = 0x01021994, CGROUP_SUPER_MAGIC = 0x27e0eb;

    [StructLayout(LayoutKind.Sequential)]
    private struct StatFs
    {
        public long Type;
        public fixed long Counts[9];
        public long Flags;
        public fixed long Spare[4];
    }

    const long ST_RDONLY = 1;

    [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatFsRaw(string path, StatFs* buffer);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkdirRaw(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RmdirRaw(string path);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UnlinkRaw(string path);

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkfifoRaw(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChmodRaw(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "faccessat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FaccessatRaw(int dirFd, string path, int mode, int flags);

    const int AT_FDCWD = -100, W_OK = 2, AT_EACCESS = 0x200;

    /// <summary>The owner and st_mode of a path itself (a symlink is not followed), or null when it does not exist.</summary>
    public static (uint Owner, uint Mode)? OwnerAndMode(string path) =>
        FileAt.TryStat(AT_FDCWD, path) is { } status ? (status.Uid, status.Mode) : null;

    /// <summary>Whether this process may write the file, checked with its effective IDs (faccessat(2) AT_EACCESS).</summary>
    public static bool IsWritable(string path) => FaccessatRaw(AT_FDCWD, path, W_OK, AT_EACCESS) == 0;

    /// <summary>The file system's magic number (statfs(2) f_type), or null when the path is missing.</summary>
    public static long? FileSystemType(string path)
    {
        StatFs buffer;
        if (StatFsRaw(path, &buffer) == 0) return buffer.Type;
        var errno = Marshal.GetLastPInvokeError();
        return errno == Errno.ENOENT ? null : throw new SyscallException("statfs", errno, path);
    }

    /// <summary>Whether the mount <paramref name="path"/> is on is read-only (statfs(2) f_flags ST_RDONLY).</summary>
    public static bool IsOnReadOnlyMount(string path)
    {
        StatFs buffer;
        return StatFsRaw(path, &buffer) == 0 ? (buffer.Flags & ST_RDONLY) != 0
            : throw new SyscallException("statfs", Marshal.GetLastPInvokeError(), path);
    }

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MountRaw(string? source, string target, string? type, ulong flags, nint data);

    /// <summary>mount(2) with no file system type or data: binds, remounts and propagation changes.</summary>
    public static void Mount(string? source, string target, ulong flags)
    {
        if (MountRaw(source, target, null, flags, 0) != 0) throw new SyscallException("mount", Marshal.GetLastPInvokeError(), target);
    }

    /// <summary>Creates a directory; false if it already existed.</summary>
    public static bool MakeDirectory(string path, uint mode = 0x1ed /* 0755 */)
    {
        if (MkdirRaw(path, mode) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        return errno == Errno.EEXIST ? false : throw new SyscallException("mkdir", errno, path);
    }

    /// <summary>Removes an empty directory; returns errno, 0 on success or when it is already gone.</summary>
    public static int TryRemoveDirectory(string path)
    {
        if (RmdirRaw(path) == 0) return 0;
        var errno = Marshal.GetLastPInvokeError();
        return errno == Errno.ENOENT ? 0 : errno;
    }

    /// <summary>Removes a file; returns errno, 0 on success or when it is already gone.</summary>
    public static int TryUnlink(string path)
    {
        if (UnlinkRaw(path) == 0) return 0;
        var errno = Marshal.GetLastPInvokeError();
        return errno == Errno.ENOENT ? 0 : errno;
    }

    /// <summary>Creates a FIFO (mkfifo(3)); the mode is then set exactly, past the umask.</summary>
    public static void MakeFifo(string path, uint mode)
    {
        if (MkfifoRaw(path, mode) < 0) throw new SyscallException("mkfifo", Marshal.GetLastPInvokeError(), path);
        SetMode(path, mode);
    }

    /// <summary>chmod(2).</summary>
    public static void SetMode(string path, uint mode)
    {
        if (ChmodRaw(path, mode) < 0) throw new SyscallException("chmod", Marshal.GetLastPInvokeError(), path);
    }
}
