using System.Runtime.InteropServices;
using System.Text;
using Tiny.Interop;
using Tiny.Runtime.Plan;

namespace Tiny.Runtime.Launch;

/// <summary>
/// A <see cref="ContainerPlan"/> laid out in one block of native memory: a header, fixed-size
/// step records, then NUL-terminated strings, pointer arrays and buffers they point into.
/// The child reads it without allocating anything.
/// </summary>
internal sealed unsafe class NativePlan : IDisposable
{
    internal enum Op
    {
        WaitForParent = 1, CloseFd, SetParentDeathSignal, Unshare, Mount, MaskPath, ReadonlyPath, RemountReadonly,
        MakeDirectory, MakeDevice, Symlink, PivotRoot, SetHostname, BringLoopbackUp, DropBoundingSet,
        SetKeepCapabilities, SetGroups, SetGid, SetUid, SetCapabilities, ClearAmbientCapabilities,
        SetNoNewPrivileges, ChangeDirectory, SetUmask, ResetSignals, CloseFdsOnExec, LoadSeccompFilter, Exec,
        OpenTerminal, MountInRoot, RunAsInit,
        JoinNamespace, SetDomainname, SetRlimit, RaiseAmbientCapabilities, WriteFile, ReportReady, WaitForStart, MountReceivedTree,
        SetDumpable, ForkIntoPidNamespace, SetPersonality, PauseForHooks, RunHook, MountTreeInRoot, ExecThroughTrampoline, EnterReceivedNamespace,
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Step
    {
        public Op Op;
        public long A, B, C, D, E, F, G, H, I;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Header
    {
        public int StepCount;
        public int ErrorFd;
        public Step* Steps;
        /// <summary>Null, or where the child stores each step's end (CLOCK_MONOTONIC nanoseconds) for --timing.</summary>
        public long* StepEnds;
    }

    // Which of a step's fields hold arena offsets that become pointers.
    const int A = 1, B = 2, C = 4, D = 8, E = 16;

    readonly byte* _block;
    public Header* Plan => (Header*)_block;

    /// <summary>The child's step end times, 0 for steps it has not finished; empty unless asked for.</summary>
    public ReadOnlySpan<long> StepEnds => new(Plan->StepEnds, Plan->StepEnds == null ? 0 : Plan->StepCount);

    /// <param name="steps">The child's steps.</param>
    /// <param name="errorFd">The pipe end the child reports a failed step on.</param>
    /// <param name="recordStepEnds">Give the child shared memory to time its steps in (see <see cref="StepEnds"/>).</param>
    public NativePlan(IReadOnlyList<ChildStep> steps, int errorFd, bool recordStepEnds = false)
    {
        var arena = new Arena();
        var records = new (Step Step, int Pointers)[steps.Count];
        for (var i = 0; i < steps.Count; i++) records[i] = Encode(steps[i], arena);

        var stepsOffset = Align(sizeof(Header));
        var arenaOffset = stepsOffset + records.Length * sizeof(Step);
        _block = (byte*)NativeMemory.AllocZeroed((nuint)(arenaOffset + arena.Length));
        var header = (Header*)_block;
        header->StepCount = records.Length;
        header->ErrorFd = errorFd;
        header->Steps = (Step*)(_block + stepsOffset);
        if (recordStepEnds) header->StepEnds = (long*)SharedMemory.Map(StepEndsLength(records.Length));
        var arenaBase = _block + arenaOffset;
        arena.CopyTo(arenaBase);
        for (var i = 0; i < records.Length; i++)
            header->Steps[i] = Relocate(records[i].Step, records[i].Pointers, (long)arenaBase);
    }

    public void Dispose()
    {
        if (Plan->StepEnds != null) SharedMemory.Unmap(Plan->StepEnds, StepEndsLength(Plan->StepCount));
        NativeMemory.Free(_block);
    }

    static nuint StepEndsLength(int stepCount) => (nuint)(stepCount * sizeof(long));

    static int Align(int n) => (n + 15) & ~15;

    static Step Relocate(Step step, int pointers, long arenaBase)
    {
        static long Fix(long offset, long arenaBase) => offset == Arena.Null ? 0 : offset + arenaBase;
        if ((pointers & A) != 0) step.A = Fix(step.A, arenaBase);
        if ((pointers & B) != 0) step.B = Fix(step.B, arenaBase);
        if ((pointers & C) != 0) step.C = Fix(step.C, arenaBase);
        if ((pointers & D) != 0) step.D = Fix(step.D, arenaBase);
        if ((pointers & E) != 0) step.E = Fix(step.E, arenaBase);
        return step;
    }

    static (Step, int) Encode(ChildStep step, Arena a) => step switch
    {
        WaitForParent s => (new() { Op = Op.WaitForParent, A = s.Fd }, 0),
        CloseFd s => (new() { Op = Op.CloseFd, A = s.Fd }, 0),
        SetParentDeathSignal s => (new() { Op = Op.SetParentDeathSignal, A = s.Signal }, 0),
        Unshare s => (new() { Op = Op.Unshare, A = (long)s.Flags }, 0),
        MountStep s => (new() { Op = Op.Mount, A = a.String(s.Source), B = a.String(s.Target), C = a.String(s.FsType), D = (long)s.Flags, E = a.String(s.Data) }, A | B | C | E),
        MountInRoot s => (new()
        {
            Op = Op.MountInRoot, A = a.String(s.Root), B = a.StringArray(Mounts.ContainerPath.RelativePrefixes(s.Path)),
            C = a.String(s.Mount.Source), D = a.String(s.Mount.Type), E = a.String(s.Mount.Data), F = (long)s.Mount.MountFlags,
            G = (long)s.Mount.RemountFlags, H = (long)s.Mount.PropagationFlags, I = s.CreateMissing ? 1 : 0,
        }, A | B | C | D | E),
        MountReceivedTree s => (new() { Op = Op.MountReceivedTree, A = s.SocketFd, B = a.String(s.Target) }, B),
        MaskPath s => (new() { Op = Op.MaskPath, A = a.String(s.Path) }, A),
        ReadonlyPath s => (new() { Op = Op.ReadonlyPath, A = a.String(s.Path), B = (long)s.KeepFlags }, A),
        RemountReadonly s => (new() { Op = Op.RemountReadonly, A = a.String(s.Path) }, A),
        MakeDirectory s => (new() { Op = Op.MakeDirectory, A = a.String(s.Path), B = s.Mode }, A),
        OpenTerminal s => (new() { Op = Op.OpenTerminal, A = s.SocketFd, B = s.Rows | (long)s.Columns << 16 }, 0),
        MakeDevice s => (new() { Op = Op.MakeDevice, A = a.String(s.Path), B = s.Mode, C = (long)MakeDev(s.Major, s.Minor), D = s.Uid, E = s.Gid }, A),
        Symlink s => (new() { Op = Op.Symlink, A = a.String(s.Target), B = a.String(s.LinkPath) }, A | B),
        PivotRoot s => (new() { Op = Op.PivotRoot, A = a.String(s.NewRoot) }, A),
        SetHostname s => (new() { Op = Op.SetHostname, A = a.String(s.Hostname), B = Encoding.UTF8.GetByteCount(s.Hostname) }, A),
        BringLoopbackUp => (new() { Op = Op.BringLoopbackUp, A = a.Bytes(IfReq("lo")) }, A),
        DropBoundingSet s => (new() { Op = Op.DropBoundingSet, A = (long)s.Keep, B = s.LastCap }, 0),
        SetKeepCapabilities s => (new() { Op = Op.SetKeepCapabilities, A = s.Keep ? 1 : 0 }, 0),
        SetGroups s => (new() { Op = Op.SetGroups, A = s.Gids.Count, B = a.Bytes(MemoryMarshal.AsBytes(s.Gids.ToArray().AsSpan())) }, B),
        SetGid s => (new() { Op = Op.SetGid, A = s.Gid }, 0),
        SetUid s => (new() { Op = Op.SetUid, A = s.Uid }, 0),
        SetCapabilities s => (new() { Op = Op.SetCapabilities, A = (long)s.Effective, B = (long)s.Permitted, C = (long)s.Inheritable }, 0),
        ClearAmbientCapabilities => (new() { Op = Op.ClearAmbientCapabilities }, 0),
        SetNoNewPrivileges => (new() { Op = Op.SetNoNewPrivileges }, 0),
        ChangeDirectory s => (new() { Op = Op.ChangeDirectory, A = a.String(s.Path) }, A),
        SetUmask s => (new() { Op = Op.SetUmask, A = s.Mask }, 0),
        ResetSignals s => (new() { Op = Op.ResetSignals, A = (long)s.Mask }, 0),
        CloseFdsOnExec s => (new() { Op = Op.CloseFdsOnExec, A = s.FirstFd }, 0),
        RunAsInit s => (new() { Op = Op.RunAsInit, A = s.FirstFdToClose, B = s.TakeTerminal ? 1 : 0 }, 0),
        LoadSeccompFilter s => (new() { Op = Op.LoadSeccompFilter, A = s.Program.Length / 8, B = a.Bytes(s.Program), C = s.Flags }, B),
        Exec s => (new() { Op = Op.Exec, A = a.StringArray(s.Candidates), B = a.StringArray(s.Argv), C = a.StringArray(s.Envp) }, A | B | C),
        ExecThroughTrampoline s => (new()
        {
            // The trampoline's image holds the command's argv and envp; its own environment is empty.
            Op = Op.ExecThroughTrampoline, A = s.TrampolineFd, B = s.ReportFd, C = a.StringArray([s.Nonce]), D = a.StringArray([]),
        }, C | D),
        JoinNamespace s => (new() { Op = Op.JoinNamespace, A = a.String(s.Path), B = (long)s.Type }, A),
        EnterReceivedNamespace s => (new() { Op = Op.EnterReceivedNamespace, A = s.SocketFd, B = (long)s.Type }, 0),
        SetDomainname s => (new() { Op = Op.SetDomainname, A = a.String(s.Domainname), B = Encoding.UTF8.GetByteCount(s.Domainname) }, A),
        SetRlimit s => (new() { Op = Op.SetRlimit, A = s.Resource, B = (long)s.Soft, C = (long)s.Hard }, 0),
        RaiseAmbientCapabilities s => (new() { Op = Op.RaiseAmbientCapabilities, A = (long)s.Mask }, 0),
        WriteFile s => (new() { Op = Op.WriteFile, A = a.String(s.Path), B = a.String(s.Value), C = Encoding.UTF8.GetByteCount(s.Value) }, A | B),
        JoinCgroup s => (new() { Op = Op.WriteFile, A = a.String(s.MembershipFile), B = a.String("0"), C = 1 }, A | B),
        ReportReady s => (new() { Op = Op.ReportReady, A = s.Fd }, 0),
        WaitForStart s => (new() { Op = Op.WaitForStart, A = a.String(s.FifoPath), B = s.ReportFd }, A),
        SetDumpable s => (new() { Op = Op.SetDumpable, A = s.Dumpable ? 1 : 0 }, 0),
        ForkIntoPidNamespace s => (new() { Op = Op.ForkIntoPidNamespace, A = s.PidFd }, 0),
        SetPersonality s => (new() { Op = Op.SetPersonality, A = (long)s.Persona }, 0),
        PauseForHooks s => (new() { Op = Op.PauseForHooks, A = s.ReportFd, B = s.SyncFd }, 0),
        RunHook s => (new()
        {
            Op = Op.RunHook, A = a.String(s.Hook.Path), B = a.StringArray(s.Hook.Argv), C = a.StringArray(s.Envp), D = s.InputFd,
            E = s.OutputFd, F = s.TimeoutSeconds * 1000L, G = s.Index,
        }, A | B | C),
        MountTreeInRoot s => (new()
        {
            Op = Op.MountTreeInRoot, A = a.String(s.Root), B = a.StringArray(Mounts.ContainerPath.RelativePrefixes(s.Path)), C = s.TreeFd,
            D = (long)s.Mount.PropagationFlags, E = s.CreateMissing ? 1 : 0,
        }, A | B),
        _ => throw new ArgumentException($"no native encoding for {step.GetType().Name}"),
    };

    /// <summary>makedev(3) for the kernel's dev_t encoding (sys/sysmacros.h).</summary>
    internal static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);

