using Tiny.Runtime;
using Tiny.Runtime.Seccomp;
using Tiny.Runtime.Security;
using static Tiny.Tests.Unit.Seccomp.SeccompFixtures;

namespace Tiny.Tests.Unit.Seccomp;

/// <summary>
/// tiny's programs against what Docker + runc + libseccomp 2.5 load (build/seccomp/libseccomp-reference.py, on
/// Debian's python3-seccomp), with tiny's two deliberate differences applied to the reference: syscalls the CSV
/// knows and libseccomp does not get their rule's action, and runc's ENOSYS stub covers the CSV's numbers.
/// </summary>
public class SeccompDifferentialTests
{
    public static IEnumerable<Func<(string, int)>> DefaultProfileCases() =>
        Enumerable.Range(0, CapabilitySets.Length).Select(i => (Func<(string, int)>)(() => (CapabilitySets[i].Name, i)));

    public static IEnumerable<Func<string>> FixtureCases() =>
        Fixtures().Select(path => (Func<string>)(() => Path.GetFileName(path)));

    [Test]
    [MethodDataSource(nameof(DefaultProfileCases))]
    public async Task Default_profile_decides_as_runc_and_libseccomp(string name, int index)
    {
        await AssertSameDecisions(DefaultProfile, CapabilitySets[index].Caps);
    }

    [Test]
    [MethodDataSource(nameof(FixtureCases))]
    public async Task Fixture_decides_as_runc_and_libseccomp(string fixture)
    {
        await AssertSameDecisions(Path.Combine(ProfileDirectory, fixture), CapabilitySet.DockerDefault);
    }

    static async Task AssertSameDecisions(string path, CapabilitySet caps)
    {
        var reference = RunReference(path, caps, optimize: 2, out var refusal);
        if (reference is null)
        {
            await Assert.That(() => Compile(path, caps)).Throws<ContainerError>()
                .Because($"libseccomp refuses the profile ({refusal}), so tiny must too");
            return;
        }
        var program = Compile(path, caps);
        await Assert.That(BpfInterpreter.Validate(program)).IsNull();
        await Assert.That(reference.Extras.Where(e => e.Args > 0)).IsEmpty()
            .Because("the reference models extras only for rules without conditions");
        var mismatches = new List<string>();
        var inputs = Inputs(path);
        foreach (var input in inputs)
        {
            var expected = reference.Expected(input);
            var actual = BpfInterpreter.Run(program, input).Result;
            if (expected != actual && mismatches.Count < 12)
                mismatches.Add($"arch 0x{input.Arch:x8} nr 0x{input.Nr:x} args [{string.Join(",", input.Args.Select(a => $"0x{a:x}"))}]: " +
                               $"tiny {SeccompActions.Describe(actual)}, runc+libseccomp {SeccompActions.Describe(expected)}");
        }
        await Assert.That(inputs.Count).IsGreaterThan(3 * (int)SeccompInputs.NumbersPerArch);
        await Assert.That(mismatches).IsEmpty();
    }
}
