namespace Tiny.Runtime.Seccomp;

/// <summary>
/// Compiles a <see cref="FilterPlan"/> to classic BPF: an arch check, then per architecture a search tree over
/// the ranges of syscall numbers that share a decision, then the argument checks of the few conditional decisions.
/// The tree is an optimal alphabetic tree weighted towards allowed syscalls, so the common path is short; it uses
/// only <c>ld</c>, <c>jge</c>, <c>ja</c> and <c>ret</c>, which the kernel's action cache understands.
/// </summary>
public static class BpfCompiler
{
    /// <summary>Syscall numbers that matter most for the tree's shape: the first 1024 of each ABI.</summary>
    const uint WeightedNumbers = 1024;
    /// <summary>Above this many ranges the optimal tree (quadratic) gives way to a plain balanced one.</summary>
    const int OptimalTreeLimit = 2048;
    /// <summary>Argument values measured around each rule value (see <see cref="SeccompInputs"/>).</summary>
    const int ArgumentVariants = 6;

    public static BpfInstruction[] Compile(FilterPlan plan)
    {
        var asm = new BpfAssembler();
        asm.Emit(BpfInstruction.LoadWord(SeccompData.ArchOffset));
        var sections = plan.Arches.Select(_ => asm.NewLabel()).ToArray();
        for (var i = 0; i < plan.Arches.Count; i++)
        {
            var next = asm.NewLabel();
            asm.Jump(BpfInstruction.Jeq, plan.Arches[i].AuditArch, sections[i], next);
            asm.Mark(next);
        }
        asm.Emit(BpfInstruction.Return(plan.BadArchAction));
        for (var i = 0; i < plan.Arches.Count; i++)
        {
            asm.Mark(sections[i]);
            new SectionWriter(asm).Write(plan.Arches[i]);
        }
        return asm.Assemble();
    }

    sealed class SectionWriter(BpfAssembler asm)
    {
        readonly Dictionary<uint, BpfAssembler.Label> returns = [];
        readonly Dictionary<SyscallDecision, BpfAssembler.Label> blocks = [];
        /// <summary>The seccomp_data offset the accumulator holds, or -1 when unknown.</summary>
        int accumulator = -1;

        public void Write(AuditArchPlan arch)
        {
            var ranges = arch.Ranges;
            if (ranges.Count == 1)
            {
                if (ranges[0].Decision.IsConstant) asm.Emit(BpfInstruction.Return(ranges[0].Decision.Otherwise));
                else WriteDecision(ranges[0].Decision);
            }
            else
            {
                asm.Emit(BpfInstruction.LoadWord(SeccompData.NrOffset));
                WriteTree(ranges, ranges.Count <= OptimalTreeLimit ? OptimalRoots(arch) : null, 0, ranges.Count - 1);
            }
            foreach (var (decision, label) in blocks.ToArray())
            {
                asm.Mark(label);
                accumulator = SeccompData.NrOffset;
                WriteDecision(decision);
            }
            foreach (var (value, label) in returns)
            {
                asm.Mark(label);
                asm.Emit(BpfInstruction.Return(value));
            }
        }

        BpfAssembler.Label Target(SyscallDecision decision)
        {
            if (decision.IsConstant) return Return(decision.Otherwise);
            if (!blocks.TryGetValue(decision, out var label)) blocks[decision] = label = asm.NewLabel();
            return label;
        }

        BpfAssembler.Label Return(uint value)
        {
            if (!returns.TryGetValue(value, out var label)) returns[value] = label = asm.NewLabel();
            return label;
        }

        /// <summary>One node per split: <c>jge first-of-right-half</c>, left half falls through.</summary>
        void WriteTree(IReadOnlyList<NrRange> ranges, int[,]? roots, int low, int high)
        {
            var split = roots is null ? (low + high + 1) / 2 : roots[low, high];
            var left = split - 1 == low ? Target(ranges[low].Decision) : asm.NewLabel();
            var right = split == high ? Target(ranges[high].Decision) : asm.NewLabel();
            asm.Jump(BpfInstruction.Jge, ranges[split].First, right, left);
            if (split - 1 != low)
            {
                asm.Mark(left);
                WriteTree(ranges, roots, low, split - 1);
            }
            if (split != high)
            {
                asm.Mark(right);
                WriteTree(ranges, roots, split, high);
            }
        }

