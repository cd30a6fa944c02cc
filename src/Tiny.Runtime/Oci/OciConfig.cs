using System.Text.Json;
using System.Text.Json.Serialization;
using Tiny.Runtime.Seccomp;

namespace Tiny.Runtime.Oci;

/// <summary>
/// A bundle's config.json as the OCI runtime spec (1.2) defines it, Linux fields only. Every field
/// the spec names is here, so that <see cref="OciConversion"/> can refuse, by name, the ones tiny
/// does not implement; unknown properties are ignored as the spec requires (config.md, "Extensibility").
/// </summary>
public sealed class OciConfig
{
    public string? OciVersion { get; set; }
    public OciProcess? Process { get; set; }
    public OciRoot? Root { get; set; }
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }
    public OciMount[]? Mounts { get; set; }
    public OciHooks? Hooks { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
    public OciLinux? Linux { get; set; }
    public JsonElement? Solaris { get; set; }
    public JsonElement? Windows { get; set; }
    public JsonElement? Vm { get; set; }
    public JsonElement? Zos { get; set; }
}

/// <summary>config.json's hooks (config.md, "POSIX-platform Hooks"), kept in the state for start and delete.</summary>
public sealed class OciHooks
{
    public OciHook[]? Prestart { get; set; }
    public OciHook[]? CreateRuntime { get; set; }
    public OciHook[]? CreateContainer { get; set; }
    public OciHook[]? StartContainer { get; set; }
    public OciHook[]? Poststart { get; set; }
    public OciHook[]? Poststop { get; set; }
}

public sealed class OciHook
{
    public string? Path { get; set; }
    public string[]? Args { get; set; }
    public string[]? Env { get; set; }
    public int? Timeout { get; set; }
}

public sealed class OciProcess
{
    public bool Terminal { get; set; }
    public OciConsoleSize? ConsoleSize { get; set; }
    public OciUser? User { get; set; }
    public string[]? Args { get; set; }
    public string? CommandLine { get; set; }
    public string[]? Env { get; set; }
    public string? Cwd { get; set; }
    public OciCapabilities? Capabilities { get; set; }
    public OciRlimit[]? Rlimits { get; set; }
    public bool NoNewPrivileges { get; set; }
    public string? ApparmorProfile { get; set; }
    public int? OomScoreAdj { get; set; }
    public JsonElement? Scheduler { get; set; }
    public string? SelinuxLabel { get; set; }
    public JsonElement? IoPriority { get; set; }
    [JsonPropertyName("execCPUAffinity")]
    public JsonElement? ExecCpuAffinity { get; set; }
}

public sealed class OciConsoleSize
{
    public uint Height { get; set; }
    public uint Width { get; set; }
}

public sealed class OciUser
{
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public uint? Umask { get; set; }
    public uint[]? AdditionalGids { get; set; }
    public string? Username { get; set; }
}

public sealed class OciCapabilities
{
    public string[]? Bounding { get; set; }
    public string[]? Effective { get; set; }
    public string[]? Inheritable { get; set; }
    public string[]? Permitted { get; set; }
    public string[]? Ambient { get; set; }
}

public sealed class OciRlimit
{
    public string? Type { get; set; }
    public ulong Hard { get; set; }
    public ulong Soft { get; set; }
}

public sealed class OciRoot
{
    public string? Path { get; set; }
    public bool Readonly { get; set; }
}

public sealed class OciMount
{
    public string? Destination { get; set; }
    public string? Source { get; set; }
    public string? Type { get; set; }
    public string[]? Options { get; set; }
    public JsonElement? UidMappings { get; set; }
    public JsonElement? GidMappings { get; set; }
}

/// <summary>One line of linux.uidMappings or gidMappings.</summary>
public sealed class OciIdMapping
{
    [JsonPropertyName("containerID")]
    public uint ContainerId { get; set; }
    [JsonPropertyName("hostID")]
    public uint HostId { get; set; }
    public uint Size { get; set; }
}

public sealed class OciLinux
{
    public OciNamespace[]? Namespaces { get; set; }
    public OciIdMapping[]? UidMappings { get; set; }
    public OciIdMapping[]? GidMappings { get; set; }
    public JsonElement? TimeOffsets { get; set; }
    public OciDevice[]? Devices { get; set; }
    public JsonElement? NetDevices { get; set; }
    public string? CgroupsPath { get; set; }
    public string? RootfsPropagation { get; set; }
    public OciResources? Resources { get; set; }
    public Dictionary<string, string>? Sysctl { get; set; }
    public LinuxSeccomp? Seccomp { get; set; }
    public string[]? MaskedPaths { get; set; }
    public string[]? ReadonlyPaths { get; set; }
    public string? MountLabel { get; set; }
    public OciPersonality? Personality { get; set; }
    public JsonElement? IntelRdt { get; set; }
    public JsonElement? MemoryPolicy { get; set; }
}

