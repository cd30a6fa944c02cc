using System.Runtime.InteropServices;
using Tiny.Runtime.Security;

namespace Tiny.Runtime.Seccomp;

/// <summary>A program ready for seccomp(SECCOMP_SET_MODE_FILTER, Flags, ...).</summary>
public sealed record SeccompFilter(byte[] Program, SeccompFilterFlags Flags);

/// <summary>SECCOMP_FILTER_FLAG_* of linux/seccomp.h that an OCI config may ask for.</summary>
[Flags]
public enum SeccompFilterFlags : uint
{
    None = 0,
    Tsync = 1,
    Log = 2,
    SpecAllow = 4,
    WaitKillableRecv = 32,
}

/// <summary>What <c>tiny run</c> (and the OCI path) load as the container's seccomp filter.</summary>
public static class SeccompPolicy
{
    public const string Unconfined = "unconfined";

    /// <summary>
    /// The filter for <c>--seccomp OPTION</c>: null option = Docker's default profile (built at build time when
    /// <paramref name="caps"/> is Docker's default set), "unconfined" = no filter (null), else a Docker JSON profile.
    /// Returns raw <c>struct sock_filter</c> entries; bad input throws <see cref="ContainerError"/>.
    /// </summary>
    public static byte[]? ProgramFor(string? option, CapabilitySet caps)
    {
        if (option == Unconfined) return null;
        var native = NativeArch();
        var kernel = KernelVersion.Running();
        if (option is null)
        {
            if (BuiltinProfile.PrecompiledFits(caps, native, kernel)) return BuiltinProfile.PrecompiledProgram();
            return Bytes(SeccompCompiler.Compile(BuiltinProfile.Load(), caps, native, kernel, BuiltinProfile.Source));
        }
        return Bytes(SeccompCompiler.Compile(SeccompProfile.Load(option), caps, native, kernel, option));
    }

    /// <summary>The filter an OCI config's <c>linux.seccomp</c> asks for.</summary>
    public static SeccompFilter ForOci(LinuxSeccomp seccomp)
    {
        var flags = SeccompFilterFlags.None;
        foreach (var flag in seccomp.Flags ?? [])
        {
            flags |= flag switch
            {
                "SECCOMP_FILTER_FLAG_TSYNC" => SeccompFilterFlags.Tsync,
                "SECCOMP_FILTER_FLAG_LOG" => SeccompFilterFlags.Log,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => SeccompFilterFlags.SpecAllow,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => SeccompFilterFlags.WaitKillableRecv,
                _ => throw new ContainerError($"config.json linux.seccomp: unknown flag \"{flag}\""),
            };
        }
        var rules = ProfileSelection.FromOci(seccomp, NativeArch());
        return new(BpfInstruction.ToBytes(SeccompCompiler.Compile(rules)), flags);
    }

    public static SyscallArch NativeArch() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => SyscallArch.X86_64,
        Architecture.X86 => SyscallArch.I386,
        var other => throw new ContainerError($"seccomp: tiny has syscall tables for x86 only, not {other}"),
    };

    static byte[]? Bytes(BpfInstruction[]? program) => program is null ? null : BpfInstruction.ToBytes(program);
}
