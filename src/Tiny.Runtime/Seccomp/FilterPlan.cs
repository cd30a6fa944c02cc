namespace Tiny.Runtime.Seccomp;

/// <summary>The input the kernel gives a filter: <c>struct seccomp_data</c>.</summary>
public readonly record struct SeccompData(uint Nr, uint Arch, ulong[] Args)
{
    public const int Size = 64;
    public const int NrOffset = 0;
    public const int ArchOffset = 4;
    public const int ArgsOffset = 16;

    public ulong Arg(int index) => index < Args.Length ? Args[index] : 0;

    public static SeccompData Of(SyscallArch arch, uint nr, params ulong[] args) => new(nr, arch.AuditArch(), args);
}

/// <summary>One rule on one syscall number: all conditions must hold (an empty list always holds).</summary>
public sealed record ArchRule(IReadOnlyList<ArgCondition> Conditions, uint Action);

/// <summary>
/// What the filter does for one syscall number: the first branch whose conditions hold gives the action,
/// else <see cref="Otherwise"/>. Two decisions with the same <see cref="Key"/> are interchangeable.
/// </summary>
public sealed class SyscallDecision : IEquatable<SyscallDecision>
{
    public IReadOnlyList<ArchRule> Branches { get; }
    public uint Otherwise { get; }
    public bool Is32Bit { get; }
    public string Key { get; }

    SyscallDecision(IReadOnlyList<ArchRule> branches, uint otherwise, bool is32Bit)
    {
        Branches = branches;
        Otherwise = otherwise;
        Is32Bit = is32Bit && branches.Count > 0;
        Key = branches.Count == 0
            ? $"{otherwise:x}"
            : $"{(Is32Bit ? 32 : 64)}:{string.Join(';', branches.Select(b => $"{string.Join(',', b.Conditions)}>{b.Action:x}"))}|{otherwise:x}";
    }

    static readonly System.Collections.Concurrent.ConcurrentDictionary<uint, SyscallDecision> constants = new();

    public static SyscallDecision Constant(uint action) => constants.GetOrAdd(action, a => new([], a, false));

    /// <summary>
    /// libseccomp's merging of the rules of one syscall: a rule without conditions wins over every conditional
    /// rule (the first such rule when there are several); conditional rules are tried in order.
    /// </summary>
    public static SyscallDecision Of(IReadOnlyList<ArchRule> rules, uint defaultAction, bool is32Bit)
    {
        var unconditional = rules.FirstOrDefault(rule => rule.Conditions.Count == 0);
        if (unconditional is not null) return Constant(unconditional.Action);
        var normalized = rules.Select(rule => new ArchRule(
            rule.Conditions.Select(c => is32Bit ? c with { Value = c.Value & 0xFFFF_FFFF, ValueTwo = c.ValueTwo & 0xFFFF_FFFF } : c)
                .OrderBy(c => c.Index).ToArray(), rule.Action)).ToArray();
        return new(normalized, defaultAction, is32Bit);
    }

    public bool IsConstant => Branches.Count == 0;

    public uint Decide(SeccompData data)
    {
        foreach (var branch in Branches)
            if (branch.Conditions.All(c => c.Matches(data.Arg(c.Index), Is32Bit))) return branch.Action;
        return Otherwise;
    }

    public bool Equals(SyscallDecision? other) => other is not null && Key == other.Key;
    public override bool Equals(object? obj) => Equals(obj as SyscallDecision);
    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);
    public override string ToString() => IsConstant
        ? SeccompActions.Describe(Otherwise)
        : string.Join(" else ", Branches.Select(b => $"if {string.Join(" && ", b.Conditions)} {SeccompActions.Describe(b.Action)}"))
          + $" else {SeccompActions.Describe(Otherwise)}";
}

/// <summary>Syscall numbers <see cref="First"/>..<see cref="Last"/> (inclusive) share <see cref="Decision"/>.</summary>
public readonly record struct NrRange(uint First, uint Last, SyscallDecision Decision);

/// <summary>The decisions for one <c>seccomp_data.arch</c> value, as ranges covering every 32-bit syscall number.</summary>
public sealed record AuditArchPlan(uint AuditArch, IReadOnlyList<NrRange> Ranges)
{
    public SyscallDecision DecisionFor(uint nr)
    {
        int low = 0, high = Ranges.Count - 1;
        while (low < high)
        {
            var mid = (low + high + 1) / 2;
            if (Ranges[mid].First <= nr) low = mid; else high = mid - 1;
        }
        return Ranges[low].Decision;
    }
}

