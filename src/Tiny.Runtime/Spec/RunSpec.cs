using Tiny.Runtime.Cgroups;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Security;

namespace Tiny.Runtime.Spec;

public enum NetworkMode { None, Host, Bridge }

/// <summary>What `--net bridge` asks for, as typed: validated when the network is prepared.</summary>
public sealed record BridgeOptions(string? Subnet, string? Ip, IReadOnlyList<string> Publish);

/// <summary>A validated container to run: what `tiny run` options (and later OCI configs) become.</summary>
public sealed record RunSpec
{
    public required string Id { get; init; }
    public required string Hostname { get; init; }
    /// <summary>The root file system directory; null means the host's own root, read-only.</summary>
    public string? Rootfs { get; init; }
    public bool ReadonlyRootfs { get; init; }
    /// <summary>Volumes, tmpfs and other mounts, made in this order after the rootfs's own.</summary>
    public IReadOnlyList<MountRequest> Mounts { get; init; } = [];
    public required IReadOnlyList<string> Command { get; init; }
    /// <summary>Run tiny's own init as PID 1 (<see cref="Plan.RunAsInit"/>) instead of the command.</summary>
    public bool Init { get; init; }
    public required IReadOnlyList<string> Env { get; init; }
    public string Workdir { get; init; } = "/";
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public IReadOnlyList<uint> AdditionalGids { get; init; } = [];
    public CapabilitySet Capabilities { get; init; } = CapabilitySet.DockerDefault;
    public ResourceLimits Limits { get; init; } = ResourceLimits.None;
    public NetworkMode Network { get; init; } = NetworkMode.None;
    /// <summary>Set when <see cref="Network"/> is <see cref="NetworkMode.Bridge"/>.</summary>
    public BridgeOptions? Bridge { get; init; }
    /// <summary>A pseudoterminal for the command (-t); with <see cref="Interactive"/>, tiny's input goes to it (-i).</summary>
    public bool Tty { get; init; }
    public bool Interactive { get; init; }
    /// <summary>The seccomp option as given: null for the default profile, "unconfined", or a profile path.</summary>
    public string? Seccomp { get; init; }

    /// <summary>The rootfs as the user named it, for messages.</summary>
    public string RootfsDisplay => Rootfs ?? "/";
}