/// <summary>A device node to create in the container (linux.devices).</summary>
public sealed class OciDevice
{
    public string? Type { get; set; }
    public string? Path { get; set; }
    public long Major { get; set; }
    public long Minor { get; set; }
    public uint? FileMode { get; set; }
    public uint? Uid { get; set; }
    public uint? Gid { get; set; }
}

/// <summary>A device cgroup rule (linux.resources.devices); a missing type, major or minor means all.</summary>
public sealed class OciDeviceRule
{
    public bool Allow { get; set; }
    public string? Type { get; set; }
    public long? Major { get; set; }
    public long? Minor { get; set; }
    public string? Access { get; set; }
}

public sealed class OciNamespace
{
    public string? Type { get; set; }
    public string? Path { get; set; }
}

public sealed class OciResources
{
    public OciDeviceRule[]? Devices { get; set; }
    public OciMemory? Memory { get; set; }
    public OciCpu? Cpu { get; set; }
    public OciPids? Pids { get; set; }
    [JsonPropertyName("blockIO")]
    public OciBlockIo? BlockIo { get; set; }
    public OciHugepageLimit[]? HugepageLimits { get; set; }
    public JsonElement? Network { get; set; }
    public JsonElement? Rdma { get; set; }
    public JsonElement? Unified { get; set; }
}

public sealed class OciMemory
{
    public long? Limit { get; set; }
    public long? Reservation { get; set; }
    public long? Swap { get; set; }
    public long? Kernel { get; set; }
    [JsonPropertyName("kernelTCP")]
    public long? KernelTcp { get; set; }
    public ulong? Swappiness { get; set; }
    [JsonPropertyName("disableOOMKiller")]
    public bool? DisableOomKiller { get; set; }
    public bool? UseHierarchy { get; set; }
    public bool? CheckBeforeUpdate { get; set; }
}

public sealed class OciCpu
{
    public ulong? Shares { get; set; }
    public long? Quota { get; set; }
    public ulong? Burst { get; set; }
    public ulong? Period { get; set; }
    public long? RealtimeRuntime { get; set; }
    public ulong? RealtimePeriod { get; set; }
    public string? Cpus { get; set; }
    public string? Mems { get; set; }
    public long? Idle { get; set; }
}

public sealed class OciPids
{
    public long? Limit { get; set; }
}

/// <summary>linux.resources.blockIO: weights (10 to 1000) and per-device throttles.</summary>
public sealed class OciBlockIo
{
    public int? Weight { get; set; }
    public int? LeafWeight { get; set; }
    public OciWeightDevice[]? WeightDevice { get; set; }
    public OciThrottleDevice[]? ThrottleReadBpsDevice { get; set; }
    public OciThrottleDevice[]? ThrottleWriteBpsDevice { get; set; }
    [JsonPropertyName("throttleReadIOPSDevice")]
    public OciThrottleDevice[]? ThrottleReadIopsDevice { get; set; }
    [JsonPropertyName("throttleWriteIOPSDevice")]
    public OciThrottleDevice[]? ThrottleWriteIopsDevice { get; set; }
}

public sealed class OciWeightDevice
{
    public long Major { get; set; }
    public long Minor { get; set; }
    public int? Weight { get; set; }
    public int? LeafWeight { get; set; }
}

public sealed class OciThrottleDevice
{
    public long Major { get; set; }
    public long Minor { get; set; }
    public ulong Rate { get; set; }
}

public sealed class OciHugepageLimit
{
    public string? PageSize { get; set; }
    public ulong Limit { get; set; }
}

/// <summary>linux.personality: the execution domain (LINUX or LINUX32) of the container's processes.</summary>
public sealed class OciPersonality
{
    public string? Domain { get; set; }
    public string[]? Flags { get; set; }
}

[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(OciConfig))]
[JsonSerializable(typeof(OciProcess))]
[JsonSerializable(typeof(OciResources))]
public sealed partial class OciJsonContext : JsonSerializerContext;