    static byte[] IfReq(string name)
    {
        var ifreq = new byte[Interop.NetDevice.IfReqSize];
        Encoding.ASCII.GetBytes(name, ifreq);
        return ifreq;
    }

    /// <summary>Collects strings, pointer arrays and buffers as offsets while steps are encoded.</summary>
    sealed class Arena
    {
        public const long Null = -1;
        readonly List<byte> _bytes = [];
        readonly List<int> _pointerSlots = [];

        public int Length => _bytes.Count;

        public long String(string? value) => value is null ? Null : Bytes(Encoding.UTF8.GetBytes(value), terminator: true);

        public long Bytes(ReadOnlySpan<byte> data, bool terminator = false)
        {
            var offset = AlignTo8();
            foreach (var b in data) _bytes.Add(b);
            if (terminator) _bytes.Add(0);
            return offset;
        }

        /// <summary>A NULL-terminated array of string pointers, as execve(2) takes.</summary>
        public long StringArray(IReadOnlyList<string> values)
        {
            var strings = values.Select(v => String(v)).ToArray();
            var offset = AlignTo8();
            foreach (var s in strings)
            {
                _pointerSlots.Add(_bytes.Count);
                _bytes.AddRange(BitConverter.GetBytes(s));
            }
            _bytes.AddRange(new byte[8]);
            return offset;
        }

        public void CopyTo(byte* destination)
        {
            var span = new Span<byte>(destination, _bytes.Count);
            for (var i = 0; i < _bytes.Count; i++) span[i] = _bytes[i];
            foreach (var slot in _pointerSlots)
                BitConverter.TryWriteBytes(span[slot..], BitConverter.ToInt64(span[slot..]) + (long)destination);
        }

        int AlignTo8()
        {
            while (_bytes.Count % 8 != 0) _bytes.Add(0);
            return _bytes.Count;
        }
    }
}
