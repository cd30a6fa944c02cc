using Tiny.Runtime.Security;

namespace Tiny.Runtime.Seccomp;

/// <summary>A kernel release as <c>minKernel</c> compares it: major.minor.</summary>
public readonly record struct KernelVersion(int Major, int Minor) : IComparable<KernelVersion>
{
    /// <summary>A kernel newer than any a profile names.</summary>
    public static KernelVersion Newest { get; } = new(int.MaxValue, int.MaxValue);

    public int CompareTo(KernelVersion other) =>
        Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);

    public static bool operator >=(KernelVersion a, KernelVersion b) => a.CompareTo(b) >= 0;
    public static bool operator <=(KernelVersion a, KernelVersion b) => a.CompareTo(b) <= 0;
    public static bool operator >(KernelVersion a, KernelVersion b) => a.CompareTo(b) > 0;
    public static bool operator <(KernelVersion a, KernelVersion b) => a.CompareTo(b) < 0;

    /// <summary>Parses "4.8", "6.18.0-1-amd64" (moby's kernel.ParseRelease keeps major and minor).</summary>
    public static bool TryParse(string text, out KernelVersion version)
    {
        version = default;
        var parts = text.Trim().Split('.', 3);
        if (parts.Length < 2 || !int.TryParse(parts[0], out var major)) return false;
        var digits = new string(parts[1].TakeWhile(char.IsAsciiDigit).ToArray());
        if (!int.TryParse(digits, out var minor)) return false;
        version = new(major, minor);
        return true;
    }

    public static KernelVersion Running()
    {
        var release = File.ReadAllText("/proc/sys/kernel/osrelease");
        return TryParse(release, out var version)
            ? version
            : throw new ContainerError($"cannot parse the kernel release \"{release.Trim()}\"");
    }

    public override string ToString() => $"{Major}.{Minor}";
}

/// <summary>
/// moby's selection of profile groups (profiles/seccomp: setupSeccomp) and runc's reading of the result:
/// includes.caps needs every listed capability, excludes.caps drops a group if any is held, arches match the
/// native architecture's name only, minKernel "X.Y" means the running kernel is at least X.Y.
/// </summary>
public static class ProfileSelection
{
    /// <summary>libseccomp architectures outside the x86 family: accepted in profiles and skipped, since an x86 machine never reports them.</summary>
    static readonly string[] otherArchitectures =
    [
        "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
    ];

    /// <summary>Selects the groups of a Docker profile; null when the profile disables seccomp (no default action, no syscalls).</summary>
    public static SeccompRuleSet? Select(SeccompProfile profile, CapabilitySet caps, SyscallArch native,
        KernelVersion kernel, string source)
    {
        if (string.IsNullOrEmpty(profile.DefaultAction) && (profile.Syscalls is null || profile.Syscalls.Length == 0))
            return null;
        if (profile.ListenerPath is { Length: > 0 })
            throw new ContainerError($"seccomp profile {source}: listenerPath (seccomp user notification) is not supported");
        if (profile.Architectures is { Length: > 0 } && profile.ArchMap is { Length: > 0 })
            throw new ContainerError($"seccomp profile {source}: both 'architectures' and 'archMap' are given; use one");

        var listed = new List<SyscallArch>();
        if (profile.Architectures is { Length: > 0 })
        {
            AddArches(listed, profile.Architectures, source);
        }
        else if (profile.ArchMap is not null)
        {
            foreach (var entry in profile.ArchMap)
            {
                if (entry.Architecture != native.ScmpName()) continue;
                AddArches(listed, [entry.Architecture, .. entry.SubArchitectures ?? []], source);
                break;
            }
        }

        var defaultAction = SeccompActions.Parse(profile.DefaultAction, profile.DefaultErrnoRet, $"seccomp profile {source}: defaultAction");
        var groups = new List<SyscallGroup>();
        var syscalls = profile.Syscalls ?? [];
        for (var i = 0; i < syscalls.Length; i++)
        {
            var call = syscalls[i];
            var first = call.Name ?? call.Names?.FirstOrDefault();
            var where = $"seccomp profile {source}: syscalls[{i}]{(first is null ? "" : $" ({first})")}";
            if (!Applies(call, caps, native, kernel, where)) continue;
            if (!string.IsNullOrEmpty(call.Name) && call.Names is { Length: > 0 })
                throw new ContainerError($"{where}: both 'name' and 'names' are given; use one");
            string[] names = !string.IsNullOrEmpty(call.Name) ? [call.Name] : call.Names ?? [];
            groups.Add(MakeGroup(names, call.Action, call.ErrnoRet, call.Args, where));
        }
        return new(defaultAction, native, listed, groups);
    }