/// <summary>
/// The whole filter as decisions: what the compiled program must return for every input. Built from a rule set
/// the way runc 1.1 + libseccomp 2.5 build theirs, with runc's ENOSYS stub folded into the ranges.
/// </summary>
public sealed record FilterPlan(IReadOnlyList<AuditArchPlan> Arches, uint BadArchAction, uint DefaultAction)
{
    public uint Decide(SeccompData data)
    {
        foreach (var arch in Arches)
            if (arch.AuditArch == data.Arch) return arch.DecisionFor(data.Nr).Decide(data);
        return BadArchAction;
    }

    /// <summary>The socketcall(2) call numbers, SYS_SOCKET.. of linux/net.h, by the syscall they stand for.</summary>
    static readonly string[] socketCalls =
    [
        "", "socket", "bind", "connect", "listen", "accept", "getsockname", "getpeername", "socketpair", "send",
        "recv", "sendto", "recvfrom", "shutdown", "setsockopt", "getsockopt", "sendmsg", "recvmsg", "accept4",
        "recvmmsg", "sendmmsg",
    ];

    /// <summary>The ipc(2) call numbers of linux/ipc.h (SEMOP 1 .. SHMCTL 24), by the syscall they stand for.</summary>
    static readonly Dictionary<string, uint> ipcCalls = new(StringComparer.Ordinal)
    {
        ["semop"] = 1, ["semget"] = 2, ["semctl"] = 3, ["semtimedop"] = 4,
        ["msgsnd"] = 11, ["msgrcv"] = 12, ["msgget"] = 13, ["msgctl"] = 14,
        ["shmat"] = 21, ["shmdt"] = 22, ["shmget"] = 23, ["shmctl"] = 24,
    };

    public static FilterPlan Build(SeccompRuleSet rules)
    {
        var filterArches = rules.FilterArches.ToArray();
        var stub = !SeccompActions.IsPermissive(rules.DefaultAction)
                   && rules.DefaultAction != SeccompActions.ErrnoOf(SeccompActions.ENOSYS);
        var lastSyscall = new Dictionary<SyscallArch, uint>();
        if (stub)
        {
            foreach (var arch in rules.ListedArches)
            {
                uint last = 0;
                foreach (var group in rules.Groups)
                    foreach (var name in group.Names)
                        if (SyscallTable.TryGetNumber(arch, name, out var nr) && nr > last) last = nr;
                if (last != 0) lastSyscall[arch] = last;
            }
        }

        var points = filterArches.ToDictionary(arch => arch, arch => RulesByNumber(rules, arch));
        var plans = new List<AuditArchPlan>();
        var kill = SyscallDecision.Constant(SeccompActions.KillThread);
        var enosys = SyscallDecision.Constant(SeccompActions.ErrnoOf(SeccompActions.ENOSYS));
        var byDefault = SyscallDecision.Constant(rules.DefaultAction);

        bool has64 = filterArches.Contains(SyscallArch.X86_64), hasX32 = filterArches.Contains(SyscallArch.X32);
        if (has64 || hasX32)
        {
            uint? last64 = lastSyscall.TryGetValue(SyscallArch.X86_64, out var l64) ? l64 : null;
            uint? lastX32 = lastSyscall.TryGetValue(SyscallArch.X32, out var lx32) ? lx32 : null;
            // runc's stub tells x32 from x86_64 by bit 30 alone (jset), libseccomp by nr >= X32Bit (jge):
            // numbers with bit 31 set and bit 30 clear are x86_64 to the first and x32 to the second.
            SyscallDecision Background(uint nr)
            {
                var bit30 = (nr & SyscallArches.X32Bit) != 0;
                if (!bit30 && last64 is { } max64 && nr > max64) return enosys;
                if (bit30 && lastX32 is { } maxX32 && nr > maxX32) return enosys;
                if (nr < SyscallArches.X32Bit) return has64 ? byDefault : kill;
                // libseccomp's x86_64 section sends x32 numbers to the bad-arch action, all but -1, which
                // tracers use to skip a call (gen_bpf.c: _gen_bpf_arch).
                return hasX32 || nr == uint.MaxValue ? byDefault : kill;
            }
            var merged = new Dictionary<uint, SyscallDecision>();
            if (has64) foreach (var (nr, d) in points[SyscallArch.X86_64]) merged[nr] = d;
            if (hasX32) foreach (var (nr, d) in points[SyscallArch.X32]) merged[nr] = d;
            uint[] breaks = [SyscallArches.X32Bit, 0x8000_0000, 0xC000_0000, uint.MaxValue, .. Successor(last64), .. Successor(lastX32)];
            plans.Add(new(SyscallArches.AuditX86_64, Ranges(merged, breaks, Background)));
        }
        if (filterArches.Contains(SyscallArch.I386))
        {
            uint? last32 = lastSyscall.TryGetValue(SyscallArch.I386, out var l32) ? l32 : null;
            SyscallDecision Background(uint nr) => last32 is { } max && nr > max ? enosys : byDefault;
            plans.Add(new(SyscallArches.AuditI386, Ranges(points[SyscallArch.I386], [.. Successor(last32)], Background)));
        }
        return new(plans, SeccompActions.KillThread, rules.DefaultAction);
    }