        /// <summary>
        /// Knuth's dynamic programme for the optimal alphabetic tree: leaves are ranges, weighted by how many
        /// of the first syscall numbers of each ABI they hold, allowed ones far more than others.
        /// </summary>
        static int[,] OptimalRoots(AuditArchPlan arch)
        {
            var ranges = arch.Ranges;
            var n = ranges.Count;
            var weight = new long[n];
            for (var i = 0; i < n; i++) weight[i] = Weight(ranges[i]);
            var prefix = new long[n + 1];
            for (var i = 0; i < n; i++) prefix[i + 1] = prefix[i] + weight[i];
            var cost = new long[n, n];
            var root = new int[n, n];
            for (var i = 0; i + 1 < n; i++)
            {
                cost[i, i + 1] = weight[i] + weight[i + 1];
                root[i, i + 1] = i + 1;
            }
            for (var length = 3; length <= n; length++)
            {
                for (var i = 0; i + length - 1 < n; i++)
                {
                    var j = i + length - 1;
                    long best = long.MaxValue;
                    var bestRoot = i + 1;
                    var from = Math.Max(i + 1, root[i, j - 1]);
                    var to = Math.Min(j, Math.Max(from, root[i + 1, j]));
                    for (var s = from; s <= to; s++)
                    {
                        var candidate = (s - 1 > i ? cost[i, s - 1] : 0) + (s < j ? cost[s, j] : 0);
                        if (candidate < best)
                        {
                            best = candidate;
                            bestRoot = s;
                        }
                    }
                    cost[i, j] = best + prefix[j + 1] - prefix[i];
                    root[i, j] = bestRoot;
                }
            }
            return root;
        }

        static long Weight(NrRange range)
        {
            long Count(uint start) =>
                range.Last < start || range.First >= start + WeightedNumbers
                    ? 0
                    : (long)Math.Min(range.Last, start + WeightedNumbers - 1) - Math.Max(range.First, start) + 1;
            var numbers = Count(0) + Count(SyscallArches.X32Bit);
            var decision = range.Decision;
            var allows = decision.IsConstant
                ? decision.Otherwise == SeccompActions.Allow
                : decision.Branches.Any(b => b.Action == SeccompActions.Allow);
            // The measure the issue sets counts a conditional syscall once per argument value around each rule
            // value (v-1, v, v+1, high word set, bit 31 or 63 flipped): weight it as that many calls.
            var calls = decision.IsConstant ? 1 : 1 + ArgumentVariants * decision.Branches.Sum(b => b.Conditions.Count);
            return 1 + numbers * calls * (allows ? 1000 : 1);
        }

        void WriteDecision(SyscallDecision decision)
        {
            if (ArgumentSet.TryBuild(decision) is { } set)
            {
                WriteArgumentSet(set, decision.Is32Bit, Return(set.Action), Return(decision.Otherwise));
                return;
            }
            for (var b = 0; b < decision.Branches.Count; b++)
            {
                var branch = decision.Branches[b];
                var run = EqualityRun(decision.Branches, b);
                var last = b + run - 1 == decision.Branches.Count - 1;
                var fail = last ? Return(decision.Otherwise) : asm.NewLabel();
                if (run > 1)
                {
                    var values = decision.Branches.Skip(b).Take(run).Select(r => r.Conditions[0].Value).Distinct().ToArray();
                    WriteEqualitySet(branch.Conditions[0].Index, values, decision.Is32Bit, Return(branch.Action), fail);
                    b += run - 1;
                    if (!last)
                    {
                        asm.Mark(fail);
                        accumulator = -1;
                    }
                    continue;
                }
                for (var c = 0; c < branch.Conditions.Count; c++)
                {
                    var final = c == branch.Conditions.Count - 1;
                    var pass = final ? Return(branch.Action) : asm.NewLabel();
                    var known = WriteCondition(branch.Conditions[c], decision.Is32Bit, pass, fail);
                    if (!final)
                    {
                        asm.Mark(pass);
                        accumulator = known;
                    }
                }
                if (!last)
                {
                    asm.Mark(fail);
                    accumulator = -1;
                }
            }
        }

