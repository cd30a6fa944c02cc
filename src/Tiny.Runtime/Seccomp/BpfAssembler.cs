namespace Tiny.Runtime.Seccomp;

/// <summary>
/// Builds a classic BPF program with forward jumps to labels. Conditional jumps reach at most 255 instructions
/// ahead; a farther target gets a <c>ja</c> trampoline right after the jump (ja is one of the instructions the
/// kernel's action-cache emulator follows, so trampolines keep a path cacheable).
/// </summary>
sealed class BpfAssembler
{
    public sealed class Label
    {
        internal int Position = -1;
    }

    sealed class Item
    {
        public BpfInstruction Instruction;
        public Label? True, False, Always;
        public List<Label> Marks = [];
        public int Index;
    }

    readonly List<Item> items = [];
    readonly List<Label> pending = [];

    public Label NewLabel() => new();

    /// <summary>Places <paramref name="label"/> at the next instruction emitted.</summary>
    public void Mark(Label label) => pending.Add(label);

    public void Emit(BpfInstruction instruction) => Add(new Item { Instruction = instruction });

    public void Jump(ushort operation, uint k, Label whenTrue, Label whenFalse) =>
        Add(new Item { Instruction = new((ushort)(BpfInstruction.Jmp | operation | BpfInstruction.SrcK), 0, 0, k), True = whenTrue, False = whenFalse });

    public void JumpAlways(Label target) =>
        Add(new Item { Instruction = new(BpfInstruction.Jmp | BpfInstruction.Ja, 0, 0, 0), Always = target });

    void Add(Item item)
    {
        item.Marks.AddRange(pending);
        pending.Clear();
        items.Add(item);
    }

    public BpfInstruction[] Assemble()
    {
        if (pending.Count > 0) throw new InvalidOperationException("a label marks no instruction");
        while (true)
        {
            Place();
            var far = items.FindIndex(item => Distance(item, item.True) > 255 || Distance(item, item.False) > 255);
            if (far < 0) break;
            var jump = items[far];
            var branch = Distance(jump, jump.True) > 255 ? jump.True! : jump.False!;
            var trampoline = new Item { Instruction = new(BpfInstruction.Jmp | BpfInstruction.Ja, 0, 0, 0), Always = branch };
            var hop = new Label();
            trampoline.Marks.Add(hop);
            if (jump.True == branch) jump.True = hop; else jump.False = hop;
            items.Insert(far + 1, trampoline);
        }
        var program = new BpfInstruction[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            program[i] = item.Always is not null
                ? item.Instruction with { K = (uint)Distance(item, item.Always) }
                : item.True is not null
                    ? item.Instruction with { Jt = (byte)Distance(item, item.True), Jf = (byte)Distance(item, item.False) }
                    : item.Instruction;
        }
        return program;
    }

    void Place()
    {
        for (var i = 0; i < items.Count; i++)
        {
            items[i].Index = i;
            foreach (var label in items[i].Marks) label.Position = i;
        }
    }

    int Distance(Item from, Label? to)
    {
        if (to is null) return 0;
        if (to.Position < 0) throw new InvalidOperationException("jump to a label that marks no instruction");
        var distance = to.Position - from.Index - 1;
        if (distance < 0) throw new InvalidOperationException("classic BPF jumps only forward");
        return distance;
    }
}
