using Tiny.Runtime.Plan;
using static Tiny.Interop.Mount;

namespace Tiny.Runtime.Mounts;

/// <summary>
/// The mount steps that give a container its own root: rprivate propagation, the rootfs bind,
/// /proc, /sys, /dev, the requested mounts, pivot_root, Docker's masked and read-only paths.
/// </summary>
public static class RootfsSetup
{
    /// <summary>Where the host's root is bound when it serves as the rootfs: inside a tmpfs that the
    /// child mounts over /tmp in its own mount namespace, so nothing appears on the host.</summary>
    public const string HostRootStaging = "/tmp", HostRootMountPoint = "/tmp/tiny-root";

    /// <summary>Docker's masked paths (moby oci/defaults.go).</summary>
    public static readonly string[] MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ];

    /// <summary>Docker's read-only paths (moby oci/defaults.go).</summary>
    public static readonly string[] ReadonlyPaths =
        ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    static readonly (string Name, uint Major, uint Minor)[] Devices =
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

    const uint CharDevice = 0x2000; // S_IFCHR
    const uint TtyGid = 5;

    /// <param name="rootfs">The rootfs directory (absolute, resolved), or null for the host's root.</param>
    /// <param name="readonlyRootfs">Remount the root read-only after pivot_root (always for the host's root).</param>
    /// <param name="mounts">Mounts made in this order inside the root after /dev; mount points are created only in a rootfs, never in the host's root.</param>
    /// <param name="rootPropagation">Propagation flags for "/" before anything is mounted [default: rprivate].</param>
    /// <param name="maskedPaths">Paths to hide [default: Docker's <see cref="MaskedPaths"/>].</param>
    /// <param name="readonlyPaths">Paths to make read-only [default: Docker's <see cref="ReadonlyPaths"/>].</param>
    /// <param name="beforeReadonlyPaths">Steps to run after pivot_root while /proc/sys is still writable (sysctls).</param>
    /// <param name="devices">Device nodes to create in /dev; one at the path of a standard node replaces it.</param>
    /// <param name="standardMounts">Flags and data for /proc, /sys and /dev's mounts instead of tiny's own.</param>
    /// <param name="userNamespace">The container's user namespace (its maps written), or null.</param>
    /// <param name="rootfsSocket">Where the parent sends the id-mapped rootfs; -1 binds the rootfs as it is.</param>
    /// <param name="ownNetwork">Whether the container has a network namespace of its own.</param>
    /// <param name="bindDevices">Bind the host's device nodes rather than make them, even without a user namespace of
    /// the container's own (tiny in one).</param>
    /// <param name="copiedTmpfs">The detached mount fd of each tmpcopyup mount by destination (<see cref="TmpfsCopies"/>).</param>
    public static IEnumerable<ChildStep> Steps(string? rootfs, bool readonlyRootfs, IReadOnlyList<MountRequest> mounts,
        ulong rootPropagation = MS_REC | MS_PRIVATE, IReadOnlyList<string>? maskedPaths = null,
        IReadOnlyList<string>? readonlyPaths = null, IEnumerable<ChildStep>? beforeReadonlyPaths = null,
        Spec.UserNamespace? userNamespace = null, int rootfsSocket = -1, IReadOnlyList<DeviceNode>? devices = null,
        IReadOnlyList<StandardMount>? standardMounts = null, bool ownNetwork = true, bool bindDevices = false,
        IReadOnlyDictionary<string, int>? copiedTmpfs = null)
    {
        var requests = mounts.Select(m => m.Checked()).ToArray();
        var root = rootfs ?? HostRootMountPoint;
        MountStep Standard(string? source, string target, string type, ulong flags, string? data = null)
        {
            var given = standardMounts?.FirstOrDefault(m => target == root + m.Destination);
            return new MountStep(source, target, type, given?.Flags ?? flags, given is null ? data : given.Data);
        }

        yield return new MountStep(null, "/", null, rootPropagation);

        if (rootfs is null)
        {
            yield return new MountStep("tmpfs", HostRootStaging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=700,size=64k");
            yield return new MakeDirectory(HostRootMountPoint, 0x1c0);
            yield return new MountStep("/", HostRootMountPoint, null, MS_BIND);
        }
        else
        {
            yield return rootfsSocket < 0
                ? new MountStep(rootfs, rootfs, null, MS_BIND | MS_REC)
                : new MountReceivedTree(rootfsSocket, rootfs);
        }

        foreach (var dir in new[] { "/proc", "/sys", "/dev" })
            yield return new MakeDirectory(root + dir, 0x1ed);
        yield return Standard("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        // sysfs may only be mounted by the user namespace that owns the network namespace (sysfs_mount() checks
        // net_ns); in a user namespace with the host's network, the host's /sys is bound instead, as runc does.
        if (userNamespace is not null && !ownNetwork)
        {
            yield return new MountStep("/sys", root + "/sys", null, MS_BIND | MS_REC);
            yield return new MountStep(null, root + "/sys", null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
        }
        else yield return Standard("sysfs", root + "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
        foreach (var step in DevSteps(root, userNamespace, bindDevices || userNamespace is not null, Standard, devices ?? [])) yield return step;
        foreach (var request in requests)
        {
            var path = ContainerPath.FollowSymlinks(rootfs ?? "/", request.Destination);
            if (!request.CopyUp)
            {
                yield return new MountInRoot(root, path, request, CreateMissing: rootfs is not null);
                continue;
            }
            if (copiedTmpfs is null || !copiedTmpfs.TryGetValue(request.Destination, out var tree))
                throw new InvalidOperationException($"no tmpcopyup mount was made for {request.Destination}");
            yield return new MountTreeInRoot(root, path, tree, request, CreateMissing: rootfs is not null);
        }

        yield return new PivotRoot(root);

        foreach (var step in beforeReadonlyPaths ?? []) yield return step;
        foreach (var path in maskedPaths ?? MaskedPaths) yield return new MaskPath(path);
        foreach (var path in readonlyPaths ?? ReadonlyPaths) yield return new ReadonlyPath(path, MS_NOSUID | MS_NODEV | MS_NOEXEC);
        if (rootfs is null || readonlyRootfs) yield return new RemountReadonly("/");
    }

    static MountInRoot BindHostDevice(string root, string path) =>
        new(root, path, new MountRequest(path, path, "bind", MS_BIND, 0, null), CreateMissing: true);

    static IEnumerable<ChildStep> DevSteps(string root, Spec.UserNamespace? userNamespace, bool bindDevices,
        Func<string?, string, string, ulong, string?, MountStep> standard, IReadOnlyList<DeviceNode> devices)
    {
        var dev = root + "/dev";
        yield return standard("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
        foreach (var (name, major, minor) in Devices)
        {
            var path = $"/dev/{name}";
            if (devices.Any(d => d.Path == path)) continue;
            // In a user namespace mknod(2) of a device is EPERM, and a tmpfs mounted there is nodev anyway
            // (user_namespaces(7)): bind the host's device onto an empty file, as runc does rootless.
            yield return bindDevices
                ? BindHostDevice(root, path)
                : new MakeDevice(root + path, CharDevice | 0x1b6, major, minor);
        }
        // The directories a device's path needs; /dev is a fresh tmpfs, so no symlink of the rootfs's is on the way.
        foreach (var dir in devices.SelectMany(d => Parents(d.Path)).Distinct())
            yield return new MakeDirectory(dev + dir["/dev".Length..], 0x1ed);
        foreach (var device in devices)
            yield return bindDevices
                ? BindHostDevice(root, device.Path)
                : new MakeDevice(dev + device.Path["/dev".Length..], device.Mode, device.Major, device.Minor, device.Uid, device.Gid);
        yield return new MakeDirectory(dev + "/pts", 0x1ed);
        // devpts refuses a gid= that the user namespace does not map (EINVAL).
        var ttyGroup = userNamespace is null || Spec.UserNamespace.Maps(userNamespace.GidMap, TtyGid) ? $",gid={TtyGid}" : "";
        yield return standard("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620" + ttyGroup);
        yield return new Symlink("pts/ptmx", dev + "/ptmx");
        yield return new MakeDirectory(dev + "/shm", 0x3ff /* 1777 */);
        yield return standard("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
        yield return new MakeDirectory(dev + "/mqueue", 0x1ed);
        yield return standard("mqueue", dev + "/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, null);
        yield return new Symlink("/proc/self/fd", dev + "/fd");
        yield return new Symlink("/proc/self/fd/0", dev + "/stdin");
        yield return new Symlink("/proc/self/fd/1", dev + "/stdout");
        yield return new Symlink("/proc/self/fd/2", dev + "/stderr");
        // As runc: /proc/kcore exists only in kernels built with CONFIG_PROC_KCORE.
        if (File.Exists("/proc/kcore")) yield return new Symlink("/proc/kcore", dev + "/core");
    }

    /// <summary>"/dev/a/b/c" gives "/dev/a", "/dev/a/b".</summary>
    static IEnumerable<string> Parents(string path)
    {
        for (var slash = path.IndexOf('/', "/dev/".Length); slash > 0; slash = path.IndexOf('/', slash + 1))
            yield return path[..slash];
    }
}

/// <summary>A device node for the container's /dev: <paramref name="Path"/> is under /dev, <paramref name="Mode"/> holds
/// S_IFCHR, S_IFBLK or S_IFIFO and the permissions.</summary>
public sealed record DeviceNode(string Path, uint Mode, uint Major, uint Minor, uint Uid, uint Gid);

/// <summary>A config's own flags and data for one of the mounts tiny makes itself (/proc, /sys, /dev, /dev/pts, /dev/shm, /dev/mqueue).</summary>
public sealed record StandardMount(string Destination, ulong Flags, string? Data);
