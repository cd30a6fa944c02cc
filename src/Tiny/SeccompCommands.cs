using System.Diagnostics;
using System.Globalization;
using ConsoleAppFramework;
using Tiny.Runtime;
using Tiny.Runtime.Seccomp;
using Tiny.Runtime.Security;

namespace Tiny;

/// <summary>Compile, read and try seccomp programs (raw struct sock_filter files, as seccomp_export_bpf writes them).</summary>
internal sealed class SeccompCommands
{
    /// <summary>Compile a Docker seccomp profile to a BPF program file.</summary>
    /// <param name="out">File to write the program to (8-byte little-endian struct sock_filter entries).</param>
    /// <param name="profile">Docker JSON profile [default: Docker's default profile, built in].</param>
    /// <param name="capAdd">Capabilities to add to Docker's default set, comma-separated (e.g. SYS_ADMIN,SYS_PTRACE or ALL).</param>
    /// <param name="capDrop">Capabilities to drop from Docker's default set, comma-separated (or ALL).</param>
    /// <param name="arch">Native architecture the profile is selected for: x86_64 or i386.</param>
    /// <param name="repeat">Compile this many times and also report the mean time of the repeats (for benchmarks).</param>
    public int Compile(string @out, string? profile = null, string? capAdd = null, string? capDrop = null, string arch = "x86_64",
        int repeat = 1)
    {
        var caps = Capabilities(capAdd, capDrop);
        var native = Arch(arch);
        var started = Stopwatch.GetTimestamp();
        var program = CompileProgram(profile, caps, native);
        var first = Stopwatch.GetElapsedTime(started);
        File.WriteAllBytes(@out, BpfInstruction.ToBytes(program));
        var report = string.Create(CultureInfo.InvariantCulture, $"{program.Length} instructions, compiled in {first.TotalMilliseconds:F3} ms");
        if (repeat > 1)
        {
            started = Stopwatch.GetTimestamp();
            for (var i = 1; i < repeat; i++) CompileProgram(profile, caps, native);
            var mean = Stopwatch.GetElapsedTime(started) / (repeat - 1);
            report += string.Create(CultureInfo.InvariantCulture, $", then {mean.TotalMilliseconds:F3} ms each (mean of {repeat - 1})");
        }
        Console.Error.WriteLine(report);
        return 0;
    }

    /// <summary>Print a BPF program file one instruction a line.</summary>
    /// <param name="file">Program file (struct sock_filter entries).</param>
    public int Disasm([Argument] string file)
    {
        var program = Read(file);
        Console.Write(BpfDisassembler.Disassemble(program));
        var problem = BpfInterpreter.Validate(program);
        if (problem is not null) Console.WriteLine($"; the kernel would refuse this program: {problem}");
        return 0;
    }

    /// <summary>Show what a profile decides for one syscall and the instructions it runs: tiny seccomp check [options] SYSCALL [ARG...]</summary>
    /// <param name="syscall">Syscall name or number (for x32, without the x32 bit).</param>
    /// <param name="args">Up to six argument values (decimal or 0x hex).</param>
    /// <param name="profile">Docker JSON profile [default: Docker's default profile, built in].</param>
    /// <param name="program">A compiled program file to run instead of a profile.</param>
    /// <param name="arch">ABI of the call: x86_64, i386 or x32.</param>
    /// <param name="capAdd">Capabilities to add to Docker's default set, comma-separated.</param>
    /// <param name="capDrop">Capabilities to drop from Docker's default set, comma-separated.</param>
    public int Check([Argument] string syscall, [Argument] string[]? args = null, string? profile = null, string? program = null,
        string arch = "x86_64", string? capAdd = null, string? capDrop = null)
    {
        var abi = Arch(arch);
        var filter = program is not null
            ? Read(program)
            : CompileProgram(profile, Capabilities(capAdd, capDrop), SyscallArch.X86_64);
        var nr = SyscallNumber(abi, syscall);
        var values = (args ?? []).Select(ParseValue).ToArray();
        if (values.Length > 6) throw new ContainerError("a syscall has at most 6 arguments");
        var run = BpfInterpreter.Run(filter, SeccompData.Of(abi, nr, values), tracePath: true);
        foreach (var pc in run.Path!) Console.WriteLine(BpfDisassembler.Line(filter, pc));
        var name = SyscallTable.NameOf(abi, nr) ?? "unknown";
        Console.WriteLine($"{abi.DisplayName()} {name} (nr 0x{nr:x}): {SeccompActions.Describe(run.Result)} after {run.Executed} instructions");
        return 0;
    }

