using Tiny.Runtime.Seccomp;
using static Tiny.Tests.Unit.Seccomp.SeccompFixtures;

namespace Tiny.Tests.Unit.Seccomp;

/// <summary>The goals for the program's shape, measured against libseccomp's own program (no timing).</summary>
public class SeccompGoalTests
{
    public static IEnumerable<Func<(string, int)>> Cases() => SeccompDifferentialTests.DefaultProfileCases();

    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task Allowed_syscalls_run_at_most_three_quarters_of_libseccomps_binary_tree(string name, int index)
    {
        var caps = CapabilitySets[index].Caps;
        var reference = RunReference(DefaultProfile, caps, optimize: 2, out _)!;
        var inputs = SeccompInputs.Numbers().Concat(SeccompInputs.Arguments(Load(DefaultProfile))).ToArray();
        var tiny = SeccompMeasurement.Of(Compile(DefaultProfile, caps), inputs);
        var libseccomp = SeccompMeasurement.Of(reference.Libseccomp, inputs);
        await Assert.That(tiny.MeanPerAllowed).IsLessThanOrEqualTo(0.75 * libseccomp.MeanPerAllowed);
    }

    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task Program_is_no_longer_than_libseccomps(string name, int index)
    {
        var caps = CapabilitySets[index].Caps;
        var reference = RunReference(DefaultProfile, caps, optimize: 2, out _)!;
        await Assert.That(Compile(DefaultProfile, caps).Length).IsLessThanOrEqualTo(reference.Libseccomp.Length);
    }

    /// <summary>
    /// Every syscall that is allowed whatever its arguments must stay in the kernel's action cache: its path may
    /// hold only what seccomp_is_const_allow emulates.
    /// </summary>
    [Test]
    [MethodDataSource(nameof(Cases))]
    public async Task Syscalls_allowed_whatever_their_arguments_are_cache_eligible(string name, int index)
    {
        var caps = CapabilitySets[index].Caps;
        var rules = ProfileSelection.Select(Load(DefaultProfile), caps, SyscallArch.X86_64, Kernel, "default")!;
        var plan = FilterPlan.Build(rules);
        var program = BpfCompiler.Compile(plan);
        var missed = new List<string>();
        var constantAllows = 0;
        foreach (var input in SeccompInputs.Numbers())
        {
            var decision = plan.Arches.First(a => a.AuditArch == input.Arch).DecisionFor(input.Nr);
            if (!decision.IsConstant || decision.Otherwise != SeccompActions.Allow) continue;
            constantAllows++;
            if (!BpfInterpreter.IsCachedAllow(program, input.Arch, input.Nr)) missed.Add($"0x{input.Arch:x} {input.Nr}");
        }
        await Assert.That(constantAllows).IsGreaterThan(300);
        await Assert.That(missed).IsEmpty();
    }

    [Test]
    public async Task Conditionally_allowed_syscalls_are_not_cache_eligible()
    {
        var program = Compile(DefaultProfile, Runtime.Security.CapabilitySet.DockerDefault);
        var personality = Number(SyscallArch.X86_64, "personality");
        await Assert.That(BpfInterpreter.IsCachedAllow(program, SyscallArches.AuditX86_64, personality)).IsFalse();
        await Assert.That(BpfInterpreter.IsCachedAllow(program, SyscallArches.AuditX86_64, Number(SyscallArch.X86_64, "read"))).IsTrue();
    }
}
