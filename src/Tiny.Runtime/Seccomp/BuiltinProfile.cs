using Tiny.Runtime.Security;

namespace Tiny.Runtime.Seccomp;

/// <summary>
/// Docker's default profile, embedded twice: as JSON (for other capability sets) and, compiled at build time by
/// build/seccomp/SeccompGen for Docker's default capabilities on x86_64, as a ready program (BuiltinProfile.g.cs).
/// </summary>
public static partial class BuiltinProfile
{
    public const string Source = "(built-in default)";

    public static SeccompProfile Load()
    {
        using var stream = typeof(BuiltinProfile).Assembly.GetManifestResourceStream("docker-default.json")
            ?? throw new InvalidOperationException("the built-in seccomp profile is not embedded");
        using var reader = new StreamReader(stream);
        return SeccompProfile.Parse(reader.ReadToEnd(), Source);
    }

    /// <summary>
    /// The build-time program serves a container when it would come out the same: same capabilities, x86_64, and a
    /// kernel that meets every minKernel of the profile (the build assumes a kernel newer than all of them).
    /// </summary>
    public static bool PrecompiledFits(CapabilitySet caps, SyscallArch native, KernelVersion kernel) =>
        caps.Mask == PrecompiledCaps && native == SyscallArch.X86_64 && PrecompiledMinKernels.All(min => kernel >= min);

    public static byte[] PrecompiledProgram() => PrecompiledBytes.ToArray();
}
