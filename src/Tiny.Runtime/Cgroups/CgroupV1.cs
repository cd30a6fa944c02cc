using Microsoft.Extensions.Logging;

namespace Tiny.Runtime.Cgroups;

/// <summary>cgroup v1: a directory in each of the memory, cpu, cpuacct (for `events`) and pids hierarchies, and in the devices, blkio and hugetlb
/// ones when the limits need them. On a hybrid host, a limit whose controller is not a v1 hierarchy but is bound to the
/// v2 tree (mounted at unified/) gets a directory there (<see cref="CgroupV2"/>) too.</summary>
public sealed class CgroupV1 : ContainerCgroup
{
    static readonly string[] Controllers = ["memory", "cpu", "cpuacct", "pids"];

    const string Unified = "unified";

    readonly Dictionary<string, string> _dirs = [];
    readonly CgroupV2? _unified;

    /// <param name="name">The directory below the caller's cgroup, or an absolute path from each hierarchy's root.</param>
    /// <param name="limits">The limits it is made for: device rules need the devices hierarchy, blockIO blkio, huge page limits hugetlb.</param>
    /// <param name="hybrid">Whether a v2 tree is mounted at unified/ beside the v1 hierarchies.</param>
    public CgroupV1(ICgroupFileSystem fs, ILogger log, string mountRoot, string procSelfCgroup, string name, ResourceLimits? limits = null,
        bool hybrid = false) : base(fs, log)
    {
        string DirectoryIn(string hierarchy, string controller) => name.StartsWith('/')
            ? $"{mountRoot}/{hierarchy}{name}"
            : $"{mountRoot}/{hierarchy}{PathOf(procSelfCgroup, controller).TrimEnd('/')}/{name}";

        limits ??= ResourceLimits.None;
        List<string> controllers = [.. Controllers];
        if (limits.DeviceRules is not null) controllers.Add("devices");
        if (limits.BlockIo is not null) controllers.Add("blkio");
        if (limits.HugepageLimits is not null) controllers.Add("hugetlb");
        foreach (var controller in controllers)
        {
            // Where cpuacct is mounted with cpu ("cpu,cpuacct", both names linked to it), the cpu directory is both;
            // it only serves statistics, so a host without it goes without.
            if (controller == "cpuacct" && (!FindHierarchy(procSelfCgroup, controller, out var names, out _) || Lists(names, "cpu"))) continue;
            // On a hybrid host blkio and hugetlb may be taken from the v2 tree where no v1 hierarchy has them.
            if (hybrid && controller is "blkio" or "hugetlb" && !FindHierarchy(procSelfCgroup, controller, out _, out _))
            {
                var dir = DirectoryIn(Unified, "");
                _unified ??= new CgroupV2(fs, log, Path.GetDirectoryName(dir)!, Path.GetFileName(dir));
            }
            else _dirs[controller] = DirectoryIn(controller, controller);
        }
    }

    /// <summary>A container's existing v1 cgroup, from its directories (/sys/fs/cgroup/CONTROLLER/... and, on a hybrid
    /// host, /sys/fs/cgroup/unified/...).</summary>
    public CgroupV1(ICgroupFileSystem fs, ILogger log, string mountRoot, IEnumerable<string> directories) : base(fs, log)
    {
        foreach (var dir in directories)
        {
            var hierarchy = dir[(mountRoot.Length + 1)..].Split('/')[0];
            if (hierarchy == Unified) _unified = new CgroupV2(fs, log, Path.GetDirectoryName(dir)!, Path.GetFileName(dir));
            else _dirs[hierarchy] = dir;
        }
    }

    public override IReadOnlyList<string> Directories => [.. _dirs.Values, .. _unified?.Directories ?? []];

    public override IReadOnlyList<(string Name, string Directory)> Hierarchies =>
        [.. _dirs.Select(d => (d.Key, d.Value)), .. (_unified?.Directories ?? []).Select(d => (Unified, d))];

    // Writing a pid to "cgroup.procs" or "tasks" takes cgroup_threadgroup_rwsem for writing, and the
    // rcu_sync of that percpu rwsem waits for an RCU grace period (5-20 ms here) unless a writer passed
    // just before; "0" written to "tasks" moves the writing thread itself without it
    // (cgroup_procs_write_start() in kernel/cgroup/cgroup.c). The child is a single thread, so moving
    // that thread moves the process. The v2 tree has no "tasks", and its "cgroup.threads" moves a thread only
    // within one threaded domain, so joining the unified directory pays that wait: it is made only for a limit.
    public override IEnumerable<string> MembershipFiles =>
        [.. _dirs.Values.Select(dir => $"{dir}/tasks"), .. _unified?.MembershipFiles ?? []];

    public override void Create(ResourceLimits limits)
    {
        foreach (var dir in _dirs.Values) MakeDirectory(dir);
        ApplyV1(limits);
        _unified?.Create(UnifiedPart(limits));
    }

    public override void Apply(ResourceLimits limits)
    {
        ApplyV1(limits);
        _unified?.Apply(UnifiedPart(limits));
    }

    /// <summary>The limits that the v2 directory holds: those whose controller has no v1 directory.</summary>
    ResourceLimits UnifiedPart(ResourceLimits limits) => ResourceLimits.None with
    {
        BlockIo = _dirs.ContainsKey("blkio") ? null : limits.BlockIo,
        HugepageLimits = _dirs.ContainsKey("hugetlb") ? null : limits.HugepageLimits,
    };

