using System.Runtime.InteropServices;
using System.Text;

namespace Tiny.Interop;

/// <summary>The new mount API: detached copies of a tree (open_tree(2)), new file systems made detached (fsopen(2),
/// fsconfig(2), fsmount(2)), their attributes (mount_setattr(2)) and attaching them (move_mount(2)).</summary>
public static unsafe partial class DetachedMount
{
    public const int OPEN_TREE_CLONE = 1, AT_EMPTY_PATH = 0x1000, AT_RECURSIVE = 0x8000, MOVE_MOUNT_F_EMPTY_PATH = 0x4,
        MOVE_MOUNT_T_EMPTY_PATH = 0x40;
    public const ulong MOUNT_ATTR_RDONLY = 0x1, MOUNT_ATTR_NOSUID = 0x2, MOUNT_ATTR_NODEV = 0x4, MOUNT_ATTR_NOEXEC = 0x8,
        MOUNT_ATTR_NOATIME = 0x10, MOUNT_ATTR_STRICTATIME = 0x20, MOUNT_ATTR_NODIRATIME = 0x80, MOUNT_ATTR_IDMAP = 0x100000;

    const uint FSOPEN_CLOEXEC = 1, FSMOUNT_CLOEXEC = 1, FSCONFIG_SET_FLAG = 0, FSCONFIG_SET_STRING = 1, FSCONFIG_CMD_CREATE = 6;

    [LibraryImport("libc", EntryPoint = "fsopen", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FsOpen(string fileSystem, uint flags);

    [LibraryImport("libc", EntryPoint = "fsconfig", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FsConfig(int fd, uint command, string? key, string? value, int auxiliary);

    [LibraryImport("libc", EntryPoint = "fsmount", SetLastError = true)]
    private static partial int FsMount(int fd, uint flags, uint attributes);

    /// <summary>
    /// A new file system of type <paramref name="type"/> as a detached, close-on-exec mount: each option set with
    /// fsconfig (KEY=VALUE as a string, a bare KEY as a flag), the superblock created, and the mount made with
    /// <paramref name="attributes"/> (MOUNT_ATTR_*). The fd is the mount's root, for *at(2) calls and move_mount(2).
    /// </summary>
    public static int CreateFileSystem(string type, IEnumerable<string> options, ulong attributes)
    {
        var context = FsOpen(type, FSOPEN_CLOEXEC);
        if (context < 0) throw new SyscallException("fsopen", Marshal.GetLastPInvokeError(), type);
        try
        {
            foreach (var option in options)
            {
                var eq = option.IndexOf('=');
                var failed = eq < 0
                    ? FsConfig(context, FSCONFIG_SET_FLAG, option, null, 0) < 0
                    : FsConfig(context, FSCONFIG_SET_STRING, option[..eq], option[(eq + 1)..], 0) < 0;
                if (failed) throw new SyscallException("fsconfig", Marshal.GetLastPInvokeError(), $"{type} {option}");
            }
            if (FsConfig(context, FSCONFIG_CMD_CREATE, null, null, 0) < 0)
                throw new SyscallException("fsconfig create", Marshal.GetLastPInvokeError(), type);
            var mount = FsMount(context, FSMOUNT_CLOEXEC, (uint)attributes);
            return mount >= 0 ? mount : throw new SyscallException("fsmount", Marshal.GetLastPInvokeError(), type);
        }
        finally
        {
            FileDescriptor.Close(context);
        }
    }

    /// <summary>struct mount_attr (MOUNT_ATTR_SIZE_VER0, linux/mount.h).</summary>
    struct MountAttributes
    {
        public ulong Set, Clear, Propagation, UserNamespaceFd;
    }

    /// <summary>A detached, close-on-exec copy of the mount tree at <paramref name="path"/> and everything under it.</summary>
    public static int CloneTree(string path)
    {
        fixed (byte* name = Encoding.UTF8.GetBytes(path + "\0"))
        {
            var fd = RawSyscall.Invoke(SyscallNumber.OpenTree, SyscallNumber.AtCurrentDirectory, (long)name,
                OPEN_TREE_CLONE | FileDescriptor.O_CLOEXEC | AT_RECURSIVE);
            return fd >= 0 ? (int)fd : throw new SyscallException("open_tree", RawSyscall.LastErrno, path);
        }
    }

    /// <summary>Id-maps every mount of the detached tree <paramref name="tree"/> through the maps of the user
    /// namespace <paramref name="userNamespaceFd"/>: returns 0 or errno (EINVAL when a file system cannot be id-mapped).</summary>
    public static int TryIdMap(int tree, int userNamespaceFd)
    {
        var attributes = new MountAttributes { Set = MOUNT_ATTR_IDMAP, UserNamespaceFd = (ulong)userNamespaceFd };
        return TrySetAttributes(tree, attributes);
    }

    /// <summary>Makes every mount of the detached tree <paramref name="tree"/> read-only.</summary>
    public static void MakeReadOnly(int tree)
    {
        var errno = TrySetAttributes(tree, new MountAttributes { Set = MOUNT_ATTR_RDONLY });
        if (errno != 0) throw new SyscallException("mount_setattr", errno);
    }

    static int TrySetAttributes(int tree, MountAttributes attributes)
    {
        var empty = (byte)0;
        return RawSyscall.Invoke(SyscallNumber.MountSetattr, tree, (long)&empty, AT_EMPTY_PATH | AT_RECURSIVE,
            (long)&attributes, sizeof(MountAttributes)) == 0 ? 0 : RawSyscall.LastErrno;
    }
}
