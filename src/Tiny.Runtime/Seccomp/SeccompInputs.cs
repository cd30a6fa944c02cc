namespace Tiny.Runtime.Seccomp;

/// <summary>
/// The inputs programs are compared and measured on: every syscall number 0..1023 of x86_64, x32 and i386, and
/// for the syscalls a profile's rules test, argument values around every rule value (v-1, v, v+1, high word set,
/// bit 31 and bit 63 flipped, each mask bit flipped).
/// </summary>
public static class SeccompInputs
{
    public const uint NumbersPerArch = 1024;

    public static IEnumerable<SeccompData> Numbers()
    {
        foreach (var arch in SyscallArches.All)
        {
            var bias = arch == SyscallArch.X32 ? SyscallArches.X32Bit : 0;
            for (uint nr = 0; nr < NumbersPerArch; nr++) yield return SeccompData.Of(arch, bias | nr);
        }
    }

    public static IEnumerable<SeccompData> Arguments(SeccompProfile profile)
    {
        var groups = (profile.Syscalls ?? []).Where(call => call.Args is { Length: > 0 }).ToArray();
        var values = groups.SelectMany(call => call.Args!).SelectMany(Boundaries).Distinct().ToArray();
        var indexes = groups.SelectMany(call => call.Args!).Select(arg => (int)Math.Min(arg.Index, 5)).Distinct().ToArray();
        foreach (var arch in SyscallArches.All)
        {
            var numbers = new SortedSet<uint>();
            foreach (var call in groups)
                foreach (var name in call.Name is { Length: > 0 } ? [call.Name] : call.Names ?? [])
                    if (SyscallTable.TryGetNumber(arch, name, out var nr)) numbers.Add(nr);
            if (arch == SyscallArch.I386)
                foreach (var multiplexer in new[] { "socketcall", "ipc" })
                    if (SyscallTable.TryGetNumber(arch, multiplexer, out var nr)) numbers.Add(nr);
            foreach (var nr in numbers)
                foreach (var value in values)
                {
                    foreach (var index in indexes)
                    {
                        var args = new ulong[6];
                        args[index] = value;
                        yield return SeccompData.Of(arch, nr, args);
                    }
                    yield return SeccompData.Of(arch, nr, value, value, value, value, value, value);
                }
        }
    }

    /// <summary>Numbers far from any table and an architecture the filter does not know.</summary>
    public static IEnumerable<SeccompData> Extremes()
    {
        uint[] numbers = [0x3FFF_FFFF, 0x4000_0000, 0x4000_03FF, 0x4000_0400, 0x7FFF_FFFF, 0x8000_0000, 0xBFFF_FFFF,
            0xC000_0000, 0xC000_0001, 0xFFFF_FFFE, 0xFFFF_FFFF, 0x0000_FFFF, 0x0001_0000];
        foreach (var arch in SyscallArches.All)
            foreach (var nr in numbers)
                yield return SeccompData.Of(arch, nr);
        // AUDIT_ARCH_AARCH64 and AUDIT_ARCH_X86_64 with the 64-bit flag cleared: both unknown to an x86 filter.
        foreach (var unknownArch in new uint[] { 0xC00000B7, 0x0000003E, 0 })
            for (uint nr = 0; nr < 512; nr += 7)
                yield return new SeccompData(nr, unknownArch, new ulong[6]);
    }

    static IEnumerable<ulong> Boundaries(SeccompArg arg)
    {
        foreach (var v in new[] { arg.Value, arg.ValueTwo })
        {
            yield return v;
            yield return v - 1;
            yield return v + 1;
            yield return v | 0x1_0000_0000;
            yield return v ^ 0x8000_0000;
            yield return v ^ 0x8000_0000_0000_0000;
        }
        if (arg.Op == "SCMP_CMP_MASKED_EQ")
            for (var bit = 0; bit < 64; bit++)
                if ((arg.Value & (1UL << bit)) != 0) yield return arg.ValueTwo ^ (1UL << bit);
    }
}

/// <summary>Program length and instructions executed over <see cref="SeccompInputs"/>, as the bench reports them.</summary>
public sealed record SeccompMeasurement(int Length, double MeanPerSyscall, int MaxPerSyscall, double MeanPerAllowed,
    int MaxPerAllowed, int Allowed, int CacheEligible)
{
    public static SeccompMeasurement Of(IReadOnlyList<BpfInstruction> program, IReadOnlyList<SeccompData> inputs)
    {
        long total = 0, allowedTotal = 0;
        int max = 0, maxAllowed = 0, allowed = 0;
        foreach (var input in inputs)
        {
            var run = BpfInterpreter.Run(program, input);
            total += run.Executed;
            max = Math.Max(max, run.Executed);
            if (run.Result != SeccompActions.Allow) continue;
            allowed++;
            allowedTotal += run.Executed;
            maxAllowed = Math.Max(maxAllowed, run.Executed);
        }
        var cacheEligible = SeccompInputs.Numbers().Count(input => BpfInterpreter.IsCachedAllow(program, input.Arch, input.Nr));
        return new(program.Count, (double)total / inputs.Count, max, allowed == 0 ? 0 : (double)allowedTotal / allowed,
            maxAllowed, allowed, cacheEligible);
    }
}
