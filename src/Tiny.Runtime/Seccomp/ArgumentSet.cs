namespace Tiny.Runtime.Seccomp;

/// <summary>
/// The values of one argument that a decision sends to <see cref="Action"/>, when its rules allow that reading:
/// every rule has one condition (not a mask), on the same argument, with the same action. Membership is whether
/// the high word is zero (else <see cref="HighWordsMatch"/> decides) and where the low word falls in <see cref="LowRanges"/>.
/// </summary>
sealed record ArgumentSet(int Index, uint Action, bool HighWordsMatch, IReadOnlyList<(uint First, bool Member)> LowRanges)
{
    public static ArgumentSet? TryBuild(SyscallDecision decision)
    {
        var branches = decision.Branches;
        if (branches.Count == 0) return null;
        var first = branches[0];
        if (branches.Any(b => b.Conditions.Count != 1 || b.Action != first.Action
                              || b.Conditions[0].Index != first.Conditions[0].Index || b.Conditions[0].Op == CompareOp.MaskedEqual))
            return null;
        var max = decision.Is32Bit ? uint.MaxValue : ulong.MaxValue;
        var intervals = branches.SelectMany(b => Interval(b.Conditions[0], max)).OrderBy(i => i.First).ToList();
        // Membership of the values with a non-zero high word must not depend on them: the set is uniform above 2^32.
        bool Contains(ulong value) => intervals.Any(i => i.First <= value && value <= i.Last);
        var highWordsMatch = !decision.Is32Bit && Contains(0x1_0000_0000);
        if (!decision.Is32Bit && intervals.Any(i => Crosses(i, highWordsMatch))) return null;
        var starts = new SortedSet<uint> { 0 };
        foreach (var (low, high) in intervals)
        {
            if (low <= uint.MaxValue) starts.Add((uint)low);
            if (high < uint.MaxValue) starts.Add((uint)high + 1);
        }
        var ranges = new List<(uint First, bool Member)>();
        foreach (var start in starts)
        {
            var member = Contains(start);
            if (ranges.Count == 0 || ranges[^1].Member != member) ranges.Add((start, member));
        }
        return new(first.Conditions[0].Index, first.Action, highWordsMatch, ranges);
    }

    /// <summary>Whether an interval splits the values above 2^32 (then one high-word test cannot decide them).</summary>
    static bool Crosses((ulong First, ulong Last) interval, bool highWordsMatch) =>
        highWordsMatch
            ? interval.Last > uint.MaxValue && interval.Last != ulong.MaxValue || interval.First > 0x1_0000_0000
            : interval.Last > uint.MaxValue;

    static IEnumerable<(ulong First, ulong Last)> Interval(ArgCondition condition, ulong max)
    {
        var v = condition.Value;
        switch (condition.Op)
        {
            case CompareOp.Equal: yield return (v, v); break;
            case CompareOp.NotEqual:
                if (v > 0) yield return (0, v - 1);
                if (v < max) yield return (v + 1, max);
                break;
            case CompareOp.LessThan: if (v > 0) yield return (0, v - 1); break;
            case CompareOp.LessOrEqual: yield return (0, v); break;
            case CompareOp.GreaterThan: if (v < max) yield return (v + 1, max); break;
            default: yield return (v, max); break;
        }
    }
}