    /// <summary>Reads an OCI <c>linux.seccomp</c> object (no selection: runtime-spec rules apply as written).</summary>
    public static SeccompRuleSet FromOci(LinuxSeccomp seccomp, SyscallArch native, string source = "config.json linux.seccomp")
    {
        if (seccomp.ListenerPath is { Length: > 0 })
            throw new ContainerError($"{source}: listenerPath (seccomp user notification) is not supported");
        var listed = new List<SyscallArch>();
        AddArches(listed, seccomp.Architectures ?? [], source);
        var defaultAction = SeccompActions.Parse(seccomp.DefaultAction, seccomp.DefaultErrnoRet, $"{source}: defaultAction");
        var groups = new List<SyscallGroup>();
        var syscalls = seccomp.Syscalls ?? [];
        for (var i = 0; i < syscalls.Length; i++)
        {
            var call = syscalls[i];
            var first = call.Names?.FirstOrDefault();
            var where = $"{source}: syscalls[{i}]{(first is null ? "" : $" ({first})")}";
            groups.Add(MakeGroup(call.Names ?? [], call.Action, call.ErrnoRet, call.Args, where));
        }
        return new(defaultAction, native, listed, groups);
    }

    /// <summary>The minKernel values a profile compares against, to know when a program built for one kernel fits another.</summary>
    public static IEnumerable<KernelVersion> MinKernels(SeccompProfile profile, string source) =>
        (profile.Syscalls ?? [])
            .SelectMany(call => new[] { call.Includes?.MinKernel, call.Excludes?.MinKernel })
            .Where(text => !string.IsNullOrEmpty(text))
            .Select(text => ParseMinKernel(text!, $"seccomp profile {source}"))
            .Distinct();

    static bool Applies(ProfileSyscall call, CapabilitySet caps, SyscallArch native, KernelVersion kernel, string where)
    {
        var arch = native.MobyName();
        if (call.Excludes is { } excludes)
        {
            if (excludes.Arches is { } arches && arches.Contains(arch)) return false;
            if (excludes.Caps is { } held && held.Any(cap => Holds(caps, cap))) return false;
            if (!string.IsNullOrEmpty(excludes.MinKernel) && kernel >= ParseMinKernel(excludes.MinKernel, where)) return false;
        }
        if (call.Includes is { } includes)
        {
            if (includes.Arches is { Length: > 0 } arches && !arches.Contains(arch)) return false;
            if (includes.Caps is { } needed && !needed.All(cap => Holds(caps, cap))) return false;
            if (!string.IsNullOrEmpty(includes.MinKernel) && kernel < ParseMinKernel(includes.MinKernel, where)) return false;
        }
        return true;
    }

    /// <summary>moby compares capability names with the bounding set's "CAP_..." strings; an unknown name is never held.</summary>
    static bool Holds(CapabilitySet caps, string name) =>
        name.StartsWith("CAP_", StringComparison.Ordinal) && CapabilitySet.TryParse(name, out var cap) && caps.Contains(cap);

    static KernelVersion ParseMinKernel(string text, string where) =>
        KernelVersion.TryParse(text, out var version)
            ? version
            : throw new ContainerError($"{where}: minKernel \"{text}\" is not a kernel version like \"4.8\"");

    static SyscallGroup MakeGroup(string[] names, string? action, uint? errnoRet, SeccompArg[]? args, string where)
    {
        foreach (var name in names)
            if (string.IsNullOrEmpty(name)) throw new ContainerError($"{where}: empty syscall name");
        var encoded = SeccompActions.Parse(action, errnoRet, where);
        var conditions = (args ?? []).Select(arg => ArgCondition.From(arg, where)).ToArray();
        return new(names, encoded, conditions, where);
    }

    static void AddArches(List<SyscallArch> listed, IEnumerable<string> names, string source)
    {
        foreach (var name in names)
        {
            if (SyscallArches.TryParseScmp(name, out var arch))
            {
                if (!listed.Contains(arch)) listed.Add(arch);
            }
            else if (!otherArchitectures.Contains(name))
            {
                throw new ContainerError($"seccomp profile {source}: unknown architecture \"{name}\"");
            }
        }
    }
}
