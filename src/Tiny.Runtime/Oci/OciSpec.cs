using System.Text.Json.Serialization;
using Tiny.Runtime.Security;
using Tiny.Runtime.Seccomp;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Oci;

/// <summary>The runtime spec version tiny implements, the default config `tiny spec` writes, and `tiny features`.</summary>
public static class OciSpec
{
    public const string Version = "1.2.0";

    /// <summary>
    /// runc spec's starter config (a shell in a read-only rootfs/, three capabilities, rlimit nofile 1024, runc's
    /// masked and read-only paths), less what tiny cannot run yet: the /sys/fs/cgroup mount and the device cgroup rule.
    /// </summary>
    /// <param name="cgroupNamespace">A cgroup namespace too: runc's has one on a cgroup v2 host only.</param>
    public static OciConfig DefaultConfig(bool cgroupNamespace)
    {
        string[] caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
        return new OciConfig
        {
            OciVersion = Version,
            Process = new OciProcess
            {
                Terminal = true,
                User = new OciUser { Uid = 0, Gid = 0 },
                Args = ["sh"],
                Env = [$"PATH={RunDefaults.Path}", "TERM=xterm"],
                Cwd = "/",
                Capabilities = new OciCapabilities { Bounding = caps, Effective = caps, Permitted = caps, Ambient = caps },
                Rlimits = [new OciRlimit { Type = "RLIMIT_NOFILE", Hard = 1024, Soft = 1024 }],
                NoNewPrivileges = true,
            },
            Root = new OciRoot { Path = "rootfs", Readonly = true },
            Hostname = "tiny",
            Mounts = OciMounts.Standard
                .Select(m => new OciMount
                {
                    Destination = m.Destination, Type = m.Type, Source = m.Source,
                    Options = m.Options.Length == 0 ? null : m.Options,
                })
                .ToArray(),
            Linux = new OciLinux
            {
                Namespaces = new[] { "pid", "network", "ipc", "uts", "mount" }.Concat(cgroupNamespace ? ["cgroup"] : [])
                    .Select(type => new OciNamespace { Type = type }).ToArray(),
                MaskedPaths =
                [
                    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                ],
                ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            },
        };
    }

    /// <summary>
    /// The starter config made to run without root, as runc spec --rootless makes it: a user namespace mapping the
    /// caller's uid and gid to 0, the host's network (a new one would have no way out), the host's /sys bound
    /// read-only and no gid= on devpts (the starter config has no cgroup resources to drop).
    /// </summary>
    public static OciConfig RootlessConfig(uint uid, uint gid, bool cgroupNamespace)
    {
        var config = DefaultConfig(cgroupNamespace);
        var linux = config.Linux!;
        linux.Namespaces = linux.Namespaces!.Where(n => n.Type is not ("network" or "user")).Append(new OciNamespace { Type = "user" }).ToArray();
        linux.UidMappings = [new OciIdMapping { ContainerId = 0, HostId = uid, Size = 1 }];
        linux.GidMappings = [new OciIdMapping { ContainerId = 0, HostId = gid, Size = 1 }];
        config.Mounts = config.Mounts!
            .Select(m => OciMounts.RootlessStandard.FirstOrDefault(r => r.Destination == m.Destination) is { Destination: not null } r
                ? new OciMount { Destination = r.Destination, Type = r.Type, Source = r.Source, Options = r.Options }
                : m)
            .ToArray();
        return config;
    }

    /// <summary>What this build supports, in the runtime spec's features document format (features.md).</summary>
    /// <param name="release">tiny's version, given as an annotation (runc gives its own).</param>
    public static OciFeatures Features(string release) => new()
    {
        OciVersionMin = "1.0.0",
        OciVersionMax = Version,
        Hooks = [.. Enum.GetValues<HookKind>().Select(ContainerHooks.NameOf)],
        MountOptions = OciMounts.OptionNames,
        Linux = new LinuxFeatures
        {
            Namespaces = OciConversion.NamespaceTypes.Select(t => t.Name).ToArray(),
            Capabilities = Enumerable.Range(0, CapabilitySet.Last + 1).Select(i => CapabilitySet.NameOf((Capability)i)).ToArray(),
            Cgroup = new CgroupFeatures { V1 = true, V2 = true, Systemd = false, SystemdUser = false, Rdma = false },
            Seccomp = new SeccompFeatures
            {
                Enabled = true,
                Actions = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                Operators = ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                Archs = SyscallArches.All.Select(a => a.ScmpName()).ToArray(),
                KnownFlags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                SupportedFlags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            },
            Apparmor = new EnabledFeature { Enabled = false },
            Selinux = new EnabledFeature { Enabled = false },
            IntelRdt = new EnabledFeature { Enabled = false },
        },
        Annotations = new() { ["tiny.version"] = release },
    };
}

public sealed class OciFeatures
{
    public string OciVersionMin { get; set; } = "";
    public string OciVersionMax { get; set; } = "";
    public string[] Hooks { get; set; } = [];
    public string[] MountOptions { get; set; } = [];
    public LinuxFeatures? Linux { get; set; }
    public Dictionary<string, string> Annotations { get; set; } = [];
}

public sealed class LinuxFeatures
{
    public string[] Namespaces { get; set; } = [];
    public string[] Capabilities { get; set; } = [];
    public CgroupFeatures? Cgroup { get; set; }
    public SeccompFeatures? Seccomp { get; set; }
    public EnabledFeature? Apparmor { get; set; }
    public EnabledFeature? Selinux { get; set; }
    public EnabledFeature? IntelRdt { get; set; }
}

public sealed class CgroupFeatures
{
    public bool V1 { get; set; }
    public bool V2 { get; set; }
    public bool Systemd { get; set; }
    public bool SystemdUser { get; set; }
    public bool Rdma { get; set; }
}

public sealed class SeccompFeatures
{
    public bool Enabled { get; set; }
    public string[] Actions { get; set; } = [];
    public string[] Operators { get; set; } = [];
    public string[] Archs { get; set; } = [];
    public string[] KnownFlags { get; set; } = [];
    public string[] SupportedFlags { get; set; } = [];
}

public sealed class EnabledFeature
{
    public bool Enabled { get; set; }
}

[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Serialization, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OciFeatures))]
public sealed partial class FeaturesJsonContext : JsonSerializerContext;
