namespace Tiny.Runtime.Seccomp;

/// <summary>Argument comparison operators (SCMP_CMP_*).</summary>
public enum CompareOp { NotEqual, LessThan, LessOrEqual, Equal, GreaterOrEqual, GreaterThan, MaskedEqual }

/// <summary>
/// One condition on argument <see cref="Index"/>. For <see cref="CompareOp.MaskedEqual"/>, <see cref="Value"/> is the
/// mask and <see cref="ValueTwo"/> the value: <c>(arg &amp; Value) == ValueTwo</c>.
/// </summary>
public readonly record struct ArgCondition(int Index, CompareOp Op, ulong Value, ulong ValueTwo)
{
    public static CompareOp ParseOp(string? op, string where) => op switch
    {
        "SCMP_CMP_NE" => CompareOp.NotEqual,
        "SCMP_CMP_LT" => CompareOp.LessThan,
        "SCMP_CMP_LE" => CompareOp.LessOrEqual,
        "SCMP_CMP_EQ" => CompareOp.Equal,
        "SCMP_CMP_GE" => CompareOp.GreaterOrEqual,
        "SCMP_CMP_GT" => CompareOp.GreaterThan,
        "SCMP_CMP_MASKED_EQ" => CompareOp.MaskedEqual,
        _ => throw new ContainerError($"{where}: unknown operator \"{op}\""),
    };

    public static ArgCondition From(SeccompArg arg, string where)
    {
        if (arg.Index > 5) throw new ContainerError($"{where}: argument index {arg.Index} is outside 0-5");
        return new((int)arg.Index, ParseOp(arg.Op, where), arg.Value, arg.ValueTwo);
    }

    /// <summary>Whether a 64-bit argument satisfies the condition, comparing <paramref name="width"/> bits as libseccomp does.</summary>
    public bool Matches(ulong argument, bool is32Bit)
    {
        var keep = is32Bit ? 0xFFFF_FFFFUL : ulong.MaxValue;
        var a = argument & keep;
        var v = Value & keep;
        return Op switch
        {
            CompareOp.NotEqual => a != v,
            CompareOp.LessThan => a < v,
            CompareOp.LessOrEqual => a <= v,
            CompareOp.Equal => a == v,
            CompareOp.GreaterOrEqual => a >= v,
            CompareOp.GreaterThan => a > v,
            _ => (a & v) == (ValueTwo & keep),
        };
    }

    public override string ToString() => Op switch
    {
        CompareOp.MaskedEqual => $"(a{Index} & 0x{Value:x}) == 0x{ValueTwo:x}",
        _ => $"a{Index} {OpText(Op)} 0x{Value:x}",
    };

    static string OpText(CompareOp op) => op switch
    {
        CompareOp.NotEqual => "!=",
        CompareOp.LessThan => "<",
        CompareOp.LessOrEqual => "<=",
        CompareOp.Equal => "==",
        CompareOp.GreaterOrEqual => ">=",
        _ => ">",
    };
}

/// <summary>A profile group that applies to the container: its names, action and conditions (runc's config.Syscalls).</summary>
public sealed record SyscallGroup(IReadOnlyList<string> Names, uint Action, IReadOnlyList<ArgCondition> Args, string Where);

/// <summary>
/// The policy after moby's selection: what runc hands to libseccomp. <see cref="ListedArches"/> are the
/// architectures the profile names (runc's ENOSYS stub covers only these); the filter also covers <see cref="Native"/>.
/// </summary>
public sealed record SeccompRuleSet(
    uint DefaultAction,
    SyscallArch Native,
    IReadOnlyList<SyscallArch> ListedArches,
    IReadOnlyList<SyscallGroup> Groups)
{
    public IEnumerable<SyscallArch> FilterArches =>
        SyscallArches.All.Where(arch => arch == Native || ListedArches.Contains(arch));
}