        /// <summary>How many branches from <paramref name="start"/> each test one argument for equality with one action.</summary>
        static int EqualityRun(IReadOnlyList<ArchRule> branches, int start)
        {
            static bool IsEquality(ArchRule rule) => rule.Conditions is [{ Op: CompareOp.Equal }];
            if (!IsEquality(branches[start])) return 1;
            var first = branches[start];
            var end = start + 1;
            while (end < branches.Count && IsEquality(branches[end]) && branches[end].Action == first.Action
                   && branches[end].Conditions[0].Index == first.Conditions[0].Index) end++;
            return end - start;
        }

        /// <summary>
        /// <c>arg == v1 || arg == v2 || ...</c> as one test: the high words once per distinct high word, then a
        /// chain of <c>jeq</c> on the low word (runs of equality rules, like personality's, stay short).
        /// </summary>
        void WriteEqualitySet(int index, ulong[] values, bool is32Bit, BpfAssembler.Label pass, BpfAssembler.Label fail)
        {
            var low = SeccompData.ArgsOffset + 8 * index;
            var groups = values.GroupBy(v => is32Bit ? 0u : (uint)(v >> 32))
                .Select(g => (High: g.Key, Lows: g.Select(v => (uint)v).Distinct().ToArray())).ToArray();
            var groupLabels = groups.Select(_ => asm.NewLabel()).ToArray();
            if (!is32Bit)
            {
                Load(low + 4);
                for (var g = 0; g < groups.Length; g++)
                {
                    var next = g == groups.Length - 1 ? fail : asm.NewLabel();
                    asm.Jump(BpfInstruction.Jeq, groups[g].High, groupLabels[g], next);
                    if (g < groups.Length - 1) Next(next);
                }
            }
            for (var g = 0; g < groups.Length; g++)
            {
                if (!is32Bit)
                {
                    asm.Mark(groupLabels[g]);
                    accumulator = low + 4;
                }
                Load(low);
                var lows = groups[g].Lows;
                for (var i = 0; i < lows.Length; i++)
                {
                    var next = i == lows.Length - 1 ? fail : asm.NewLabel();
                    asm.Jump(BpfInstruction.Jeq, lows[i], pass, next);
                    if (i < lows.Length - 1) Next(next);
                }
            }
        }

        /// <summary>
        /// A decision whose rules all test one argument, one condition each, for one action, is membership in a set of
        /// intervals: one high-word test, then a search over the low word's intervals.
        /// </summary>
        void WriteArgumentSet(ArgumentSet set, bool is32Bit, BpfAssembler.Label pass, BpfAssembler.Label fail)
        {
            var low = SeccompData.ArgsOffset + 8 * set.Index;
            if (!is32Bit)
            {
                var lowWord = asm.NewLabel();
                Load(low + 4);
                asm.Jump(BpfInstruction.Jeq, 0, lowWord, set.HighWordsMatch ? pass : fail);
                Next(lowWord);
            }
            Load(low);
            WriteIntervalTree(set.LowRanges, 0, set.LowRanges.Count - 1, pass, fail);
        }

        void WriteIntervalTree(IReadOnlyList<(uint First, bool Member)> ranges, int lowIndex, int highIndex,
            BpfAssembler.Label pass, BpfAssembler.Label fail)
        {
            if (lowIndex == highIndex)
            {
                asm.JumpAlways(ranges[lowIndex].Member ? pass : fail);
                return;
            }
            var split = (lowIndex + highIndex + 1) / 2;
            var left = split - 1 == lowIndex ? (ranges[lowIndex].Member ? pass : fail) : asm.NewLabel();
            var right = split == highIndex ? (ranges[highIndex].Member ? pass : fail) : asm.NewLabel();
            asm.Jump(BpfInstruction.Jge, ranges[split].First, right, left);
            if (split - 1 != lowIndex)
            {
                Next(left);
                WriteIntervalTree(ranges, lowIndex, split - 1, pass, fail);
            }
            if (split != highIndex)
            {
                Next(right);
                WriteIntervalTree(ranges, split, highIndex, pass, fail);
            }
        }

        void Load(int offset)
        {
            if (accumulator == offset) return;
            asm.Emit(BpfInstruction.LoadWord((uint)offset));
            accumulator = offset;
        }

        void Next(BpfAssembler.Label label) => asm.Mark(label);

