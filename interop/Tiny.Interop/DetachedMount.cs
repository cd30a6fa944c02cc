using System.Text;

namespace Tiny.Interop;

/// <summary>The new mount API: detached copies of a tree (open_tree(2)), their attributes (mount_setattr(2)) and
/// attaching them (move_mount(2)).</summary>
public static unsafe class DetachedMount
{
    public const int OPEN_TREE_CLONE = 1, AT_EMPTY_PATH = 0x1000, AT_RECURSIVE = 0x8000, MOVE_MOUNT_F_EMPTY_PATH = 0x4;
    public const ulong MOUNT_ATTR_RDONLY = 0x1, MOUNT_ATTR_IDMAP = 0x100000;

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