    void ApplyV1(ResourceLimits limits)
    {
        // Rules in order: "a" on devices.deny denies all and empties the list, a later allow adds an exception.
        foreach (var rule in limits.DeviceRules ?? [])
            Write(_dirs["devices"], rule.Allow ? "devices.allow" : "devices.deny", rule.V1Line);
        if (limits.MemoryBytes is { } memory) Write(_dirs["memory"], "memory.limit_in_bytes", memory.ToString());
        // Written after the memory limit: the kernel refuses a memsw limit below it.
        if (limits.MemorySwapBytes is { } swap) Write(_dirs["memory"], "memory.memsw.limit_in_bytes", swap.ToString());
        if (limits.CpuQuotaMicros is not null || limits.CpuPeriod is not null)
            Write(_dirs["cpu"], "cpu.cfs_period_us", limits.Period.ToString());
        if (limits.CpuQuotaMicros is { } quota) Write(_dirs["cpu"], "cpu.cfs_quota_us", quota.ToString());
        if (limits.CpuWeight is { } weight) Write(_dirs["cpu"], "cpu.shares", ResourceLimits.SharesForWeight(weight).ToString());
        if (limits.CpuShares is { } shares) Write(_dirs["cpu"], "cpu.shares", shares.ToString());
        if (limits.PidsMax is { } pids) Write(_dirs["pids"], "pids.max", pids.ToString());
        if (limits.BlockIo is { } io)
        {
            if (_dirs.TryGetValue("blkio", out var blkio)) WriteBlockIo(blkio, io);
            else if (_unified is null) throw new ContainerError("linux.resources.blockIO: the container was created without a blkio cgroup");
        }
        if (limits.HugepageLimits is { } hugepages && _dirs.TryGetValue("hugetlb", out var hugetlb))
            WriteHugepageLimits(hugetlb, hugepages, ".limit_in_bytes");
    }

    /// <summary>As runc: the weight files of the scheduler in use, blkio.weight (CFQ, before Linux 5.0) or else
    /// blkio.bfq.weight (BFQ; the files exist only while some device uses it); throttles as "MAJ:MIN RATE" lines.</summary>
    void WriteBlockIo(string dir, BlockIoLimits io)
    {
        const string noScheduler = "no block device uses the BFQ scheduler";
        if (io.Weight is { } weight)
            Write(dir, ExistingFile(dir, "linux.resources.blockIO.weight", noScheduler, "blkio.bfq.weight", "blkio.weight"), weight.ToString());
        if (io.LeafWeight is { } leaf)
            Write(dir, ExistingFile(dir, "linux.resources.blockIO.leafWeight", "only CFQ, gone since Linux 5.0, had leaf weights", "blkio.leaf_weight"), leaf.ToString());
        foreach (var device in io.WeightDevices)
        {
            if (device.Weight is { } w)
                Write(dir, ExistingFile(dir, "linux.resources.blockIO.weightDevice", noScheduler, "blkio.bfq.weight_device", "blkio.weight_device"), $"{device.Device} {w}");
            if (device.LeafWeight is { } l)
                Write(dir, ExistingFile(dir, "linux.resources.blockIO.weightDevice.leafWeight", "only CFQ, gone since Linux 5.0, had leaf weights", "blkio.leaf_weight_device"), $"{device.Device} {l}");
        }
        foreach (var (file, _, rates) in io.Throttles)
            foreach (var rate in rates) Write(dir, file, $"{rate.Device} {rate.Rate}");
    }

    /// <summary>
    /// The line of /proc/self/cgroup, "ID:CONTROLLERS:PATH" (cgroups(7)), of the hierarchy <paramref name="controller"/>
    /// is in; "" picks the v2 line "0::PATH". Read over spans: splitting the file into strings at each call took
    /// 10 KB of a run's allocations.
    /// </summary>
    static bool FindHierarchy(string procSelfCgroup, string controller, out ReadOnlySpan<char> controllers, out ReadOnlySpan<char> path)
    {
        var file = procSelfCgroup.AsSpan();
        foreach (var lineRange in file.Split('\n'))
        {
            var line = file[lineRange];
            var id = line.IndexOf(':');
            var rest = line[(id + 1)..];
            var end = rest.IndexOf(':');
            if (id < 0 || end < 0) continue;
            controllers = rest[..end];
            path = rest[(end + 1)..];
            if (controller.Length == 0 ? controllers.IsEmpty : Lists(controllers, controller)) return true;
        }
        controllers = path = default;
        return false;
    }

    static bool Lists(ReadOnlySpan<char> controllers, string controller)
    {
        foreach (var name in controllers.Split(','))
            if (controllers[name].SequenceEqual(controller)) return true;
        return false;
    }

    /// <summary>The caller's path in a hierarchy; <paramref name="controller"/> "" picks the v2 one.</summary>
    public static string PathOf(string procSelfCgroup, string controller)
    {
        if (!FindHierarchy(procSelfCgroup, controller, out _, out var path))
            throw new ContainerError($"cgroup: the {(controller.Length == 0 ? "v2" : controller)} hierarchy is not mounted for this process");
        return path is "/" ? "" : path.ToString();
    }
}
