namespace Tiny.Runtime.Seccomp;

/// <summary>What a program returned for one input, and how it got there.</summary>
public readonly record struct BpfRun(uint Result, int Executed, IReadOnlyList<int>? Path);

/// <summary>
/// Runs classic BPF seccomp programs as the kernel does: <see cref="Validate"/> applies the checks of
/// bpf_check_classic (net/core/filter.c) and seccomp_check_filter (kernel/seccomp.c), <see cref="Run"/>
/// executes, and <see cref="IsCachedAllow"/> replays seccomp_is_const_allow, the emulation behind the action cache.
/// </summary>
public static class BpfInterpreter
{
    const int MemoryWords = 16;

    /// <summary>Null when the kernel would accept the program, else why it would refuse it.</summary>
    public static string? Validate(IReadOnlyList<BpfInstruction> program)
    {
        if (program.Count == 0 || program.Count > BpfInstruction.MaxProgramLength)
            return $"length {program.Count} is outside 1..{BpfInstruction.MaxProgramLength}";
        for (var pc = 0; pc < program.Count; pc++)
        {
            var insn = program[pc];
            var problem = CheckOpcode(insn) ?? CheckJump(program.Count, pc, insn);
            if (problem is not null) return $"instruction {pc} (code 0x{insn.Code:x2}): {problem}";
        }
        return program[^1].Class == BpfInstruction.Ret ? null : "the last instruction is not a return";
    }

    static string? CheckOpcode(BpfInstruction insn)
    {
        const ushort ld = BpfInstruction.Ld, ldx = BpfInstruction.Ldx, alu = BpfInstruction.Alu, jmp = BpfInstruction.Jmp;
        const ushort k = BpfInstruction.SrcK, x = BpfInstruction.SrcX;
        switch (insn.Code)
        {
            case ld | BpfInstruction.W | BpfInstruction.Abs:
                // seccomp_check_filter: loads only from aligned words inside struct seccomp_data.
                return insn.K >= SeccompData.Size || insn.K % 4 != 0 ? $"load from offset {insn.K} outside seccomp_data" : null;
            case ld | BpfInstruction.W | BpfInstruction.Len:
            case ldx | BpfInstruction.W | BpfInstruction.Len:
            case ld | BpfInstruction.Imm:
            case ldx | BpfInstruction.Imm:
            case BpfInstruction.Misc | BpfInstruction.Tax:
            case BpfInstruction.Misc | BpfInstruction.Txa:
            case BpfInstruction.Ret | BpfInstruction.RetK:
            case BpfInstruction.Ret | BpfInstruction.RetA:
            case alu | BpfInstruction.Neg:
            case jmp | BpfInstruction.Ja:
                return null;
            case ld | BpfInstruction.Mem:
            case ldx | BpfInstruction.Mem:
            case BpfInstruction.St:
            case BpfInstruction.Stx:
                return insn.K >= MemoryWords ? $"scratch word {insn.K} outside 0..{MemoryWords - 1}" : null;
            case alu | BpfInstruction.Div | k:
                return insn.K == 0 ? "division by constant zero" : null;
            case alu | BpfInstruction.Add | k: case alu | BpfInstruction.Add | x:
            case alu | BpfInstruction.Sub | k: case alu | BpfInstruction.Sub | x:
            case alu | BpfInstruction.Mul | k: case alu | BpfInstruction.Mul | x:
            case alu | BpfInstruction.Div | x:
            case alu | BpfInstruction.And | k: case alu | BpfInstruction.And | x:
            case alu | BpfInstruction.Or | k: case alu | BpfInstruction.Or | x:
            case alu | BpfInstruction.Xor | k: case alu | BpfInstruction.Xor | x:
            case alu | BpfInstruction.Lsh | k: case alu | BpfInstruction.Lsh | x:
            case alu | BpfInstruction.Rsh | k: case alu | BpfInstruction.Rsh | x:
            case jmp | BpfInstruction.Jeq | k: case jmp | BpfInstruction.Jeq | x:
            case jmp | BpfInstruction.Jge | k: case jmp | BpfInstruction.Jge | x:
            case jmp | BpfInstruction.Jgt | k: case jmp | BpfInstruction.Jgt | x:
            case jmp | BpfInstruction.Jset | k: case jmp | BpfInstruction.Jset | x:
                return null;
            default:
                return "opcode not allowed in a seccomp filter";
        }
    }

    static string? CheckJump(int length, int pc, BpfInstruction insn)
    {
        if (insn.Class != BpfInstruction.Jmp) return null;
        if ((insn.Code & 0xF0) == BpfInstruction.Ja)
            return insn.K >= (uint)(length - pc - 1) ? "ja beyond the end" : null;
        return pc + 1 + insn.Jt >= length || pc + 1 + insn.Jf >= length ? "jump beyond the end" : null;
    }

