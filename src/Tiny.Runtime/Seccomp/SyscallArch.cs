namespace Tiny.Runtime.Seccomp;

/// <summary>The x86 family of system-call ABIs that tiny's filters cover.</summary>
public enum SyscallArch { X86_64, I386, X32 }

public static class SyscallArches
{
    /// <summary><c>AUDIT_ARCH_X86_64</c> (linux/audit.h); x32 tasks report it too.</summary>
    public const uint AuditX86_64 = 0xC000003E;
    /// <summary><c>AUDIT_ARCH_I386</c> (linux/audit.h).</summary>
    public const uint AuditI386 = 0x40000003;
    /// <summary><c>__X32_SYSCALL_BIT</c>: set in <c>seccomp_data.nr</c> for every x32 call.</summary>
    public const uint X32Bit = 0x40000000;

    public static readonly SyscallArch[] All = [SyscallArch.X86_64, SyscallArch.I386, SyscallArch.X32];

    public static uint AuditArch(this SyscallArch arch) => arch == SyscallArch.I386 ? AuditI386 : AuditX86_64;

    /// <summary>i386 and x32 pass 32-bit arguments: only the low half of each is compared.</summary>
    public static bool Is32Bit(this SyscallArch arch) => arch != SyscallArch.X86_64;

    /// <summary>The libseccomp name used in profiles: SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32.</summary>
    public static string ScmpName(this SyscallArch arch) => arch switch
    {
        SyscallArch.X86_64 => "SCMP_ARCH_X86_64",
        SyscallArch.I386 => "SCMP_ARCH_X86",
        _ => "SCMP_ARCH_X32",
    };

    /// <summary>The architecture name moby matches <c>includes.arches</c> against (Go's GOARCH via libseccomp's names).</summary>
    public static string MobyName(this SyscallArch arch) => arch switch
    {
        SyscallArch.X86_64 => "amd64",
        SyscallArch.I386 => "x86",
        _ => "x32",
    };

    public static bool TryParseScmp(string name, out SyscallArch arch)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(candidate.ScmpName(), name, StringComparison.Ordinal))
            {
                arch = candidate;
                return true;
            }
        }
        arch = default;
        return false;
    }

    /// <summary>Parses the user-facing names: x86_64/amd64, i386/x86, x32.</summary>
    public static bool TryParse(string name, out SyscallArch arch)
    {
        switch (name.Trim().ToLowerInvariant())
        {
            case "x86_64" or "amd64" or "scmp_arch_x86_64": arch = SyscallArch.X86_64; return true;
            case "i386" or "x86" or "i686" or "scmp_arch_x86": arch = SyscallArch.I386; return true;
            case "x32" or "scmp_arch_x32": arch = SyscallArch.X32; return true;
            default: arch = default; return false;
        }
    }

    public static string DisplayName(this SyscallArch arch) => arch switch
    {
        SyscallArch.X86_64 => "x86_64",
        SyscallArch.I386 => "i386",
        _ => "x32",
    };
}
