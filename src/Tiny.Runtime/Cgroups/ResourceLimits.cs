namespace Tiny.Runtime.Cgroups;

/// <summary>The limits a container's cgroup gets; null means unlimited / left as the kernel sets it.</summary>
/// <param name="CpuPeriodMicros">The CFS period <paramref name="CpuQuotaMicros"/> is measured against [default: <see cref="CpuPeriodMicros"/>].</param>
/// <param name="CpuShares">cgroup v1 cpu.shares as OCI configs give it (v2 gets the weight runc derives from it).</param>
public sealed record ResourceLimits(long? MemoryBytes = null, long? CpuQuotaMicros = null, int? CpuWeight = null, long? PidsMax = null,
    long? CpuPeriod = null, long? CpuShares = null)
{
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
