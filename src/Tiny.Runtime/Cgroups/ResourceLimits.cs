namespace Tiny.Runtime.Cgroups;

/// <summary>The limits a container's cgroup gets; null means unlimited / left as the kernel sets it.</summary>
/// <param name="CpuPeriodMicros">The CFS period <paramref name="CpuQuotaMicros"/> is measured against [default: <see cref="CpuPeriodMicros"/>].</param>
/// <param name="CpuShares">cgroup v1 cpu.shares as OCI configs give it (v2 gets the weight runc derives from it).</param>
public sealed record ResourceLimits(long? MemoryBytes = null, long? CpuQuotaMicros = null, int? CpuWeight = null, long? PidsMax = null,
    long? CpuPeriod = null, long? CpuShares = null)
{
    /// <summary>Device cgroup rules in order (OCI linux.resources.devices), null to leave device access as it is.</summary>
    public IReadOnlyList<DeviceRule>? DeviceRules { get; init; }

    /// <summary>Memory plus swap, as OCI's memory.swap and v1's memory.memsw.limit_in_bytes count it; -1 for unlimited.</summary>
    public long? MemorySwapBytes { get; init; }

    /// <summary>The CFS period that --cpus is expressed against, as Docker uses.</summary>
    public const long CpuPeriodMicros = 100_000;

    public static ResourceLimits None { get; } = new();

    /// <summary>cgroup v1 cpu.shares for a v2 cpu.weight: the least shares that runc's mapping
    /// weight = 1 + (shares - 2) * 9999 / 262142 turns back into this weight.</summary>
    public static long SharesForWeight(int weight) => 2 + ((weight - 1L) * 262142 + 9998) / 9999;

    /// <summary>runc's cpu.shares to cpu.weight mapping (cgroups ConvertCPUSharesToCgroupV2Value).</summary>
    public static int WeightForShares(long shares) => (int)(1 + (shares - 2) * 9999 / 262142);

    public long Period => CpuPeriod ?? CpuPeriodMicros;
    public bool LimitsCpu => CpuQuotaMicros is not null || CpuPeriod is not null || CpuWeight is not null || CpuShares is not null;
}

/// <summary>One device cgroup rule: <paramref name="Type"/> 'a' (all), 'c' or 'b'; a null major or minor is any.</summary>
public sealed record DeviceRule(bool Allow, char Type, long? Major, long? Minor, string Access)
{
    /// <summary>The line for v1 devices.allow / devices.deny ("c 1:3 rwm"); all devices is just "a" (cgroup-v1/devices.rst).</summary>
    public string V1Line => Type == 'a' ? "a" : $"{Type} {Major?.ToString() ?? "*"}:{Minor?.ToString() ?? "*"} {Access}";

    /// <summary>runc's default allow list, appended after a config's rules (libcontainer/specconv AllowedDevices):
    /// the standard nodes, every pty and /dev/ptmx, /dev/net/tun, and mknod of any char or block device.</summary>
    public static readonly DeviceRule[] RuncDefaults =
    [
        new(true, 'c', null, null, "m"), new(true, 'b', null, null, "m"),
        new(true, 'c', 1, 3, "rwm"), new(true, 'c', 1, 8, "rwm"), new(true, 'c', 1, 7, "rwm"), new(true, 'c', 5, 0, "rwm"),
        new(true, 'c', 1, 5, "rwm"), new(true, 'c', 1, 9, "rwm"), new(true, 'c', 136, null, "rwm"), new(true, 'c', 5, 2, "rwm"),
        new(true, 'c', 10, 200, "rwm"),
    ];
}
