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
        if (limits.BlockIo is { } io) WriteBlockIo(io);
        if (limits.HugepageLimits is { } hugepages) WriteHugepageLimits(_dir, hugepages, ".max");
    }

    /// <summary>
    /// As runc: the weight to io.bfq.weight as it is when BFQ's file exists, else to io.weight mapped to its 1-10000 range;
    /// a device's weight to io.bfq.weight when it takes per-device lines (Linux 5.4: it then reads "default N" and
    /// device lines, not a bare number), else to io.weight, which takes them too; throttles as one io.max line per device
    /// with its non-zero rates. v2 has no leaf weights.
    /// </summary>
    void WriteBlockIo(BlockIoLimits io)
    {
        if (io.LeafWeight is not null || io.WeightDevices.Any(d => d.LeafWeight is not null))
            throw new ContainerError("linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weights");
        var bfq = Fs.ReadOrNull($"{_dir}/io.bfq.weight");
        if (io.Weight is { } weight)
        {
            if (bfq is not null) Write(_dir, "io.bfq.weight", weight.ToString());
            else Write(_dir, "io.weight", BlockIoLimits.IoWeight(weight).ToString());
        }
        var bfqPerDevice = bfq is not null && !long.TryParse(bfq.Trim(), out _);
        foreach (var device in io.WeightDevices)
            if (device.Weight is { } w)
            {
                if (bfqPerDevice) Write(_dir, "io.bfq.weight", $"{device.Device} {w}");
                else Write(_dir, "io.weight", $"{device.Device} {BlockIoLimits.IoWeight(w)}");
            }
        var throttled = io.Throttles.SelectMany(t => t.Rates.Where(r => r.Rate != 0).Select(r => (r.Device, Setting: $"{t.V2Key}={r.Rate}")));
        foreach (var device in throttled.GroupBy(t => t.Device))
            Write(_dir, "io.max", $"{device.Key} {string.Join(' ', device.Select(t => t.Setting))}");
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
        if (limits.BlockIo is not null) needed.Add("io");
        if (limits.HugepageLimits is not null) needed.Add("hugetlb");
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
