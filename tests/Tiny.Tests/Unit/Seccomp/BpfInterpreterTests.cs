using Tiny.Runtime.Seccomp;
using static Tiny.Runtime.Seccomp.BpfInstruction;

namespace Tiny.Tests.Unit.Seccomp;

/// <summary>The interpreter refuses what the kernel refuses, runs what it runs, and prints programs readably.</summary>
public class BpfInterpreterTests
{
    static BpfInstruction Jump(ushort op, uint k, byte jt, byte jf) => new((ushort)(Jmp | op | SrcK), jt, jf, k);

    [Test]
    public async Task Kernel_rules_refuse_bad_programs()
    {
        await Assert.That(BpfInterpreter.Validate([])).IsNotNull();
        await Assert.That(BpfInterpreter.Validate(Enumerable.Repeat(Return(0), MaxProgramLength + 1).ToArray())).IsNotNull();
        await Assert.That(BpfInterpreter.Validate([LoadWord(0)])).Contains("last instruction");
        await Assert.That(BpfInterpreter.Validate([Jump(Jeq, 1, 1, 0), Return(0)])).Contains("beyond");
        await Assert.That(BpfInterpreter.Validate([new(Jmp | Ja, 0, 0, 1), Return(0)])).Contains("beyond");
        await Assert.That(BpfInterpreter.Validate([LoadWord(64), Return(0)])).Contains("outside seccomp_data");
        await Assert.That(BpfInterpreter.Validate([LoadWord(2), Return(0)])).Contains("outside seccomp_data");
        await Assert.That(BpfInterpreter.Validate([new(Ld | H | Abs, 0, 0, 0), Return(0)])).Contains("not allowed");
        await Assert.That(BpfInterpreter.Validate([new(Alu | Mod | SrcK, 0, 0, 3), Return(0)])).Contains("not allowed");
        await Assert.That(BpfInterpreter.Validate([new(Alu | Div | SrcK, 0, 0, 0), Return(0)])).Contains("zero");
        await Assert.That(BpfInterpreter.Validate([new(St, 0, 0, 16), Return(0)])).Contains("scratch");
        await Assert.That(BpfInterpreter.Validate([LoadWord(0), Jump(Jeq, 1, 0, 1), Return(1), Return(2)])).IsNull();
    }

    [Test]
    public async Task Runs_loads_alu_jumps_and_counts_instructions()
    {
        BpfInstruction[] program =
        [
            LoadWord(SeccompData.ArgsOffset + 4),       // high word of a0
            new(Alu | And | SrcK, 0, 0, 0xF0),
            Jump(Jeq, 0x30, 0, 1),
            new(Ret | RetA, 0, 0, 0),
            new(Misc | Tax, 0, 0, 0),
            new(Ld | Imm, 0, 0, 7),
            new(Alu | Add | SrcX, 0, 0, 0),
            new(Ret | RetA, 0, 0, 0),
        ];
        var hit = BpfInterpreter.Run(program, new SeccompData(0, 0, [0x35_0000_0000]));
        await Assert.That(hit.Result).IsEqualTo(0x30u);
        await Assert.That(hit.Executed).IsEqualTo(4);
        var miss = BpfInterpreter.Run(program, new SeccompData(0, 0, [0x45_0000_0000]), tracePath: true);
        await Assert.That(miss.Result).IsEqualTo(0x47u);
        await Assert.That(string.Join(',', miss.Path!)).IsEqualTo("0,1,2,4,5,6,7");
    }

    [Test]
    public async Task Cache_emulation_stops_at_argument_loads()
    {
        BpfInstruction[] viaNumber = [LoadWord(SeccompData.NrOffset), Jump(Jge, 10, 1, 0), Return(SeccompActions.Allow), Return(0)];
        await Assert.That(BpfInterpreter.IsCachedAllow(viaNumber, 0, 3)).IsTrue();
        await Assert.That(BpfInterpreter.IsCachedAllow(viaNumber, 0, 11)).IsFalse();
        BpfInstruction[] viaArgument = [LoadWord(SeccompData.ArgsOffset), Jump(Jge, 10, 1, 0), Return(SeccompActions.Allow), Return(0)];
        await Assert.That(BpfInterpreter.IsCachedAllow(viaArgument, 0, 3)).IsFalse();
    }

    [Test]
    public async Task Bytes_round_trip_in_sock_filter_layout()
    {
        BpfInstruction[] program = [LoadWord(4), Jump(Jeq, 0xC000003E, 1, 0), Return(SeccompActions.Allow)];
        var bytes = ToBytes(program);
        await Assert.That(Convert.ToHexStringLower(bytes[..16])).IsEqualTo("20000000040000001500010" + "03e0000c0");
        await Assert.That(FromBytes(bytes).SequenceEqual(program)).IsTrue();
    }

    [Test]
    public async Task Disassembly_names_fields_targets_and_actions()
    {
        BpfInstruction[] program = [LoadWord(4), Jump(Jeq, SyscallArches.AuditX86_64, 1, 0), Return(0), Return(SeccompActions.Allow)];
        var text = BpfDisassembler.Disassemble(program);
        await Assert.That(text).Contains("0000: ld    [4]");
        await Assert.That(text).Contains("; arch");
        await Assert.That(text).Contains("0003 0002");
        await Assert.That(text).Contains("AUDIT_ARCH_X86_64");
        await Assert.That(text).Contains("; ALLOW");
        await Assert.That(text).Contains("KILL_THREAD");
    }
}
