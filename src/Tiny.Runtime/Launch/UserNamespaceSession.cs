using System.Globalization;
using System.Text;
using Tiny.Interop;
using Tiny.Runtime.Spec;
using Tiny.Runtime.Users;

namespace Tiny.Runtime.Launch;

/// <summary>
/// The parent's side of a container's user namespace. Before clone: the host range leased for `--userns auto`,
/// and the socket pair the id-mapped rootfs goes over. After clone, before the child is released
/// (<see cref="MapAndSendRootfs"/>): the child's uid and gid maps, then an id-mapped copy of the rootfs, sent to
/// the child; the child is recorded as a keeper of the leased range. Dispose gives the range back.
/// </summary>
internal sealed class UserNamespaceSession : IDisposable
{
    readonly string? rootfs;
    readonly IdRangeLease? lease;
    readonly int parentSocket;
    int childSocket;

    /// <summary>The maps the container gets: the requested ones, or the leased range's.</summary>
    public UserNamespace Maps { get; }
    public int ChildSocket => childSocket;

    /// <param name="rootfs">The rootfs to id-map and send to the child, or null to leave it as it is (the child binds it).</param>
    public UserNamespaceSession(UserNamespace requested, string containerId, string? rootfs)
    {
        this.rootfs = rootfs;
        (parentSocket, childSocket) = rootfs is null ? (-1, -1) : UnixSocket.CreatePair();
        try
        {
            lease = requested.IsAuto ? IdRangeLease.Acquire(containerId) : null;
        }
        catch
        {
            FileDescriptor.Close(parentSocket);
            FileDescriptor.Close(childSocket);
            throw;
        }
        Maps = lease is null ? requested : UserNamespace.Leased(lease.HostStart);
    }

    /// <summary>After clone: the child holds its own copy of its end.</summary>
    public void CloseChildSocket()
    {
        FileDescriptor.Close(childSocket);
        childSocket = -1;
    }

    /// <summary>
    /// Writes the child's maps (as root in the parent user namespace, so /proc/PID/setgroups may stay "allow",
    /// user_namespaces(7)), then id-maps a detached copy of the rootfs through the child's user namespace and
    /// sends it to the child. Only here, with CAP_SYS_ADMIN in the user namespace the file system was mounted in,
    /// may a mount be id-mapped (mount_setattr(2)).
    /// </summary>
    public void MapAndSendRootfs(int pid)
    {
        if (Network.LeaseOwner.Of(pid) is { } init) lease?.KeptBy(init);
        var asRoot = Process.GetEffectiveUserId() == 0;
        if (RootlessIds.NeedsHelper(Maps.UidMap, asRoot)) RunHelper(RootlessSettings.Default.NewUidMap, pid, Maps.UidMap);
        else WriteMap($"/proc/{pid}/uid_map", Maps.UidMap);
        if (RootlessIds.NeedsHelper(Maps.GidMap, asRoot)) RunHelper(RootlessSettings.Default.NewGidMap, pid, Maps.GidMap);
        else
        {
            if (RootlessIds.DeniesSetgroups(Maps, asRoot)) WriteMap($"/proc/{pid}/setgroups", "deny");
            WriteMap($"/proc/{pid}/gid_map", Maps.GidMap);
        }
        if (rootfs is null) return;
        var userNamespace = FileDescriptor.Open($"/proc/{pid}/ns/user", FileDescriptor.O_RDONLY);
        var tree = -1;
        try
        {
            tree = DetachedMount.CloneTree(rootfs);
            var errno = DetachedMount.TryIdMap(tree, userNamespace);
            if (errno == Errno.EINVAL)
                throw new ContainerError($"rootfs {rootfs}: its file system cannot be id-mapped (mount_setattr MOUNT_ATTR_IDMAP: {Errno.Describe(errno)}), which a user namespace needs");
            if (errno != 0) throw new SyscallException("mount_setattr MOUNT_ATTR_IDMAP", errno, rootfs);
            errno = UnixSocket.SendFd(parentSocket, tree);
            if (errno != 0) throw new SyscallException("sendmsg", errno);
        }
        finally
        {
            FileDescriptor.Close(tree);
            FileDescriptor.Close(userNamespace);
        }
    }

    /// <summary>newuidmap or newgidmap (setuid root) writes a map with the caller's /etc/subuid or /etc/subgid ranges,
    /// after checking them (newuidmap(1)).</summary>
    static void RunHelper(string helper, int pid, IReadOnlyList<IdMapping> map)
    {
        var info = new System.Diagnostics.ProcessStartInfo(helper) { RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(pid.ToString(CultureInfo.InvariantCulture));
        foreach (var line in map)
            foreach (var id in new[] { line.ContainerId, line.HostId, line.Count }) info.ArgumentList.Add(id.ToString(CultureInfo.InvariantCulture));
        using var process = System.Diagnostics.Process.Start(info) ?? throw new ContainerError($"{helper}: could not be started");
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new ContainerError($"{helper} {string.Join(' ', info.ArgumentList)}: {error.Trim().ReplaceLineEndings(" ")} (exit {process.ExitCode})");
    }

    static void WriteMap(string path, IReadOnlyList<IdMapping> map) => WriteMap(path, UserNamespace.Format(map));

    /// <summary>A map goes in one write(2); a second write, or a partial one, is refused (user_namespaces(7)).</summary>
    static void WriteMap(string path, string text)
    {
        var fd = FileDescriptor.Open(path, FileDescriptor.O_WRONLY);
        try
        {
            var errno = FileDescriptor.TryWriteAll(fd, Encoding.ASCII.GetBytes(text));
            if (errno != 0) throw new SyscallException("write", errno, path);
        }
        finally
        {
            FileDescriptor.Close(fd);
        }
    }

    public void Dispose()
    {
        FileDescriptor.Close(parentSocket);
        FileDescriptor.Close(childSocket);
        lease?.Dispose();
    }
}
