using Tiny.Runtime.Security;

namespace Tiny.Runtime.Seccomp;

/// <summary>Profile to program: moby's selection, the decision plan, then BPF.</summary>
public static class SeccompCompiler
{
    /// <summary>Compiles a Docker profile for a container; null when the profile turns seccomp off.</summary>
    public static BpfInstruction[]? Compile(SeccompProfile profile, CapabilitySet caps, SyscallArch native,
        KernelVersion kernel, string source)
    {
        var rules = ProfileSelection.Select(profile, caps, native, kernel, source);
        return rules is null ? null : Compile(rules);
    }

    public static BpfInstruction[] Compile(SeccompRuleSet rules)
    {
        var program = BpfCompiler.Compile(FilterPlan.Build(rules));
        if (program.Length > BpfInstruction.MaxProgramLength)
            throw new ContainerError($"the seccomp program has {program.Length} instructions; the kernel takes at most {BpfInstruction.MaxProgramLength}");
        return program;
    }
}
