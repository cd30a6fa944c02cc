using System.Buffers.Binary;

namespace Tiny.Runtime.Seccomp;

/// <summary>One classic BPF instruction, <c>struct sock_filter</c> (linux/filter.h).</summary>
public readonly record struct BpfInstruction(ushort Code, byte Jt, byte Jf, uint K)
{
    public const int Size = 8;
    /// <summary>BPF_MAXINSNS: the kernel refuses longer programs.</summary>
    public const int MaxProgramLength = 4096;

    // Instruction classes, sizes, modes and operations of linux/bpf_common.h.
    public const ushort Ld = 0x00, Ldx = 0x01, St = 0x02, Stx = 0x03, Alu = 0x04, Jmp = 0x05, Ret = 0x06, Misc = 0x07;
    public const ushort W = 0x00, H = 0x08, B = 0x10;
    public const ushort Imm = 0x00, Abs = 0x20, Ind = 0x40, Mem = 0x60, Len = 0x80, Msh = 0xA0;
    public const ushort Add = 0x00, Sub = 0x10, Mul = 0x20, Div = 0x30, Or = 0x40, And = 0x50, Lsh = 0x60, Rsh = 0x70,
        Neg = 0x80, Mod = 0x90, Xor = 0xA0;
    public const ushort Ja = 0x00, Jeq = 0x10, Jgt = 0x20, Jge = 0x30, Jset = 0x40;
    public const ushort SrcK = 0x00, SrcX = 0x08;
    public const ushort RetK = 0x00, RetA = 0x10;
    public const ushort Tax = 0x00, Txa = 0x80;

    public ushort Class => (ushort)(Code & 0x07);

    public static BpfInstruction LoadWord(uint offset) => new(Ld | W | Abs, 0, 0, offset);
    public static BpfInstruction Return(uint value) => new(Ret | RetK, 0, 0, value);

    public static byte[] ToBytes(IReadOnlyList<BpfInstruction> program)
    {
        var bytes = new byte[program.Count * Size];
        for (var i = 0; i < program.Count; i++)
        {
            var span = bytes.AsSpan(i * Size, Size);
            BinaryPrimitives.WriteUInt16LittleEndian(span, program[i].Code);
            span[2] = program[i].Jt;
            span[3] = program[i].Jf;
            BinaryPrimitives.WriteUInt32LittleEndian(span[4..], program[i].K);
        }
        return bytes;
    }

    public static BpfInstruction[] FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length % Size != 0)
            throw new ContainerError($"a BPF program is a multiple of {Size} bytes long, not {bytes.Length}");
        var program = new BpfInstruction[bytes.Length / Size];
        for (var i = 0; i < program.Length; i++)
        {
            var span = bytes.Slice(i * Size, Size);
            program[i] = new(BinaryPrimitives.ReadUInt16LittleEndian(span), span[2], span[3],
                BinaryPrimitives.ReadUInt32LittleEndian(span[4..]));
        }
        return program;
    }
}
