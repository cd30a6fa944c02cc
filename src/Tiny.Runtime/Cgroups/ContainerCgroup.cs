using Tiny.Interop;
using Tiny.Runtime.Mounts;
using Microsoft.Extensions.Logging;
using ZLogger;

namespace Tiny.Runtime.Cgroups;

public enum CgroupLayout { Unified, Legacy, Hybrid }

/// <summary>
/// One container's cgroup, named after it and created below the caller's own cgroup: one
/// directory on cgroup v2, one per controller tiny limits on v1. On the hybrid layout (v1
/// controllers, a v2 tree at unified/) the v1 controllers hold the limits, and a limit whose controller is
/// bound to the v2 tree alone (hugetlb on some hosts) gets a directory there too.
/// </summary>
public abstract class ContainerCgroup(ICgroupFileSystem fs, ILogger log)
{
    public const string MountRoot = "/sys/fs/cgroup";

    protected ICgroupFileSystem Fs { get; } = fs;
    protected ILogger Log { get; } = log;

    /// <summary>The directories this cgroup consists of.</summary>
    public abstract IReadOnlyList<string> Directories { get; }

    /// <summary>Each directory with the hierarchy it is in: a v1 controller's name, "" for v2's single tree.</summary>
    public abstract IReadOnlyList<(string Name, string Directory)> Hierarchies { get; }

    /// <summary>
    /// The container's view of its cgroups at /sys/fs/cgroup, as runc mounts it: on v2 its directory; on v1 and hybrid
    /// a tmpfs with each v1 hierarchy's directory bound below it, with <paramref name="flags"/> (read-only in what
    /// podman sends). Only the hierarchies tiny made a directory in appear, unified/ included on a hybrid host where a
    /// limit went to the v2 tree.
    /// </summary>
    public IReadOnlyList<MountRequest> ViewMounts(ulong flags, string mountPoint)
    {
        var bind = flags | Mount.MS_BIND;
        if (Hierarchies is [("", var dir)]) return [new MountRequest(mountPoint, dir, "bind", bind, 0, null)];
        return [new MountRequest(mountPoint, "tmpfs", "tmpfs", Mount.MS_NOSUID | Mount.MS_NODEV | Mount.MS_NOEXEC | Mount.MS_RELATIME, 0, "mode=755"),
            .. Hierarchies.Select(h => new MountRequest($"{mountPoint}/{h.Name}", h.Directory, "bind", bind, 0, null))];
    }

    /// <summary>Creates the directories and writes the limits.</summary>
    public abstract void Create(ResourceLimits limits);

    /// <summary>Writes the limits that are set (`update` on a running container; the rest stay as they are).</summary>
    public abstract void Apply(ResourceLimits limits);

    /// <summary>A container's cgroup as it was created, from its recorded directories.</summary>
    public static ContainerCgroup Existing(IReadOnlyList<string> directories, ILogger log, ICgroupFileSystem? fs = null,
        string mountRoot = MountRoot)
    {
        fs ??= KernelCgroupFileSystem.Instance;
        if (directories.Count == 0) throw new ContainerError("the container has no cgroup");
        if (DetectLayout(mountRoot) != CgroupLayout.Unified) return new CgroupV1(fs, log, mountRoot, directories);
        var dir = directories[0];
        return new CgroupV2(fs, log, Path.GetDirectoryName(dir)!, Path.GetFileName(dir));
    }

    /// <summary>The files a process writes "0" to in order to move itself in (the container's child does, while it
    /// still has a single thread).</summary>
    public virtual IEnumerable<string> MembershipFiles => Directories.Select(dir => $"{dir}/cgroup.procs");

    /// <summary>Removes every directory that exists. The container's processes are gone by then, but the
    /// kernel may still be releasing them (rmdir gives EBUSY), so this retries briefly.</summary>
    public void Remove() => Remove(Directories, Fs, Log);

    /// <summary>Removes a cgroup's directories, as <see cref="Remove()"/> does, given their paths (as a later command finds them).</summary>
    public static void Remove(IEnumerable<string> directories, ICgroupFileSystem fs, ILogger log)
    {
        foreach (var dir in directories)
        {
            var errno = fs.TryRemoveDirectory(dir);
            for (var attempt = 0; errno == Errno.EBUSY && attempt < 200; attempt++)
            {
                Thread.Sleep(1);
                errno = fs.TryRemoveDirectory(dir);
            }
            if (errno != 0) log.ZLogWarning($"cgroup {dir} not removed: {Errno.Describe(errno)}");
        }
    }

    /// <summary>Creates the container's directory, and its missing parents as runc does (an OCI cgroupsPath such as
    /// /default/ID names a parent that may not exist yet; runc leaves such parents in place, so does tiny).</summary>
    protected void MakeDirectory(string dir)
    {
        try
        {
            if (!MakeDirectoryAndParents(dir)) throw new ContainerError($"cgroup {dir} already exists: is a container with this name running?");
        }
        catch (SyscallException e)
        {
            throw new ContainerError($"cgroup: create {dir}: {Errno.Describe(e.Errno)}");
        }
    }

    bool MakeDirectoryAndParents(string dir)
    {
        try
        {
            return Fs.MakeDirectory(dir);
        }
        catch (SyscallException e) when (e.Errno == Errno.ENOENT && Path.GetDirectoryName(dir) is { Length: > 1 } parent)
        {
            MakeDirectoryAndParents(parent);
            return Fs.MakeDirectory(dir);
        }
    }