    static uint[] Successor(uint? value) => value is { } v && v != uint.MaxValue ? [v + 1] : [];

    static List<NrRange> Ranges(Dictionary<uint, SyscallDecision> points, uint[] breaks, Func<uint, SyscallDecision> background)
    {
        var starts = new List<uint>(points.Count * 2 + breaks.Length + 1) { 0 };
        starts.AddRange(breaks);
        foreach (var nr in points.Keys)
        {
            starts.Add(nr);
            if (nr != uint.MaxValue) starts.Add(nr + 1);
        }
        starts.Sort();
        var ordered = starts.Distinct().ToArray();
        var ranges = new List<NrRange>();
        for (var i = 0; i < ordered.Length; i++)
        {
            var first = ordered[i];
            var last = i + 1 < ordered.Length ? ordered[i + 1] - 1 : uint.MaxValue;
            var decision = points.TryGetValue(first, out var point) ? point : background(first);
            if (ranges.Count > 0 && ranges[^1].Decision.Equals(decision))
                ranges[^1] = ranges[^1] with { Last = last };
            else
                ranges.Add(new(first, last, decision));
        }
        return ranges;
    }

    /// <summary>
    /// The rules each syscall number of <paramref name="arch"/> gets, as runc adds them to libseccomp: rules whose
    /// action is the default are dropped, a rule naming one argument twice becomes one rule per condition, and on
    /// i386 socket and SysV IPC calls also apply to socketcall(2)/ipc(2) with a0 set to the call's number.
    /// </summary>
    static Dictionary<uint, SyscallDecision> RulesByNumber(SeccompRuleSet rules, SyscallArch arch)
    {
        var byNumber = new Dictionary<uint, List<ArchRule>>();
        void Add(uint nr, ArchRule rule)
        {
            if (!byNumber.TryGetValue(nr, out var list)) byNumber[nr] = list = [];
            list.Add(rule);
        }
        foreach (var group in rules.Groups)
        {
            if (group.Action == rules.DefaultAction) continue;
            var repeated = group.Args.GroupBy(c => c.Index).Any(g => g.Count() > 1);
            IReadOnlyList<ArgCondition>[] variants = repeated ? group.Args.Select(c => (IReadOnlyList<ArgCondition>)[c]).ToArray() : [group.Args];
            foreach (var name in group.Names)
            {
                var multiplexer = arch == SyscallArch.I386 ? Multiplexed(name) : null;
                foreach (var conditions in variants)
                {
                    if (SyscallTable.TryGetNumber(arch, name, out var nr)) Add(nr, new(conditions, group.Action));
                    if (multiplexer is var (muxName, call) && SyscallTable.TryGetNumber(arch, muxName, out var mux))
                    {
                        ArgCondition[] muxed = [new(0, CompareOp.Equal, call, 0), .. conditions.Where(c => c.Index != 0)];
                        Add(mux, new(muxed, group.Action));
                    }
                }
            }
        }
        return byNumber.ToDictionary(pair => pair.Key, pair => SyscallDecision.Of(pair.Value, rules.DefaultAction, arch.Is32Bit()));
    }

    static (string Multiplexer, uint Call)? Multiplexed(string name)
    {
        var socket = Array.IndexOf(socketCalls, name);
        if (socket > 0) return ("socketcall", (uint)socket);
        return ipcCalls.TryGetValue(name, out var ipc) ? ("ipc", ipc) : null;
    }
}
