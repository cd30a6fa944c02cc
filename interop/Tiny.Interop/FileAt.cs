using System.Runtime.InteropServices;
using System.Text;

namespace Tiny.Interop;

/// <summary>Files named relative to a directory fd, never by a full path (openat(2), openat2(2), fstatat(2),
/// mkdirat(2), mknodat(2), symlinkat(2), readlinkat(2), fchownat(2), fchmodat(2), getdents64(2)).</summary>
public static unsafe partial class FileAt
{
    const int AT_SYMLINK_NOFOLLOW = 0x100;

    /// <summary>What fstatat(2) tells of one file (struct stat, x86_64).</summary>
    public readonly record struct Status(uint Mode, uint Uid, uint Gid, ulong Device);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenatRaw(int directory, string name, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "fstatat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FstatatRaw(int directory, string name, byte* stat, int flags);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkdiratRaw(int directory, string name, uint mode);

    [LibraryImport("libc", EntryPoint = "mknodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MknodatRaw(int directory, string name, uint mode, ulong device);

    [LibraryImport("libc", EntryPoint = "symlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SymlinkatRaw(string target, int directory, string name);

    [LibraryImport("libc", EntryPoint = "readlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint ReadlinkatRaw(int directory, string name, byte* buffer, nuint size);

    [LibraryImport("libc", EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FchownatRaw(int directory, string name, uint uid, uint gid, int flags);

    [LibraryImport("libc", EntryPoint = "fchmodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FchmodatRaw(int directory, string name, uint mode, int flags);

    [LibraryImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    private static partial nint Getdents64Raw(int directory, byte* buffer, nuint size);

    [LibraryImport("libc", EntryPoint = "sendfile", SetLastError = true)]
    private static partial nint SendfileRaw(int output, int input, long* offset, nuint count);

    static int Checked(int result, string call, string name) =>
        result >= 0 ? result : throw new SyscallException(call, Marshal.GetLastPInvokeError(), name);

    /// <summary>openat(2) of <paramref name="name"/> in <paramref name="directory"/>, close-on-exec.</summary>
    public static int Open(int directory, string name, int flags, uint mode = 0) =>
        Checked(OpenatRaw(directory, name, flags | FileDescriptor.O_CLOEXEC, mode), "open", name);

    /// <summary>openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: <paramref name="path"/> resolved as if
    /// <paramref name="root"/> were /, close-on-exec; the fd, or -errno.</summary>
    public static int TryOpenInRoot(int root, string path, int flags)
    {
        // struct open_how { u64 flags; u64 mode; u64 resolve; } (openat2(2))
        ulong* how = stackalloc ulong[3];
        how[0] = (ulong)(flags | FileDescriptor.O_CLOEXEC);
        how[1] = 0;
        how[2] = FileDescriptor.RESOLVE_IN_ROOT | FileDescriptor.RESOLVE_NO_MAGICLINKS;
        fixed (byte* name = Encoding.UTF8.GetBytes(path + "\0"))
        {
            var fd = RawSyscall.Invoke(SyscallNumber.Openat2, root, (long)name, (long)how, 24);
            return fd >= 0 ? (int)fd : -RawSyscall.LastErrno;
        }
    }

    /// <summary>fstatat(2) of <paramref name="name"/> itself (a symlink is not followed); "" is the directory.</summary>
    public static Status Stat(int directory, string name) =>
        TryStat(directory, name) ?? throw new SyscallException("stat", Errno.ENOENT, name);

    /// <summary><see cref="Stat"/>, null where <paramref name="name"/> does not exist.</summary>
    public static Status? TryStat(int directory, string name)
    {
        // struct stat (x86_64, asm/stat.h): st_mode u32 at 24, st_uid at 28, st_gid at 32, st_rdev u64 at 40.
        byte* stat = stackalloc byte[144];
        if (FstatatRaw(directory, name, stat, AT_SYMLINK_NOFOLLOW | (name.Length == 0 ? DetachedMount.AT_EMPTY_PATH : 0)) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == Errno.ENOENT ? null : throw new SyscallException("stat", errno, name);
        }
        return new Status(*(uint*)(stat + 24), *(uint*)(stat + 28), *(uint*)(stat + 32), *(ulong*)(stat + 40));
    }

    public static void MakeDirectory(int directory, string name, uint mode) => Checked(MkdiratRaw(directory, name, mode), "mkdir", name);

    /// <summary>mknodat(2): <paramref name="mode"/> holds the file type (S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK).</summary>
    public static void MakeNode(int directory, string name, uint mode, ulong device) =>
        Checked(MknodatRaw(directory, name, mode, device), "mknod", name);

    public static void Symlink(string target, int directory, string name) => Checked(SymlinkatRaw(target, directory, name), "symlink", name);

    public static string ReadLink(int directory, string name)
    {
        // PATH_MAX (limits.h): no link target is longer.
        var buffer = new byte[4096];
        fixed (byte* start = buffer)
        {
            var length = ReadlinkatRaw(directory, name, start, (nuint)buffer.Length);
            if (length < 0) throw new SyscallException("readlink", Marshal.GetLastPInvokeError(), name);
            return Encoding.UTF8.GetString(buffer, 0, (int)length);
        }
    }

    /// <summary>fchownat(2) of <paramref name="name"/> itself; "" is the directory.</summary>
    public static void Chown(int directory, string name, uint uid, uint gid) =>
        Checked(FchownatRaw(directory, name, uid, gid, AT_SYMLINK_NOFOLLOW | (name.Length == 0 ? DetachedMount.AT_EMPTY_PATH : 0)), "chown", name);

    /// <summary>fchmodat(2), which follows a symlink: <paramref name="name"/> must not be one.</summary>
    public static void Chmod(int directory, string name, uint mode) => Checked(FchmodatRaw(directory, name, mode, 0), "chmod", name);

    /// <summary>The names in an open directory (getdents64(2)), "." and ".." left out.</summary>
    public static List<string> ReadDirectory(int directory)
    {
        List<string> names = [];
        var buffer = new byte[32768];
        fixed (byte* start = buffer)
        {
            while (true)
            {
                var length = Getdents64Raw(directory, start, (nuint)buffer.Length);
                if (length < 0) throw new SyscallException("getdents64", Marshal.GetLastPInvokeError());
                if (length == 0) return names;
                // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                for (var offset = 0; offset < length;)
                {
                    var record = start + offset;
                    var name = Marshal.PtrToStringUTF8((nint)(record + 19))!;
                    if (name is not ("." or "..")) names.Add(name);
                    offset += *(ushort*)(record + 16);
                }
            }
        }
    }

    /// <summary>Copies everything from <paramref name="input"/>'s position to its end onto <paramref name="output"/> (sendfile(2)).</summary>
    public static void CopyContents(int input, int output, string name)
    {
        nint copied;
        while ((copied = SendfileRaw(output, input, null, 1 << 30)) > 0) { }
        if (copied < 0) throw new SyscallException("sendfile", Marshal.GetLastPInvokeError(), name);
    }
}
