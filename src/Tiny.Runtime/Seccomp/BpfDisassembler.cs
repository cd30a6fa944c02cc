using System.Globalization;
using System.Text;

namespace Tiny.Runtime.Seccomp;

/// <summary>Prints classic BPF seccomp programs one instruction a line, with jump targets as absolute lines.</summary>
public static class BpfDisassembler
{
    public static string Disassemble(IReadOnlyList<BpfInstruction> program)
    {
        var text = new StringBuilder();
        for (var pc = 0; pc < program.Count; pc++) text.AppendLine(Line(program, pc));
        return text.ToString();
    }

    public static string Line(IReadOnlyList<BpfInstruction> program, int pc)
    {
        var insn = program[pc];
        var (mnemonic, operand, comment) = Describe(insn, pc);
        var line = string.Create(CultureInfo.InvariantCulture, $"{pc:D4}: {mnemonic,-5} {operand}");
        return comment.Length == 0 ? line : $"{line,-40} ; {comment}";
    }

    static (string Mnemonic, string Operand, string Comment) Describe(BpfInstruction insn, int pc)
    {
        var k = insn.K;
        var source = (insn.Code & BpfInstruction.SrcX) != 0 ? "x" : $"#0x{k:x}";
        switch (insn.Class)
        {
            case BpfInstruction.Ld:
                return (insn.Code & 0xE0) switch
                {
                    BpfInstruction.Abs => ("ld", $"[{k}]", FieldName(k)),
                    BpfInstruction.Len => ("ld", "#len", ""),
                    BpfInstruction.Mem => ("ld", $"M[{k}]", ""),
                    BpfInstruction.Imm => ("ld", $"#0x{k:x}", ""),
                    _ => ("ld?", $"0x{insn.Code:x}", "not valid in seccomp"),
                };
            case BpfInstruction.Ldx:
                return (insn.Code & 0xE0) switch
                {
                    BpfInstruction.Len => ("ldx", "#len", ""),
                    BpfInstruction.Mem => ("ldx", $"M[{k}]", ""),
                    BpfInstruction.Imm => ("ldx", $"#0x{k:x}", ""),
                    _ => ("ldx?", $"0x{insn.Code:x}", "not valid in seccomp"),
                };
            case BpfInstruction.St: return ("st", $"M[{k}]", "");
            case BpfInstruction.Stx: return ("stx", $"M[{k}]", "");
            case BpfInstruction.Alu:
                var op = (insn.Code & 0xF0) switch
                {
                    BpfInstruction.Add => "add", BpfInstruction.Sub => "sub", BpfInstruction.Mul => "mul",
                    BpfInstruction.Div => "div", BpfInstruction.Or => "or", BpfInstruction.And => "and",
                    BpfInstruction.Lsh => "lsh", BpfInstruction.Rsh => "rsh", BpfInstruction.Neg => "neg",
                    BpfInstruction.Mod => "mod", BpfInstruction.Xor => "xor", _ => "alu?",
                };
                return (op, op == "neg" ? "" : source, "");
            case BpfInstruction.Jmp:
                if ((insn.Code & 0xF0) == BpfInstruction.Ja) return ("ja", $"{pc + 1 + k:D4}", "");
                var jump = (insn.Code & 0xF0) switch
                {
                    BpfInstruction.Jeq => "jeq", BpfInstruction.Jgt => "jgt", BpfInstruction.Jge => "jge",
                    BpfInstruction.Jset => "jset", _ => "j?",
                };
                return (jump, $"{source,-12} {pc + 1 + insn.Jt:D4} {pc + 1 + insn.Jf:D4}", ValueName(k));
            case BpfInstruction.Ret:
                return (insn.Code & 0x18) == BpfInstruction.RetA
                    ? ("ret", "a", "")
                    : ("ret", $"#0x{k:x8}", SeccompActions.Describe(k));
            default:
                return (insn.Code & 0xF8) == BpfInstruction.Txa ? ("txa", "", "") : ("tax", "", "");
        }
    }

    static string FieldName(uint offset) => offset switch
    {
        SeccompData.NrOffset => "nr",
        SeccompData.ArchOffset => "arch",
        8 => "instruction_pointer (low)",
        12 => "instruction_pointer (high)",
        _ => $"args[{(offset - SeccompData.ArgsOffset) / 8}] ({((offset - SeccompData.ArgsOffset) % 8 == 0 ? "low" : "high")})",
    };

    static string ValueName(uint k) => k switch
    {
        SyscallArches.AuditX86_64 => "AUDIT_ARCH_X86_64",
        SyscallArches.AuditI386 => "AUDIT_ARCH_I386",
        _ => "",
    };
}
