using Tiny.Interop;
using Tiny.Runtime.Spec;
using static Tiny.Interop.FileDescriptor;

namespace Tiny.Runtime.Mounts;

/// <summary>
/// The tmpfs mounts with tmpcopyup, made before clone: the child runs no managed code and so cannot copy. Each is a
/// detached mount (fsopen, fsmount) filled from the rootfs's directory at its destination, that directory resolved
/// inside the rootfs as the child resolves mount points (RESOLVE_IN_ROOT, no magic links) and everything below it
/// opened relative to its parent with O_NOFOLLOW: a symlink is copied as one, never followed. As runc's copy
/// (fileutils.CopyDirectory): directories, files, symlinks and special files with their owners and permission
/// bits, not their times or extended attributes; the tmpfs's root gets the directory's mode unless the options
/// give one. The child attaches each at its destination (<see cref="Plan.MountTreeInRoot"/>) by its inherited fd.
/// </summary>
public sealed class TmpfsCopies : IDisposable
{
    Dictionary<string, int>? _trees;

    /// <summary>Each copied tmpfs's detached mount fd by destination; null when no mount asks for tmpcopyup (most
    /// containers: nothing of this is touched then).</summary>
    public IReadOnlyDictionary<string, int>? Trees => _trees;

    public static TmpfsCopies Make(RunSpec spec)
    {
        var copies = new TmpfsCopies();
        try
        {
            foreach (var request in spec.Mounts)
                if (request.CopyUp) (copies._trees ??= [])[request.Destination] = Make(spec.Rootfs ?? "/", request, spec.UserNamespace);
            return copies;
        }
        catch
        {
            copies.Dispose();
            throw;
        }
    }

    /// <summary>The filled tmpfs for <paramref name="request"/>, read-only at the end if it asks to be.</summary>
    static int Make(string rootfs, MountRequest request, UserNamespace? userNamespace)
    {
        int root = -1, source = -1, tree = -1;
        try
        {
            root = FileDescriptor.Open(rootfs, O_PATH | O_DIRECTORY);
            // RESOLVE_IN_ROOT follows the rootfs's symlinks as the container would.
            var path = request.Destination.TrimStart('/');
            source = FileAt.TryOpenInRoot(root, path, O_RDONLY | O_DIRECTORY);
            // A missing directory is made by the child, as runc makes it, and the tmpfs starts empty.
            if (source == -Errno.ENOENT) source = -1;
            else if (source < 0) throw new SyscallException("open", -source, "/" + path + " in the rootfs");
            List<string> options = [$"source={request.Source ?? "tmpfs"}"];
            if (source >= 0) options.Add($"mode={Convert.ToString(FileAt.Stat(source, "").Mode & 0xfff, 8)}");
            options.AddRange(request.Data?.Split(',', StringSplitOptions.RemoveEmptyEntries) ?? []);
            tree = DetachedMount.CreateFileSystem("tmpfs", options, Attributes(request.Flags));
            // What the container's root makes is its own; so is a tmpfs it mounts (runc mounts it as that root).
            if (userNamespace is { } ns && HostId(ns.UidMap) is { } uid && HostId(ns.GidMap) is { } gid) FileAt.Chown(tree, "", uid, gid);
            if (source >= 0) CopyDirectory(source, tree);
            if ((request.Flags & Interop.Mount.MS_RDONLY) != 0) DetachedMount.MakeReadOnly(tree);
            var made = tree;
            tree = -1;
            return made;
        }
        catch (SyscallException e)
        {
            throw new ContainerError($"mount tmpfs on {request.Destination} (tmpcopyup): {e.Message}" + (e.Call == "fsopen" && e.Errno == Errno.EPERM
                ? " (tiny makes the copy before the container starts and needs CAP_SYS_ADMIN over its mount namespace: rootless, run tiny in a user namespace of its own, as rootless podman does)"
                : ""));
        }
        finally
        {
            FileDescriptor.Close(tree);
            FileDescriptor.Close(source);
            FileDescriptor.Close(root);
        }
    }

    /// <summary>The host ID container ID 0 maps to, or null when it is not mapped.</summary>
    static uint? HostId(IReadOnlyList<IdMapping> map) =>
        map.FirstOrDefault(m => m.MapsContainerId(0)) is { Count: > 0 } m ? m.HostId - m.ContainerId : null;

    /// <summary>MS_* flags as fsmount(2)'s MOUNT_ATTR_*; MS_RDONLY is applied once the copy is made.</summary>
    static ulong Attributes(ulong flags)
    {
        ulong attributes = 0;
        foreach (var (flag, attribute) in new[]
        {
            (Interop.Mount.MS_NOSUID, DetachedMount.MOUNT_ATTR_NOSUID), (Interop.Mount.MS_NODEV, DetachedMount.MOUNT_ATTR_NODEV),
            (Interop.Mount.MS_NOEXEC, DetachedMount.MOUNT_ATTR_NOEXEC), (Interop.Mount.MS_NOATIME, DetachedMount.MOUNT_ATTR_NOATIME),
            (Interop.Mount.MS_STRICTATIME, DetachedMount.MOUNT_ATTR_STRICTATIME), (Interop.Mount.MS_NODIRATIME, DetachedMount.MOUNT_ATTR_NODIRATIME),
        })
            if ((flags & flag) != 0) attributes |= attribute;
        return attributes;
    }

    /// <summary>Copies what is in <paramref name="from"/> into <paramref name="to"/>; each entry gets its owner and then
    /// its mode (chown clears set-user-ID bits) once it is filled.</summary>
    static void CopyDirectory(int from, int to)
    {
        foreach (var name in FileAt.ReadDirectory(from))
        {
            var entry = FileAt.Stat(from, name);
            var type = entry.Mode & S_IFMT;
            if (type == S_IFDIR)
            {
                FileAt.MakeDirectory(to, name, 0x1c0);
                int source = -1, target = -1;
                try
                {
                    source = FileAt.Open(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                    target = FileAt.Open(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                    CopyDirectory(source, target);
                }
                finally
                {
                    FileDescriptor.Close(source);
                    FileDescriptor.Close(target);
                }
            }
            else if (type == S_IFREG) CopyFile(from, to, name);
            else if (type == S_IFLNK) FileAt.Symlink(FileAt.ReadLink(from, name), to, name);
            else FileAt.MakeNode(to, name, type | 0x180, entry.Device);
            FileAt.Chown(to, name, entry.Uid, entry.Gid);
            if (type != S_IFLNK) FileAt.Chmod(to, name, entry.Mode & 0xfff);
        }
    }

    static void CopyFile(int from, int to, string name)
    {
        int source = -1, target = -1;
        try
        {
            // O_NONBLOCK: should the file have become a FIFO since it was looked at, open does not wait for a writer.
            source = FileAt.Open(from, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
            target = FileAt.Open(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0x180);
            FileAt.CopyContents(source, target, name);
        }
        finally
        {
            FileDescriptor.Close(source);
            FileDescriptor.Close(target);
        }
    }

    public void Dispose()
    {
        if (_trees is null) return;
        foreach (var fd in _trees.Values) FileDescriptor.Close(fd);
        _trees.Clear();
    }
}