    /// <summary>Runs a program that <see cref="Validate"/> accepted.</summary>
    public static BpfRun Run(IReadOnlyList<BpfInstruction> program, SeccompData data, bool tracePath = false)
    {
        uint a = 0, x = 0;
        Span<uint> memory = stackalloc uint[MemoryWords];
        var path = tracePath ? new List<int>() : null;
        var executed = 0;
        for (var pc = 0; pc < program.Count; pc++)
        {
            var insn = program[pc];
            executed++;
            path?.Add(pc);
            var k = insn.K;
            var operand = (insn.Code & BpfInstruction.SrcX) != 0 ? x : k;
            switch (insn.Class)
            {
                case BpfInstruction.Ld:
                    a = (insn.Code & 0xE0) switch
                    {
                        BpfInstruction.Abs => Word(data, k),
                        BpfInstruction.Len => SeccompData.Size,
                        BpfInstruction.Mem => memory[(int)k],
                        _ => k,
                    };
                    break;
                case BpfInstruction.Ldx:
                    x = (insn.Code & 0xE0) switch
                    {
                        BpfInstruction.Len => SeccompData.Size,
                        BpfInstruction.Mem => memory[(int)k],
                        _ => k,
                    };
                    break;
                case BpfInstruction.St: memory[(int)k] = a; break;
                case BpfInstruction.Stx: memory[(int)k] = x; break;
                case BpfInstruction.Alu:
                    a = (insn.Code & 0xF0) switch
                    {
                        BpfInstruction.Add => a + operand,
                        BpfInstruction.Sub => a - operand,
                        BpfInstruction.Mul => a * operand,
                        BpfInstruction.Div => operand == 0 ? 0 : a / operand,
                        BpfInstruction.Or => a | operand,
                        BpfInstruction.And => a & operand,
                        BpfInstruction.Lsh => operand >= 32 ? 0 : a << (int)operand,
                        BpfInstruction.Rsh => operand >= 32 ? 0 : a >> (int)operand,
                        BpfInstruction.Xor => a ^ operand,
                        _ => 0 - a,
                    };
                    if ((insn.Code & 0xF0) == BpfInstruction.Div && operand == 0) return new(0, executed, path);
                    break;
                case BpfInstruction.Jmp:
                    if ((insn.Code & 0xF0) == BpfInstruction.Ja)
                    {
                        pc += (int)k;
                        break;
                    }
                    pc += Condition(insn.Code, a, operand) ? insn.Jt : insn.Jf;
                    break;
                case BpfInstruction.Ret:
                    return new((insn.Code & 0x18) == BpfInstruction.RetA ? a : k, executed, path);
                default:
                    a = (insn.Code & 0xF8) == BpfInstruction.Txa ? x : a;
                    x = (insn.Code & 0xF8) == BpfInstruction.Tax ? a : x;
                    break;
            }
        }
        throw new InvalidOperationException("the program ran past its end (validate it first)");
    }

    static bool Condition(ushort code, uint a, uint operand) => (code & 0xF0) switch
    {
        BpfInstruction.Jeq => a == operand,
        BpfInstruction.Jgt => a > operand,
        BpfInstruction.Jge => a >= operand,
        _ => (a & operand) != 0,
    };

    static uint Word(SeccompData data, uint offset) => offset switch
    {
        SeccompData.NrOffset => data.Nr,
        SeccompData.ArchOffset => data.Arch,
        8 or 12 => 0,
        _ => (offset - SeccompData.ArgsOffset) % 8 == 0
            ? (uint)data.Arg((int)(offset - SeccompData.ArgsOffset) / 8)
            : (uint)(data.Arg((int)(offset - SeccompData.ArgsOffset) / 8) >> 32),
    };

    /// <summary>
    /// Whether the kernel's action cache would mark this syscall as always allowed: seccomp_is_const_allow
    /// follows only <c>ld [nr]</c>, <c>ld [arch]</c>, <c>ja</c>, <c>jeq/jge/jgt/jset #k</c>, <c>and #k</c> and
    /// <c>ret #k</c>, and gives up at anything else (kernel/seccomp.c).
    /// </summary>
    public static bool IsCachedAllow(IReadOnlyList<BpfInstruction> program, uint arch, uint nr)
    {
        uint a = 0;
        for (var pc = 0; pc < program.Count; pc++)
        {
            var insn = program[pc];
            switch (insn.Code)
            {
                case BpfInstruction.Ld | BpfInstruction.W | BpfInstruction.Abs:
                    if (insn.K == SeccompData.NrOffset) a = nr;
                    else if (insn.K == SeccompData.ArchOffset) a = arch;
                    else return false;
                    break;
                case BpfInstruction.Ret | BpfInstruction.RetK:
                    return insn.K == SeccompActions.Allow;
                case BpfInstruction.Jmp | BpfInstruction.Ja:
                    pc += (int)insn.K;
                    break;
                case BpfInstruction.Jmp | BpfInstruction.Jeq | BpfInstruction.SrcK:
                case BpfInstruction.Jmp | BpfInstruction.Jge | BpfInstruction.SrcK:
                case BpfInstruction.Jmp | BpfInstruction.Jgt | BpfInstruction.SrcK:
                case BpfInstruction.Jmp | BpfInstruction.Jset | BpfInstruction.SrcK:
                    pc += Condition(insn.Code, a, insn.K) ? insn.Jt : insn.Jf;
                    break;
                case BpfInstruction.Alu | BpfInstruction.And | BpfInstruction.SrcK:
                    a &= insn.K;
                    break;
                default:
                    return false;
            }
        }
        return false;
    }
}
