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
    /// <summary>The terminal's size when it is made (OCI process.consoleSize), unless tiny's own terminal gives one; null leaves the kernel's.</summary>
    public Interop.Terminal.WindowSize? ConsoleSize { get; init; }
    /// <summary>The host's NOTIFY_SOCKET (systemd Type=notify), passed through by <see cref="Launch.NotifyRelay"/>; null when unset.</summary>
    public string? NotifySocket { get; init; }
    /// <summary>The seccomp option as given: null for the default profile, "unconfined", or a profile path.</summary>
    public string? Seccomp { get; init; }

    // What OCI configs set beyond `tiny run`'s options; the defaults are tiny run's behaviour.
    /// <summary>The domain name to set; null leaves it as the UTS namespace has it.</summary>
    public string? Domainname { get; init; }
    public uint Umask { get; init; } = 0x12 /* 022 */;
    /// <summary>The five capability sets; null gives every set but ambient <see cref="Capabilities"/>.</summary>
    public ProcessCapabilities? CapabilitySets { get; init; }
    public IReadOnlyList<Rlimit> Rlimits { get; init; } = [];
    public bool NoNewPrivileges { get; init; } = true;
    /// <summary>Written to /proc/PID/oom_score_adj by the parent; null leaves the inherited value.</summary>
    public int? OomScoreAdj { get; init; }
    /// <summary>The namespaces, new or joined; null is tiny run's set (mount, uts, ipc, pid, cgroup, and net unless host).</summary>
    public IReadOnlyList<NamespaceRequest>? Namespaces { get; init; }
    /// <summary>null: Docker's masked and read-only paths.</summary>
    public IReadOnlyList<string>? MaskedPaths { get; init; }
    public IReadOnlyList<string>? ReadonlyPaths { get; init; }
    /// <summary>The propagation flags "/" gets in the container's mount namespace (MS_REC | MS_PRIVATE for tiny run).</summary>
    public ulong RootPropagation { get; init; } = Interop.Mount.MS_REC | Interop.Mount.MS_PRIVATE;
    /// <summary>Written under /proc/sys before the read-only paths are applied, in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Sysctl { get; init; } = [];
    /// <summary>The OCI linux.cgroupsPath; null puts tiny-ID under the caller's cgroup.</summary>
    public string? CgroupsPath { get; init; }
    /// <summary>How many fds after stdio the command inherits (3 to 3 + N - 1).</summary>
    public int PreserveFds { get; init; }
    /// <summary>SECCOMP_FILTER_FLAG_* bits to load the filter with.</summary>
    public uint SeccompFlags { get; init; }
    /// <summary>The user namespace to run in (its maps, or <see cref="Spec.UserNamespace.Auto"/> until leased); null for none.</summary>
    public UserNamespace? UserNamespace { get; init; }
    /// <summary>Bind the host's device nodes instead of making them: set when tiny itself runs in a user namespace
    /// (rootless podman's), where mknod(2) of a device is EPERM as in one of the container's own.</summary>
    public bool BindDevices { get; init; }
    /// <summary>Device nodes to create under /dev (OCI linux.devices).</summary>
    public IReadOnlyList<Mounts.DeviceNode> Devices { get; init; } = [];
    /// <summary>Flags and data for the /proc, /sys and /dev mounts tiny makes itself, where a config gives its own.</summary>
    public IReadOnlyList<Mounts.StandardMount> StandardMounts { get; init; } = [];
    /// <summary>The flags of a read-only view of the container's own cgroups at /sys/fs/cgroup (an OCI "cgroup" mount), null for none.</summary>
    public ulong? CgroupMountFlags { get; init; }
    /// <summary>In a user namespace: the parent id-maps the rootfs so that files of host root look the container
    /// root's (tiny run as root); otherwise the rootfs is bound as it is (OCI bundles, as runc; rootless).</summary>
    public bool IdMappedRootfs { get; init; }
    /// <summary>Rootless with a gid map of the caller's own gid only: /proc/PID/setgroups is "deny" (the kernel's
    /// condition for an unprivileged gid_map, user_namespaces(7)), so setgroups(2) fails and is not called.</summary>
    public bool SetgroupsDenied { get; init; }
    /// <summary>The persona personality(2) sets just before exec (OCI linux.personality); null leaves the caller's.</summary>
    public ulong? Personality { get; init; }
    /// <summary>The OCI config's hooks; null for none (tiny run).</summary>
    public ContainerHooks? Hooks { get; init; }

    /// <summary>The rootfs as the user named it, for messages.</summary>
    public string RootfsDisplay => Rootfs ?? "/";
}

/// <summary>The capability sets of capabilities(7), as an OCI process lists them.</summary>
public sealed record ProcessCapabilities(CapabilitySet Bounding, CapabilitySet Effective, CapabilitySet Permitted,
    CapabilitySet Inheritable, CapabilitySet Ambient);

/// <summary>One resource limit: <see cref="Resource"/> is the RLIMIT_* number (getrlimit(2)).</summary>
public sealed record Rlimit(int Resource, ulong Soft, ulong Hard);

/// <summary>A namespace (one CLONE_NEW* flag): new when <see cref="Path"/> is null, else the one at that path joined.</summary>
public sealed record NamespaceRequest(ulong Type, string? Path = null);
