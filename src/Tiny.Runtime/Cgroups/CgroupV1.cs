using Microsoft.Extensions.Logging;

namespace Tiny.Runtime.Cgroups;

/// <summary>cgroup v1: a directory in each of the memory, cpu, cpuacct (for `events`) and pids hierarchies.</summary>
public sealed class CgroupV1 : ContainerCgroup
{
    static readonly string[] Controllers = ["memory", "cpu", "cpuacct", "pids"];
    readonly Dictionary<string, string> _dirs = [];

    /// <param name="name">The directory below the caller's cgroup, or an absolute path from each hierarchy's root.</param>
    /// <param name="devices">Also a directory in the devices hierarchy (for device rules).</param>
    public CgroupV1(ICgroupFileSystem fs, ILogger log, string mountRoot, string procSelfCgroup, string name, bool devices = false) : base(fs, log)
    {
        foreach (var controller in devices ? [.. Controllers, "devices"] : Controllers)
        {
            // Where cpuacct is mounted with cpu ("cpu,cpuacct", both names linked to it), the cpu directory is both;
            // it only serves statistics, so a host without it goes without.
            if (controller == "cpuacct" && (HierarchyWith(procSelfCgroup, controller) is not { } names || names.Contains("cpu"))) continue;
            _dirs[controller] = name.StartsWith('/')
                ? $"{mountRoot}/{controller}{name}"
                : $"{mountRoot}/{controller}{PathOf(procSelfCgroup, controller).TrimEnd('/')}/{name}";
        }
    }

    /// <summary>The controllers of the hierarchy <paramref name="controller"/> is in, null when it is not mounted.</summary>
    static string[]? HierarchyWith(string procSelfCgroup, string controller) =>
        procSelfCgroup.Split('\n').Select(line => line.Split(':')).Where(parts => parts.Length == 3)
            .Select(parts => parts[1].Split(',')).FirstOrDefault(names => names.Contains(controller));

    public override IReadOnlyList<string> Directories => [.. _dirs.Values];

    public override IReadOnlyList<(string Name, string Directory)> Hierarchies => [.. _dirs.Select(d => (d.Key, d.Value))];

    // Writing a pid to "cgroup.procs" or "tasks" takes cgroup_threadgroup_rwsem for writing, and the
    // rcu_sync of that percpu rwsem waits for an RCU grace period (5-20 ms here) unless a writer passed
    // just before; "0" written to "tasks" moves the writing thread itself without it
    // (cgroup_procs_write_start() in kernel/cgroup/cgroup.c). The child is a single thread, so moving
    // that thread moves the process.
    protected override string MembershipFile => "tasks";

    /// <summary>A container's existing v1 cgroup, from its directories (/sys/fs/cgroup/CONTROLLER/...).</summary>
    public CgroupV1(ICgroupFileSystem fs, ILogger log, string mountRoot, IEnumerable<string> directories) : base(fs, log)
    {
        foreach (var dir in directories) _dirs[dir[(mountRoot.Length + 1)..].Split('/')[0]] = dir;
    }

    public override void Create(ResourceLimits limits)
    {
        foreach (var dir in _dirs.Values) MakeDirectory(dir);
        Apply(limits);
    }

    public override void Apply(ResourceLimits limits)
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
    }

    /// <summary>
    /// The caller's path in a hierarchy, from /proc/self/cgroup lines "ID:CONTROLLERS:PATH"
    /// (cgroups(7)); <paramref name="controller"/> "" picks the v2 line "0::PATH".
    /// </summary>
    public static string PathOf(string procSelfCgroup, string controller)
    {
        foreach (var line in procSelfCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3) continue;
            var matches = controller.Length == 0 ? parts[1].Length == 0 : parts[1].Split(',').Contains(controller);
            if (matches) return parts[2] == "/" ? "" : parts[2];
        }
        throw new ContainerError($"cgroup: the {(controller.Length == 0 ? "v2" : controller)} hierarchy is not mounted for this process");
    }
}