    /// <summary>Huge page limits in FILE.SIZE{suffix}, and in the reservation limit beside it (FILE.SIZE.rsvd{suffix},
    /// Linux 5.7) as runc writes both, skipping the reservation files from the first one the kernel lacks.</summary>
    protected void WriteHugepageLimits(string dir, IReadOnlyList<HugepageLimit> limits, string suffix)
    {
        var reservations = true;
        foreach (var limit in limits)
        {
            Write(dir, $"hugetlb.{limit.PageSize}{suffix}", limit.Limit.ToString());
            if (!reservations) continue;
            var file = $"hugetlb.{limit.PageSize}.rsvd{suffix}";
            var errno = Fs.TryWrite($"{dir}/{file}", limit.Limit.ToString());
            if (errno == Errno.ENOENT) reservations = false;
            else if (errno != 0) throw new ContainerError($"cgroup: write {limit.Limit} to {dir}/{file}: {Errno.Describe(errno)}");
        }
    }

    /// <summary>The first of <paramref name="candidates"/> that exists in <paramref name="dir"/>; none is an error naming
    /// the config field that needs it.</summary>
    protected string ExistingFile(string dir, string field, string why, params string[] candidates) =>
        candidates.FirstOrDefault(file => Fs.ReadOrNull($"{dir}/{file}") is not null)
        ?? throw new ContainerError($"{field}: {(candidates.Length == 1 ? $"{candidates[0]} does not exist" : $"neither {string.Join(" nor ", candidates)} exists")} in {dir} ({why})");

    protected void Write(string dir, string file, string value)
    {
        var path = $"{dir}/{file}";
        Log.ZLogInformation($"setting {file} to {value}");
        var errno = Fs.TryWrite(path, value);
        if (errno != 0) throw new ContainerError($"cgroup: write {value} to {path}: {Errno.Describe(errno)}");
    }

    /// <summary>The cgroup implementation for this host's layout, for a container of that name under the caller's cgroups.</summary>
    /// <param name="cgroupsPath">An OCI linux.cgroupsPath instead of tiny-NAME: absolute paths are taken from each
    /// hierarchy's root, relative ones from the caller's cgroup; the parent must exist.</param>
    /// <param name="delegatedOnly">Rootless: a cgroup only where the caller has been delegated the cgroup v2 subtree it
    /// would go in (it may write there), else <see cref="NoCgroup"/>.</param>
    /// <param name="limits">The limits the cgroup is made for: on v1 they decide which hierarchies beyond memory, cpu and
    /// pids it needs a directory in.</param>
    public static ContainerCgroup ForContainer(string name, ILogger log, ICgroupFileSystem? fs = null,
        string mountRoot = MountRoot, string? procSelfCgroup = null, string? cgroupsPath = null, ResourceLimits? limits = null,
        bool delegatedOnly = false)
    {
        fs ??= KernelCgroupFileSystem.Instance;
        var membership = procSelfCgroup ?? FileDescriptor.ReadAllText("/proc/self/cgroup");
        var dirName = cgroupsPath?.TrimEnd('/') ?? "tiny-" + name;
        var layout = DetectLayout(mountRoot);
        if (layout != CgroupLayout.Unified)
            return delegatedOnly
                ? new NoCgroup(fs, log, $"{mountRoot} is not a unified cgroup v2 hierarchy ({layout.ToString().ToLowerInvariant()} layout), so nothing can be delegated")
                : new CgroupV1(fs, log, mountRoot, membership, dirName, limits, hybrid: layout == CgroupLayout.Hybrid);
        var full = dirName.StartsWith('/') ? mountRoot + dirName : $"{mountRoot}{CgroupV1.PathOf(membership, "")}/{dirName}";
        var slash = full.LastIndexOf('/');
        var parent = full[..slash];
        if (delegatedOnly && !(FileSystem.IsWritable(parent) && FileSystem.IsWritable(parent + "/cgroup.procs")))
            return new NoCgroup(fs, log, $"{parent} is not delegated to this user");
        return new CgroupV2(fs, log, parent, full[(slash + 1)..]);
    }

    public static CgroupLayout DetectLayout(string mountRoot = MountRoot)
    {
        if (FileSystem.FileSystemType(mountRoot) == FileSystem.CGROUP2_SUPER_MAGIC) return CgroupLayout.Unified;
        return FileSystem.FileSystemType(mountRoot + "/unified") == FileSystem.CGROUP2_SUPER_MAGIC
            ? CgroupLayout.Hybrid
            : CgroupLayout.Legacy;
    }
}

/// <summary>No cgroup (rootless without a delegated subtree): the container stays in the caller's cgroup, and a limit,
/// which only a cgroup can hold, is refused rather than dropped.</summary>
public sealed class NoCgroup(ICgroupFileSystem fs, ILogger log, string reason) : ContainerCgroup(fs, log)
{
    public override IReadOnlyList<string> Directories => [];
    public override IReadOnlyList<(string Name, string Directory)> Hierarchies => [];

    public override void Create(ResourceLimits limits) => Apply(limits);

    public override void Apply(ResourceLimits limits)
    {
        if (limits != ResourceLimits.None)
            throw new ContainerError($"resource limits need a cgroup, and rootless tiny has none to use: {reason} (run without --memory, --cpus, --cpu-weight, --pids or linux.resources)");
    }
}
