using Microsoft.Extensions.Logging;

namespace Tiny.Runtime.Cgroups;

/// <summary>cgroup v2: one directory; the controllers a limit needs are enabled in the parent first.</summary>
public sealed class CgroupV2(ICgroupFileSystem fs, ILogger log, string parentDir, string name) : ContainerCgroup(fs, log)
{
    readonly string _dir = $"{parentDir.TrimEnd('/')}/{name}";

    public override IReadOnlyList<string> Directories => [_dir];

    public override IReadOnlyList<(string Name, string Directory)> Hierarchies => [("", _dir)];

    public override void Create(ResourceLimits limits)
    {
        if (limits.DeviceRules is not null)
            throw new ContainerError("linux.resources.devices: on cgroup v2 device rules need a BPF device program, which tiny does not load");
        EnableControllers(limits);
        MakeDirectory(_dir);
        Apply(limits);
    }

    public override void Apply(ResourceLimits limits)
    {
        if (limits.MemoryBytes is { } memory) Write(_dir, "memory.max", memory.ToString());
        // v2 counts swap alone (runc's ConvertMemorySwapToCgroupV2Value).
        if (limits.MemorySwapBytes is { } swap)
            Write(_dir, "memory.swap.max", swap < 0 ? "max" : (swap - (limits.MemoryBytes ?? 0)).ToString());
        if (limits.CpuQuotaMicros is not null || limits.CpuPeriod is not null)
            Write(_dir, "cpu.max", $"{limits.CpuQuotaMicros?.ToString() ?? "max"} {limits.Period}");
        if (limits.CpuWeight is { } weight) Write(_dir, "cpu.weight", weight.ToString());
        if (limits.CpuShares is { } shares) Write(_dir, "cpu.weight", ResourceLimits.WeightForShares(shares).ToString());
        if (limits.PidsMax is { } pids) Write(_dir, "pids.max", pids.ToString());
    }

    /// <summary>
    /// A limit file exists in a child only when the parent's cgroup.subtree_control lists its controller.
    /// The kernel refuses that write (EBUSY) while the parent holds processes itself: the "no internal
    /// processes" rule of cgroups(7); the error then names the parent.
    /// </summary>
    void EnableControllers(ResourceLimits limits)
    {
        List<string> needed = [];
        if (limits.MemoryBytes is not null) needed.Add("memory");
        if (limits.LimitsCpu) needed.Add("cpu");
        if (limits.PidsMax is not null) needed.Add("pids");
        if (needed.Count == 0) return;

        var enabled = (Fs.ReadOrNull($"{parentDir}/cgroup.subtree_control") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var missing = needed.Where(c => !enabled.Contains(c)).ToList();
        if (missing.Count == 0) return;
        var available = (Fs.ReadOrNull($"{parentDir}/cgroup.controllers") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unavailable = missing.Where(c => !available.Contains(c)).ToList();
        if (unavailable.Count > 0)
            throw new ContainerError($"cgroup: controller {string.Join(", ", unavailable)} is not available in {parentDir}");
        Write(parentDir, "cgroup.subtree_control", string.Join(' ', missing.Select(c => "+" + c)));
    }
}