    /// <summary>Measure program files: length, instructions per syscall and per allowed syscall, cache-eligible syscalls (a markdown table).</summary>
    /// <param name="files">Program files, comma-separated; each may be given as LABEL=FILE.</param>
    /// <param name="profile">The profile whose argument rules pick the argument values measured [default: the built-in one].</param>
    public int Stats([Argument] string files, string? profile = null)
    {
        var source = profile is null ? BuiltinProfile.Load() : SeccompProfile.Load(profile);
        SeccompData[] inputs = [.. SeccompInputs.Numbers(), .. SeccompInputs.Arguments(source)];
        Console.WriteLine("| program | length | mean / max per syscall | mean / max per allowed syscall | cache-eligible |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var entry in List(files))
        {
            var split = entry.IndexOf('=');
            var (label, file) = split > 0 ? (entry[..split], entry[(split + 1)..]) : (entry, entry);
            var m = SeccompMeasurement.Of(Read(file), inputs);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {label} | {m.Length} | {m.MeanPerSyscall:F2} / {m.MaxPerSyscall} | {m.MeanPerAllowed:F2} / {m.MaxPerAllowed} | {m.CacheEligible} |"));
        }
        return 0;
    }

    static BpfInstruction[] CompileProgram(string? profile, CapabilitySet caps, SyscallArch native)
    {
        var kernel = KernelVersion.Running();
        var source = profile is null ? BuiltinProfile.Load() : SeccompProfile.Load(profile);
        return SeccompCompiler.Compile(source, caps, native, kernel, profile ?? BuiltinProfile.Source)
            ?? throw new ContainerError($"seccomp profile {profile}: it turns seccomp off (no defaultAction, no syscalls)");
    }

    static BpfInstruction[] Read(string file)
    {
        try
        {
            return BpfInstruction.FromBytes(File.ReadAllBytes(file));
        }
        catch (ContainerError e)
        {
            throw new ContainerError($"{file}: {e.Message}");
        }
    }

    static CapabilitySet Capabilities(string? add, string? drop)
    {
        var caps = CapabilitySet.DockerDefault;
        foreach (var name in List(add)) caps = name.Equals("ALL", StringComparison.OrdinalIgnoreCase) ? CapabilitySet.All : caps.With(Cap(name));
        foreach (var name in List(drop)) caps = name.Equals("ALL", StringComparison.OrdinalIgnoreCase) ? new CapabilitySet(0) : caps.Without(Cap(name));
        return caps;
    }

    static IEnumerable<string> List(string? text) =>
        (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    static Capability Cap(string name) =>
        CapabilitySet.TryParse(name, out var cap) ? cap : throw new ContainerError($"unknown capability \"{name}\"");

    static SyscallArch Arch(string name) =>
        SyscallArches.TryParse(name, out var arch) ? arch : throw new ContainerError($"unknown architecture \"{name}\" (x86_64, i386 or x32)");

    static uint SyscallNumber(SyscallArch arch, string text)
    {
        if (uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            return arch == SyscallArch.X32 ? SyscallArches.X32Bit | number : number;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) return (uint)ParseValue(text);
        return SyscallTable.TryGetNumber(arch, text, out var nr)
            ? nr
            : throw new ContainerError($"unknown syscall \"{text}\" on {arch.DisplayName()}");
    }

    static ulong ParseValue(string text)
    {
        var ok = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value)
            : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        if (!ok && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var signed))
            return (ulong)signed;
        return ok ? value : throw new ContainerError($"\"{text}\" is not a number");
    }
}