        /// <summary>
        /// Emits a test that jumps to <paramref name="pass"/> or <paramref name="fail"/>; returns what the
        /// accumulator holds at <paramref name="pass"/> (-1 when paths differ). On i386 and x32 only the low
        /// word is compared, with the rule's value cut to 32 bits (libseccomp's 32-bit argument handling).
        /// </summary>
        int WriteCondition(ArgCondition condition, bool is32Bit, BpfAssembler.Label pass, BpfAssembler.Label fail)
        {
            var low = SeccompData.ArgsOffset + 8 * condition.Index;
            var high = low + 4;
            var valueLow = (uint)condition.Value;
            var valueHigh = (uint)(condition.Value >> 32);
            if (is32Bit || condition.Op == CompareOp.MaskedEqual)
            {
                if (condition.Op == CompareOp.MaskedEqual)
                    return WriteMasked(condition, is32Bit, low, high, pass, fail);
                Load(low);
                WriteCompare(condition.Op, valueLow, pass, fail);
                return low;
            }
            Load(high);
            switch (condition.Op)
            {
                case CompareOp.Equal or CompareOp.NotEqual:
                {
                    var same = asm.NewLabel();
                    var differ = condition.Op == CompareOp.Equal ? fail : pass;
                    asm.Jump(BpfInstruction.Jeq, valueHigh, same, differ);
                    Next(same);
                    Load(low);
                    WriteCompare(condition.Op, valueLow, pass, fail);
                    return condition.Op == CompareOp.Equal ? low : -1;
                }
                default:
                {
                    // Greater or less on 64 bits: the high words decide unless they are equal.
                    var greater = condition.Op is CompareOp.GreaterThan or CompareOp.GreaterOrEqual;
                    var compareLow = asm.NewLabel();
                    var notAbove = asm.NewLabel();
                    asm.Jump(BpfInstruction.Jgt, valueHigh, greater ? pass : fail, valueHigh == 0 ? compareLow : notAbove);
                    if (valueHigh != 0)
                    {
                        Next(notAbove);
                        asm.Jump(BpfInstruction.Jeq, valueHigh, compareLow, greater ? fail : pass);
                    }
                    Next(compareLow);
                    Load(low);
                    WriteCompare(condition.Op, valueLow, pass, fail);
                    return -1;
                }
            }
        }

        int WriteMasked(ArgCondition condition, bool is32Bit, int low, int high, BpfAssembler.Label pass, BpfAssembler.Label fail)
        {
            (int Offset, uint Mask, uint Value)[] halves = is32Bit
                ? [(low, (uint)condition.Value, (uint)condition.ValueTwo)]
                : [(high, (uint)(condition.Value >> 32), (uint)(condition.ValueTwo >> 32)), (low, (uint)condition.Value, (uint)condition.ValueTwo)];
            var tests = halves.Where(h => h.Mask != 0 || h.Value != 0).ToArray();
            if (tests.Length == 0)
            {
                asm.JumpAlways(pass);
                return accumulator;
            }
            for (var i = 0; i < tests.Length; i++)
            {
                var (offset, mask, value) = tests[i];
                var onward = i == tests.Length - 1 ? pass : asm.NewLabel();
                if (mask == 0)
                {
                    asm.JumpAlways(fail);
                }
                else
                {
                    Load(offset);
                    if (mask != uint.MaxValue)
                    {
                        asm.Emit(new(BpfInstruction.Alu | BpfInstruction.And | BpfInstruction.SrcK, 0, 0, mask));
                        accumulator = -1;
                    }
                    asm.Jump(BpfInstruction.Jeq, value, onward, fail);
                }
                if (i < tests.Length - 1) Next(onward);
            }
            return accumulator;
        }

        void WriteCompare(CompareOp op, uint value, BpfAssembler.Label pass, BpfAssembler.Label fail)
        {
            switch (op)
            {
                case CompareOp.Equal: asm.Jump(BpfInstruction.Jeq, value, pass, fail); break;
                case CompareOp.NotEqual: asm.Jump(BpfInstruction.Jeq, value, fail, pass); break;
                case CompareOp.GreaterThan: asm.Jump(BpfInstruction.Jgt, value, pass, fail); break;
                case CompareOp.GreaterOrEqual: asm.Jump(BpfInstruction.Jge, value, pass, fail); break;
                case CompareOp.LessThan: asm.Jump(BpfInstruction.Jge, value, fail, pass); break;
                default: asm.Jump(BpfInstruction.Jgt, value, fail, pass); break;
            }
        }
    }
}
